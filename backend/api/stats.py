"""Statistics overview and export for supervisors; the append-only audit log."""
from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Date, Dict, Integer, List, String
from apiflask.validators import Length, OneOf
from flask import Response
from sqlalchemy import select

from ..clock import now
from ..domain import identity
from ..domain.errors import forbidden, invalid, not_found
from ..extensions import db
from ..models import (
    AuditEntry,
    Certificate,
    Device,
    Institution,
    SubsidyClaim,
    TrainingPlan,
    Voucher,
    VoucherBatch,
)
from ..security.actor import Actor
from ..security.authz import actor, ensure_region, requires
from ..services import stats
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
    at = String()
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


# object_type in the audit log → how to find the region a supervisor must cover
# (a select of the region column, joined as needed, filtered on the object's id below).
_REGION_OF = {
    "plan": (select(TrainingPlan.region_code), TrainingPlan.id),
    "training_plan": (select(TrainingPlan.region_code), TrainingPlan.id),
    "subsidy_claim": (select(SubsidyClaim.region_code), SubsidyClaim.id),
    "voucher_batch": (select(VoucherBatch.region_code), VoucherBatch.id),
    "institution": (select(Institution.region_code), Institution.id),
    "voucher": (select(VoucherBatch.region_code).join(Voucher, Voucher.batch_id == VoucherBatch.id), Voucher.id),
    "certificate": (select(TrainingPlan.region_code).join(Certificate, Certificate.plan_id == TrainingPlan.id),
                    Certificate.id),
    "device": (select(Institution.region_code).join(Device, Device.institution_id == Institution.id), Device.id),
}


def _audit_view(e: AuditEntry) -> dict:
    return {"id": e.id, "at": e.at.isoformat(), "actor": e.actor, "action": e.action, "object_type": e.object_type,
            "object_id": e.object_id, "before": e.before, "after": e.after, "request_id": e.request_id,
            "prev_hash": e.prev_hash, "hash": e.hash}


@bp.get("/audit")
@bp.input(AuditQuery, location="query", arg_name="query")
@bp.output(AuditOut(many=True))
@bp.doc(summary="Append-only audit log entries, oldest first (filter by object_type, object_id, action)")
@requires("supervisor", "admin")
def get_audit(query):
    a = actor()
    stmt = select(AuditEntry).order_by(AuditEntry.id)
    if a.role == "supervisor":
        # Supervisors read the trail of one object inside their region; the whole log is for admins.
        known = _REGION_OF.get(query["object_type"] or "")
        # ASCII digits only: str.isdigit() also accepts "²", which int() then refuses (a 500).
        if not (known and query["object_id"] and query["object_id"].isascii() and query["object_id"].isdigit()):
            raise forbidden("forbidden", reason="filter_by_object",
                            object_types=sorted(_REGION_OF))
        region = db.session.execute(known[0].where(known[1] == int(query["object_id"]))).scalar()
        if region is None:
            raise not_found("not_found", object=query["object_type"], id=query["object_id"])
        ensure_region(a, region)
    if query["object_type"]:
        stmt = stmt.where(AuditEntry.object_type == query["object_type"])
    if query["object_id"]:
        stmt = stmt.where(AuditEntry.object_id == query["object_id"])
    if query["action"]:
        stmt = stmt.where(AuditEntry.action == query["action"])
    return paginate(stmt, _audit_view)


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
