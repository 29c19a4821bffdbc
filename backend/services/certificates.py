"""Completion (结业): submission, supervisor approval issuing certificates, and public verification."""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import qrcode
import qrcode.image.svg
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import selectinload

from ..config import key_bytes
from ..domain import plans as plan_rules
from ..domain import subsidy as subsidy_rules
from ..domain import trust
from ..domain.certificates import (
    certificate_number,
    certificate_prefix,
    sequence_of,
    validate_certificate_number,
)
from ..domain.errors import conflict, not_found
from ..extensions import db
from ..models import (
    Certificate,
    CompletionDecision,
    Enrollment,
    Lesson,
    TrainingPlan,
)
from ..security.actor import Actor
from ..security.authz import ensure_institution, ensure_region, get_or_404
from . import audit, subsidy
from .outcomes import TraineeOutcome, trainee_outcomes
from .persons import shanghai_today
from .policies import plan_params
from .trust_flags import blocked_people

# One lock for everything that numbers certificates or counts a person's annual subsidy cap.
COMPLETION_LOCK = 727402


def _lock() -> None:
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": COMPLETION_LOCK})


def submit_completion(a: Actor, plan_id: int, now: datetime) -> TrainingPlan:
    """Institution applies for completion: all lessons over, inside the 6-month application window."""
    plan = get_or_404(TrainingPlan, plan_id)
    ensure_institution(a, plan.institution_id)
    before = plan.status
    if plan.status == plan_rules.APPROVED:
        # Nobody moved the plan to in_progress (no lesson start hook ran): the lessons below prove it ran.
        status = plan_rules.transition(plan_rules.transition(plan.status, "start"), "submit_completion")
    else:
        status = plan_rules.transition(plan.status, "submit_completion")
    ends = db.session.execute(select(func.count(), func.max(Lesson.ends_at))
                              .where(Lesson.plan_id == plan.id)).one()
    if ends[0] == 0 or ends[1] > now:
        raise conflict("lessons_not_ended", last_lesson_ends_at=ends[1].isoformat() if ends[1] else None)
    subsidy_rules.check_application_deadline(plan.ends_on, now, int(plan_params(plan, now)["claim_deadline_months"]))
    done = db.session.execute(update(TrainingPlan).where(TrainingPlan.id == plan.id, TrainingPlan.status == before)
                              .values(status=status, completion_submitted_at=now)).rowcount
    if done != 1:
        raise conflict("invalid_state", status=before, action="submit_completion")
    db.session.refresh(plan)
    audit.record(a.label, "plan.completion_submit", "plan", plan.id, now,
                 before={"status": before}, after={"status": status})
    return plan


def _next_sequence(prefix: str) -> int:
    last = db.session.execute(select(func.max(Certificate.number))
                              .where(Certificate.number.like(prefix + "%"))).scalar()
    return sequence_of(last) + 1 if last else 1


def issue_certificates(plan: TrainingPlan, outcomes: list[TraineeOutcome], now: datetime) -> list[Certificate]:
    """A certificate for every completer with a passing result (caller holds the completion lock)."""
    issued_on = shanghai_today(now)
    prefix = certificate_prefix(plan.region_code, issued_on.year)
    sequence = _next_sequence(prefix)
    certs = []
    for o in outcomes:
        if not (o.completed and o.passed) or o.excluded is not None:
            continue
        cert = Certificate(number=certificate_number(plan.region_code, issued_on.year, sequence), plan_id=plan.id,
                           person_id=o.person.id, institution_id=plan.institution_id,
                           occupation_code=plan.occupation_code, issued_on=issued_on)
        sequence += 1
        db.session.add(cert)
        certs.append(cert)
    db.session.flush()
    return certs


def approve_completion(a: Actor, plan_id: int, now: datetime, decisions: list[trust.Decision] | None = None) -> dict:
    """Supervisor approves completion: certificates for completers who passed, and the subsidy claim.

    Trainees carrying a blocking trust flag need a decision each (409 decisions_required otherwise):
    accepted ones count in full (held hours released), excluded ones get no certificate and no line.
    """
    plan = get_or_404(TrainingPlan, plan_id)
    ensure_region(a, plan.region_code)
    plan_rules.transition(plan.status, "approve_completion")
    roster = set(db.session.execute(select(Enrollment.person_id).where(
        Enrollment.plan_id == plan.id, Enrollment.status == "active")).scalars())
    blocked = blocked_people(plan)
    by_person = trust.check_decisions(blocked, decisions or [], roster)
    _lock()
    # Conditional update: of two concurrent approvals exactly one moves the plan on.
    done = db.session.execute(
        update(TrainingPlan).where(TrainingPlan.id == plan.id, TrainingPlan.status == plan_rules.COMPLETION_SUBMITTED)
        .values(status=plan_rules.COMPLETED, completed_at=now)).rowcount
    if done != 1:
        raise conflict("invalid_state", status=plan_rules.COMPLETED, action="approve_completion")
    db.session.refresh(plan)
    for d in by_person.values():
        db.session.add(CompletionDecision(plan_id=plan.id, person_id=d.person_id, accept=d.accept,
                                          reason=d.reason.strip(), flags=blocked.get(d.person_id, []),
                                          decided_by=a.user_id, decided_at=now))
        audit.record(a.label, "plan.completion_decision", "plan", plan.id, now,
                     after={"person_id": d.person_id, "accept": d.accept, "reason": d.reason.strip(),
                            "flags": blocked.get(d.person_id, [])})
    db.session.flush()  # accepted decisions release held hours in what follows
    outcomes = trainee_outcomes(plan, now)
    for o in outcomes:
        d = by_person.get(o.person.id)
        if d is not None and not d.accept:
            o.excluded = d.reason.strip()
    certs = issue_certificates(plan, outcomes, now)
    certified = {c.person_id for c in certs}
    claim = subsidy.create_claim(a.label, plan, outcomes, certified, now)
    audit.record(a.label, "plan.completion_approve", "plan", plan.id, now,
                 before={"status": plan_rules.COMPLETION_SUBMITTED},
                 after={"status": plan.status, "certificates": [c.number for c in certs],
                        "subsidy_claim_id": claim.id,
                        "excluded": sorted(pid for pid, d in by_person.items() if not d.accept),
                        "accepted_with_flags": sorted(pid for pid, d in by_person.items() if d.accept)})
    return {"status": plan.status, "certificates_issued": len(certs), "subsidy_claim_id": claim.id,
            "excluded": sorted(pid for pid, d in by_person.items() if not d.accept)}


def reject_completion(a: Actor, plan_id: int, reason: str, now: datetime) -> TrainingPlan:
    """Supervisor of the region sends a completion back with a reason: no certificate, no claim; the plan
    runs again (in_progress) and the institution may correct results and apply anew. Audited."""
    plan = get_or_404(TrainingPlan, plan_id)
    ensure_region(a, plan.region_code)
    status, cleaned = plan_rules.completion_rejection(plan.status, reason)
    _lock()
    # Conditional update: a concurrent approval or rejection wins at most once.
    done = db.session.execute(
        update(TrainingPlan).where(TrainingPlan.id == plan.id, TrainingPlan.status == plan_rules.COMPLETION_SUBMITTED)
        .values(status=status, reject_reason=cleaned, reviewed_by=a.user_id, reviewed_at=now)).rowcount
    if done != 1:
        db.session.refresh(plan)
        raise conflict("invalid_state", status=plan.status, action="reject_completion")
    db.session.refresh(plan)
    audit.record(a.label, "plan.completion_reject", "plan", plan.id, now,
                 before={"status": plan_rules.COMPLETION_SUBMITTED}, after={"status": status, "reason": cleaned})
    return plan


# ---- verification and printing -------------------------------------------------------------

def find_certificate(number_text: str) -> Certificate:
    """The certificate with this number (422 malformed, 404 unknown)."""
    number = validate_certificate_number(number_text)
    cert = db.session.execute(select(Certificate).where(Certificate.number == number)).scalar_one_or_none()
    if cert is None:
        raise not_found("not_found", object="certificate")
    return cert


def verify_url(number: str, public_base_url: str) -> str:
    """The public verification page a certificate's QR code points at (PUBLIC_BASE_URL of the deployment)."""
    return f"{public_base_url.rstrip('/')}/certificates/{number}"


def print_signature(number: str, secret_key: str) -> str:
    """Signature that lets a print link show the holder's full name (only the owner and staff get it)."""
    key = key_bytes(str(secret_key))
    return hmac.new(key, b"certificate-print\n" + number.encode(), hashlib.sha256).hexdigest()[:32]


def print_path(number: str, secret_key: str) -> str:
    """Relative URL of the printable page with the full-name signature."""
    return f"/certificates/{number}/print?sig={print_signature(number, secret_key)}"


def qr_svg(data: str) -> str:
    """An inline SVG QR code (no external assets: intranets are often offline)."""
    img = qrcode.make(data, image_factory=qrcode.image.svg.SvgPathImage, box_size=10, border=2)
    return img.to_string(encoding="unicode")


def my_certificates(person_id: int) -> list[Certificate]:
    """The trainee's certificates, newest first (institution loaded)."""
    return list(db.session.execute(select(Certificate).options(selectinload(Certificate.institution))
                                   .where(Certificate.person_id == person_id)
                                   .order_by(Certificate.issued_on.desc(), Certificate.id.desc())).scalars())


def plan_certificates(a: Actor, plan_id: int) -> list[Certificate]:
    """A plan's certificates for its institution or the region's supervisor (holder and institution loaded)."""
    plan = get_or_404(TrainingPlan, plan_id)
    ensure_institution(a, plan.institution_id, plan.region_code)
    return list(db.session.execute(select(Certificate)
                                   .options(selectinload(Certificate.person), selectinload(Certificate.institution))
                                   .where(Certificate.plan_id == plan_id).order_by(Certificate.number)).scalars())


def revoke_certificate(a: Actor, number_text: str, reason: str, now: datetime) -> Certificate:
    """Revoke a certificate (e.g. attendance found faked): public verification says invalid from now on.

    Only a supervisor covering the plan's region; a certificate is revoked once. A claim not yet paid
    that carries the holder stops at disbursement (409 certificate_revoked) until it is rejected.
    """
    cert = find_certificate(number_text)
    plan = db.session.get(TrainingPlan, cert.plan_id)
    ensure_region(a, plan.region_code)
    done = db.session.execute(update(Certificate).where(Certificate.id == cert.id, Certificate.revoked_at.is_(None))
                              .values(revoked_at=now, revoked_by=a.user_id, revoked_reason=reason.strip())).rowcount
    if done != 1:
        raise conflict("invalid_state", status="revoked", action="revoke")
    db.session.refresh(cert)
    audit.record(a.label, "certificate.revoke", "certificate", cert.id, now, before={"valid": True},
                 after={"valid": False, "number": cert.number, "reason": cert.revoked_reason})
    return cert
