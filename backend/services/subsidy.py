"""Subsidy claims (补贴申请): lines per certified trainee, approval, publicity (公示), objections,
disbursement by a second supervisor and the voucher write-off that goes with it. Money is integer fen."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from ..domain import attendance as attendance_rules
from ..domain import subsidy as rules
from ..domain.errors import conflict, invalid, not_found
from ..domain.occupations import occupation_label
from ..extensions import db
from ..models import (
    Certificate,
    CompletionDecision,
    Institution,
    Lesson,
    OnlineRecord,
    Person,
    PublicityObjection,
    SubsidyClaim,
    SubsidyLine,
    TrainingPlan,
    User,
    Voucher,
    VoucherBatch,
)
from ..reads_through import ReadsThrough
from ..security.actor import Actor
from ..security.authz import ensure_institution, ensure_region, get_or_404
from . import audit
from .hours import number
from .outcomes import trainee_outcomes
from .policies import plan_params
from .scoping import scoped

COUNTED_STATUSES = ("submitted", "approved", "disbursed")  # lines that use up a person's annual cap
PROGRESS = {"applied": "已申请", "approved": "已审核", "publicity": "公示中", "disbursed": "已拨付",
            "rejected": "未通过"}
PAYEE_LABELS = {"trainee": "本人社会保障卡银行账户", "institution": "培训机构"}


def already_claimed_fen(person_id: int, year: int) -> int:
    """Training subsidy already on the person's live claims in a Shanghai year (counts against the cap)."""
    total = db.session.execute(
        select(func.coalesce(func.sum(SubsidyLine.amount_fen), 0))
        .join(SubsidyClaim, SubsidyClaim.id == SubsidyLine.claim_id)
        .where(SubsidyLine.person_id == person_id, SubsidyLine.year == year, SubsidyLine.line_type == "training",
               SubsidyClaim.status.in_(COUNTED_STATUSES))).scalar()
    return int(total)


def online_days(plan_id: int, person_id: int) -> int:
    """Distinct Shanghai days with an online lesson learnt in full (the living allowance counts these, 002)."""
    from . import hours  # the attendance area owns crediting; reuse it so both agree
    lessons = db.session.execute(select(Lesson).where(Lesson.plan_id == plan_id, Lesson.mode == "online")).scalars()
    online = {lesson.id: lesson for lesson in lessons}
    days = set()
    if online:
        for rec in db.session.execute(select(OnlineRecord).where(
                OnlineRecord.lesson_id.in_(list(online)), OnlineRecord.person_id == person_id)).scalars():
            lesson = online[rec.lesson_id]
            if hours.online_hours(lesson.class_hours, rec.minutes) >= lesson.class_hours:
                days.add(attendance_rules.lesson_day(lesson.starts_at))
    return len(days)


def _explanation(o, reasons: list[str]) -> dict:
    out = {"person_id": o.person.id, "name": o.person.name, "credited_hours": number(o.credited_hours),
           "reasons": reasons}
    if getattr(o, "excluded", None) is not None:
        out["decision_reason"] = o.excluded
    return out


def _reasons(o, certified: set[int]) -> list[str]:
    if getattr(o, "excluded", None) is not None:
        return ["excluded"]  # the supervisor excluded the trainee at the completion review (trust flags)
    reasons = []
    if not o.completed:
        reasons.append("not_completed")
    if not o.passed:
        reasons.append("not_passed")
    if not o.enrollment.eligible:
        reasons.append("not_eligible")
    if o.voucher is not None and o.voucher.status != "used":
        reasons.append("voucher_not_usable")  # voided or otherwise dead: nothing to write off, nothing to pay
    if not reasons and o.person.id not in certified:
        reasons.append("no_certificate")
    return reasons


def create_claim(actor_label: str, plan: TrainingPlan, outcomes: list, certified: set[int],
                 now: datetime) -> SubsidyClaim:
    """The plan's claim under the plan's policy: one training line per certified, eligible trainee (a project
    standard × ratio, or rate × hours; capped by the voucher and the annual cap), the living allowance for
    online training days of listed groups when the policy pays one, and the review and payment due dates."""
    params = plan_params(plan, now)
    year = rules.subsidy_year(now)
    per_day, groups = int(params["living_allowance_fen_per_day"]), set(params["living_allowance_groups"])
    claim = SubsidyClaim(plan_id=plan.id, institution_id=plan.institution_id, region_code=plan.region_code,
                         status="submitted", total_fen=0, explanations=[], created_at=now,
                         review_due_on=review_due_on(plan, params))
    db.session.add(claim)
    db.session.flush()
    explanations, total = [], 0
    for o in outcomes:
        reasons = _reasons(o, certified)
        if reasons:
            explanations.append(_explanation(o, reasons))
            continue
        face_value, payee = None, "institution"
        if o.voucher is not None:
            batch = db.session.get(VoucherBatch, o.voucher.batch_id)
            face_value, payee = batch.face_value_fen, batch.payee
        person_groups = set(o.enrollment.groups or ()) | set(o.person.groups or ())
        amount, capped, limited_by, basis = rules.policy_amount(
            o.credited_hours, person_groups, plan.occupation_code, params, face_value,
            already_claimed_fen(o.person.id, year))
        basis["policy_id"] = plan.policy_id
        db.session.add(SubsidyLine(claim_id=claim.id, person_id=o.person.id, line_type="training",
                                   credited_hours=o.credited_hours, voucher_id=o.voucher.id if o.voucher else None,
                                   amount_fen=amount, capped=capped, limited_by=limited_by, payee=payee, year=year,
                                   basis=basis))
        total += amount
        if per_day and groups & person_groups:
            days = online_days(plan.id, o.person.id)
            if days:
                # Source 002 (Internet+ plan): a living allowance per day of online training, for listed groups,
                # paid to the person outside the training cap.
                db.session.add(SubsidyLine(claim_id=claim.id, person_id=o.person.id, line_type="living_allowance",
                                           credited_hours=o.credited_hours, voucher_id=None, amount_fen=days * per_day,
                                           capped=False, attended_days=days, payee="trainee", year=year,
                                           basis={"kind": "living_allowance", "fen_per_day": per_day,
                                                  "online_days": days, "policy_id": plan.policy_id}))
                total += days * per_day
        # Flush per person so the next person's cap query sees every line written so far.
        db.session.flush()
    claim.total_fen = total
    claim.explanations = explanations
    db.session.flush()
    audit.record(actor_label, "subsidy_claim.create", "subsidy_claim", claim.id, now,
                 after={"plan_id": plan.id, "total_fen": total, "lines": len(outcomes) - len(explanations),
                        "policy_id": plan.policy_id,
                        "explanations": [{"person_id": e["person_id"], "reasons": e["reasons"]} for e in explanations]})
    return claim


def completion_preview(a: Actor, plan_id: int, now: datetime) -> list[dict]:
    """What approving the completion now would give each trainee: completed, passed, eligible, and the training
    subsidy the policy would pay (before any decision on trust flags, and before a certificate exists)."""
    plan = get_or_404(TrainingPlan, plan_id)
    ensure_institution(a, plan.institution_id, plan.region_code)
    params = plan_params(plan, now)
    year = rules.subsidy_year(now)
    out = []
    for o in trainee_outcomes(plan, now):
        reasons = [r for r in _reasons(o, {o.person.id}) if r != "no_certificate"]
        amount, limited_by = None, None
        if not reasons:
            face_value = None
            if o.voucher is not None:
                face_value = db.session.get(VoucherBatch, o.voucher.batch_id).face_value_fen
            groups = set(o.enrollment.groups or ()) | set(o.person.groups or ())
            amount, _capped, limited_by, _basis = rules.policy_amount(
                o.credited_hours, groups, plan.occupation_code, params, face_value, already_claimed_fen(o.person.id, year))
        out.append({"person_id": o.person.id, "name": o.person.name, "credited_hours": number(o.credited_hours),
                    "completed": o.completed, "passed": o.passed,
                    "score": number(o.result.score) if o.result is not None and o.result.score is not None else None,
                    "eligible": o.enrollment.eligible, "amount_fen": amount, "limited_by": limited_by,
                    "reasons": reasons})
    return out


def review_due_on(plan: TrainingPlan, params: dict):
    """The day the bureau's answer to a completion is due (004: 15 working days after it was applied for)."""
    applied = plan.completion_submitted_at
    if applied is None:
        return None
    return rules.add_working_days(applied.astimezone(rules.SHANGHAI).date(),
                                  int(params["review_deadline_working_days"]))


def payment_due_on(claim: SubsidyClaim, params: dict):
    """The day payment is due (004: 30 working days after publicity ends); None before approval."""
    if claim.publicity_ends_at is None:
        return None
    last_publicity_day = (claim.publicity_ends_at.astimezone(rules.SHANGHAI) - timedelta(seconds=1)).date()
    return rules.add_working_days(last_publicity_day, int(params["payment_deadline_working_days"]))


# ---- reading -------------------------------------------------------------------------------

def claim_in_scope(a: Actor, claim_id: int) -> SubsidyClaim:
    """The claim if the caller's institution owns it or it lies in the supervisor's region."""
    claim = get_or_404(SubsidyClaim, claim_id)
    ensure_institution(a, claim.institution_id, claim.region_code)
    return claim


def progress(claim: SubsidyClaim, now: datetime) -> str:
    """Stage code of a claim as the trainee sees it: applied, publicity, approved, disbursed, rejected."""
    if claim.status == "submitted":
        return "applied"
    if claim.status == "approved":
        return "publicity" if claim.publicity_ends_at and now < claim.publicity_ends_at else "approved"
    return claim.status


def _steps(claim: SubsidyClaim, now: datetime) -> list[dict]:
    """The claim's steps in the order they happen: applied, reviewed (approved), publicity, disbursed.

    Approval starts the publicity period, so while it runs 已审核 is done and 公示中 is the current step.
    """
    iso = lambda t: t.astimezone(rules.SHANGHAI).isoformat() if t else None  # noqa: E731
    approved = claim.status in ("approved", "disbursed") and claim.approved_at is not None
    in_publicity = claim.status == "approved" and claim.publicity_ends_at and now < claim.publicity_ends_at
    publicity_over = claim.status == "disbursed" or (approved and not in_publicity)
    return [{"step": "已申请", "done": True, "at": iso(claim.created_at)},
            {"step": "已审核", "done": approved, "at": iso(claim.approved_at) if approved else None},
            {"step": "公示中", "done": bool(publicity_over), "at": iso(claim.publicity_ends_at) if publicity_over else None,
             "starts_at": iso(claim.approved_at) if approved else None,
             "ends_at": iso(claim.publicity_ends_at) if approved else None},
            {"step": "已拨付", "done": claim.status == "disbursed", "at": iso(claim.disbursed_at)}]


def _line_rows(claim_ids: list[int]):
    return db.session.execute(
        select(SubsidyLine, Person.name, Voucher.code).join(Person, Person.id == SubsidyLine.person_id)
        .outerjoin(Voucher, Voucher.id == SubsidyLine.voucher_id)
        .where(SubsidyLine.claim_id.in_(claim_ids)).order_by(SubsidyLine.id)).all()


def claim_line_rows(claim_id: int):
    """(line, person name, voucher code) of one claim's lines in order."""
    return _line_rows([claim_id])


@dataclass(frozen=True)
class ClaimLine(ReadsThrough):
    """A claim's line with the trainee's name, the voucher's code and, when the trainee's certificate of the
    plan was revoked, its number and the reason. Other attributes are the line's own."""

    _through = "line"
    line: SubsidyLine
    name: str
    voucher_code: str | None
    revoked_certificate: str | None = None
    revoked_reason: str | None = None


@dataclass(frozen=True)
class ClaimDetail(ReadsThrough):
    """One claim as staff review it: the claim, every line, the per-trainee explanations, the objections
    (oldest first) and the completion review's decisions on flagged trainees. The claim's own attributes read
    through (the api's ClaimOut dumps it like a claim of the listing)."""

    _through = "claim"
    claim: SubsidyClaim
    lines: list[ClaimLine]
    explanations: list[dict]
    objections: list[PublicityObjection]
    decisions: list[CompletionDecision]


def explain(basis: dict | None) -> str | None:
    """The line's amount in words (zh-CN), naming the policy version and the numbers it used."""
    if not basis:
        return None
    version = f"政策版本 #{basis['policy_id']}" if basis.get("policy_id") else "全国默认政策"
    yuan = lambda fen: f"{fen / 100:,.2f} 元"  # noqa: E731
    if basis.get("kind") == "living_allowance":
        return f"{version}：线上培训 {basis['online_days']} 天 × 每天 {yuan(basis['fen_per_day'])}"
    if basis.get("kind") == "standard":
        text = (f"{version}：职业 {occupation_label(basis['occupation_code'])} 项目标准 {yuan(basis['standard_fen'])} × "
                f"{basis['ratio_percent']}%")
    else:
        text = f"{version}：{basis['credited_hours']:g} 课时 × 每课时 {yuan(basis['rate_fen_per_hour'])}"
    text += f" = {yuan(basis['policy_fen'])}"
    if basis.get("voucher_face_value_fen") is not None:
        text += f"；培训券面值 {yuan(basis['voucher_face_value_fen'])}"
    text += f"；年度上限余额 {yuan(basis['cap_left_fen'])}；核定 {yuan(basis['amount_fen'])}"
    return text


def overdue(claim: SubsidyClaim, now: datetime) -> str | None:
    """"payment" when an approved claim is not paid by its due day; None otherwise. (A completion not answered
    in time shows on the plan: services.overdue.)"""
    today = now.astimezone(rules.SHANGHAI).date()
    if claim.status == "approved" and claim.payment_due_on is not None and today > claim.payment_due_on:
        return "payment"
    return None


def claim_detail(claim: SubsidyClaim) -> ClaimDetail:
    """The claim with every line, the per-trainee explanations, its objections and the review's decisions."""
    revoked = {pid: (num, reason) for pid, num, reason in db.session.execute(
        select(Certificate.person_id, Certificate.number, Certificate.revoked_reason)
        .where(Certificate.plan_id == claim.plan_id, Certificate.revoked_at.is_not(None))).all()}
    lines = [ClaimLine(line, name, code, *revoked.get(line.person_id, (None, None)))
             for line, name, code in _line_rows([claim.id])]
    objections = list(db.session.execute(
        select(PublicityObjection).where(PublicityObjection.claim_id == claim.id)
        .order_by(PublicityObjection.id)).scalars())
    decisions = list(db.session.execute(
        select(CompletionDecision)
        .options(selectinload(CompletionDecision.person), selectinload(CompletionDecision.decider))
        .where(CompletionDecision.plan_id == claim.plan_id).order_by(CompletionDecision.person_id)).scalars())
    return ClaimDetail(claim, lines, claim.explanations or [], objections, decisions)


CLAIM_NAMES = (selectinload(SubsidyClaim.plan), selectinload(SubsidyClaim.institution),
               selectinload(SubsidyClaim.approver), selectinload(SubsidyClaim.disburser))


def claims_stmt(a: Actor, status: str | None):
    """The review queue: own institution's claims, or the supervisor's region; oldest first. The plan,
    institution, approver and disburser load with the page (the api's ClaimSummaryOut names them)."""
    stmt = scoped(select(SubsidyClaim).options(*CLAIM_NAMES).order_by(SubsidyClaim.created_at, SubsidyClaim.id), a,
                  region=SubsidyClaim.region_code, institution=SubsidyClaim.institution_id)
    if status:
        stmt = stmt.where(SubsidyClaim.status == status)
    return stmt


def my_subsidies(person_id: int, now: datetime) -> list[dict]:
    """The trainee's own lines with the claim's progress (补贴进度) and who is paid."""
    rows = db.session.execute(
        select(SubsidyLine, SubsidyClaim, TrainingPlan, Institution, Voucher.code)
        .join(SubsidyClaim, SubsidyClaim.id == SubsidyLine.claim_id)
        .join(TrainingPlan, TrainingPlan.id == SubsidyClaim.plan_id)
        .join(Institution, Institution.id == SubsidyClaim.institution_id)
        .outerjoin(Voucher, Voucher.id == SubsidyLine.voucher_id)
        .where(SubsidyLine.person_id == person_id)
        .order_by(SubsidyClaim.created_at.desc(), SubsidyLine.id)).all()
    out = []
    for line, claim, plan, inst, code in rows:
        stage = progress(claim, now)
        out.append({"claim_id": claim.id, "plan_id": plan.id, "plan_title": plan.title, "institution": inst.name,
                    "line_type": line.line_type, "credited_hours": number(line.credited_hours), "voucher_code": code,
                    "amount_fen": line.amount_fen, "capped": line.capped, "limited_by": line.limited_by,
                    "year": line.year, "status": claim.status, "progress": stage, "progress_label": PROGRESS[stage],
                    "steps": _steps(claim, now), "payee": line.payee,
                    "payee_label": inst.name if line.payee == "institution" else PAYEE_LABELS["trainee"]})
    return out


# ---- decisions -----------------------------------------------------------------------------

def _supervised(a: Actor, claim_id: int) -> SubsidyClaim:
    claim = get_or_404(SubsidyClaim, claim_id)
    ensure_region(a, claim.region_code)
    return claim


def approve_claim(a: Actor, claim_id: int, now: datetime) -> SubsidyClaim:
    """First supervisor approves: the publicity period (公示) of N working days starts."""
    claim = _supervised(a, claim_id)
    if claim.status != "submitted":
        raise conflict("invalid_state", status=claim.status, action="approve")
    params = plan_params(db.session.get(TrainingPlan, claim.plan_id), now)
    ends = rules.publicity_ends_at(now, int(params["publicity_working_days"]))
    claim.publicity_ends_at = ends
    pay_by = payment_due_on(claim, params)
    done = db.session.execute(update(SubsidyClaim).where(SubsidyClaim.id == claim.id,
                                                         SubsidyClaim.status == "submitted")
                              .values(status="approved", approved_by=a.user_id, approved_at=now,
                                      publicity_ends_at=ends, payment_due_on=pay_by)).rowcount
    if done != 1:
        raise conflict("invalid_state", action="approve")
    db.session.refresh(claim)
    audit.record(a.label, "subsidy_claim.approve", "subsidy_claim", claim.id, now, before={"status": "submitted"},
                 after={"status": "approved", "total_fen": claim.total_fen, "publicity_ends_at": ends.isoformat(),
                        "payment_due_on": pay_by.isoformat() if pay_by else None})
    return claim


def add_objection(a: Actor, claim_id: int, text: str, now: datetime) -> PublicityObjection:
    """Record an objection received while the claim is approved and not yet paid."""
    claim = _supervised(a, claim_id)
    if claim.status != "approved":
        raise conflict("invalid_state", status=claim.status, action="object")
    obj = PublicityObjection(claim_id=claim.id, text=text.strip(), recorded_by=a.user_id, recorded_at=now)
    db.session.add(obj)
    db.session.flush()
    audit.record(a.label, "subsidy_claim.objection", "subsidy_claim", claim.id, now,
                 after={"objection_id": obj.id, "text": obj.text})
    return obj


OBJECTION_DECISIONS = ("dismissed", "upheld")


def resolve_objection(a: Actor, claim_id: int, objection_id: int, decision: str, note: str | None,
                      now: datetime) -> PublicityObjection:
    """Settle an open objection: dismissed lets the payout go on; upheld withdraws the approval.

    An upheld objection sends the claim back to `submitted` (approval and publicity cleared), so it
    is reviewed again: rejected, or approved with a new publicity period.
    """
    claim = _supervised(a, claim_id)
    obj = db.session.get(PublicityObjection, objection_id)
    if obj is None or obj.claim_id != claim.id:
        raise not_found("not_found", object="publicity_objection", id=objection_id)
    if decision not in OBJECTION_DECISIONS:
        raise invalid("validation_error", field="decision")
    if claim.status != "approved":
        raise conflict("invalid_state", status=claim.status, action="resolve_objection")
    done = db.session.execute(update(PublicityObjection).where(PublicityObjection.id == obj.id,
                                                               PublicityObjection.status == "open")
                              .values(status=decision, resolved_by=a.user_id, resolved_at=now,
                                      resolution=(note or "").strip() or None)).rowcount
    if done != 1:
        raise conflict("invalid_state", status=obj.status, action="resolve_objection")
    if decision == "upheld":
        back = db.session.execute(update(SubsidyClaim).where(SubsidyClaim.id == claim.id,
                                                             SubsidyClaim.status == "approved")
                                  .values(status="submitted", approved_by=None, approved_at=None,
                                          publicity_ends_at=None)).rowcount
        if back != 1:
            raise conflict("invalid_state", action="resolve_objection")
    db.session.refresh(obj)
    audit.record(a.label, "subsidy_claim.objection_resolve", "subsidy_claim", claim.id, now,
                 before={"objection_id": obj.id, "status": "open"},
                 after={"objection_id": obj.id, "status": decision, "resolution": obj.resolution,
                        "claim_status": "submitted" if decision == "upheld" else "approved"})
    return obj


def reject_claim(a: Actor, claim_id: int, reason: str, now: datetime) -> SubsidyClaim:
    """Refuse a claim before payout (submitted or approved): nothing is paid, no voucher written off."""
    claim = _supervised(a, claim_id)
    before = claim.status
    if before not in ("submitted", "approved"):
        raise conflict("invalid_state", status=before, action="reject")
    done = db.session.execute(update(SubsidyClaim).where(SubsidyClaim.id == claim.id,
                                                         SubsidyClaim.status.in_(("submitted", "approved")))
                              .values(status="rejected", rejected_reason=reason.strip())).rowcount
    if done != 1:
        raise conflict("invalid_state", action="reject")
    db.session.refresh(claim)
    audit.record(a.label, "subsidy_claim.reject", "subsidy_claim", claim.id, now, before={"status": before},
                 after={"status": "rejected", "reason": claim.rejected_reason})
    return claim


def disburse_claim(a: Actor, claim_id: int, now: datetime) -> dict:
    """Second supervisor pays out after publicity; every voucher on the claim is written off with it."""
    claim = _supervised(a, claim_id)
    if claim.status != "approved":
        raise conflict("invalid_state", status=claim.status, action="disburse")
    open_objections = db.session.execute(select(func.count()).select_from(PublicityObjection).where(
        PublicityObjection.claim_id == claim.id, PublicityObjection.status == "open")).scalar()
    revoked = db.session.execute(select(func.count(func.distinct(Certificate.id))).select_from(SubsidyLine).join(
        Certificate, (Certificate.plan_id == claim.plan_id) & (Certificate.person_id == SubsidyLine.person_id))
        .where(SubsidyLine.claim_id == claim.id, Certificate.revoked_at.is_not(None))).scalar()
    creators = dict(db.session.execute(select(User.id, User.created_by).where(
        User.id.in_((claim.approved_by, a.user_id)))).all())
    rules.check_disburse(claim.approved_by, a.user_id, claim.publicity_ends_at, now, open_objections, revoked,
                         approver_created_by=creators.get(claim.approved_by),
                         disburser_created_by=creators.get(a.user_id))
    done = db.session.execute(update(SubsidyClaim).where(SubsidyClaim.id == claim.id,
                                                         SubsidyClaim.status == "approved")
                              .values(status="disbursed", disbursed_by=a.user_id, disbursed_at=now)).rowcount
    if done != 1:
        raise conflict("invalid_state", action="disburse")
    voucher_ids = sorted({v for v in db.session.execute(select(SubsidyLine.voucher_id).where(
        SubsidyLine.claim_id == claim.id, SubsidyLine.voucher_id.is_not(None))).scalars()})
    # Conditional write-off (only vouchers still 'used'): one voided or written off meanwhile stops the payout.
    from .voucher_use import write_off_vouchers
    written = write_off_vouchers(voucher_ids, a.label, now)
    if len(written) != len(voucher_ids):
        raise conflict("voucher_state_changed", expected=len(voucher_ids), written_off=len(written))
    db.session.refresh(claim)
    audit.record(a.label, "subsidy_claim.disburse", "subsidy_claim", claim.id, now, before={"status": "approved"},
                 after={"status": "disbursed", "total_fen": claim.total_fen, "written_off_vouchers": written})
    return {"status": claim.status, "total_fen": claim.total_fen, "vouchers_written_off": len(voucher_ids)}
