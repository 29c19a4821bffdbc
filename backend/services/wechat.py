"""WeChat mini-program login: code → openid. `stub` for development, `live` calls code2session."""
from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime

from ..domain.errors import AppError
from ..extensions import db
from ..models import WechatAccount

log = logging.getLogger(__name__)

# errcode → (our reason, HTTP status). session_key is never returned or logged.
_ERRCODES = {40029: ("invalid_code", 401), 40163: ("code_used", 401), 45011: ("rate_limited_upstream", 429),
             40226: ("high_risk_user", 403), -1: ("wechat_busy", 503), 40013: ("invalid_appid", 502),
             40125: ("invalid_appsecret", 502)}


def code_to_openid(code: str, cfg: dict) -> str:
    """Exchange a login code for the user's openid."""
    if not code or len(code) > 128:
        raise AppError("validation_error", 422, {"fields": {"code": ["invalid"]}})
    if cfg["WECHAT_MODE"] == "stub":
        return "stub-" + code
    if cfg["WECHAT_MODE"] != "live":
        raise AppError("wechat_error", 500, {"reason": "bad_mode"})
    query = urllib.parse.urlencode({"appid": cfg["WECHAT_APPID"], "secret": cfg["WECHAT_SECRET"],
                                    "js_code": code, "grant_type": "authorization_code"})
    try:
        with urllib.request.urlopen(f"{cfg['WECHAT_CODE2SESSION_URL']}?{query}", timeout=5) as resp:
            data = json.loads(resp.read().decode())
    except (urllib.error.URLError, TimeoutError, ValueError) as exc:
        log.warning("code2session unreachable: %s", type(exc).__name__)
        raise AppError("wechat_error", 503, {"reason": "upstream_unreachable"}) from exc
    errcode = data.get("errcode", 0)
    if errcode:
        reason, status = _ERRCODES.get(errcode, ("wechat_error", 502))
        log.info("code2session errcode %s", errcode)
        # Every 429 carries the common rate_limited code (API.md Conventions), whoever did the limiting.
        raise AppError("rate_limited" if status == 429 else "wechat_error", status, {"reason": reason, "errcode": errcode})
    openid = data.get("openid")
    if not openid:
        raise AppError("wechat_error", 502, {"reason": "no_openid"})
    return openid


def account_for(openid: str, now: datetime) -> WechatAccount:
    """The WeChat account of an openid, created (unbound) at its first login."""
    account = db.session.execute(db.select(WechatAccount).where(WechatAccount.openid == openid)).scalar()
    if account is None:
        account = WechatAccount(openid=openid, created_at=now)
        db.session.add(account)
        db.session.flush()
    return account
