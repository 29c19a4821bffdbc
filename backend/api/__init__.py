"""HTTP API blueprints, all under /api/v1."""
from __future__ import annotations

import copy
import importlib
import re
from http import HTTPStatus

from ..domain.messages import message_for
from .error_catalogue import body_reasons, operation_errors
from .schemas import ERROR_SCHEMA, VALIDATION_ERROR_SCHEMA, error_schema

# One module per area; each exposes `bp`. Order only affects the OpenAPI tag order.
MODULES = ("auth", "identity", "nearby", "institutions", "sites", "vouchers", "faces", "plans", "attendance", "live", "devices",
           "outcomes", "publicity", "policies", "stats", "notifications", "health")


# Modules whose routes sit on another area's blueprint (roster routes on the plans blueprint): imported
# after that area, before registration, so that the area's module never imports them back.
ATTACHED = {"plans": ("roster", "plan_changes")}


def register_api(app, prefix: str) -> None:
    """Register every area's blueprint under the API prefix."""
    for name in MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        for attached in ATTACHED.get(name, ()):
            importlib.import_module(f"{__name__}.{attached}")
        app.register_blueprint(module.bp, url_prefix=prefix)
    _document_conventions(app, prefix)


_PEOPLE = {"trainee", "institution", "supervisor", "admin"}
_IDEMPOTENCY_HEADER = {"name": "Idempotency-Key", "in": "header", "required": False,
                       "schema": {"type": "string", "maxLength": 128},
                       "description": "A repeat with the same key and body returns the first response"}
_TOTAL_HEADER = {"X-Total-Count": {"description": "items in the whole collection (?page=&per_page=)",
                                   "schema": {"type": "integer"}}}


def _document_conventions(app, prefix: str) -> None:
    """Make the OpenAPI document tell what API.md's Conventions say: error shape, who may call, paging."""
    app.config.update(HTTP_ERROR_SCHEMA=ERROR_SCHEMA, VALIDATION_ERROR_SCHEMA=VALIDATION_ERROR_SCHEMA)

    @app.spec_processor
    def describe(spec: dict) -> dict:
        paths = spec.get("paths", {})
        for rule in app.url_map.iter_rules():
            roles = getattr(app.view_functions.get(rule.endpoint), "_roles", None)
            ops = paths.get(_openapi_path(rule.rule))
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
        for rule in app.url_map.iter_rules():
            ops = paths.get(_openapi_path(rule.rule))
            view = app.view_functions.get(rule.endpoint)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if ops and method.lower() in ops:
                    _document_errors(view, method, ops[method.lower()])
        for (method, path), reasons in body_reasons().items():
            op = paths.get(prefix + path, {}).get(method.lower())
            if op:
                _limit_reasons(op["responses"]["200"]["content"]["application/json"], reasons)
        return spec


def _openapi_path(rule: str) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _document_errors(view, method: str, op: dict) -> None:
    """Each error status of the operation with `error.code` as the enum of the codes it can answer with
    (backend/api/error_catalogue.py computes them from the code)."""
    responses = op.setdefault("responses", {})
    for status, codes in sorted(operation_errors(view, method, op).items()):
        old = responses.get(str(status), {})
        text = old.get("description") if old.get("description") not in _GENERIC_DESCRIPTIONS else None
        listed = "; ".join(f"`{c}`: {message_for(c, 'en')}" for c in sorted(codes))
        responses[str(status)] = {
            "description": f"{text or HTTPStatus(status).phrase}. {listed}",
            "content": {"application/json": {"schema": error_schema(codes, validation="validation_error" in codes)}}}


# APIFlask's own wording for the error responses it adds: replaced by the list of codes.
_GENERIC_DESCRIPTIONS = {None, "Not found", "Validation error", "Authentication error"}


def _limit_reasons(content: dict, reasons: list[str]) -> None:
    """Set the enum of every `reason` property in a 200 body schema (copied: view modules share theirs)."""
    def walk(node):
        if isinstance(node, dict):
            props = node.get("properties", {})
            if isinstance(props.get("reason"), dict) and props["reason"].get("type") == "string":
                props["reason"] = dict(props["reason"], enum=reasons)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    content["schema"] = copy.deepcopy(content["schema"])
    walk(content["schema"])
