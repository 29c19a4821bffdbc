"""Real-name verification (name + ID number) behind an adapter: `stub` in development, `live` asks the
configured provider. Knowing a name and an ID number is not enough where the provider checks more."""
from __future__ import annotations

from ..domain.errors import AppError
from ..domain.identity import normalize_id_number
from .outbound import GatewayError, post_json


def _stub_refused(cfg) -> set[str]:
    raw = cfg.get("IDENTITY_STUB_REFUSE") or ""
    return {normalize_id_number(x) for x in raw.split(",") if x.strip()}


def verify(name: str, id_number: str, cfg) -> None:
    """Return when the provider confirms that name and ID number belong together; else raise.

    422 identity_not_verified when the provider says no; 503 identity_provider_unavailable when it
    cannot be asked (network, timeout, an answer without a verdict).
    """
    mode = cfg["IDENTITY_MODE"]
    if mode == "stub":
        if id_number in _stub_refused(cfg):
            raise AppError("identity_not_verified", 422, {"provider": "stub"})
        return
    if mode != "live":
        raise AppError("identity_provider_unavailable", 503, {"reason": "bad_mode"})
    try:
        answer = post_json(cfg["IDENTITY_VERIFY_URL"], {"name": name, "id_number": id_number},
                           cfg.get("IDENTITY_APP_ID"), cfg.get("IDENTITY_APP_SECRET"),
                           float(cfg.get("IDENTITY_TIMEOUT_S") or 5))
    except GatewayError as exc:
        raise AppError("identity_provider_unavailable", 503, {"reason": exc.reason}) from exc
    match = answer.get("match")
    if match is True:
        return
    if match is False:
        raise AppError("identity_not_verified", 422, {"provider": "live"})
    raise AppError("identity_provider_unavailable", 503, {"reason": "bad_response"})
