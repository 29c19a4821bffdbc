"""Policies per region (API.md "Policies"): versions, a new version, and what is in force."""
from __future__ import annotations

from datetime import date

from apiflask import APIBlueprint, Schema
from apiflask.fields import AwareDateTime, Date, Dict, Function, Integer, String
from apiflask.validators import Length
from flask import request

from ..clock import now
from ..domain.errors import invalid
from ..security.authz import actor, requires
from ..services import policies as svc
from ..services.persons import shanghai_today
from .paging import page_list

bp = APIBlueprint("policies", __name__, tag="Policies")


class PolicyIn(Schema):
    region_code = String(required=True, validate=Length(max=6),
                         metadata={"description": "\"\" national, or a 2, 4 or 6-digit region code"})
    effective_from = Date(required=True, metadata={"description": "today (Asia/Shanghai) or later"})
    params = Dict(required=True, metadata={"description": "some of the parameter keys of API.md \"Policies\"; "
                                                          "unknown keys or bad values 422 invalid_policy"})
    note = String(load_default=None, validate=Length(max=500))


class PolicyOut(Schema):
    id = Integer()
    region_code = String()
    effective_from = Date()
    params = Dict()
    note = String(allow_none=True)
    created_by = Integer(allow_none=True)
    created_by_name = Function(lambda p: p.creator.username if p.creator else None, allow_none=True,
                               metadata={"type": "string", "description": "the creator's username"})
    created_at = AwareDateTime()


class EffectiveOut(Schema):
    region_code = String()
    on = String(metadata={"format": "date"})
    params = Dict(metadata={"description": "every parameter key with the value in force"})
    sources = Dict(metadata={"description": "per key, the id of the version that set it, null for the built-in "
                                            "default"})
    defaults = Dict(metadata={"description": "the built-in value of every key (to show what differs)"})
    parameters = Dict(metadata={"description": "per key, {kind: int|number|bool|codes|groups|fen_by_code|"
                                               "percent_by_group, min, max} (bounds of numbers, else null)"})


def _region_arg() -> str | None:
    raw = request.args.get("region_code")
    if raw is None:
        return None
    raw = raw.strip()
    if raw and not (raw.isascii() and raw.isdigit() and len(raw) in (2, 4, 6)):
        raise invalid("validation_error", fields={"region_code": ["2, 4 or 6 digits, or empty for national"]})
    return raw


@bp.get("/policies")
@bp.output(PolicyOut(many=True))
@bp.doc(summary="Policy versions (a region's levels with ?region_code=); supervisors see their region and above")
@requires("supervisor", "admin")
def list_policies():
    return page_list(svc.list_versions(actor(), _region_arg()))


@bp.post("/policies")
@bp.input(PolicyIn, arg_name="body")
@bp.output(PolicyOut, status_code=201)
@bp.doc(summary="A new policy version for a region (admins any region, supervisors their own); audited",
        description="Versions are never edited: a change is a new version effective from a date (today or "
                    "later). A plan keeps the parameters in force when it was submitted.",
        responses={422: "invalid_policy (details.field, details.reason)", 403: "forbidden"})
@requires("supervisor", "admin")
def create_policy(body):
    return svc.create_version(actor(), body["region_code"], body["effective_from"], body["params"],
                              body.get("note"), now())


@bp.get("/policies/effective")
@bp.output(EffectiveOut)
@bp.doc(summary="Every parameter in force for a region on a day, and which version set it")
@requires("institution", "supervisor", "admin")
def effective_policy():
    # Rules are public knowledge: any staff member may read any region's parameters.
    region = _region_arg()
    if region is None:
        region = actor().region_code or ""
    raw_on = request.args.get("on")
    try:
        on = date.fromisoformat(raw_on) if raw_on else shanghai_today(now())
    except ValueError:
        raise invalid("validation_error", fields={"on": ["YYYY-MM-DD"]}) from None
    params, sources = svc.effective(region, on)
    return {"region_code": region, "on": on.isoformat(), "params": params, "sources": sources,
            "defaults": svc.builtin(), "parameters": svc.parameters()}
