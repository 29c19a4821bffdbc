"""GET /institutions/nearby: where a trainee can train offline, nearest first."""
from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Float, Integer, List, String
from apiflask.validators import Length, OneOf, Range

from ..clock import now
from ..security.authz import actor, requires
from ..services.nearby import nearby
from .paging import page_list

bp = APIBlueprint("nearby", __name__, tag="Nearby")


class NearbyQuery(Schema):
    lat = Float(required=True, validate=Range(min=-90, max=90))
    lon = Float(required=True, validate=Range(min=-180, max=180))
    coord_sys = String(load_default="gcj02", validate=OneOf(["wgs84", "gcj02"]))
    occupation_code = String(load_default=None, validate=Length(max=32))
    max_km = Float(load_default=100.0, validate=Range(min=0.1, max=1000))
    page = Integer(load_default=1, validate=Range(min=1))
    per_page = Integer(load_default=50, validate=Range(min=1, max=500))


class NearbyOut(Schema):
    institution_id = Integer()
    name = String()
    site_id = Integer()
    site_name = String()
    address = String()
    distance_m = Float(metadata={"description": "geodesic metres from the phone"})
    rating = Float(metadata={"description": "Bayesian average (GET /institutions/{id}/rating score)"})
    rating_count = Integer(metadata={"description": "evaluations behind the rating; 0: the score is only the "
                                                    "prior (no one has rated the institution yet)"})
    usable_vouchers = List(String(), metadata={"description": "codes of the trainee's vouchers usable there"})


@bp.get("/institutions/nearby")
@bp.input(NearbyQuery, location="query", arg_name="query")
@bp.output(NearbyOut(many=True))
@bp.doc(summary="Training sites nearest to the phone (geodesic), with rating and the trainee's usable vouchers")
@requires("trainee", "institution", "supervisor", "admin")
def institutions_nearby(query):
    a = actor()
    items = nearby(query["lat"], query["lon"], query["coord_sys"], query["occupation_code"],
                   a.person_id if a.role == "trainee" else None, now(), query["max_km"])
    return page_list(items)
