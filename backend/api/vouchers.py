"""Voucher batches, claims, the holder's vouchers and their rotating QR, desk/kiosk verification."""
from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import AwareDateTime, Boolean, Dict, Function, Integer, List, Nested, String
from apiflask.validators import Length, OneOf, Range
from flask import Response, current_app

from ..clock import now
from ..domain import identity
from ..domain import vouchers as rules
from ..domain.errors import invalid
from ..extensions import limiter
from ..security.authz import actor, requires
from ..services import faces as faces_svc
from ..services import voucher_qr, voucher_use
from ..services import vouchers as svc
from . import upload_limits
from .paging import page_list, paginate
from .schemas import StatusOut, binary_content

bp = APIBlueprint("vouchers", __name__, tag="Vouchers")

_DATETIME = {"format": "date-time"}


def _effective_status(voucher) -> str:
    """The status as seen at serialisation (expired as soon as due), by the server's clock."""
    return rules.effective_status(voucher.status, voucher.expires_at, now())


class EligibilityIn(Schema):
    groups = List(String(validate=Length(max=32)), load_default=None, allow_none=True,
                  validate=Length(max=50), metadata={"description": "target groups; any one qualifies"})
    age_min = Integer(load_default=None, allow_none=True, strict=True, validate=Range(min=0, max=150))
    age_max = Integer(load_default=None, allow_none=True, strict=True, validate=Range(min=0, max=150))
    household_regions = List(String(validate=Length(max=6)), load_default=None, allow_none=True,
                             validate=Length(max=500), metadata={"description": "household region code prefixes"})


class BatchIn(Schema):
    name = String(required=True, validate=Length(min=1, max=128))
    region_code = String(required=True, validate=Length(min=2, max=6))
    occupation_codes = List(String(validate=Length(max=32)), required=True, validate=Length(min=1, max=500))
    institution_ids = List(Integer(strict=True), load_default=None, allow_none=True, validate=Length(max=5000),
                           metadata={"description": "null: every approved institution in the region"})
    eligibility = Nested(EligibilityIn, load_default=None, allow_none=True)
    directed_id_numbers = List(String(validate=Length(max=32)), load_default=None, allow_none=True,
                               validate=Length(max=200_000),
                               metadata={"description": "定向发放: only these people may claim; kept as blind indexes"})
    quantity = Integer(required=True, strict=True, validate=Range(min=1, max=10_000_000))
    face_value_fen = Integer(required=True, strict=True, validate=Range(min=0, max=100_000_000))
    claim_starts_at = AwareDateTime(required=True)
    claim_ends_at = AwareDateTime(required=True)
    valid_days = Integer(load_default=90, strict=True, validate=Range(min=1, max=3650))
    funding_source = String(load_default="", validate=Length(max=64))
    claim_requires_face = Boolean(load_default=False)
    payee = String(load_default="institution", validate=OneOf(["institution", "trainee"]))
    code_enrollment_allowed = Boolean(load_default=False, metadata={
        "description": "enrolment with the bare voucher code (typed or a roster's 券码) instead of the trainee's "
                       "live QR; off by default (422 voucher_token_required)"})


class CodeEnrollmentIn(Schema):
    allowed = Boolean(required=True)
    reason = String(required=True, validate=Length(min=2, max=500))


class BatchOut(Schema):
    """A VoucherBatch for staff (all fields), or a services.vouchers.BatchOffer for a trainee (the public
    fields with the eligibility; a listing's ListedOffer also has claimed_code)."""
    id = Integer()
    name = String()
    status = String()
    region_code = String()
    occupation_codes = List(String())
    quantity = Integer()
    remaining = Integer()
    face_value_fen = Integer()
    claim_starts_at = AwareDateTime()
    claim_ends_at = AwareDateTime()
    valid_days = Integer()
    claim_requires_face = Boolean()
    institution_ids = List(Integer(), allow_none=True)
    eligibility = Dict()
    directed = Boolean()
    code_enrollment_allowed = Boolean()
    funding_source = String(metadata={"description": "staff only"})
    payee = String(metadata={"description": "staff only"})
    created_by = Integer(metadata={"description": "staff only"})
    created_at = AwareDateTime(metadata={"description": "staff only"})
    published_at = AwareDateTime(allow_none=True, metadata={"description": "staff only"})
    eligible = Boolean(metadata={"description": "trainees only"})
    ineligible_reasons = List(String(), metadata={"description": "trainees only: group, age, household_region, "
                                                                  "not_directed, already_claimed, face_not_enrolled, "
                                                                  "identity_not_bound"})
    claimed_code = String(allow_none=True, metadata={"description": "trainees only: the live voucher held"})


class ClaimIn(Schema):
    face_image_base64 = String(load_default=None, allow_none=True, validate=Length(max=12_000_000),
                               metadata={"description": "JPEG/PNG, required when the batch needs face verification"})


class VoucherOut(Schema):
    """A Voucher as its holder sees it; status is the effective one (expired as soon as due)."""
    code = String()
    batch_id = Integer()
    batch_name = String(attribute="batch.name")
    status = Function(_effective_status, metadata={
        "type": "string", "description": "claimed, used, returned, expired, written_off, voided"})
    face_value_fen = Integer(attribute="batch.face_value_fen")
    occupation_codes = List(String(), attribute="batch.occupation_codes")
    claimed_at = AwareDateTime()
    expires_at = AwareDateTime()
    used_at = AwareDateTime(allow_none=True)
    returned_at = AwareDateTime(allow_none=True)
    code_enrollment_allowed = Function(lambda v: bool(v.batch.code_enrollment_allowed), metadata={
        "type": "boolean", "description": "the desk may enrol with the bare code (typed) instead of the live QR"})


class QrQuery(Schema):
    format = String(load_default="json", validate=OneOf(["json", "png", "svg"]))


class QrOut(Schema):
    token = String()
    expires_at = String(metadata=_DATETIME)
    refresh_after_s = Integer()
    code = String()


class VerifyIn(Schema):
    token = String(load_default=None, allow_none=True, validate=Length(max=128))
    code = String(load_default=None, allow_none=True, validate=Length(max=64))


class VerifyOut(Schema):
    valid = Boolean()
    reason = String(allow_none=True, metadata={
        "description": "token_expired, token_invalid, token_consumed, expired, returned, used, written_off, "
                       "voided, not_allowed_institution, not_found"})
    usable_here = Boolean()
    voucher = Dict(metadata={"description": "{code, status, expires_at, batch: {id, name, occupation_codes, "
                                            "face_value_fen}, holder: {person_id, name_masked, id_number_masked}}"})


class ClaimantOut(Schema):
    """A Voucher in a batch's claimant list: the holder masked, the voucher's effective status."""
    code = String()
    status = Function(_effective_status, metadata={
        "type": "string", "description": "claimed, used, returned, expired, written_off, voided"})
    person_id = Integer()
    name_masked = Function(lambda v: identity.mask_name(v.holder.name), metadata={"type": "string"})
    id_number_masked = String(attribute="holder.id_number_masked")
    claimed_at = AwareDateTime()
    expires_at = AwareDateTime()
    used_at = AwareDateTime(allow_none=True)


class VoidIn(Schema):
    reason = String(required=True, validate=Length(min=1, max=500))


# ---- batches ----------------------------------------------------------------------------------------

@bp.post("/voucher-batches")
@bp.input(BatchIn, arg_name="body")
@bp.output(BatchOut, status_code=201)
@bp.doc(summary="Define a voucher batch (draft) in the supervisor's region")
@requires("supervisor", "admin")
def create_batch(body):
    if not body["name"].strip():
        raise invalid("validation_error", fields={"name": ["must not be blank"]})
    return svc.create_batch(actor(), body, now())


@bp.post("/voucher-batches/<int:batch_id>/publish")
@bp.output(BatchOut)
@bp.doc(summary="Publish a draft batch: trainees can claim within its window")
@requires("supervisor", "admin")
def publish_batch(batch_id):
    return svc.publish_batch(actor(), batch_id, now())


@bp.post("/voucher-batches/<int:batch_id>/close")
@bp.output(BatchOut)
@bp.doc(summary="Close a published batch: no more claims, claimed vouchers stay valid")
@requires("supervisor", "admin")
def close_batch(batch_id):
    return svc.close_batch(actor(), batch_id, now())


@bp.post("/voucher-batches/<int:batch_id>/code-enrollment")
@bp.input(CodeEnrollmentIn, arg_name="body")
@bp.output(BatchOut)
@bp.doc(summary="Allow or stop enrolment by the bare voucher code for this batch (audited with the reason)",
        description="By default an enrolment needs the trainee's live voucher QR (the trainee at the desk); a "
                    "desk that once saw the permanent code cannot enrol the person without them.")
@requires("supervisor", "admin")
def set_code_enrollment(batch_id, body):
    return svc.set_code_enrollment(actor(), batch_id, body["allowed"], body["reason"], now())


@bp.get("/voucher-batches")
@bp.output(BatchOut(many=True))
@bp.doc(summary="Trainee: published batches open now, with eligibility; supervisor: own region, all states")
@requires("trainee", "supervisor", "admin")
def list_batches():
    a = actor()
    if a.role == "trainee":
        return page_list(svc.trainee_batches(a, now()))
    return paginate(svc.supervisor_batches_stmt(a), lambda batch: batch)


@bp.get("/voucher-batches/<int:batch_id>")
@bp.output(BatchOut)
@bp.doc(summary="One batch (trainees see published ones only)")
@requires("trainee", "supervisor", "admin")
def get_batch(batch_id):
    a = actor()
    if a.role != "trainee":
        return svc.batch_in_scope(a, batch_id)
    return svc.trainee_batch(a, batch_id, now())


@bp.get("/voucher-batches/<int:batch_id>/vouchers")
@bp.output(ClaimantOut(many=True))
@bp.doc(summary="The claimant list of a batch: masked holder and the voucher's status (supervisor of the region)")
@requires("supervisor", "admin")
def batch_vouchers(batch_id):
    batch = svc.batch_in_scope(actor(), batch_id)
    return paginate(voucher_use.batch_vouchers_stmt(batch.id), lambda voucher: voucher)


# ---- claims and the holder's vouchers -----------------------------------------------------------------

@bp.post("/voucher-batches/<int:batch_id>/claims")
@bp.input(ClaimIn, arg_name="body")
@bp.output(VoucherOut, status_code=201)
@bp.doc(summary="Claim one voucher (one live voucher per person and batch; stock never oversold)")
@limiter.limit(upload_limits.VOUCHER_CLAIM)
@requires("trainee")
def claim(batch_id, body):
    t = now()
    photo = body.get("face_image_base64")
    # The face work comes before the first query (on SQLite that takes the write lock).
    probe = faces_svc.photo_probe(photo, field="face_image_base64") if photo else None
    voucher = svc.claim(actor(), batch_id, probe, t, face_threshold=float(current_app.config["FACE_MATCH_THRESHOLD"]))
    return voucher


@bp.get("/me/vouchers")
@bp.output(VoucherOut(many=True))
@bp.doc(summary="The caller's vouchers; status reads expired as soon as it is due")
@requires("trainee")
def my_vouchers():
    return paginate(svc.my_vouchers_stmt(actor()), lambda voucher: voucher)


@bp.get("/me/vouchers/<code>")
@bp.output(VoucherOut)
@bp.doc(summary="One of the caller's vouchers")
@requires("trainee")
def my_voucher(code):
    return svc.own_voucher(actor(), code)


@bp.post("/me/vouchers/<code>/return")
@bp.output(StatusOut)
@bp.doc(summary="Return an unused voucher: the stock goes back and the person may claim again")
@requires("trainee")
def return_voucher(code):
    voucher = svc.return_voucher(actor(), code, now())
    return {"status": voucher.status}


@bp.get("/me/vouchers/<code>/qr")
@bp.input(QrQuery, location="query", arg_name="query")
@bp.output(QrOut)
@bp.doc(summary="Rotating QR token (60 s, refresh every 30 s); ?format=png|svg returns the image",
        responses={200: {"description": "JSON token, or the QR image for format=png|svg",
                         "content": binary_content("image/png", "image/svg+xml")}})
@requires("trainee")
def voucher_qr_token(code, query):
    cfg = current_app.config
    out = voucher_qr.qr_token(actor(), code, now(), int(cfg["VOUCHER_QR_TTL_S"]), int(cfg["VOUCHER_QR_REFRESH_S"]))
    if query["format"] == "json":
        return out
    image, mimetype = voucher_qr.render_qr(out["token"], query["format"])
    return Response(image, mimetype=mimetype, headers={
        "Cache-Control": "no-store", "X-Token-Expires-At": out["expires_at"],
        "X-Refresh-After": str(out["refresh_after_s"])})


# ---- desks and kiosks ---------------------------------------------------------------------------------

@bp.post("/vouchers/verify")
@bp.input(VerifyIn, arg_name="body")
@bp.output(VerifyOut)
@bp.doc(summary="Check a voucher QR token or code at an institution desk or kiosk, or by the bureau",
        description="Supervisors check vouchers of batches in their region (403 out_of_scope otherwise) and admins "
                    "any; for them `usable_here` only says whether the voucher is live.")
@requires("institution", "device", "supervisor", "admin")
def verify(body):
    return voucher_use.verify(actor(), body.get("token"), body.get("code"), now())


@bp.post("/vouchers/<code>/void")
@bp.input(VoidIn, arg_name="body")
@bp.output(StatusOut)
@bp.doc(summary="Void a live voucher (supervisor in the batch's region); the stock is not restored")
@requires("supervisor", "admin")
def void(code, body):
    return {"status": voucher_use.void_voucher(actor(), code, body["reason"], now()).status}
