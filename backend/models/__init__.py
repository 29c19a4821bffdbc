"""All models, imported so Alembic and the app see every table."""
from .attendance import AttendanceEvent, MakeupRequest
from .audit import AuditEntry, IdempotencyRecord
from .institutions import CardKey, Device, DeviceNonce, DeviceOnlineSpan, Institution, Site
from .live import LiveEvent
from .notifications import (
    Notification,
    NotificationDelivery,
    NotificationOutboxMessage,
    NotificationPreference,
    WechatAccessToken,
    WechatSubscription,
)
from .outcomes import Certificate, Evaluation, PublicityObjection, Result, SubsidyClaim, SubsidyLine
from .people import Person, RefreshToken, User, WechatAccount
from .plans import Enrollment, Lesson, OnlineRecord, PlanChangeRequest, TrainingPlan
from .policy import Policy
from .trust import CompletionDecision, FaceEvidence, FaceMatch, TrustFlag
from .types import utcnow
from .verification import SmsChallenge, SmsMessage
from .vouchers import ConsumedToken, DirectedRecipient, Voucher, VoucherBatch

__all__ = [
    "AttendanceEvent", "AuditEntry", "CardKey", "Certificate", "CompletionDecision", "ConsumedToken", "Device",
    "DeviceNonce", "DeviceOnlineSpan", "DirectedRecipient", "Enrollment", "Evaluation", "FaceEvidence",
    "FaceMatch", "IdempotencyRecord", "Institution", "Lesson",
    "LiveEvent", "MakeupRequest", "Notification", "NotificationDelivery", "NotificationOutboxMessage",
    "NotificationPreference", "OnlineRecord", "Person", "PlanChangeRequest", "Policy", "PublicityObjection", "RefreshToken",
    "Result", "Site", "SmsChallenge", "SmsMessage", "SubsidyClaim", "SubsidyLine", "TrainingPlan", "TrustFlag",
    "User", "Voucher",
    "VoucherBatch", "WechatAccessToken", "WechatAccount", "WechatSubscription", "utcnow",
]
