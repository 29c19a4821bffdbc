"""Request and response schemas of the outcomes area (results, completion, certificates, subsidy, evaluations)."""
from __future__ import annotations

from apiflask import Schema
from apiflask.fields import (
    AwareDateTime,
    Boolean,
    Date,
    DateTime,
    Dict,
    Float,
    Function,
    Integer,
    List,
    Nested,
    Raw,
    String,
)
from apiflask.validators import Length, OneOf, Range
from flask import current_app

from ..clock import now
from ..domain.identity import mask_name
from ..services.certificates import print_path, verify_url
from ..services.persons import shanghai_today
from ..services.subsidy import explain, overdue, progress


class ResultsIn(Schema):
    # Rows are checked one by one in the service (row-level errors), so nothing is required here.
    results = List(
        Raw(metadata={"type": "object", "properties": {
            "person_id": {"type": "integer"}, "id_number": {"type": "string"},
            "score": {"type": "number", "minimum": 0, "maximum": 100}, "passed": {"type": "boolean"}}}),
        load_default=None,
        metadata={"description": "rows {person_id | id_number, score, passed}; or send a multipart `file` "
                                 "(the xlsx template) instead"})


class ResultRowOut(Schema):
    row = Integer()
    status = String(metadata={"enum": ["ok", "error"]})
    person_id = Integer(allow_none=True)
    id_number_masked = String(allow_none=True)
    errors = List(String(), metadata={"description": "not_on_roster, duplicate_row, score_out_of_range, "
                                                     "score_invalid, score_required, passed_invalid, "
                                                     "passed_required, invalid_id_number, person_required, "
                                                     "person_mismatch, person_id_invalid, name_mismatch"})
    duplicate_of = Integer()


class ResultsImportOut(Schema):
    imported = Integer()
    rows = List(Nested(ResultRowOut))


class ResultOut(Schema):
    person_id = Integer()
    name = String()
    id_number_masked = String()
    score = Float(metadata={"description": "0-100, one decimal place"})
    passed = Boolean()
    recorded_at = String()


class PlanStatusOut(Schema):
    id = Integer()
    status = String()
    completion_submitted_at = String(allow_none=True)


class CompletionOut(Schema):
    status = String()
    certificates_issued = Integer()
    subsidy_claim_id = Integer()
    excluded = List(Integer(), metadata={"description": "person ids excluded by the review's decisions"})


class CompletionPreviewOut(Schema):
    person_id = Integer()
    name = String()
    credited_hours = Float()
    completed = Boolean(metadata={"description": "credited hours reach the policy's share of the class hours"})
    passed = Boolean()
    score = Float(allow_none=True)
    eligible = Boolean()
    amount_fen = Integer(allow_none=True, metadata={"description": "the training subsidy the policy would pay; "
                                                                   "null when the trainee would get none"})
    limited_by = String(allow_none=True)
    reasons = List(String(), metadata={"description": "why no subsidy: not_completed, not_passed, not_eligible, "
                                                      "voucher_not_usable"})


class CompletionRejectOut(Schema):
    id = Integer()
    status = String()
    reject_reason = String()
    reviewed_at = String(metadata={"format": "date-time"})


class CompletionDecisionIn(Schema):
    person_id = Integer(required=True)
    accept = Boolean(required=True, metadata={"description": "true: count the trainee despite the flags; "
                                                             "false: exclude (no certificate, no subsidy line)"})
    reason = String(required=True, validate=Length(min=2, max=500))


class CompletionApproveIn(Schema):
    decisions = List(Nested(CompletionDecisionIn), load_default=list, validate=Length(max=2000),
                     metadata={"description": "one per trainee with a blocking trust flag (GET /plans/{id}/flags); "
                                              "409 decisions_required lists the ones missing"})


class TrustFlagOut(Schema):
    code = String(metadata={"description": "shared_face | face_by_staff | never_bound | late_upload | kiosk_burst "
                                           "| gps_only | face_recheck_failed | liveness_failed | liveness_missing"})
    detail = String()
    event_ids = List(Integer())
    blocking = Boolean()


class PersonFlagsOut(Schema):
    person_id = Integer()
    name = String()
    blocking = Boolean()
    flags = List(Nested(TrustFlagOut))


class LineOut(Schema):
    person_id = Integer()
    name = String()
    credited_hours = Float(metadata={"description": "credited class hours"})
    voucher_code = String(allow_none=True)
    amount_fen = Integer()
    capped = Boolean()
    limited_by = String(allow_none=True, metadata={"description": "what set the amount: hours (rate × credited "
                                                                 "hours), standard (project standard × ratio), "
                                                                 "voucher or annual_cap"})
    payee = String(metadata={"enum": ["trainee", "institution"]})
    line_type = String(metadata={"enum": ["training", "living_allowance"]})
    year = Integer()
    attended_days = Integer(allow_none=True)
    basis = Dict(allow_none=True, metadata={"description": "the numbers the amount came from: policy_id, kind "
                                                           "(standard | hours | living_allowance), standard_fen, "
                                                           "ratio_percent, rate_fen_per_hour, caps"})
    explanation = Function(lambda line: explain(line.basis), allow_none=True,
                           metadata={"type": "string", "description": "the same in words (zh-CN), naming the "
                                                                      "policy version"})
    certificate_revoked = Function(lambda line: line.revoked_certificate is not None,
                                   metadata={"type": "boolean",
                                             "description": "the trainee's certificate of this plan was revoked"})
    revoked_certificate = String(allow_none=True)
    revoked_reason = String(allow_none=True)


class ObjectionIn(Schema):
    text = String(required=True, validate=Length(min=1, max=2000))


class ObjectionOut(Schema):
    id = Integer()
    claim_id = Integer()
    text = String()
    recorded_by = Integer()
    recorded_at = AwareDateTime()
    status = String(metadata={"description": "open (holds the payout), upheld or dismissed"})
    resolved_by = Integer(allow_none=True)
    resolved_at = AwareDateTime(allow_none=True)
    resolution = String(allow_none=True)


class ObjectionDecisionIn(Schema):
    decision = String(required=True, validate=OneOf(["dismissed", "upheld"]),
                      metadata={"description": "dismissed: payout may go on; upheld: the claim goes back to submitted"})
    note = String(load_default=None, allow_none=True, validate=Length(max=2000))


class ClaimRejectIn(Schema):
    reason = String(required=True, validate=Length(min=1, max=2000))


class ClaimDecisionOut(Schema):
    """A completion review's decision on one flagged trainee, with who decided."""
    person_id = Integer()
    name = Function(lambda d: d.person.name, metadata={"type": "string"})
    accept = Boolean()
    reason = String()
    flags = Function(lambda d: d.flags or [], metadata={"type": "array", "items": {"type": "string"}})
    decided_by = Integer()
    decided_by_username = Function(lambda d: d.decider.username, metadata={"type": "string"})
    decided_at = AwareDateTime()


class ClaimSummaryOut(Schema):
    """A subsidy claim without its lines (the queue); `progress` and `overdue` by the server clock as it dumps."""
    id = Integer()
    plan_id = Integer()
    plan_title = Function(lambda c: c.plan.title, metadata={"type": "string"})
    institution_id = Integer()
    institution = Function(lambda c: c.institution.name, metadata={"type": "string"})
    region_code = String()
    status = String(metadata={"enum": ["submitted", "approved", "disbursed", "rejected"]})
    progress = Function(lambda c: progress(c, now()),
                        metadata={"type": "string",
                                  "enum": ["applied", "publicity", "approved", "disbursed", "rejected"]})
    total_fen = Integer()
    created_at = DateTime()
    approved_by = Integer(allow_none=True)
    approved_at = DateTime(allow_none=True)
    publicity_ends_at = DateTime(allow_none=True)
    disbursed_by = Integer(allow_none=True)
    disbursed_at = DateTime(allow_none=True)
    rejected_reason = String(allow_none=True)
    review_due_on = Date(allow_none=True, metadata={"description": "the completion's answer was due (policy)"})
    payment_due_on = Date(allow_none=True, metadata={"description": "payment is due (policy: working days after "
                                                                   "publicity)"})
    overdue = Function(lambda c: overdue(c, now()), allow_none=True,
                       metadata={"type": "string", "description": "payment when not paid by its due day"})
    approved_by_name = Function(lambda c: c.approver.username if c.approver else None, allow_none=True,
                                metadata={"type": "string", "description": "username of the approver"})
    disbursed_by_name = Function(lambda c: c.disburser.username if c.disburser else None, allow_none=True,
                                 metadata={"type": "string", "description": "username of the disburser"})


class ClaimOut(ClaimSummaryOut):
    """One claim with its lines, explanations, objections and decisions (services.subsidy.ClaimDetail, whose
    claim attributes read through)."""
    lines = List(Nested(LineOut))
    explanations = List(Dict(), metadata={"description": "[{person_id, name, credited_hours, reasons: "
                                                         "[not_completed|not_passed|not_eligible|"
                                                         "voucher_not_usable|no_certificate|excluded], "
                                                         "decision_reason?}]"})
    # ObjectionOut dumped inside a Function: nesting a schema that is also a route's output would register it
    # twice in the OpenAPI document.
    objections = Function(lambda d: ObjectionOut(many=True).dump(d.objections),
                          metadata={"type": "array", "items": {"type": "object"},
                                    "description": "[{id, claim_id, text, recorded_by, recorded_at, status, "
                                                   "resolved_by, resolved_at, resolution}]"})
    decisions = List(Nested(ClaimDecisionOut),
                     metadata={"description": "the completion review's decisions on flagged trainees"})


class ClaimQuery(Schema):
    status = String(load_default=None, validate=OneOf(["submitted", "approved", "disbursed", "rejected"]))
    page = Integer(load_default=1)
    per_page = Integer(load_default=50)


class ClaimStatusOut(Schema):
    id = Integer()
    status = String()
    total_fen = Integer()
    publicity_ends_at = String(allow_none=True)


class DisburseOut(Schema):
    status = String()
    total_fen = Integer()
    vouchers_written_off = Integer()


def _revoked_on(cert) -> str | None:
    return shanghai_today(cert.revoked_at).isoformat() if cert.revoked_at else None


class CertificatePublicOut(Schema):
    """What anyone holding the number may see: validity and a masked holder."""
    valid = Function(lambda c: c.revoked_at is None, metadata={"type": "boolean"})
    number = String()
    holder_name_masked = Function(lambda c: mask_name(c.person.name), metadata={"type": "string"})
    occupation_code = String()
    institution = Function(lambda c: c.institution.name, metadata={"type": "string"})
    issued_on = Date()
    revoked_on = Function(_revoked_on, allow_none=True,
                          metadata={"type": "string", "format": "date",
                                    "description": "Asia/Shanghai date, when revoked"})


class CertificateRevokeIn(Schema):
    reason = String(required=True, validate=Length(min=1, max=2000))


class CertificateOut(Schema):
    """A certificate in the owner's or staff's lists, with its print link."""
    number = String()
    plan_id = Integer()
    person_id = Integer()
    occupation_code = String()
    institution = Function(lambda c: c.institution.name, metadata={"type": "string"})
    issued_on = Date()
    valid = Function(lambda c: c.revoked_at is None, metadata={"type": "boolean"})
    verify_url = Function(lambda c: verify_url(c.number, current_app.config["PUBLIC_BASE_URL"]),
                          metadata={"type": "string"})
    print_url = Function(lambda c: print_path(c.number, current_app.config["SECRET_KEY"]),
                         metadata={"type": "string", "description": "printable page with the holder's full name"})
    revoked_on = Function(_revoked_on, allow_none=True,
                          metadata={"type": "string", "format": "date",
                                    "description": "Asia/Shanghai date, when revoked"})
    revoked_reason = Function(lambda c: c.revoked_reason if c.revoked_at else None, allow_none=True,
                              metadata={"type": "string", "description": "why it was revoked (owner and staff)"})


class PlanCertificateOut(CertificateOut):
    """A plan's certificate for its institution or supervisor: with the holder's name."""
    name = Function(lambda c: c.person.name, metadata={"type": "string"})


class MySubsidyOut(Schema):
    claim_id = Integer()
    plan_id = Integer()
    plan_title = String()
    institution = String()
    line_type = String()
    credited_hours = Float()
    voucher_code = String(allow_none=True)
    amount_fen = Integer()
    capped = Boolean()
    limited_by = String(allow_none=True)
    year = Integer()
    status = String()
    progress = String()
    progress_label = String(metadata={"description": "已申请 / 公示中 / 已审核 / 已拨付 / 未通过"})
    steps = List(Dict())
    payee = String(metadata={"enum": ["trainee", "institution"]})
    payee_label = String()


class ArchiveOut(Schema):
    person = Dict()
    plans = List(Dict(), metadata={"description": "[{plan_id, title, occupation_code, occupation_name, institution, starts_on, "
                                                  "ends_on, plan_status, plan_hours, credited_hours, completed, "
                                                  "result, certificate, subsidies[], evaluated}]"})
    certificates = Integer()
    credited_hours_total = Float()
    subsidy_disbursed_fen = Integer()


class EvaluationIn(Schema):
    plan_id = Integer(required=True, strict=True)
    teaching = Integer(required=True, strict=True, validate=Range(1, 5))
    facilities = Integer(required=True, strict=True, validate=Range(1, 5))
    organisation = Integer(required=True, strict=True, validate=Range(1, 5))
    comment = String(load_default=None, allow_none=True, validate=Length(max=2000))


class EvaluationOut(Schema):
    id = Integer()
    plan_id = Integer()
    institution_id = Integer()
    teaching = Integer()
    facilities = Integer()
    organisation = Integer()
    comment = String(allow_none=True)
    created_at = AwareDateTime()


class RatingOut(Schema):
    # Scores are display ratings rounded to 2 places (not money), so plain numbers.
    institution_id = Integer()
    score = Float()
    count = Integer()
    by_aspect = Dict(keys=String(), values=Float(), metadata={"description": "{teaching, facilities, organisation}"})
    prior_mean = Float()
    prior_weight = Integer()
