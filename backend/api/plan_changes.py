"""Plan change request routes (变更申请) on the plans blueprint: file, list, approve, reject, the queue."""
from __future__ import annotations

from apiflask import Schema
from apiflask.fields import AwareDateTime, Date, Dict, Function, Integer, String
from apiflask.validators import Length, OneOf

from ..clock import now
from ..domain.occupations import occupation_name
from ..domain.plans import CHANGE_STATES
from ..security.authz import actor, requires
from ..services import plan_changes
from ..services import plans as plan_service
from .paging import page_list, paginate
from .plans import _DELIVERY, _OCCUPATION, _PLAN_TYPES, bp


class ChangeRequestIn(Schema):
    reason = String(required=True, validate=Length(min=2, max=1000),
                    metadata={"description": "why the change is needed (shown to the reviewing supervisor)"})
    occupation_code = String(validate=[Length(min=1, max=32), _OCCUPATION])
    plan_type = String(validate=_PLAN_TYPES)
    delivery = String(validate=_DELIVERY)
    title = String(validate=Length(min=1, max=128))
    starts_on = Date()
    ends_on = Date()
    online_platform = String(allow_none=True, validate=Length(max=128))


class ChangeDecisionIn(Schema):
    reason = String(load_default=None, allow_none=True, validate=Length(max=1000),
                    metadata={"description": "required to reject; optional to approve"})


class ChangeQuery(Schema):
    status = String(load_default=None, validate=OneOf(CHANGE_STATES))


def _names(fields: dict) -> str | None:
    code = fields.get("occupation_code")
    return occupation_name(code) if code else None


class ChangeRequestOut(Schema):
    id = Integer()
    plan_id = Integer()
    plan_title = Function(lambda r: r.plan.title, metadata={"type": "string"})
    institution_id = Function(lambda r: r.plan.institution_id, metadata={"type": "integer"})
    region_code = Function(lambda r: r.plan.region_code, metadata={"type": "string"})
    plan_status = Function(lambda r: r.plan.status, metadata={"type": "string"})
    fields = Dict(attribute="requested_fields", metadata={"description": "the requested values {field: value}"})
    before = Dict(attribute="before_fields", metadata={"description": "the same fields' values when filed"})
    occupation_names = Function(lambda r: {"before": _names(r.before_fields), "after": _names(r.requested_fields)},
                                metadata={"type": "object", "description": "catalogue names of the occupation "
                                                                           "codes {before, after} (null if none)"})
    reason = String()
    status = String(metadata={"description": "pending, approved or rejected"})
    requested_by = Integer()
    requested_at = AwareDateTime()
    decided_by = Integer(allow_none=True)
    decided_at = AwareDateTime(allow_none=True)
    decision_reason = String(allow_none=True)


@bp.post("/plans/<int:plan_id>/change-requests")
@bp.input(ChangeRequestIn, arg_name="body")
@bp.output(ChangeRequestOut, status_code=201)
@bp.doc(summary="Ask the bureau to change what an approved plan was reviewed as (occupation, type, delivery; "
                "other fields may ride along) with a reason; checked like an edit (409 change_window_closed), "
                "one pending request per plan (409 change_request_pending), 422 no_review_needed when a "
                "PATCH would do")
@requires("institution")
def post_change_request(plan_id, body):
    a, t = actor(), now()
    plan = plan_service.own_plan(a, plan_id)
    plan_service.start_if_due(plan, t)
    reason = body.pop("reason")
    return plan_changes.file_request(a, plan, body, reason, t)


@bp.get("/plans/<int:plan_id>/change-requests")
@bp.output(ChangeRequestOut(many=True))
@bp.doc(summary="A plan's change requests, newest first (the owning institution, supervisors of its region)")
@requires("institution", "supervisor", "admin")
def list_plan_change_requests(plan_id):
    plan = plan_service.load_plan(actor(), plan_id)
    return page_list(plan_changes.plan_requests(plan.id))


def _decide(plan_id: int, request_id: int, body: dict, approve: bool):
    a, t = actor(), now()
    plan = plan_service.load_plan(a, plan_id, lock=True)
    req = plan_changes.load_request(plan, request_id)
    return plan_changes.decide(a, plan, req, approve, body.get("reason"), t)


@bp.post("/plans/<int:plan_id>/change-requests/<int:request_id>/approve")
@bp.input(ChangeDecisionIn, arg_name="body")
@bp.output(ChangeRequestOut)
@bp.doc(summary="Approve a change request (supervisor of the plan's region): every plan rule is checked again "
                "now and the fields are applied (409 change_window_closed, 422 online_share_exceeded ...)")
@requires("supervisor")
def approve_change_request(plan_id, request_id, body):
    return _decide(plan_id, request_id, body, True)


@bp.post("/plans/<int:plan_id>/change-requests/<int:request_id>/reject")
@bp.input(ChangeDecisionIn, arg_name="body")
@bp.output(ChangeRequestOut)
@bp.doc(summary="Reject a change request with a reason (supervisor of the plan's region)")
@requires("supervisor")
def reject_change_request(plan_id, request_id, body):
    return _decide(plan_id, request_id, body, False)


@bp.get("/change-requests")
@bp.input(ChangeQuery, location="query", arg_name="query")
@bp.output(ChangeRequestOut(many=True))
@bp.doc(summary="Change requests: the supervisor's region queue (?status=pending), or the institution's own; "
                "oldest first")
@requires("supervisor", "institution", "admin")
def list_change_requests(query):
    return paginate(plan_changes.requests_stmt(actor(), query.get("status")), lambda r: r)
