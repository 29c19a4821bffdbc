"""Publicity (公示): subsidy claims inside their publicity period, as anyone may read them.

Names are masked here, on the server, so no full name ever leaves it through this public view.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import select

from ..domain import attendance as rules
from ..domain.identity import mask_name, region_prefix
from ..extensions import db
from ..models import Institution, Person, SubsidyClaim, SubsidyLine, TrainingPlan


def _day(t: datetime) -> str:
    return t.astimezone(rules.SHANGHAI).date().isoformat()


def in_publicity(region_code: str | None, now: datetime) -> list[dict]:
    """Approved claims whose publicity period runs at `now`, in a region (code prefix; empty: all), ending soonest first."""
    c = SubsidyClaim
    stmt = (select(c, TrainingPlan, Institution.name)
            .join(TrainingPlan, TrainingPlan.id == c.plan_id).join(Institution, Institution.id == c.institution_id)
            .where(c.status == "approved", c.approved_at.is_not(None), c.approved_at <= now,
                   c.publicity_ends_at > now)
            .order_by(c.publicity_ends_at, c.id))
    if region_code:
        stmt = stmt.where(c.region_code.startswith(region_prefix(region_code), autoescape=True))
    rows = db.session.execute(stmt).all()
    lines: dict[int, list[dict]] = defaultdict(list)
    if rows:
        for claim_id, name, amount, line_type in db.session.execute(
                select(SubsidyLine.claim_id, Person.name, SubsidyLine.amount_fen, SubsidyLine.line_type)
                .join(Person, Person.id == SubsidyLine.person_id)
                .where(SubsidyLine.claim_id.in_([r[0].id for r in rows])).order_by(SubsidyLine.id)):
            lines[claim_id].append({"name_masked": mask_name(name), "amount_fen": amount, "line_type": line_type})
    out = []
    for claim, plan, institution in rows:
        # publicity_ends_at is the midnight after the last day: the last day shown is the one before it.
        out.append({"claim_id": claim.id, "institution": institution, "plan_title": plan.title,
                    "occupation_code": plan.occupation_code, "region_code": claim.region_code,
                    "starts_on": _day(claim.approved_at),
                    "ends_on": _day(claim.publicity_ends_at - timedelta(seconds=1)),
                    "publicity_ends_at": claim.publicity_ends_at.astimezone(rules.SHANGHAI).isoformat(),
                    "plan_starts_on": plan.starts_on.isoformat(), "plan_ends_on": plan.ends_on.isoformat(),
                    "total_fen": claim.total_fen, "lines": lines[claim.id]})
    return out
