"""Text messages behind an adapter: `stub` keeps them in the sms_outbox table (GET /dev/sms),
`live` posts them to the configured SMS gateway."""
from __future__ import annotations

from datetime import datetime

from ..domain.errors import AppError
from ..extensions import db
from ..models import SmsMessage
from .outbound import GatewayError, post_json


def send(phone: str, text: str, cfg, now: datetime) -> None:
    """Send one message; 503 sms_unavailable when the gateway cannot take it."""
    mode = cfg["SMS_MODE"]
    if mode == "stub":
        db.session.add(SmsMessage(phone=phone, text=text, sent_at=now))
        db.session.flush()
        return
    if mode != "live":
        raise AppError("sms_unavailable", 503, {"reason": "bad_mode"})
    try:
        answer = post_json(cfg["SMS_API_URL"], {"phone": phone, "text": text}, cfg.get("SMS_APP_ID"),
                           cfg.get("SMS_APP_SECRET"), float(cfg.get("SMS_TIMEOUT_S") or 5))
    except GatewayError as exc:
        raise AppError("sms_unavailable", 503, {"reason": exc.reason}) from exc
    if answer.get("ok") is not True:
        raise AppError("sms_unavailable", 503, {"reason": "refused"})
