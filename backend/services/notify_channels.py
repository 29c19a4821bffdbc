"""Push channels behind one adapter call: WeChat subscription messages and SMS.

NOTIFY_MODE=stub keeps what would be sent in the notification_outbox table (GET /dev/notifications),
one row per delivery (unique), with a fault switch per channel (NOTIFY_STUB_FAIL=wechat,sms) so tests
and demos see retries and recorded failures. NOTIFY_MODE=live sends WeChat subscription messages with
the mini-program's access token (cached in the database for every worker, refreshed shortly before it
expires or when WeChat says it is no longer valid) and SMS through backend/services/sms.py.
"""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta

from sqlalchemy.dialects import postgresql, sqlite

from ..domain.errors import AppError
from ..extensions import db
from ..models import NotificationOutboxMessage, WechatAccessToken
from . import sms

log = logging.getLogger(__name__)

# Refresh this long before WeChat's own expiry (7200 s), so no send uses a token about to lapse.
TOKEN_MARGIN = timedelta(minutes=5)
# errcodes meaning the access token is invalid or expired: drop the cached one, the retry refreshes it.
TOKEN_ERRCODES = {40001, 40014, 42001}
# The user has no (remaining) subscription for the template: a one-time consent was used up or withdrawn.
NOT_SUBSCRIBED_ERRCODE = 43101


class ChannelError(Exception):
    """A channel could not take a message; `reason` is a short stable word recorded on the delivery."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def send(channel: str, recipient: str, kind: str, title: str, body: str, cfg, now: datetime,
         delivery_id: int) -> None:
    """Push one message on `channel` to `recipient` (openid or phone); ChannelError when it fails."""
    if cfg["NOTIFY_MODE"] == "stub":
        if channel in _faulty(cfg):
            raise ChannelError("stub_fault")
        db.session.add(NotificationOutboxMessage(channel=channel, recipient=recipient, kind=kind,
                                                 text=message_text(channel, title, body), delivery_id=delivery_id,
                                                 sent_at=now))
        db.session.flush()
        return
    if channel == "sms":
        try:
            sms.send(recipient, message_text("sms", title, body), cfg, now)
        except AppError as exc:
            raise ChannelError(str(exc.details.get("reason") or exc.code)) from exc
        return
    _send_wechat(recipient, kind, title, body, cfg, now)


def message_text(channel: str, title: str, body: str) -> str:
    """The text as the person reads it: SMS carries the platform's signature, WeChat shows title and body."""
    return f"【职业技能培训券】{title}：{body}" if channel == "sms" else f"{title}｜{body}"


def _faulty(cfg) -> set[str]:
    return {c.strip() for c in str(cfg.get("NOTIFY_STUB_FAIL") or "").split(",") if c.strip()}


def _send_wechat(openid: str, kind: str, title: str, body: str, cfg, now: datetime) -> None:
    template_id = (cfg.get("WECHAT_TEMPLATES") or {}).get(kind)
    if not template_id:
        raise ChannelError("no_template")
    # Subscription-message fields of type thing take at most 20 characters.
    payload = {"touser": openid, "template_id": template_id, "page": "pages/inbox",
               "data": {"thing1": {"value": title[:20]}, "thing2": {"value": body[:20]}}}
    token = access_token(cfg, now)
    answer = _post(f"{cfg['WECHAT_API_BASE']}/cgi-bin/message/subscribe/send?"
                   + urllib.parse.urlencode({"access_token": token}), payload, cfg)
    errcode = answer.get("errcode", 0)
    if errcode in TOKEN_ERRCODES:
        forget_token(cfg)
        raise ChannelError("token_invalid")
    if errcode == NOT_SUBSCRIBED_ERRCODE:
        raise ChannelError("not_subscribed")
    if errcode:
        raise ChannelError(f"errcode_{errcode}")


def access_token(cfg, now: datetime) -> str:
    """The mini-program's access token: the cached one while it is valid, else a fresh one from
    stable_token (which hands every caller the same token, so two workers refreshing at once agree)."""
    appid = cfg.get("WECHAT_APPID") or ""
    row = db.session.get(WechatAccessToken, appid, populate_existing=True)
    if row is not None and row.expires_at - TOKEN_MARGIN > now:
        return row.token
    answer = _post(f"{cfg['WECHAT_API_BASE']}/cgi-bin/stable_token",
                   {"grant_type": "client_credential", "appid": appid, "secret": cfg.get("WECHAT_SECRET") or ""}, cfg)
    token, expires_in = answer.get("access_token"), answer.get("expires_in")
    if not isinstance(token, str) or not token or not isinstance(expires_in, int):
        raise ChannelError(f"token_errcode_{answer.get('errcode', 'none')}")
    values = {"appid": appid, "token": token, "expires_at": now + timedelta(seconds=expires_in), "refreshed_at": now}
    # An upsert: two workers refreshing at once both store (the same) token instead of one failing.
    make = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = make(WechatAccessToken.__table__).values(values)
    db.session.execute(stmt.on_conflict_do_update(index_elements=["appid"], set_={
        k: stmt.excluded[k] for k in ("token", "expires_at", "refreshed_at")}))
    return token


def forget_token(cfg) -> None:
    """Drop the cached token (WeChat refused it), so the next send fetches a new one."""
    row = db.session.get(WechatAccessToken, cfg.get("WECHAT_APPID") or "")
    if row is not None:
        db.session.delete(row)
        db.session.flush()


def _post(url: str, payload: dict, cfg) -> dict:
    """POST JSON to WeChat and return the JSON object answered; ChannelError when unreachable or garbled."""
    data = json.dumps(payload, ensure_ascii=False).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=float(cfg.get("WECHAT_TIMEOUT_S") or 5)) as resp:
            answer = json.loads(resp.read(65536).decode())
    except (urllib.error.URLError, TimeoutError, OSError, ValueError) as exc:
        log.warning("wechat api unreachable: %s", type(exc).__name__)
        raise ChannelError("wechat_unreachable") from exc
    if not isinstance(answer, dict):
        raise ChannelError("wechat_bad_response")
    return answer
