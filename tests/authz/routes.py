"""Read the roles every API route declares (via requires/public)."""
from __future__ import annotations

SKIP_ENDPOINTS = {"openapi.spec", "openapi.docs", "openapi.swagger_ui_oauth_redirect", "static"}


def declared_roles(app) -> dict[str, frozenset]:
    """{"METHOD /path": roles} for every /api/v1 route; a route without a declaration maps to None."""
    out = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1") or rule.endpoint in SKIP_ENDPOINTS:
            continue
        roles = getattr(app.view_functions[rule.endpoint], "_roles", None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            out[f"{method} {rule.rule}"] = frozenset(roles) if roles is not None else None
    return out
