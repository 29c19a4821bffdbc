"""Attendance: phone check-in/out, the rotating site QR, attendance views, credited hours, make-ups."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from apiflask import APIBlueprint, Schema
from apiflask.fields import (
    UUID,
    AwareDateTime,
    Boolean,
    Date,
    File,
    Float,
    Function,
    Integer,
    List,
    Nested,
    String,
)
from apiflask.validators import Length, OneOf, Range
from flask import Response, current_app, jsonify, request
from marshmallow import missing

from ..clock import now
from ..domain import attendance as rules
from ..domain.errors import AppError, forbidden, not_found
from ..domain.vouchers import site_token, site_token_window
from ..errors import error_body
from ..extensions import db, limiter
from ..models import Lesson, MakeupRequest, TrainingPlan
from ..reads_through import ReadsThrough
from ..security import rate_gate
from ..security.authz import actor, ensure_institution, ensure_region, get_or_404, requires
from ..security.crypto import vault
from ..services import attendance as checkins
from ..services import attendance_views as views
from ..services import hours, makeups
from ..services.persons import shanghai_today
from ..uploads import MIMETYPES, resolve
from . import upload_limits
from .paging import page_list, paginate
from .schemas import ShanghaiDateTime, binary_content

bp = APIBlueprint("attendance", __name__, tag="Attendance")

# The device/session a phone reports; shared_device flags one seen with another trainee's events.
DEVICE_SESSION_HEADER = "X-Device-Session"
# 60 check-ins a minute per account: a phone retrying on a bad network stays far below it.
CHECK_IN_LIMIT = rate_gate.rule("60 per minute")


class CheckInIn(Schema):
    event_id = UUID(required=True, metadata={"description": "client-generated; deduplicates forever"})
    lesson_id = Integer(required=True, strict=True, validate=Range(min=1))
    kind = String(required=True, validate=OneOf(rules.KINDS))
    lat = Float(required=True, validate=Range(-90, 90))
    lon = Float(required=True, validate=Range(-180, 180))
    accuracy_m = Float(required=True, validate=Range(min=0, max=100000))
    coord_sys = String(required=True, validate=OneOf(["wgs84", "gcj02"]))
    site_token = String(load_default=None, allow_none=True, validate=Length(max=128))
    client_time = AwareDateTime(required=True)


class CheckInOut(Schema):
    event_id = String()
    accepted = Boolean()
    distance_m = Float(allow_none=True)
    flags = List(String())


class DayQuery(Schema):
    date = Date(load_default=None)


class QrQuery(Schema):
    format = String(load_default="json", validate=OneOf(["json", "png", "svg"]))


class MakeupIn(Schema):
    person_id = Integer(required=True)
    kind = String(required=True, validate=OneOf(makeups.KINDS))
    reason = String(required=True, validate=Length(min=1, max=1000))
    sign_sheet = File(required=True, metadata={"description": "sign-in sheet photo, JPEG/PNG ≤ 10 MB"})
    panorama = File(required=True, metadata={"description": "panorama photo of the room, JPEG/PNG ≤ 10 MB"})


class DecisionIn(Schema):
    note = String(load_default=None, allow_none=True, validate=Length(max=1000))
    reason = String(load_default=None, allow_none=True, validate=Length(max=1000))


class AttendanceSiteOut(Schema):
    id = Integer()
    name = String()
    address = String()
    lat = Float()
    lon = Float()
    radius_m = Integer()


class AttendanceLessonOut(Schema):
    """A lesson as the attendance endpoints show it (times in Asia/Shanghai, with its site)."""
    id = Integer()
    plan_id = Integer()
    title = String()
    mode = String()
    starts_at = ShanghaiDateTime()
    ends_at = ShanghaiDateTime()
    class_hours = Float()
    require_site_qr = Function(lambda le: bool(le.require_site_qr or (le.site and le.site.require_site_qr)),
                               metadata={"type": "boolean", "description": "the lesson's or its site's"})
    site = Nested(AttendanceSiteOut, allow_none=True)


class PositionOut(Schema):
    """One phone fix sent for the lesson (accepted or refused), WGS-84."""
    kind = String()
    lat = Float()
    lon = Float()
    accuracy_m = Float(allow_none=True)
    distance_m = Function(lambda ev: None if ev.distance_m is None else round(ev.distance_m, 1), allow_none=True,
                          metadata={"type": "number", "description": "metres from the site, one decimal"})
    accepted = Boolean()
    reason = String(allow_none=True)
    at = ShanghaiDateTime(attribute="received_at")


class TraineeAttendanceOut(Schema):
    """One enrolled trainee in the lesson (services.attendance_views.TraineeAttendance)."""
    person_id = Integer()
    name = String()
    bound = Boolean(metadata={"description": "a WeChat account is bound"})
    check_in_at = ShanghaiDateTime(allow_none=True)
    check_out_at = ShanghaiDateTime(allow_none=True)
    credited_hours = Float()
    status = String(metadata={"enum": ["complete", "incomplete", "absent"]})
    sources = List(String())
    flags = List(String())
    positions = List(Nested(PositionOut), metadata={"description": "the phone fixes, for the fence plot"})
    makeup_kinds = List(String(), metadata={"description": "what a make-up (补卡) could still fix"})


class LessonAttendanceOut(Schema):
    lesson = Nested(AttendanceLessonOut)
    trainees = List(Nested(TraineeAttendanceOut))


class WindowOut(Schema):
    opens_at = ShanghaiDateTime()
    closes_at = ShanghaiDateTime()


class MyLessonOut(AttendanceLessonOut):
    """A lesson of the trainee's day (services.attendance_views.MyLesson): the lesson with own check-in/out;
    offline lessons add the credit so far, the windows and the credit lines."""
    plan_title = String()
    check_in_at = ShanghaiDateTime(allow_none=True)
    check_out_at = ShanghaiDateTime(allow_none=True)
    flags = List(String())
    status = String(attribute="offline.status", metadata={"description": "offline lessons only"})
    credited_hours = Float(attribute="offline.credited_hours", metadata={"description": "offline lessons only"})
    check_in_window = Nested(WindowOut, attribute="offline.check_in_window",
                             metadata={"description": "offline lessons only"})
    check_out_window = Nested(WindowOut, attribute="offline.check_out_window",
                              metadata={"description": "offline lessons only"})
    check_in_credit_until = ShanghaiDateTime(attribute="offline.check_in_credit_until",
                                             metadata={"description": "offline lessons only: a later check-in "
                                                                      "earns nothing"})
    check_out_credit_from = ShanghaiDateTime(attribute="offline.check_out_credit_from",
                                             metadata={"description": "offline lessons only: an earlier "
                                                                      "check-out earns nothing"})


class MakeupOut(Schema):
    """A make-up request; `photo_reused` only in the reviewer's (supervisor's, admin's) view."""
    id = Integer()
    lesson_id = Integer()
    person_id = Integer()
    name = Function(lambda m: m.person.name if m.person else None, allow_none=True, metadata={"type": "string"})
    kind = String()
    reason = String()
    status = String(metadata={"enum": ["pending", "approved", "rejected"]})
    created_at = AwareDateTime(allow_none=True)
    decided_at = AwareDateTime(allow_none=True)
    decision_note = String(allow_none=True)
    lesson_title = Function(lambda m: m.lesson.title if m.lesson else None, allow_none=True,
                            metadata={"type": "string"})
    lesson_starts_at = Function(lambda m: m.lesson.starts_at.isoformat() if m.lesson and m.lesson.starts_at else None,
                                allow_none=True, metadata={"type": "string", "format": "date-time"})
    photos = Function(lambda m: {name: f"/api/v1/makeups/{m.id}/photos/{name}" for name in makeups.PHOTOS},
                      metadata={"type": "object", "description": "{sign_sheet, panorama}: the photos' URLs"})
    photo_reused = Function(lambda m: missing if m.photo_reused is None else m.photo_reused,
                            metadata={"type": "array", "items": {"type": "object"},
                                      "description": "reviewer only: [{photo, makeup_id, other_photo}], the photos "
                                                     "another lesson's make-up already used"})


@dataclass(frozen=True)
class _Makeup(ReadsThrough):
    """A make-up as one caller sees it: the request, and for a reviewer the photos found reused."""

    _through = "request"
    request: MakeupRequest
    photo_reused: list[dict] | None


class MakeupQuery(Schema):
    status = String(load_default=None, validate=OneOf(["pending", "approved", "rejected"]))
    page = Integer(load_default=1)
    per_page = Integer(load_default=50)


def _account_key(a) -> str:
    """The check-in limit's counter: the verified subject (the gate authenticated it before the view ran),
    so phones behind one carrier NAT don't share, and a forged token was refused with 401 uncounted."""
    return "checkin:" + str(a.subject)[:48]


def _json(body: dict, status: int) -> Response:
    resp = jsonify(body)
    resp.status_code = status
    return resp


def _session_key(a) -> str:
    reported = (request.headers.get(DEVICE_SESSION_HEADER) or "").strip()
    if reported:
        return "d:" + reported[:62]
    return "s:" + str(a.session_key or a.subject)[:62]


@bp.post("/attendance")
@rate_gate.counted_here  # charges CHECK_IN_LIMIT itself: Flask-Limiter's per-request resolution is not paid here
@bp.input(CheckInIn, arg_name="body")
@bp.output(CheckInOut, status_code=201, description="accepted (200 with the same body for a repeated event_id)")
@bp.doc(summary="Phone check-in / check-out at an offline lesson (geofence, time window, site QR)",
        description="Every event is stored, accepted or rejected. Rejections: 403 not_enrolled, 404 not_found, "
                    "409 already_checked_in / not_checked_in / already_checked_out, 422 not_offline_lesson / "
                    "outside_time_window / site_token_invalid / low_accuracy / out_of_fence. Optional header "
                    f"{DEVICE_SESSION_HEADER} names the device for the shared_device flag.",
        responses={200: "repeat of an accepted event", 403: "not_enrolled", 404: "no such lesson",
                   409: "sequence conflict", 422: "rule broken or invalid input"})
@requires("trainee")
def post_attendance(body):
    a = actor()
    limit_headers = rate_gate.charge(CHECK_IN_LIMIT, _account_key(a))
    if a.person_id is None:
        raise AppError("identity_not_bound", 403)
    ev = checkins.CheckIn(event_id=str(body["event_id"]), lesson_id=body["lesson_id"], kind=body["kind"],
                          lat=body["lat"], lon=body["lon"], accuracy_m=body["accuracy_m"],
                          coord_sys=body["coord_sys"], client_time=body["client_time"],
                          site_token=body.get("site_token"))
    out = checkins.record_mobile_event(a.person_id, _session_key(a), ev, now(), current_app.config,
                                       vault().token_key)
    if out.error is not None:
        # Returned, not raised: the rejected event is stored, and the unit of work commits it.
        return rate_gate.with_headers(_json(error_body(out.error.code, out.error.details), out.error.status),
                                      limit_headers)
    return rate_gate.with_headers(_json(out.body, 200 if out.replayed else 201), limit_headers)


def _lesson_in_scope(lesson_id: int) -> tuple[Lesson, TrainingPlan]:
    a = actor()
    lesson = get_or_404(Lesson, lesson_id)
    plan = db.session.get(TrainingPlan, lesson.plan_id)
    ensure_institution(a, plan.institution_id, plan.region_code)
    return lesson, plan


@bp.get("/lessons/<int:lesson_id>/attendance")
@bp.output(LessonAttendanceOut)
@bp.doc(summary="A lesson's trainees with check-in/out, credited hours, status, sources and flags")
@requires("institution", "supervisor", "admin")
def lesson_attendance(lesson_id):
    lesson, _plan = _lesson_in_scope(lesson_id)
    return views.lesson_attendance(lesson, current_app.config)


@bp.get("/me/lessons")
@bp.input(DayQuery, location="query", arg_name="query")
@bp.output(MyLessonOut(many=True))
@bp.doc(summary="The trainee's lessons on a day (Asia/Shanghai; default today) with own check-in/out state")
@requires("trainee")
def my_lessons(query):
    a = actor()
    if a.person_id is None:
        return page_list([])
    day = query.get("date") or shanghai_today(now())
    return page_list(views.my_lessons(a.person_id, day, current_app.config))


@bp.get("/lessons/<int:lesson_id>/site-qr")
@bp.input(QrQuery, location="query", arg_name="query")
@bp.doc(summary="Rotating site QR for the teaching room (30 s; current and previous accepted); "
                "?format=png|svg returns the image",
        responses={200: {"description": "{token, expires_at, refresh_after_s} or the QR image",
                         "content": {"application/json": {"schema": {"type": "object"}},
                                     **binary_content("image/png", "image/svg+xml")}}})
@requires("institution")
def site_qr(lesson_id, query):
    lesson, _plan = _lesson_in_scope(lesson_id)
    if lesson.mode != "offline":
        raise AppError("not_offline_lesson", 422, {"lesson_id": lesson.id})
    period = current_app.config["SITE_QR_PERIOD_S"]
    t = int(now().timestamp())
    token = site_token(vault().token_key, lesson.id, t, period)
    expires, refresh_after = site_token_window(t, period)
    if query["format"] != "json":
        from ..services.voucher_qr import render_qr
        data, mimetype = render_qr(token, query["format"])
        return Response(data, mimetype=mimetype, headers={"Cache-Control": "no-store"})
    body = {"token": token, "expires_at": datetime.fromtimestamp(expires, UTC).astimezone(rules.SHANGHAI).isoformat(),
            "refresh_after_s": refresh_after, "lesson_id": lesson.id}
    return body, 200, {"Cache-Control": "no-store"}


def _hours_json(row: dict) -> dict:
    out = {k: (float(v) if k.endswith("_hours") else v) for k, v in row.items()}
    out["by_source"] = {k: float(v) for k, v in row.get("by_source", {}).items()}
    return out


@bp.get("/plans/<int:plan_id>/hours")
@bp.doc(summary="Credited hours per trainee: offline (proven attendance), online (minutes, capped), total",
        description="`by_source` splits the credited hours by how they were proven: mobile, kiosk, makeup (joined "
                    "with + when one lesson was proven two ways) and online.")
@requires("institution", "supervisor", "admin")
def plan_hours(plan_id):
    plan = get_or_404(TrainingPlan, plan_id)
    ensure_institution(actor(), plan.institution_id, plan.region_code)
    return {"plan_id": plan.id, "trainees": [_hours_json(r) for r in hours.plan_hours(plan.id)]}


# ---- make-ups (补卡) ---------------------------------------------------------------------

@bp.post("/lessons/<int:lesson_id>/makeups")
@bp.input(MakeupIn, location="form_and_files", arg_name="form")
@bp.doc(summary="File a make-up (补卡) on the lesson's day with sign-in sheet and panorama photos",
        responses={201: "pending", 409: "makeup_window_closed / already_checked_in / makeup_pending",
                   422: "unsupported_image / image_too_large / invalid_image"})
@limiter.limit(upload_limits.MAKEUP)
@requires("institution")
def post_makeup(lesson_id, form):
    a = actor()
    # Photos are decoded before the first query, so no database lock is held meanwhile.
    photos = makeups.clean_photos({name: form.get(name) for name in makeups.PHOTOS})
    lesson, plan = _lesson_in_scope(lesson_id)
    req = makeups.file_makeup(lesson, plan, form["person_id"], form["kind"], form["reason"], photos,
                              a.user_id, a.label, now(), current_app.config["UPLOAD_DIR"])
    return {"id": req.id, "status": req.status}, 201


def _makeup_in_scope(makeup_id: int, supervisor_only: bool = False) -> tuple[MakeupRequest, TrainingPlan]:
    a = actor()
    req = get_or_404(MakeupRequest, makeup_id)
    lesson = db.session.get(Lesson, req.lesson_id)
    plan = db.session.get(TrainingPlan, lesson.plan_id)
    if supervisor_only:
        ensure_region(a, plan.region_code)
    else:
        ensure_institution(a, plan.institution_id, plan.region_code)
    return req, plan


def _decide(makeup_id: int, body: dict, approve: bool):
    a = actor()
    req, _plan = _makeup_in_scope(makeup_id, supervisor_only=True)
    makeups.decide(req, approve, body.get("note") or body.get("reason"), a.user_id, a.label, now())
    return {"id": req.id, "status": req.status}


@bp.post("/makeups/<int:makeup_id>/approve")
@bp.input(DecisionIn, arg_name="body")
@bp.doc(summary="Approve a make-up: its missing check-in/out are credited (supervisor of the region)")
@requires("supervisor")
def approve_makeup(makeup_id, body):
    return _decide(makeup_id, body, True)


@bp.post("/makeups/<int:makeup_id>/reject")
@bp.input(DecisionIn, arg_name="body")
@bp.doc(summary="Reject a make-up (supervisor of the region)")
@requires("supervisor")
def reject_makeup(makeup_id, body):
    return _decide(makeup_id, body, False)


@bp.get("/makeups")
@bp.input(MakeupQuery, location="query", arg_name="query")
@bp.output(MakeupOut(many=True))
@bp.doc(summary="Make-up requests: the supervisor's region queue (?status=pending), or the institution's own")
@requires("supervisor", "institution", "admin")
def list_makeups(query):
    items, status, headers = paginate(makeups.makeups_stmt(actor(), query.get("status")), lambda r: r)
    reused = _reviewer_reuse(items)
    return [_Makeup(r, reused.get(r.id)) for r in items], status, headers


def _reviewer_reuse(items: list) -> dict:
    """Reused-photo findings for the reviewing side only: the institution filing a make-up is not told
    which of its photos matched, so it cannot probe how far a re-saved photo must be changed to pass."""
    return makeups.reused_photos(items) if actor().role in ("supervisor", "admin") else {}


@bp.get("/makeups/<int:makeup_id>")
@bp.output(MakeupOut)
@bp.doc(summary="One make-up request")
@requires("supervisor", "institution", "admin")
def get_makeup(makeup_id):
    req, _plan = _makeup_in_scope(makeup_id)
    return _Makeup(req, _reviewer_reuse([req]).get(req.id))


@bp.get("/makeups/<int:makeup_id>/photos/<which>")
@bp.doc(summary="A make-up photo (sign_sheet or panorama), for the supervisor or the institution",
        responses={200: {"description": "image/jpeg or image/png", "content": binary_content(*MIMETYPES.values())}})
@requires("supervisor", "institution", "admin")
def makeup_photo(makeup_id, which):
    if which not in makeups.PHOTOS:
        raise not_found("not_found", photo=which)
    req, _plan = _makeup_in_scope(makeup_id)
    rel = req.sign_sheet_path if which == "sign_sheet" else req.panorama_path
    try:
        path = resolve(current_app.config["UPLOAD_DIR"], rel)
    except ValueError:
        raise forbidden("forbidden") from None
    if not path.is_file():
        raise not_found("not_found", photo=which)
    # At most 10 MB, checked at upload: read whole, so no file handle outlives the request.
    return Response(path.read_bytes(), mimetype=MIMETYPES.get(path.suffix, "application/octet-stream"),
                    headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})
