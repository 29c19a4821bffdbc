"""Training plans and lessons: the institution declares, the region's supervisor reviews.

Roster, enrolment, contract and online-record routes live in api/roster.py on the same blueprint
(register_api imports it: this module does not import it back).
"""
from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import AwareDateTime, Boolean, Date, Dict, File, Float, Function, Integer, List, String
from apiflask.validators import Length, OneOf, Range, Regexp
from flask import Response, request
from marshmallow import missing

from ..clock import now
from ..domain.errors import invalid
from ..domain.occupations import occupation_name, occupations
from ..domain.plans import STATES
from ..extensions import limiter
from ..security.authz import actor, requires
from ..services import lesson_import, spreadsheets
from ..services import lessons as lesson_service
from ..services import plans as plan_service
from . import upload_limits
from .paging import page_args
from .schemas import ReasonIn, ShanghaiDateTime

bp = APIBlueprint("plans", __name__, tag="Plans")

_PLAN_TYPES = OneOf(["pre_job", "in_post", "job_transfer", "social"])
_DELIVERY = OneOf(["offline", "online", "blended"])
# GB/T 6565 occupation codes such as 4-03-02-01, optionally with a work-type suffix.
_OCCUPATION = Regexp(r"^[0-9A-Za-z][0-9A-Za-z-]{0,31}$")


class PlanIn(Schema):
    title = String(required=True, validate=Length(min=1, max=128))
    occupation_code = String(required=True, validate=[Length(min=1, max=32), _OCCUPATION])
    plan_type = String(required=True, validate=_PLAN_TYPES)
    delivery = String(required=True, validate=_DELIVERY)
    starts_on = Date(required=True)
    ends_on = Date(required=True)
    online_platform = String(load_default=None, allow_none=True, validate=Length(max=128),
                             metadata={"description": "required for online and blended delivery"})


class PlanPatch(Schema):
    title = String(validate=Length(min=1, max=128))
    occupation_code = String(validate=[Length(min=1, max=32), _OCCUPATION])
    plan_type = String(validate=_PLAN_TYPES)
    delivery = String(validate=_DELIVERY)
    starts_on = Date()
    ends_on = Date()
    online_platform = String(allow_none=True, validate=Length(max=128))


class LessonIn(Schema):
    title = String(required=True, validate=Length(min=1, max=128))
    mode = String(required=True, validate=OneOf(["offline", "online"]))
    starts_at = AwareDateTime(required=True, metadata={"description": "ISO 8601 with offset (+08:00)"})
    ends_at = AwareDateTime(required=True)
    class_hours = Float(required=True, validate=Range(min=0.5, max=24),
                        metadata={"description": "in halves; each class hour needs 45 minutes of lesson"})
    site_id = Integer(load_default=None, allow_none=True, metadata={"description": "required for offline lessons"})
    require_site_qr = Boolean(load_default=None, allow_none=True,
                              metadata={"description": "defaults to the site's setting"})


class LessonPatch(Schema):
    title = String(validate=Length(min=1, max=128))
    starts_at = AwareDateTime()
    ends_at = AwareDateTime()
    class_hours = Float(validate=Range(min=0.5, max=24))
    site_id = Integer()
    require_site_qr = Boolean()


class LessonOut(Schema):
    id = Integer()
    plan_id = Integer()
    title = String()
    mode = String()
    starts_at = ShanghaiDateTime(metadata={"description": "Asia/Shanghai"})
    ends_at = ShanghaiDateTime()
    class_hours = Float()
    site_id = Integer(allow_none=True)
    require_site_qr = Boolean()


class PlanOut(Schema):
    id = Integer()
    institution_id = Integer()
    region_code = String()
    title = String()
    occupation_code = String()
    occupation_name = Function(lambda p: occupation_name(p.occupation_code), allow_none=True,
                               metadata={"type": "string", "description": "from the occupation catalogue; null "
                                                                          "when the code is not in it"})
    plan_type = String()
    delivery = String()
    starts_on = Date()
    ends_on = Date()
    online_platform = String(allow_none=True)
    status = String()
    reject_reason = String(allow_none=True)
    submitted_at = AwareDateTime(allow_none=True)
    reviewed_at = AwareDateTime(allow_none=True)
    created_at = AwareDateTime()
    enrolled = Integer()
    change_deadline = ShanghaiDateTime(metadata={"description": "last moment for whole-plan changes after "
                                                                "approval"})
    class_hours = Function(lambda p: {"offline": float(p.offline_hours), "online": float(p.online_hours),
                                      "total": float(p.offline_hours + p.online_hours)},
                           metadata={"type": "object", "description": "{offline, online, total}"})
    # Dumped by LessonOut here rather than Nested(LessonOut): apispec would register LessonOut twice and warn.
    lessons = Function(lambda p: missing if p.lessons is None else LessonOut(many=True).dump(p.lessons),
                       metadata={"type": "array", "items": {"type": "object"},
                                 "description": "the plan's lessons (LessonOut), only in GET /plans/{id}"})


def _status_filter() -> str | None:
    status = request.args.get("status")
    if status is not None and status not in STATES:
        raise invalid("validation_error", fields={"status": [f"one of {', '.join(STATES)}"]})
    return status


class OccupationOut(Schema):
    code = String()
    name = String()


@bp.get("/occupations")
@bp.output(OccupationOut(many=True))
@bp.doc(summary="The occupation catalogue (national occupation classification codes and names) for forms and "
                "display; codes not listed are still accepted on plans")
@requires("trainee", "institution", "supervisor", "admin")
def list_occupations():
    items = [{"code": code, "name": name} for code, name in sorted(occupations().items())]
    return items, 200, {"X-Total-Count": str(len(items))}


# ---- plans ------------------------------------------------------------------------------------

@bp.post("/plans")
@bp.input(PlanIn, arg_name="body")
@bp.output(PlanOut, status_code=201)
@bp.doc(summary="Declare a training plan (draft)")
@requires("institution")
def post_plan(body):
    return plan_service.with_figures(plan_service.create_plan(actor(), body, now()))


@bp.get("/plans")
@bp.output(PlanOut(many=True))
@bp.doc(summary="Plans: the institution's own, a supervisor's region, all for admins; ?status= filters")
@requires("institution", "supervisor", "admin")
def list_plans():
    page, per_page = page_args()
    items, total = plan_service.plans_page(plan_service.plans_query(actor(), _status_filter()), page, per_page)
    return items, 200, {"X-Total-Count": str(total)}


def _plan_with_lessons(plan) -> plan_service.PlanFigures:
    return plan_service.with_figures(plan, lessons=lesson_service.plan_lessons(plan.id))


@bp.get("/plans/<int:plan_id>")
@bp.output(PlanOut)
@bp.doc(summary="One plan with its lessons")
@requires("institution", "supervisor", "admin")
def get_plan(plan_id):
    plan = plan_service.load_plan(actor(), plan_id)
    plan_service.start_if_due(plan, now())
    return _plan_with_lessons(plan)


@bp.patch("/plans/<int:plan_id>")
@bp.input(PlanPatch, arg_name="body")
@bp.output(PlanOut)
@bp.doc(summary="Edit a plan: drafts freely; after approval only until 2 days before it starts "
                "(409 change_window_closed)")
@requires("institution")
def patch_plan(plan_id, body):
    a, t = actor(), now()
    plan = plan_service.own_plan(a, plan_id)
    plan_service.start_if_due(plan, t)
    return _plan_with_lessons(plan_service.update_plan(a, plan, body, t))


@bp.post("/plans/<int:plan_id>/submit")
@bp.output(PlanOut)
@bp.doc(summary="Submit for review (422 no_lessons / online_share_exceeded, 409 contract_missing)")
@requires("institution")
def submit_plan(plan_id):
    a, t = actor(), now()
    return plan_service.with_figures(plan_service.submit_plan(a, plan_service.own_plan(a, plan_id), t))


@bp.post("/plans/<int:plan_id>/withdraw")
@bp.output(PlanOut)
@bp.doc(summary="Withdraw a submitted plan to draft before review")
@requires("institution")
def withdraw_plan(plan_id):
    a, t = actor(), now()
    return plan_service.with_figures(plan_service.withdraw_plan(a, plan_service.own_plan(a, plan_id), t))


@bp.post("/plans/<int:plan_id>/approve")
@bp.output(PlanOut)
@bp.doc(summary="Approve a submitted plan (supervisor of its region)")
@requires("supervisor")
def approve_plan(plan_id):
    a, t = actor(), now()
    plan = plan_service.load_plan(a, plan_id, lock=True)
    return plan_service.with_figures(plan_service.review_plan(a, plan, True, None, t))


@bp.post("/plans/<int:plan_id>/reject")
@bp.input(ReasonIn, arg_name="body")
@bp.output(PlanOut)
@bp.doc(summary="Reject a submitted plan with a reason (supervisor of its region)")
@requires("supervisor")
def reject_plan(plan_id, body):
    a, t = actor(), now()
    plan = plan_service.load_plan(a, plan_id, lock=True)
    return plan_service.with_figures(plan_service.review_plan(a, plan, False, body["reason"], t))


# ---- lessons ----------------------------------------------------------------------------------

@bp.post("/plans/<int:plan_id>/lessons")
@bp.input(LessonIn, arg_name="body")
@bp.output(LessonOut, status_code=201)
@bp.doc(summary="Add a lesson (422 class_hours_too_long, 422 online_share_exceeded, 409 change_window_closed)")
@requires("institution")
def post_lesson(plan_id, body):
    a, t = actor(), now()
    plan = plan_service.own_plan(a, plan_id)
    return lesson_service.create_lesson(a, plan, body, t)


@bp.get("/plans/<int:plan_id>/lessons")
@bp.output(LessonOut(many=True))
@bp.doc(summary="A plan's lessons in time order")
@requires("institution", "supervisor", "admin")
def list_lessons(plan_id):
    plan = plan_service.load_plan(actor(), plan_id)
    lessons = lesson_service.plan_lessons(plan.id)
    # A collection like every other (X-Total-Count); a page holds a whole plan unless asked otherwise.
    page, per_page = page_args(default_per_page=500)
    chunk = lessons[(page - 1) * per_page: page * per_page]
    return chunk, 200, {"X-Total-Count": str(len(lessons))}


@bp.get("/plans/<int:plan_id>/lessons/template.xlsx")
@bp.doc(summary="The lesson import template (课次名称, 方式, 日期, 开始时间, 结束时间, 课时, 场地, 须扫现场码)",
        responses={200: {"description": "xlsx file", "content": {spreadsheets.XLSX_MIME: {}}}})
@requires("institution", "supervisor", "admin")
def lesson_template(plan_id):
    plan = plan_service.load_plan(actor(), plan_id)
    return Response(lesson_import.template_bytes(plan), mimetype=spreadsheets.XLSX_MIME, headers={
        "Content-Disposition": f"attachment; filename=lessons-{plan.id}.xlsx; "
                               f"filename*=UTF-8''%E8%AF%BE%E6%AC%A1-{plan.id}.xlsx"})


class LessonFileIn(Schema):
    file = File(required=True, metadata={"description": "the filled lesson template (xlsx)"})


class LessonImportOut(Schema):
    imported = Integer()
    failed = Integer()
    ineligible = Integer()
    rows = List(Dict())


@bp.post("/plans/<int:plan_id>/lessons/import")
@bp.input(LessonFileIn, location="files", arg_name="upload")
@bp.output(LessonImportOut)
@bp.doc(summary="Import lessons from the filled template; any bad row refuses the whole sheet (422 invalid_rows "
                "with each row's errors)",
        responses={422: "invalid_rows / too_many_rows / file_too_large / invalid_file / validation_error",
                   429: "rate_limited"})
@limiter.limit(upload_limits.SPREADSHEET_IMPORT)
@requires("institution")
def import_lessons(plan_id, upload):
    a, t = actor(), now()
    # Parsed before the first query, as the roster import does (SQLite's write lock).
    rows = lesson_import.read_xlsx(spreadsheets.read_upload(upload["file"].stream))
    plan = plan_service.own_plan(a, plan_id)
    return lesson_import.import_lessons(a, plan, rows, t)


@bp.get("/lessons/<int:lesson_id>")
@bp.output(LessonOut)
@bp.doc(summary="One lesson")
@requires("institution", "supervisor", "admin")
def get_lesson(lesson_id):
    lesson, _plan = lesson_service.load_lesson(actor(), lesson_id)
    return lesson


@bp.patch("/lessons/<int:lesson_id>")
@bp.input(LessonPatch, arg_name="body")
@bp.output(LessonOut)
@bp.doc(summary="Change a lesson: time keeps duration and class hours, until 4 h before the start "
                "(409 change_window_closed, 422 hours_changed); site any time before it ends")
@requires("institution")
def patch_lesson(lesson_id, body):
    a, t = actor(), now()
    lesson, plan = lesson_service.load_lesson(a, lesson_id, lock=True)
    return lesson_service.update_lesson(a, lesson, plan, body, t)


@bp.delete("/lessons/<int:lesson_id>")
@bp.output(LessonOut)
@bp.doc(summary="Remove a lesson before it starts (a whole-plan change: drafts freely, approved plans until "
                "their change deadline); 409 change_window_closed, 409 attendance_exists; returns the "
                "removed lesson")
@requires("institution")
def delete_lesson(lesson_id):
    a, t = actor(), now()
    lesson, plan = lesson_service.load_lesson(a, lesson_id, lock=True)
    plan_service.start_if_due(plan, t)
    return lesson_service.delete_lesson(a, lesson, plan, t)

