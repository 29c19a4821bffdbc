"""Publicity (公示) of subsidy claims: public, names masked by the server."""
from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Integer, List, Nested, String
from apiflask.validators import Regexp

from ..clock import now
from ..extensions import limiter
from ..security.authz import public
from ..services import publicity
from .paging import page_list

bp = APIBlueprint("publicity", __name__, tag="Publicity")

PUBLIC_LIST_LIMIT = "120 per minute"


class PublicityQuery(Schema):
    region_code = String(load_default=None, validate=Regexp(r"^\d{0,6}$"),
                         metadata={"description": "administrative code or prefix (350100 and 3501 are the same); "
                                                  "empty or absent: every region"})
    page = Integer(load_default=1)
    per_page = Integer(load_default=50)


class PublicityLineOut(Schema):
    name_masked = String(metadata={"description": "surname kept, the rest starred"})
    amount_fen = Integer()
    line_type = String(metadata={"enum": ["training", "living_allowance"]})


class PublicityOut(Schema):
    claim_id = Integer()
    institution = String()
    plan_title = String()
    occupation_code = String()
    region_code = String()
    starts_on = String(metadata={"description": "first day of the publicity period (Asia/Shanghai)"})
    ends_on = String(metadata={"description": "last day of the publicity period (Asia/Shanghai)"})
    publicity_ends_at = String(metadata={"description": "the instant the publicity period ends"})
    plan_starts_on = String()
    plan_ends_on = String()
    total_fen = Integer()
    lines = List(Nested(PublicityLineOut))


@bp.get("/publicity")
@bp.input(PublicityQuery, location="query", arg_name="query")
@bp.output(PublicityOut(many=True))
@bp.doc(summary="Subsidy claims in their publicity period (公示), public; names masked on the server")
@limiter.limit(PUBLIC_LIST_LIMIT)
@public
def list_publicity(query):
    return page_list(publicity.in_publicity(query.get("region_code"), now()))
