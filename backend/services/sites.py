"""Teaching sites: created and moved by their institution, always stored in WGS-84."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ..domain import geo
from ..domain.errors import conflict, forbidden, invalid
from ..domain.identity import region_prefix
from ..extensions import db
from ..models import Institution, Lesson, Site
from ..security.actor import Actor
from ..security.authz import ensure_institution, get_or_404
from . import audit

RADIUS_MIN_M = 10
RADIUS_MAX_M = 2000
_AUDITED = ("name", "address", "lat", "lon", "radius_m", "require_site_qr")


def _radius(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not RADIUS_MIN_M <= value <= RADIUS_MAX_M:
        raise invalid("validation_error", field="radius_m", min=RADIUS_MIN_M, max=RADIUS_MAX_M)
    return value


def _institution_of(a: Actor) -> Institution:
    """The caller's own institution; suspended institutions may not set up new teaching."""
    inst = get_or_404(Institution, a.institution_id)
    if inst.status != "approved":
        raise forbidden("forbidden", reason="institution_suspended")
    return inst


def create_site(a: Actor, data: dict, now: datetime) -> Site:
    """Add a site for the caller's institution, converting GCJ-02 input to WGS-84; without a radius, the
    region policy's default_radius_m."""
    from .persons import shanghai_today
    from .policies import effective
    inst = _institution_of(a)
    lat, lon = geo.to_wgs84(data["lat"], data["lon"], data["coord_sys"])
    if data.get("radius_m") is not None:
        radius = _radius(data["radius_m"])
    else:
        radius = _radius(effective(inst.region_code, shanghai_today(now))[0]["default_radius_m"])
    site = Site(institution_id=inst.id, name=data["name"].strip(), address=data["address"].strip(), lat=lat,
                lon=lon, radius_m=radius, require_site_qr=bool(data.get("require_site_qr") or False),
                created_at=now)
    db.session.add(site)
    db.session.flush()
    audit.record(a.label, "site.create", "site", site.id, now,
                 after=dict(audit.snapshot(site, _AUDITED), input_coord_sys=data["coord_sys"]))
    return site


def load_site(a: Actor, site_id: int) -> Site:
    """A site the caller may see: own institution's, or within a supervisor's region."""
    site = get_or_404(Site, site_id)
    inst = db.session.get(Institution, site.institution_id)
    ensure_institution(a, site.institution_id, inst.region_code)
    return site


def _fence_in_use(site_id: int, now: datetime) -> bool:
    """True once any lesson at the site has started."""
    return db.session.execute(select(Lesson.id).where(Lesson.site_id == site_id, Lesson.starts_at <= now)
                              .limit(1)).first() is not None


def update_site(a: Actor, site: Site, data: dict, now: datetime) -> Site:
    """Change a site's name, address, position (with coord_sys), radius or site-QR requirement."""
    if a.role != "institution" or site.institution_id != a.institution_id:
        raise forbidden("forbidden", institution_id=site.institution_id)
    before = audit.snapshot(site, _AUDITED)
    moving = [k for k in ("lat", "lon") if data.get(k) is not None]
    if (moving or data.get("radius_m") is not None) and _fence_in_use(site.id, now):
        # Attendance was (or is being) judged against this fence: moving or widening it would
        # rewrite history. A new place is a new site; lessons can switch to it.
        raise conflict("site_in_use", site_id=site.id)
    if moving:
        # A new position is only meaningful with both halves and the datum they are in.
        if len(moving) != 2 or not data.get("coord_sys"):
            raise invalid("validation_error", field="coord_sys", reason="lat_lon_and_coord_sys_together")
        site.lat, site.lon = geo.to_wgs84(data["lat"], data["lon"], data["coord_sys"])
    for key in ("name", "address"):
        if data.get(key) is not None:
            setattr(site, key, data[key].strip())
    if data.get("radius_m") is not None:
        site.radius_m = _radius(data["radius_m"])
    if data.get("require_site_qr") is not None:
        site.require_site_qr = bool(data["require_site_qr"])
    after = audit.snapshot(site, _AUDITED)
    if after != before:
        db.session.flush()
        audit.record(a.label, "site.update", "site", site.id, now, before=before, after=after)
    return site


def sites_query(a: Actor):
    """Sites visible to the caller: own institution's; a supervisor's region; everything for admins."""
    stmt = select(Site).order_by(Site.id)
    if a.role == "institution":
        return stmt.where(Site.institution_id == a.institution_id)
    if a.role == "supervisor":
        prefix = region_prefix(a.region_code or "")
        return stmt.join(Institution, Institution.id == Site.institution_id).where(
            Institution.region_code.startswith(prefix, autoescape=True))
    return stmt
