"""Roster routes on the plans blueprint: template, import, voucher enrolment, contracts, online records."""
from __future__ import annotations

from dataclasses import dataclass

from apiflask import Schema
from apiflask.fields import AwareDateTime, Boolean, Dict, File, Function, Integer, List, Nested, Raw, String
from apiflask.validators import Length, OneOf
from flask import Response, current_app, request
from marshmallow import missing

from ..clock import now
from ..domain.errors import invalid, not_found
from ..errors import request_lang
from ..extensions import limiter
from ..models import Enrollment
from ..reads_through import ReadsThrough
from ..security.authz import actor, requires
from ..services import enrollments as enrollment_service
from ..services import exports, online_records, roster_xlsx, spreadsheets
from ..services import plans as plan_service
from ..services import roster as roster_service
from . import upload_limits
from .paging import page_args
from .plans import bp
from .schemas import binary_content


class TraineeIn(Schema):
    # Raw and nullable: a bad value is a row-level error in the result, not a 422 for the whole import.
    name = Raw(allow_none=True, metadata={"description": "姓名"})
    id_number = Raw(allow_none=True, metadata={"description": "身份证号 (18 characters)"})
    phone = Raw(allow_none=True)
    groups = Raw(allow_none=True, metadata={"description": "group codes or Chinese labels (list or text)"})
    voucher_code = Raw(allow_none=True)


class RosterIn(Schema):
    trainees = List(Nested(TraineeIn), validate=Length(max=roster_service.MAX_ROWS),
                    metadata={"description": "JSON import; or send multipart/form-data with an xlsx `file`"})


class RowOut(Schema):
    """A services.roster.RosterRow of an import's result: `errors` on a refused row; person_id and
    enrollment_id on an imported one."""
    row = Integer()
    status = Function(lambda r: "error" if r.errors else "ok", metadata={"type": "string"})
    id_number_masked = String(attribute="masked", allow_none=True)
    eligible = Function(lambda r: None if r.errors else not r.reasons, allow_none=True, metadata={"type": "boolean"})
    reasons = List(String())
    errors = Function(lambda r: r.errors or missing, metadata={"type": "array", "items": {"type": "object"}})
    person_id = Function(lambda r: missing if r.errors else r.person.id, metadata={"type": "integer"})
    enrollment_id = Function(lambda r: missing if r.errors else r.enrollment_id, metadata={"type": "integer"})


class ImportOut(Schema):
    imported = Integer()
    failed = Integer()
    ineligible = Integer()
    rows = List(Nested(RowOut))


class OnlineRowOut(Schema):
    row = Integer()
    status = String(metadata={"description": "ok or error"})
    errors = List(Dict(), metadata={"description": "error rows"})
    person_id = Integer(metadata={"description": "imported rows"})


class OnlineImportOut(Schema):
    imported = Integer()
    failed = Integer()
    rows = List(Nested(OnlineRowOut))


class EnrolIn(Schema):
    voucher_token = String(load_default=None, validate=Length(max=256))
    voucher_code = String(load_default=None, validate=Length(max=64))


class EnrollmentPatch(Schema):
    phone = String(allow_none=True, validate=Length(max=20))
    groups = Raw(metadata={"description": "group codes or Chinese labels (list or text)"})


_STRINGS = {"type": "array", "items": {"type": "string"}}


class EnrollmentOut(Schema):
    """An Enrollment with its person (the ID number only masked) and its voucher's code."""
    id = Integer()
    plan_id = Integer()
    person_id = Integer()
    name = String(attribute="person.name")
    id_number_masked = String(attribute="person.id_number_masked")
    gender = String(attribute="person.gender")
    phone = String(allow_none=True)
    groups = Function(lambda e: e.groups or [], metadata=_STRINGS)
    status = String()
    eligible = Boolean()
    reasons = Function(lambda e: e.reasons or [], metadata=_STRINGS)
    voucher_code = Function(lambda e: e.voucher.code if e.voucher else None, allow_none=True,
                            metadata={"type": "string"})
    contract_uploaded = Function(lambda e: e.contract_path is not None, metadata={"type": "boolean"})
    created_at = AwareDateTime()
    created = Boolean(metadata={"description": "POST /plans/{id}/enrollments only: false when the voucher was "
                                               "attached to a trainee already on the roster"})


@dataclass(frozen=True)
class _Enrolled(ReadsThrough):
    """An enrolment made with a voucher, and whether it is new (EnrollmentOut's `created`)."""

    _through = "enrollment"

    enrollment: Enrollment
    created: bool


class ContractIn(Schema):
    file = File(required=True, metadata={"description": "PDF, JPEG or PNG, at most 10 MB"})


class ContractsIn(Schema):
    files = List(File(), required=True, validate=Length(min=1, max=enrollment_service.MAX_BULK_FILES),
                 metadata={"description": "PDF, JPEG or PNG files (≤ 10 MB each, ≤ 24 MB per request), each named "
                                          "with the trainee's 18-character ID number; a zip stands for the "
                                          "files in it"})


class ContractRowOut(Schema):
    filename = String()
    status = String(metadata={"description": "ok or error"})
    code = String(metadata={"description": "error rows: no_id_number_in_name, invalid_id_number, not_on_roster, "
                                            "unsupported_file_type, payload_too_large, ..."})
    enrollment_id = Integer()
    name = String()
    id_number_masked = String()


class ContractsOut(Schema):
    stored = Integer()
    failed = Integer()
    rows = List(Nested(ContractRowOut))


class RecordIn(Schema):
    id_number = Raw(allow_none=True)
    person_id = Raw(allow_none=True)
    lesson_id = Raw(allow_none=True)
    minutes = Raw(allow_none=True)


class RecordsIn(Schema):
    records = List(Nested(RecordIn), validate=Length(max=online_records.MAX_ROWS),
                   metadata={"description": "JSON import; or multipart/form-data with an xlsx `file` "
                                            "(columns 身份证号, 课次编号, 学习时长（分钟）)"})


def _uploaded_xlsx() -> bytes | None:
    upload = request.files.get("file")
    if upload is None:
        return None
    return spreadsheets.read_upload(upload.stream)


def _json_rows(body: dict, key: str) -> list[tuple[int, dict]] | None:
    items = body.get(key)
    if items is None:
        return None
    return [(i, dict(item)) for i, item in enumerate(items, start=1)]


# ---- roster -----------------------------------------------------------------------------------

@bp.get("/plans/<int:plan_id>/roster/template.xlsx")
@bp.doc(summary="The roster Excel template (姓名, 身份证号, 手机号, 人员类别, 券码 and a 填写说明 sheet)",
        responses={200: {"description": "xlsx file", "content": {spreadsheets.XLSX_MIME: {}}}})
@requires("institution", "supervisor", "admin")
def roster_template(plan_id):
    plan = plan_service.load_plan(actor(), plan_id)
    data = roster_xlsx.template_bytes(plan.title, plan.id)
    return Response(data, mimetype=spreadsheets.XLSX_MIME, headers={
        "Content-Disposition": f"attachment; filename=roster-{plan.id}.xlsx; "
                               f"filename*=UTF-8''%E5%8F%82%E8%AE%AD%E5%90%8D%E5%8D%95-{plan.id}.xlsx"})


@bp.post("/plans/<int:plan_id>/roster")
@bp.input(RosterIn, arg_name="body")
@bp.output(ImportOut)
@bp.doc(summary="Import trainees from the xlsx template (multipart `file`) or JSON; row-level results "
                "with the eligibility comparison (409 roster_frozen once a lesson started)",
        responses={422: "too_many_rows / file_too_large / invalid_file / validation_error; a row's bad name is "
                        "the row error invalid_name", 429: "rate_limited"})
@limiter.limit(upload_limits.SPREADSHEET_IMPORT)
@requires("institution")
def import_roster(plan_id, body):
    a, t = actor(), now()
    # The file is parsed (within its size and row limits) before the first query: on SQLite that query
    # takes the write lock, which a slow parse would otherwise hold against every other request.
    data = _uploaded_xlsx()
    if data is not None:
        rows = spreadsheets.read_table(data, roster_xlsx.ROSTER_COLUMNS, roster_xlsx.ROSTER_REQUIRED,
                                       roster_service.MAX_ROWS, sheet=roster_xlsx.ROSTER_SHEET)
    plan = plan_service.own_plan(a, plan_id)
    if data is None:
        rows = _json_rows(body, "trainees")
        if rows is None:
            raise invalid("validation_error", fields={"trainees": ["send trainees (JSON) or an xlsx file"]})
    source = "json" if data is None else "xlsx"
    result = roster_service.import_roster(a, plan, rows, t, current_app.config, source=source)
    return roster_service.localise(result, request_lang())


@bp.get("/plans/<int:plan_id>/enrollments")
@bp.output(EnrollmentOut(many=True))
@bp.doc(summary="A plan's roster (paged; ?status=active|withdrawn)")
@requires("institution", "supervisor", "admin")
def list_enrollments(plan_id):
    plan = plan_service.load_plan(actor(), plan_id)
    status = request.args.get("status")
    if status is not None and status not in ("active", "withdrawn"):
        raise invalid("validation_error", fields={"status": ["active or withdrawn"]})
    page, per_page = page_args()
    items, total = enrollment_service.enrollments_page(plan, page, per_page, status)
    return items, 200, {"X-Total-Count": str(total)}


@bp.post("/plans/<int:plan_id>/enrollments")
@bp.input(EnrolIn, arg_name="body")
@bp.output(EnrollmentOut, status_code=201)
@bp.doc(summary="Enrol the holder of a voucher (QR token or code); the voucher becomes used. "
                "`created` is false when it was attached to an existing roster entry; 409 roster_frozen, "
                "422 with a verify reason")
@requires("institution")
def enrol(plan_id, body):
    a, t = actor(), now()
    plan = plan_service.own_plan(a, plan_id)
    e, created = enrollment_service.enrol_with_voucher(a, plan, body.get("voucher_token"),
                                                       body.get("voucher_code"), t, current_app.config)
    # Always 201 as the contract says: the enrolment-with-voucher is what this request creates, even when
    # the trainee was already on the roster (imported without a voucher). `created` tells them apart.
    return _Enrolled(e, created), 201


@bp.patch("/enrollments/<int:enrollment_id>")
@bp.input(EnrollmentPatch, arg_name="body")
@bp.output(EnrollmentOut)
@bp.doc(summary="Change an enrolment's non-ID fields (phone, groups); allowed after the roster froze")
@requires("institution")
def patch_enrollment(enrollment_id, body):
    a, t = actor(), now()
    e, plan = enrollment_service.load_enrollment(a, enrollment_id)
    return enrollment_service.update_enrollment(a, e, plan, body, t, current_app.config)


@bp.delete("/plans/<int:plan_id>/enrollments/<int:enrollment_id>")
@bp.output(EnrollmentOut)
@bp.doc(summary="Take a trainee off the roster before it freezes (status becomes withdrawn; a voucher used "
                "for the enrolment goes back to its holder); 409 roster_frozen, 409 attendance_exists, "
                "409 invalid_state")
@requires("institution")
def remove_enrollment(plan_id, enrollment_id):
    a, t = actor(), now()
    plan = plan_service.own_plan(a, plan_id)
    e, _plan = enrollment_service.load_enrollment(a, enrollment_id)
    if e.plan_id != plan.id:
        raise not_found("not_found", object="enrollment")
    plan_service.start_if_due(plan, t)
    return enrollment_service.remove_enrollment(a, e, plan, t)


@bp.post("/enrollments/<int:enrollment_id>/contract")
@bp.input(ContractIn, location="files", arg_name="upload")
@bp.output(EnrollmentOut, status_code=201)
@bp.doc(summary="Upload the trainee's labour contract (in-post plans; PDF/JPEG/PNG ≤ 10 MB)")
@limiter.limit(upload_limits.CONTRACT)
@requires("institution")
def upload_contract(enrollment_id, upload):
    a, t = actor(), now()
    e, plan = enrollment_service.load_enrollment(a, enrollment_id)
    data = upload["file"].stream.read(enrollment_service.CONTRACT_MAX_BYTES + 1)
    return enrollment_service.store_contract(a, e, plan, data, current_app.config["UPLOAD_DIR"], t)


@bp.post("/plans/<int:plan_id>/contracts")
@bp.input(ContractsIn, location="files", arg_name="upload")
@bp.output(ContractsOut)
@bp.doc(summary="Upload many labour contracts at once (in-post plans), each matched to its trainee by the ID "
                "number in the file name; one result per file")
@limiter.limit(upload_limits.CONTRACT_BULK)
@requires("institution")
def upload_contracts(plan_id, upload):
    a, t = actor(), now()
    files = [(f.filename or "", f.stream.read(enrollment_service.CONTRACT_MAX_BYTES + 1)) for f in upload["files"]]
    plan = plan_service.own_plan(a, plan_id)
    return enrollment_service.store_contracts_bulk(a, plan, files, current_app.config["UPLOAD_DIR"], t)


@bp.get("/enrollments/<int:enrollment_id>/contract")
@bp.doc(summary="Download an enrolment's labour contract",
        responses={200: {"description": "the stored PDF, JPEG or PNG",
                         "content": binary_content("application/pdf", "image/jpeg", "image/png")}})
@requires("institution", "supervisor", "admin")
def download_contract(enrollment_id):
    e, _plan = enrollment_service.load_enrollment(actor(), enrollment_id)
    path, mime = enrollment_service.contract_file(e, current_app.config["UPLOAD_DIR"])
    # Read whole (≤ 10 MB) rather than streamed, so no file handle outlives the request.
    return Response(path.read_bytes(), mimetype=mime, headers={
        "Content-Disposition": f"attachment; filename=contract-{e.id}{path.suffix}",
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


# ---- exports ----------------------------------------------------------------------------------

class ExportQuery(Schema):
    format = String(load_default="xlsx", validate=OneOf(exports.FORMATS))


def _export(plan_id: int, kind: str, query: dict):
    plan = plan_service.load_plan(actor(), plan_id)
    data, mime, ext = exports.export(plan, kind, query["format"], current_app.config)
    name = f"{kind}-{plan.id}.{ext}"
    label = {"roster": "%E5%8F%82%E8%AE%AD%E5%90%8D%E5%8D%95", "hours": "%E5%AD%A6%E6%97%B6",
             "claim": "%E8%A1%A5%E8%B4%B4%E7%94%B3%E8%AF%B7"}[kind]
    return Response(data, mimetype=mime, headers={
        "Content-Disposition": f"attachment; filename={name}; filename*=UTF-8''{label}-{plan.id}.{ext}",
        "Cache-Control": "no-store"})


_EXPORT_CONTENT = {200: {"description": "xlsx or CSV (UTF-8 with BOM)",
                         "content": binary_content(spreadsheets.XLSX_MIME, "text/csv")}}


@bp.get("/plans/<int:plan_id>/exports/roster")
@bp.input(ExportQuery, location="query", arg_name="query")
@bp.doc(summary="Export the active roster (Chinese headers; ID numbers masked)", responses=_EXPORT_CONTENT)
@requires("institution", "supervisor", "admin")
def export_roster(plan_id, query):
    return _export(plan_id, "roster", query)


@bp.get("/plans/<int:plan_id>/exports/hours")
@bp.input(ExportQuery, location="query", arg_name="query")
@bp.doc(summary="Export credited class hours per trainee (Chinese headers)", responses=_EXPORT_CONTENT)
@requires("institution", "supervisor", "admin")
def export_hours(plan_id, query):
    return _export(plan_id, "hours", query)


@bp.get("/plans/<int:plan_id>/exports/claim")
@bp.input(ExportQuery, location="query", arg_name="query")
@bp.doc(summary="Export the plan's subsidy claim: amounts in yuan (补贴金额（元）) and in fen (amount_fen); "
                "404 before the completion review created one", responses=_EXPORT_CONTENT)
@requires("institution", "supervisor", "admin")
def export_claim(plan_id, query):
    return _export(plan_id, "claim", query)


# ---- online records ---------------------------------------------------------------------------

@bp.get("/plans/<int:plan_id>/online-records/template.xlsx")
@bp.doc(summary="A sheet for online minutes by hand: a row per trainee and online lesson (人员编号, 姓名, 课次编号, "
                "课次名称, 学习时长（分钟） to fill in, 0 for none)",
        responses={200: {"description": "xlsx file", "content": {spreadsheets.XLSX_MIME: {}}}})
@requires("institution", "supervisor", "admin")
def online_records_template(plan_id):
    plan = plan_service.load_plan(actor(), plan_id)
    return Response(online_records.template_bytes(plan), mimetype=spreadsheets.XLSX_MIME, headers={
        "Content-Disposition": f"attachment; filename=online-records-{plan.id}.xlsx; "
                               f"filename*=UTF-8''%E7%BA%BF%E4%B8%8A%E5%AD%A6%E6%97%B6-{plan.id}.xlsx"})


@bp.post("/plans/<int:plan_id>/online-records")
@bp.input(RecordsIn, arg_name="body")
@bp.output(OnlineImportOut)
@bp.doc(summary="Import online learning minutes per trainee and online lesson (JSON or xlsx `file`)",
        responses={422: "too_many_rows / file_too_large / invalid_file / validation_error", 429: "rate_limited"})
@limiter.limit(upload_limits.SPREADSHEET_IMPORT)
@requires("institution")
def import_online_records(plan_id, body):
    a, t = actor(), now()
    data = _uploaded_xlsx()  # parsed before the first query, as in import_roster
    if data is not None:
        rows = online_records.read_xlsx(data)
    plan = plan_service.own_plan(a, plan_id)
    if data is None:
        rows = _json_rows(body, "records")
        if rows is None:
            raise invalid("validation_error", fields={"records": ["send records (JSON) or an xlsx file"]})
    return roster_service.localise(online_records.import_records(a, plan, rows, t), request_lang())
