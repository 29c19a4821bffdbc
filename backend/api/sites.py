"""Teaching sites (培训场地): coordinates in WGS-84 or GCJ-02 in, WGS-84 stored and returned."""
from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import AwareDateTime, Boolean, Constant, Float, Integer, String
from apiflask.validators import Length, OneOf, Range

from ..clock import now
from ..security.authz import actor, requires
from ..services import sites
from .paging import paginate

bp = APIBlueprint("sites", __name__, tag="Sites")

_COORD_SYS = OneOf(["wgs84", "gcj02"])
_RADIUS = Range(min=sites.RADIUS_MIN_M, max=sites.RADIUS_MAX_M)


class SiteIn(Schema):
    name = String(required=True, validate=Length(min=1, max=128))
    address = String(required=True, validate=Length(min=1, max=255))
    lat = Float(required=True, validate=Range(min=-90, max=90))
    lon = Float(required=True, validate=Range(min=-180, max=180))
    coord_sys = String(required=True, validate=_COORD_SYS,
                       metadata={"description": "gcj02 is what Chinese map pickers and wx.getLocation return"})
    radius_m = Integer(load_default=None, validate=_RADIUS,
                       metadata={"description": "fence radius in metres; the configured default when omitted"})
    require_site_qr = Boolean(load_default=False)


class SitePatch(Schema):
    name = String(validate=Length(min=1, max=128))
    address = String(validate=Length(min=1, max=255))
    lat = Float(validate=Range(min=-90, max=90))
    lon = Float(validate=Range(min=-180, max=180))
    coord_sys = String(validate=_COORD_SYS)
    radius_m = Integer(validate=_RADIUS)
    require_site_qr = Boolean()


class SiteOut(Schema):
    id = Integer()
    institution_id = Integer()
    name = String()
    address = String()
    lat = Float(metadata={"description": "WGS-84"})
    lon = Float(metadata={"description": "WGS-84"})
    coord_sys = Constant("wgs84", metadata={"description": "always wgs84: sites are stored in WGS-84"})
    radius_m = Integer()
    require_site_qr = Boolean()
    created_at = AwareDateTime()


@bp.post("/sites")
@bp.input(SiteIn, arg_name="body")
@bp.output(SiteOut, status_code=201)
@bp.doc(summary="Add a teaching site (GCJ-02 input is converted to WGS-84)")
@requires("institution")
def post_site(body):
    return sites.create_site(actor(), body, now())


@bp.get("/sites")
@bp.output(SiteOut(many=True))
@bp.doc(summary="Sites: the institution's own; a supervisor's region; all for admins")
@requires("institution", "supervisor", "admin")
def list_sites():
    return paginate(sites.sites_query(actor()), lambda site: site)


@bp.get("/sites/<int:site_id>")
@bp.output(SiteOut)
@bp.doc(summary="One site")
@requires("institution", "supervisor", "admin")
def get_site(site_id):
    return sites.load_site(actor(), site_id)


@bp.patch("/sites/<int:site_id>")
@bp.input(SitePatch, arg_name="body")
@bp.output(SiteOut)
@bp.doc(summary="Change a site (name, address, position with coord_sys, radius); position and radius "
               "only until a lesson there starts (409 site_in_use)")
@requires("institution")
def patch_site(site_id, body):
    a = actor()
    site = sites.load_site(a, site_id)
    return sites.update_site(a, site, body, now())
