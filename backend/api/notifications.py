"""Notifications (API.md "Notifications"): the trainee's inbox and preferences, escalations for institutions
and supervisors, failed pushes for admins, and the stub outbox."""
from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import AwareDateTime, Boolean, Dict, Function, Integer, List, Nested, String
from apiflask.validators import Length, Range
from flask import current_app

from ..clock import now
from ..domain import identity
from ..domain import notifications as rules
from ..domain.errors import forbidden, not_found
from ..models import NotificationOutboxMessage, TrainingPlan
from ..security.authz import actor, ensure_institution, ensure_region, get_or_404, requires
from ..services import notify_inbox as inbox
from .paging import paginate

bp = APIBlueprint("notifications", __name__, tag="Notifications")


class NotificationOut(Schema):
    id = Integer()
    kind = String()
    title = String()
    body = String()
    object_type = Function(lambda n: rules.api_object_type(n.object_type), metadata={"type": "string"})
    object_id = Integer()
    created_at = AwareDateTime()
    read_at = AwareDateTime(allow_none=True)


class ReadOut(Schema):
    read_at = String(metadata={"format": "date-time"})


class QuietHours(Schema):
    # `from` is a Python keyword: the field is from_, its key in JSON and in the loaded dict "from".
    from_ = String(required=True, data_key="from", attribute="from", validate=Length(max=5),
                   metadata={"example": "22:00"})
    to = String(required=True, validate=Length(max=5), metadata={"example": "07:30"})


class PreferencesIn(Schema):
    kinds = Dict(keys=String(validate=Length(max=32)), values=Boolean(),
                 metadata={"description": "push per kind (absent: unchanged); the inbox keeps every kind"})
    quiet_hours = Nested(QuietHours, allow_none=True,
                         metadata={"description": "no push between from and to (Asia/Shanghai); null: none"})
    wechat_subscribed = Dict(keys=String(validate=Length(max=32)), values=Boolean(),
                             metadata={"description": "the answer of wx.requestSubscribeMessage per template (kind)"})


class PreferencesOut(Schema):
    kinds = Dict(keys=String(), values=Boolean())
    quiet_hours = Nested(QuietHours, allow_none=True)
    wechat_subscribed = Dict(keys=String(), values=Boolean())


class EscalationQuery(Schema):
    plan_id = Integer(load_default=None, validate=Range(min=1, max=2**31 - 1))
    region_code = String(load_default=None, validate=Length(max=6))


class PlanCounts(Schema):
    plan_id = Integer()
    plan_title = String()
    missed_check_in = Integer()
    absence_risk = Integer()


class EscalationItem(Schema):
    id = Integer()
    kind = String()
    plan_id = Integer()
    lesson_id = Integer(allow_none=True)
    reason = String(allow_none=True, metadata={"description": "absence_risk: below_bar or missed_two"})
    person_name = String(metadata={"description": "masked"})
    created_at = String(metadata={"format": "date-time"})


class EscalationsOut(Schema):
    counts = Dict(keys=String(), values=Integer())
    by_plan = List(Nested(PlanCounts))
    items = List(Nested(EscalationItem))


class FailureOut(Schema):
    id = Integer()
    notification_id = Integer()
    person_id = Integer(attribute="notification.person_id")
    kind = String(attribute="notification.kind")
    channel = String()
    attempts = Integer()
    error = String(allow_none=True)
    created_at = AwareDateTime()


class OutboxOut(Schema):
    channel = String()
    to = String(attribute="recipient")
    kind = String()
    text = String()
    sent_at = AwareDateTime()


def _person_id() -> int:
    a = actor()
    if a.person_id is None:
        raise forbidden("identity_not_bound")
    return a.person_id


@bp.get("/me/notifications")
@bp.output(NotificationOut(many=True))
@bp.doc(summary="My in-app inbox, newest first")
@requires("trainee")
def my_notifications():
    return paginate(inbox.inbox_query(_person_id()), lambda n: n)


@bp.post("/me/notifications/<int:notification_id>/read")
@bp.output(ReadOut)
@bp.doc(summary="Mark one of my notifications read (a repeat keeps the first time)", responses={404: "not_found"})
@requires("trainee")
def read_notification(notification_id):
    return {"read_at": inbox.mark_read(_person_id(), notification_id, now()).isoformat()}


@bp.get("/me/notification-preferences")
@bp.output(PreferencesOut)
@bp.doc(summary="My notification preferences: push per kind, quiet hours, WeChat subscriptions per template")
@requires("trainee")
def get_preferences():
    return inbox.preferences(_person_id())


@bp.put("/me/notification-preferences")
@bp.input(PreferencesIn, arg_name="body")
@bp.output(PreferencesOut)
@bp.doc(summary="Change my notification preferences (parts left out stay as they were)",
        responses={422: "validation_error"})
@requires("trainee")
def put_preferences(body):
    return inbox.set_preferences(_person_id(), body, now())


@bp.get("/escalations")
@bp.input(EscalationQuery, location="query", arg_name="query")
@bp.output(EscalationsOut)
@bp.doc(summary="Missed check-ins and absence risks with counts: an institution's own plans, a supervisor's region",
        responses={404: "not_found"})
@requires("institution", "supervisor", "admin")
def get_escalations(query):
    a = actor()
    institution_id = a.institution_id if a.role == "institution" else None
    prefix = identity.region_prefix(a.region_code) if a.role == "supervisor" else None
    if query.get("region_code") and a.role != "institution":
        asked = identity.region_prefix(identity.validate_region_code(query["region_code"]))
        ensure_region(a, asked)
        prefix = asked
    if query.get("plan_id") is not None:
        plan = get_or_404(TrainingPlan, query["plan_id"])
        if a.role == "institution":
            ensure_institution(a, plan.institution_id)
        elif a.role == "supervisor":
            ensure_region(a, plan.region_code)
    return inbox.escalations(institution_id, prefix, query.get("plan_id"))


@bp.get("/notifications/failures")
@bp.output(FailureOut(many=True))
@bp.doc(summary="Pushes that failed after every retry, newest first (admin)")
@requires("admin")
def get_failures():
    return paginate(inbox.failures_query(), lambda delivery: delivery)


@bp.get("/dev/notifications")
@bp.output(OutboxOut(many=True))
@bp.doc(summary="The stub outbox of WeChat subscription messages and SMS, newest first (admin; only with "
                "NOTIFY_MODE=stub, else 404)")
@requires("admin")
def dev_notifications():
    if current_app.config["NOTIFY_MODE"] != "stub":
        raise not_found("not_found")
    from sqlalchemy import select
    m = NotificationOutboxMessage
    return paginate(select(m).order_by(m.sent_at.desc(), m.id.desc()), lambda message: message)
