"""Statistics overview and export for supervisors; the append-only audit log."""
from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Date, DateTime, Dict, Integer, List, String
from apiflask.validators import Length, OneOf, Range
from flask import Response

from ..clock import now
from ..domain import identity
from ..domain.errors import invalid
from ..security.actor import Actor
from ..security.authz import actor, ensure_region, requires
from ..services import audit, stats
from .paging import paginate
from .schemas import binary_content

bp = APIBlueprint("stats", __name__, tag="Statistics and audit")


class OverviewQuery(Schema):
    region_code = String(load_default=None, validate=Length(min=2, max=6))
    from_ = Date(load_default=None, data_key="from")
    to = Date(load_default=None)


class ExportQuery(OverviewQuery):
    format = String(load_default="csv", validate=OneOf(["csv", "xlsx"]))


class OverviewOut(Schema):
    region_code = String()
    from_ = String(data_key="from", allow_none=True)
    to = String(allow_none=True)
    vouchers = Dict(metadata={"description": "{issued, claimed, used, returned, expired, written_off, "
                                             "written_off_fen}"})
    trainees = Dict(metadata={"description": "{total, by_age_band, by_gender, by_province}"})
    attendance = Dict(metadata={"description": "{events, accepted, rejected, by_reason, flagged, completion_rate}"})
    subsidy = Dict(metadata={"description": "{approved_fen, disbursed_fen}"})


class AuditQuery(Schema):
    object_type = String(load_default=None, validate=Length(max=32))
    object_id = String(load_default=None, validate=Length(max=64))
    action = String(load_default=None, validate=Length(max=64))
    page = Integer(load_default=1)
    per_page = Integer(load_default=50)


class AuditOut(Schema):
    id = Integer()
    at = DateTime()
    actor = String()
    action = String()
    object_type = String()
    object_id = String()
    before = Dict(allow_none=True)
    after = Dict(allow_none=True)
    request_id = String(allow_none=True)
    prev_hash = String()
    hash = String()


def _scope(a: Actor, query: dict) -> str:
    """The region prefix to count: the asked one if in scope, else the caller's own (admin: everything)."""
    raw = query.get("region_code")
    if raw:
        prefix = identity.region_prefix(identity.validate_region_code(raw))
        ensure_region(a, prefix)
    else:
        prefix = identity.region_prefix(a.region_code) if a.role == "supervisor" else ""
    if query.get("from_") and query.get("to") and query["from_"] > query["to"]:
        raise invalid("validation_error", fields={"from": ["must not be after to"]})
    return prefix


@bp.get("/stats/overview")
@bp.input(OverviewQuery, location="query", arg_name="query")
@bp.output(OverviewOut)
@bp.doc(summary="Voucher funnel, trainees, attendance and subsidy for a region prefix and Shanghai date range")
@requires("supervisor", "admin")
def get_overview(query):
    prefix = _scope(actor(), query)
    data = stats.overview(prefix, query["from_"], query["to"], now())
    return dict(data, from_=data.pop("from"))


@bp.get("/stats/export")
@bp.input(ExportQuery, location="query", arg_name="query")
@bp.doc(summary="The overview as CSV or xlsx: Chinese section and metric names, amounts in yuan and rates in percent "
                "(板块, 指标, 数值, 单位), then the machine columns section, metric, value (amounts in fen)", responses={200: {"description": "text/csv or xlsx", "content": binary_content(
    "text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}})
@requires("supervisor", "admin")
def get_export(query):
    prefix = _scope(actor(), query)
    data = stats.overview(prefix, query["from_"], query["to"], now())
    name = f"stats-{prefix or 'all'}"
    if query["format"] == "xlsx":
        return Response(stats.export_xlsx(data),
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return Response(stats.export_csv(data), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


@bp.get("/audit")
@bp.input(AuditQuery, location="query", arg_name="query")
@bp.output(AuditOut(many=True))
@bp.doc(summary="Append-only audit log entries, oldest first (filter by object_type, object_id, action); "
                "object_type=plan also returns entries written as training_plan before #15; a certificate's "
                "object_id may be its number")
@requires("supervisor", "admin")
def get_audit(query):
    return paginate(audit.trail(actor(), query["object_type"], query["object_id"], query["action"]), lambda e: e)


class RecentAuditQuery(Schema):
    object_type = String(load_default=None, validate=Length(max=32))
    limit = Integer(load_default=50, validate=Range(min=1, max=200))


class RecentAuditOut(Schema):
    object_type = String(metadata={"description": "current name (`plan` also for old `training_plan` entries)"})
    object_id = String()
    label = String(allow_none=True, metadata={"description": "title, name or code when the type has one"})
    last_action = String()
    last_at = DateTime()
    last_actor = String()
    entries = Integer()


@bp.get("/audit/objects")
@bp.input(RecentAuditQuery, location="query", arg_name="query")
@bp.output(RecentAuditOut(many=True))
@bp.doc(summary="The objects whose audit trail changed last, newest first, to pick one without typing its id "
                "(supervisors: objects of their region only; admins: all)")
@requires("supervisor", "admin")
def get_audit_objects(query):
    return audit.recent(actor(), query["object_type"], query["limit"])


class OverdueOut(Schema):
    completions = List(Dict(), metadata={"description": "plans awaiting the completion answer past its due day: "
                                                        "{plan_id, plan_title, institution, applied_on, due_on, "
                                                        "days_late}"})
    payments = List(Dict(), metadata={"description": "approved claims not paid by their due day: {claim_id, "
                                                     "plan_id, plan_title, institution, total_fen, due_on, "
                                                     "days_late}"})


@bp.get("/stats/overdue")
@bp.output(OverdueOut)
@bp.doc(summary="The region's overdue answers and payments, by the deadlines of each plan's policy (004)")
@requires("supervisor", "admin")
def get_overdue():
    from ..services.overdue import overdue
    return overdue(actor(), now())
