"""Results, completion, certificates, subsidy claims, trainee archive and evaluations."""
from __future__ import annotations

from apiflask import APIBlueprint
from flask import Response, request

from ..clock import now
from ..domain import trust
from ..domain.errors import forbidden, invalid
from ..extensions import PUBLIC_LOOKUP_LIMIT, limiter
from ..security.authz import actor, public, requires
from ..services import certificates, evaluations, results, spreadsheets, subsidy, trust_flags
from . import upload_limits
from .outcome_schemas import (
    ArchiveOut,
    CertificateOut,
    CertificatePublicOut,
    CertificateRevokeIn,
    ClaimOut,
    ClaimQuery,
    ClaimRejectIn,
    ClaimStatusOut,
    ClaimSummaryOut,
    CompletionApproveIn,
    CompletionOut,
    CompletionPreviewOut,
    CompletionRejectOut,
    DisburseOut,
    EvaluationIn,
    EvaluationOut,
    MySubsidyOut,
    ObjectionDecisionIn,
    ObjectionIn,
    ObjectionOut,
    PersonFlagsOut,
    PlanCertificateOut,
    PlanStatusOut,
    RatingOut,
    ResultOut,
    ResultsImportOut,
    ResultsIn,
)
from .paging import page_list, paginate
from .schemas import ReasonIn

bp = APIBlueprint("outcomes", __name__, tag="Outcomes")

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _person_id() -> int:
    a = actor()
    if a.person_id is None:
        raise forbidden("identity_not_bound")
    return a.person_id


# ---- results and completion ----------------------------------------------------------------

@bp.post("/plans/<int:plan_id>/results")
@bp.input(ResultsIn, arg_name="body")
@bp.output(ResultsImportOut)
@bp.doc(summary="Import results (JSON {results: [{person_id|id_number, score, passed}]} or multipart xlsx `file`)",
        description="All or nothing: any bad row is 422 invalid_rows with details.rows; nothing is recorded.",
        responses={422: "invalid_rows / invalid_file / file_too_large / too_many_rows / validation_error",
                   409: "invalid_state", 429: "rate_limited"})
@limiter.limit(upload_limits.SPREADSHEET_IMPORT)
@requires("institution")
def post_results(plan_id, body):
    # Parsed (within the size, zip and row limits) before the first query, which on SQLite takes the write lock.
    if "file" in request.files:
        rows = results.xlsx_rows(spreadsheets.read_upload(request.files["file"].stream))
    else:
        items = body.get("results")
        if not isinstance(items, list):
            raise invalid("validation_error", fields={"results": ["a list of rows, or an xlsx file"]})
        rows = results.json_rows(items)
    return results.import_results(actor(), plan_id, rows, now())


@bp.get("/plans/<int:plan_id>/results")
@bp.output(ResultOut(many=True))
@bp.doc(summary="Recorded results of a plan")
@requires("institution", "supervisor", "admin")
def get_results(plan_id):
    return page_list(results.plan_results(actor(), plan_id))


@bp.get("/plans/<int:plan_id>/results/template.xlsx")
@bp.doc(summary="Results template prefilled with the roster (学员编号, 姓名, 身份证号 masked, 成绩, 是否合格)",
        responses={200: {"description": "xlsx", "content": {XLSX: {}}}})
@requires("institution")
def get_results_template(plan_id):
    data = results.template_xlsx(actor(), plan_id)
    return Response(data, mimetype=XLSX,
                    headers={"Content-Disposition": f'attachment; filename="results-plan-{plan_id}.xlsx"'})


@bp.post("/plans/<int:plan_id>/completion")
@bp.output(PlanStatusOut)
@bp.doc(summary="Apply for completion (结业): all lessons over, within 6 months of the plan's end",
        responses={409: "invalid_state / lessons_not_ended / application_window_closed"})
@requires("institution")
def post_completion(plan_id):
    plan = certificates.submit_completion(actor(), plan_id, now())
    return {"id": plan.id, "status": plan.status,
            "completion_submitted_at": plan.completion_submitted_at.isoformat()}


@bp.post("/plans/<int:plan_id>/completion/approve")
@bp.input(CompletionApproveIn, arg_name="body")
@bp.output(CompletionOut)
@bp.doc(summary="Approve completion: certificates for completers who passed, and the subsidy claim",
        description="Trainees with a blocking trust flag (GET /plans/{id}/flags) each need a decision "
                    "{person_id, accept, reason}: accepted ones count (held hours released), excluded ones get "
                    "no certificate and no subsidy line. Every decision is audited and shown on the claim.",
        responses={409: "invalid_state / decisions_required (details.person_ids, details.flags)"})
@requires("supervisor")
def post_completion_approve(plan_id, body):
    decisions = [trust.Decision(d["person_id"], d["accept"], d["reason"]) for d in body.get("decisions") or []]
    return certificates.approve_completion(actor(), plan_id, now(), decisions)


@bp.get("/plans/<int:plan_id>/completion/preview")
@bp.output(CompletionPreviewOut(many=True))
@bp.doc(summary="Per trainee, what approving the completion now would give: completion, result, eligibility and "
                "the subsidy amount under the plan's policy (before decisions on trust flags)")
@requires("institution", "supervisor", "admin")
def get_completion_preview(plan_id):
    return page_list(subsidy.completion_preview(actor(), plan_id, now()))


@bp.post("/plans/<int:plan_id>/completion/reject")
@bp.input(ReasonIn, arg_name="body")
@bp.output(CompletionRejectOut)
@bp.doc(summary="Reject a completion with a reason (supervisor of the plan's region): no certificates, no claim",
        description="The plan goes back to in_progress with `reject_reason` set; the institution may correct "
                    "results and apply for completion again. Audited (plan.completion_reject).",
        responses={409: "invalid_state", 422: "validation_error (details.fields.reason)"})
@requires("supervisor")
def post_completion_reject(plan_id, body):
    plan = certificates.reject_completion(actor(), plan_id, body["reason"], now())
    return {"id": plan.id, "status": plan.status, "reject_reason": plan.reject_reason,
            "reviewed_at": plan.reviewed_at.isoformat()}


@bp.get("/plans/<int:plan_id>/flags")
@bp.output(PersonFlagsOut(many=True))
@bp.doc(summary="Trust flags of a plan's trainees: who could have forged the proof, per person with the events",
        description="Codes: shared_face, face_by_staff, never_bound, late_upload, kiosk_burst, gps_only "
                    "(informational), face_recheck_failed, liveness_failed, liveness_missing. Every flag but "
                    "gps_only blocks the completion until a decision is recorded for the trainee.")
@requires("institution", "supervisor", "admin")
def get_plan_flags(plan_id):
    return page_list(trust_flags.plan_flags_for(actor(), plan_id))


@bp.get("/plans/<int:plan_id>/certificates")
@bp.output(PlanCertificateOut(many=True))
@bp.doc(summary="Certificates issued for a plan")
@requires("institution", "supervisor", "admin")
def get_plan_certificates(plan_id):
    return page_list(certificates.plan_certificates(actor(), plan_id))


# ---- subsidy claims ------------------------------------------------------------------------

@bp.get("/subsidy-claims")
@bp.input(ClaimQuery, location="query", arg_name="query")
@bp.output(ClaimSummaryOut(many=True))
@bp.doc(summary="Subsidy claims: the institution's own, or the supervisor's review queue (oldest first)")
@requires("institution", "supervisor", "admin")
def list_claims(query):
    return paginate(subsidy.claims_stmt(actor(), query["status"]), lambda c: c)


@bp.get("/subsidy-claims/<int:claim_id>")
@bp.output(ClaimOut)
@bp.doc(summary="One claim with its lines, per-trainee explanations and objections")
@requires("institution", "supervisor", "admin")
def get_claim(claim_id):
    return subsidy.claim_detail(subsidy.claim_in_scope(actor(), claim_id))


@bp.post("/subsidy-claims/<int:claim_id>/approve")
@bp.output(ClaimStatusOut)
@bp.doc(summary="Approve a claim; the publicity period (公示) starts", responses={409: "invalid_state"})
@requires("supervisor")
def post_claim_approve(claim_id):
    claim = subsidy.approve_claim(actor(), claim_id, now())
    return {"id": claim.id, "status": claim.status, "total_fen": claim.total_fen,
            "publicity_ends_at": claim.publicity_ends_at.isoformat()}


@bp.post("/subsidy-claims/<int:claim_id>/objections")
@bp.input(ObjectionIn, arg_name="body")
@bp.output(ObjectionOut, status_code=201)
@bp.doc(summary="Record an objection received during publicity", responses={409: "invalid_state"})
@requires("supervisor")
def post_objection(claim_id, body):
    return subsidy.add_objection(actor(), claim_id, body["text"], now())


@bp.post("/subsidy-claims/<int:claim_id>/objections/<int:objection_id>/resolve")
@bp.input(ObjectionDecisionIn, arg_name="body")
@bp.output(ObjectionOut)
@bp.doc(summary="Settle an open objection: dismissed lets the payout go on; upheld sends the claim back to "
                "submitted for another review (its approval and publicity are cleared)",
        responses={404: "not_found", 409: "invalid_state"})
@requires("supervisor")
def post_objection_resolve(claim_id, objection_id, body):
    return subsidy.resolve_objection(actor(), claim_id, objection_id, body["decision"], body.get("note"), now())


@bp.post("/subsidy-claims/<int:claim_id>/reject")
@bp.input(ClaimRejectIn, arg_name="body")
@bp.output(ClaimStatusOut)
@bp.doc(summary="Reject a claim before payout (submitted or approved): nothing is paid, no voucher written off",
        responses={409: "invalid_state"})
@requires("supervisor")
def post_claim_reject(claim_id, body):
    claim = subsidy.reject_claim(actor(), claim_id, body["reason"], now())
    return {"id": claim.id, "status": claim.status, "total_fen": claim.total_fen, "publicity_ends_at": None}


@bp.post("/subsidy-claims/<int:claim_id>/disburse")
@bp.output(DisburseOut)
@bp.doc(summary="Disburse (second supervisor, after publicity); writes off every voucher on the claim",
        responses={409: "invalid_state / same_approver / publicity_period / objection_open / voucher_state_changed"})
@requires("supervisor")
def post_disburse(claim_id):
    return subsidy.disburse_claim(actor(), claim_id, now())


# ---- certificates (public) and trainee views ------------------------------------------------

@bp.post("/certificates/<number>/revoke")
@bp.input(CertificateRevokeIn, arg_name="body")
@bp.output(CertificatePublicOut)
@bp.doc(summary="Revoke a certificate (supervisor of the plan's region): verification shows it invalid; "
                "an unpaid claim carrying the holder stops at disbursement",
        responses={404: "not_found", 409: "invalid_state", 422: "invalid_certificate_number"})
@requires("supervisor")
def post_certificate_revoke(number, body):
    return certificates.revoke_certificate(actor(), number, body["reason"], now())


@bp.get("/certificates/<number>")
@bp.output(CertificatePublicOut)
@bp.doc(summary="Verify a certificate by number (public; holder masked)",
        responses={404: "not_found", 422: "invalid_certificate_number"})
@limiter.limit(PUBLIC_LOOKUP_LIMIT)
@public
def get_certificate(number):
    return certificates.find_certificate(number)


@bp.get("/me/certificates")
@bp.output(CertificateOut(many=True))
@bp.doc(summary="My certificates")
@requires("trainee")
def my_certificates():
    return page_list(certificates.my_certificates(_person_id()))


@bp.get("/me/subsidies")
@bp.output(MySubsidyOut(many=True))
@bp.doc(summary="My subsidy lines with progress (补贴进度) and payee")
@requires("trainee")
def my_subsidies():
    return page_list(subsidy.my_subsidies(_person_id(), now()))


@bp.get("/me/archive")
@bp.output(ArchiveOut)
@bp.doc(summary="My lifelong training archive (终身职业技能培训电子档案)")
@requires("trainee")
def my_archive():
    archive = results.trainee_archive(_person_id(), now())
    # ArchiveOut carries the plans as plain dicts: each one's certificate is dumped here by CertificateOut.
    dump = CertificateOut().dump
    archive["plans"] = [dict(p, certificate=dump(p["certificate"]) if p["certificate"] else None)
                        for p in archive["plans"]]
    return archive


@bp.post("/me/evaluations")
@bp.input(EvaluationIn, arg_name="body")
@bp.output(EvaluationOut, status_code=201)
@bp.doc(summary="Rate the institution of a completed plan (once)",
        responses={403: "not_completed", 409: "already_evaluated"})
@requires("trainee")
def post_evaluation(body):
    a = actor()
    return evaluations.evaluate(a.label, _person_id(), body, now())


@bp.get("/institutions/<int:institution_id>/rating")
@bp.output(RatingOut)
@bp.doc(summary="An institution's Bayesian rating (public)")
@public
def get_rating(institution_id):
    return evaluations.institution_rating(institution_id)
