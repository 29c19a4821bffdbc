"""HTTP API blueprints, all under /api/v1."""
from __future__ import annotations

import importlib
import re

# One module per area; each exposes `bp`. Order only affects the OpenAPI tag order.
MODULES = ("auth", "identity", "nearby", "institutions", "sites", "vouchers", "faces", "plans", "attendance", "live", "devices",
           "outcomes", "policies", "stats", "health")


def register_api(app, prefix: str) -> None:
    """Register every area's blueprint under the API prefix."""
    for name in MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        app.register_blueprint(module.bp, url_prefix=prefix)
    _document_conventions(app)


_PEOPLE = {"trainee", "institution", "supervisor", "admin"}
_IDEMPOTENCY_HEADER = {"name": "Idempotency-Key", "in": "header", "required": False,
                       "schema": {"type": "string", "maxLength": 128},
                       "description": "A repeat with the same key and body returns the first response"}
_TOTAL_HEADER = {"X-Total-Count": {"description": "items in the whole collection (?page=&per_page=)",
                                   "schema": {"type": "integer"}}}


def _document_conventions(app) -> None:
    """Make the OpenAPI document tell what API.md's Conventions say: error shape, who may call, paging."""
    from .schemas import ERROR_SCHEMA, VALIDATION_ERROR_SCHEMA
    app.config.update(HTTP_ERROR_SCHEMA=ERROR_SCHEMA, VALIDATION_ERROR_SCHEMA=VALIDATION_ERROR_SCHEMA)

    @app.spec_processor
    def describe(spec: dict) -> dict:
        paths = spec.get("paths", {})
        for rule in app.url_map.iter_rules():
            roles = getattr(app.view_functions.get(rule.endpoint), "_roles", None)
            ops = paths.get(re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule))
            if roles is None or not ops:
                continue
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                op = ops.get(method.lower())
                if op is None:
                    continue
                op["x-roles"] = [r for r in roles if r != "public"]
                op["security"] = ([{"BearerAuth": []}] if _PEOPLE & set(roles) else []) + \
                    ([{"DeviceSignature": []}] if "device" in roles else [])
                responses = op.get("responses", {})
                ok = responses.get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
                if method == "GET" and ok.get("type") == "array":
                    responses["200"].setdefault("headers", {}).update(_TOTAL_HEADER)
                if method == "POST" and "201" in responses:
                    op.setdefault("parameters", []).append(_IDEMPOTENCY_HEADER)
        return spec
