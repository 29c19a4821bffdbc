"""Liveness/readiness probes and the offline assets of the API docs page."""
from __future__ import annotations

import swagger_ui_bundle
from apiflask import APIBlueprint
from flask import send_from_directory

from ..security.authz import public
from ..services import health

bp = APIBlueprint("health", __name__, tag="Health")


@bp.get("/healthz")
@bp.doc(summary="Process is alive")
@public
def healthz():
    return {"status": "ok"}


@bp.get("/readyz")
@bp.doc(summary="Database reachable", responses={
    200: {"description": "ready", "content": {"application/json": {"schema": {"type": "object", "properties": {
        "status": {"type": "string", "enum": ["ok"]}, "database": {"type": "string"}}}}}},
    503: {"description": "the database is not reachable (a probe's answer, not the error shape)",
          "content": {"application/json": {"schema": {"type": "object", "properties": {
              "status": {"type": "string", "enum": ["unavailable"]}, "error": {"type": "string"}}}}}}})
@public
def readyz():
    body = health.readiness()
    return body, 200 if body["status"] == "ok" else 503


@bp.get("/docs/assets/<path:filename>")
@bp.doc(hide=True)
@public
def docs_assets(filename):
    # Swagger UI served from the installed package: deployments are often on offline networks.
    return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)
