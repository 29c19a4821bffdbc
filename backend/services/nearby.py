"""Nearest offline training (查询就近线下培训机构): sites by geodesic distance, with rating and usable vouchers."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from ..domain import geo
from ..domain import rating as rating_rules
from ..domain import vouchers as voucher_rules
from ..domain.identity import region_prefix
from ..domain.plans import RUNNING_STATES
from ..extensions import db
from ..models import Evaluation, Institution, Site, TrainingPlan, Voucher, VoucherBatch

# A degree of latitude is ~111 km; the box only pre-filters, the geodesic distance decides.
_KM_PER_DEG = 111.0


def _ratings(institution_ids: set[int]) -> dict[int, tuple[float, int]]:
    """(Bayesian overall score, number of evaluations) per institution, in one grouped query."""
    if not institution_ids:
        return {}
    rows = db.session.execute(
        select(Evaluation.institution_id, func.count(Evaluation.id),
               func.sum(Evaluation.teaching + Evaluation.facilities + Evaluation.organisation))
        .where(Evaluation.institution_id.in_(institution_ids)).group_by(Evaluation.institution_id)).all()
    found = {iid: (float(rating_rules.bayesian_rating(Decimal(int(total)) / 3, int(n))), int(n))
             for iid, n, total in rows}
    prior = (float(rating_rules.bayesian_rating(0, 0)), 0)
    return {iid: found.get(iid, prior) for iid in institution_ids}


def _live_vouchers(person_id: int | None, now: datetime) -> list[tuple[Voucher, VoucherBatch]]:
    """The trainee's vouchers that can still be used."""
    if person_id is None:
        return []
    rows = db.session.execute(select(Voucher, VoucherBatch).join(VoucherBatch, VoucherBatch.id == Voucher.batch_id)
                              .where(Voucher.person_id == person_id, Voucher.status == "claimed")).all()
    return [(v, b) for v, b in rows if voucher_rules.effective_status(v.status, v.expires_at, now) == "claimed"]


def nearby(lat: float, lon: float, coord_sys: str, occupation_code: str | None, person_id: int | None,
           now: datetime, max_km: float = 100.0) -> list[dict]:
    """Sites of approved institutions nearest first, within `max_km`; optionally only those running the occupation."""
    lat, lon = geo.to_wgs84(lat, lon, coord_sys)
    box = max_km / _KM_PER_DEG
    stmt = (select(Site, Institution).join(Institution, Institution.id == Site.institution_id)
            .where(Institution.status == "approved", Site.lat.between(lat - box, lat + box)))
    if occupation_code:
        running = select(TrainingPlan.institution_id).where(TrainingPlan.occupation_code == occupation_code,
                                                            TrainingPlan.status.in_(RUNNING_STATES))
        stmt = stmt.where(Institution.id.in_(running))
    rows = []
    for site, inst in db.session.execute(stmt).all():
        distance = geo.distance_m(lat, lon, site.lat, site.lon)
        if distance <= max_km * 1000:
            rows.append((distance, site, inst))
    rows.sort(key=lambda r: (r[0], r[1].id))
    ratings = _ratings({inst.id for _, _, inst in rows})
    vouchers = _live_vouchers(person_id, now)
    out = []
    for distance, site, inst in rows:
        usable = [v.code for v, b in vouchers
                  if voucher_rules.usable_at(b.institution_ids, region_prefix(b.region_code), inst.id,
                                             inst.region_code, occupation_code, b.occupation_codes) is None]
        out.append({"institution_id": inst.id, "name": inst.name, "site_id": site.id, "site_name": site.name,
                    "address": site.address, "distance_m": round(distance, 1), "rating": ratings[inst.id][0],
                    "rating_count": ratings[inst.id][1], "usable_vouchers": usable})
    return out
