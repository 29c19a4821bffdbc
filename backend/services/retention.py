"""Records are kept RETENTION_YEARS (4, source 002): report what is older, and on request delete face
templates of people inactive for that long, then anonymise them. The audit log itself is never touched."""
from __future__ import annotations

import secrets
from datetime import date, datetime, time

from sqlalchemy import delete, exists, func, or_, select, update

from ..domain.attendance import SHANGHAI
from ..domain.subsidy import add_months
from ..extensions import db
from ..models import (
    AttendanceEvent,
    AuditEntry,
    CardKey,
    Certificate,
    DeviceNonce,
    Enrollment,
    Evaluation,
    IdempotencyRecord,
    LiveEvent,
    MakeupRequest,
    Notification,
    NotificationDelivery,
    NotificationOutboxMessage,
    Person,
    SubsidyClaim,
    SubsidyLine,
    Voucher,
    WechatAccount,
)
from . import audit

ANONYMOUS_NAME = "已匿名"


def cutoff(now: datetime, years: int) -> datetime:
    """00:00 Shanghai on the same calendar day `years` years ago (29 Feb falls back to 28 Feb)."""
    today = now.astimezone(SHANGHAI).date()
    return datetime.combine(add_months(today, -12 * years), time(0), tzinfo=SHANGHAI)


def _recent_activity(limit: datetime):
    """A condition true for persons with any activity on or after `limit`."""
    day: date = limit.astimezone(SHANGHAI).date()
    pid = Person.id
    return or_(
        Person.created_at >= limit,
        exists().where(Enrollment.person_id == pid, Enrollment.created_at >= limit),
        exists().where(AttendanceEvent.person_id == pid, AttendanceEvent.received_at >= limit),
        exists().where(Voucher.person_id == pid, or_(Voucher.claimed_at >= limit, Voucher.used_at >= limit,
                                                     Voucher.written_off_at >= limit)),
        exists().where(Certificate.person_id == pid, Certificate.issued_on >= day),
        exists().where(Evaluation.person_id == pid, Evaluation.created_at >= limit),
        exists().where(SubsidyLine.person_id == pid, SubsidyLine.claim_id == SubsidyClaim.id,
                       or_(SubsidyClaim.created_at >= limit, SubsidyClaim.disbursed_at >= limit,
                           SubsidyClaim.status.in_(("submitted", "approved")))),
        exists().where(WechatAccount.person_id == pid, WechatAccount.bound_at >= limit),
    )


def _inactive_persons(limit: datetime):
    return select(Person.id).where(Person.anonymised_at.is_(None), ~_recent_activity(limit))


def _count(stmt) -> int:
    return int(db.session.execute(select(func.count()).select_from(stmt.subquery())).scalar())


def report(now: datetime, years: int) -> dict:
    """How many records are older than the retention period, and what --apply would do."""
    limit = cutoff(now, years)
    inactive = _inactive_persons(limit)
    return {
        "cutoff": limit.isoformat(),
        "face_templates_to_delete": _count(select(Person.id).where(Person.id.in_(inactive),
                                                                  Person.face_template_enc.is_not(None))),
        "persons_to_anonymise": _count(inactive),
        "idempotency_records_to_delete": _count(select(IdempotencyRecord.id).where(IdempotencyRecord.created_at < limit)),
        "live_events_to_delete": _count(select(LiveEvent.id).where(LiveEvent.at < limit)),
        "device_nonces_to_delete": _count(select(DeviceNonce.id).where(DeviceNonce.seen_at < limit)),
        # Kept: evidence behind paid subsidies, and the append-only audit log.
        "attendance_events_older": _count(select(AttendanceEvent.id).where(AttendanceEvent.received_at < limit)),
        "makeup_requests_older": _count(select(MakeupRequest.id).where(MakeupRequest.created_at < limit)),
        "audit_entries_older": _count(select(AuditEntry.id).where(AuditEntry.at < limit)),
    }


def apply(now: datetime, years: int, actor_label: str = "cli:retention") -> dict:
    """Delete face templates of inactive persons, then anonymise them, then drop expired operational rows."""
    limit = cutoff(now, years)
    ids = list(db.session.execute(_inactive_persons(limit)).scalars())
    faces = 0
    # Face templates first (the most sensitive data), as their own step before anything else changes.
    for chunk in _chunks(ids):
        faces += db.session.execute(update(Person).where(Person.id.in_(chunk), Person.face_template_enc.is_not(None))
                                    .values(face_template_enc=None, face_consent_at=None)
                                    .execution_options(synchronize_session=False)).rowcount
    db.session.flush()
    for pid in ids:
        person = db.session.get(Person, pid)
        # The masked number, birth date, gender and household region stay for statistics and the audit trail;
        # the encrypted ID is replaced so the person is no longer findable (a return registers afresh).
        person.name = ANONYMOUS_NAME
        person.phone = None
        person.ss_card_no_enc = None
        person.bank_account_enc = None
        person.face_template_enc = None
        person.face_consent_at = None
        person.face_enrolled_by = None
        person.pin_hash = None
        person.groups = []
        person.id_number_enc = b""
        person.id_number_index = "anon:" + secrets.token_hex(16)
        person.anonymised_at = now
        db.session.execute(update(WechatAccount).where(WechatAccount.person_id == pid)
                           .values(person_id=None, bound_at=None).execution_options(synchronize_session=False))
        db.session.execute(update(Enrollment).where(Enrollment.person_id == pid)
                           .values(phone=None, groups=[]).execution_options(synchronize_session=False))
        # Card keys are derived from the ID number: they go with it.
        db.session.execute(delete(CardKey).where(CardKey.person_id == pid))
        audit.record(actor_label, "person.anonymise", "person", pid, now, after={"anonymised": True})
    purged = {
        "idempotency_records": db.session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.created_at < limit)).rowcount,
        "live_events": db.session.execute(delete(LiveEvent).where(LiveEvent.at < limit)).rowcount,
        "device_nonces": db.session.execute(delete(DeviceNonce).where(DeviceNonce.seen_at < limit)).rowcount,
        # Notifications past the period, with their pushes and the stub copies (which name a phone or openid).
        "notifications": _purge_notifications(limit),
    }
    db.session.flush()
    if ids or faces:
        audit.record(actor_label, "retention.apply", "retention", limit.date().isoformat(), now,
                     after={"face_templates_deleted": faces, "persons_anonymised": len(ids), **purged})
    return {"cutoff": limit.isoformat(), "face_templates_deleted": faces, "persons_anonymised": len(ids), **purged}


def _purge_notifications(limit: datetime) -> int:
    old = select(Notification.id).where(Notification.created_at < limit)
    deliveries = select(NotificationDelivery.id).where(NotificationDelivery.notification_id.in_(old))
    db.session.execute(delete(NotificationOutboxMessage).where(NotificationOutboxMessage.delivery_id.in_(deliveries)))
    db.session.execute(delete(NotificationDelivery).where(NotificationDelivery.notification_id.in_(old)))
    return db.session.execute(delete(Notification).where(Notification.created_at < limit)).rowcount


def _chunks(ids: list[int], size: int = 500):
    for i in range(0, len(ids), size):
        yield ids[i:i + size]
