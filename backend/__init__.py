"""The Flask application factory: `create_app()` is what gunicorn and `flask --app backend` load.

Flask and APIFlask are imported inside the factory, not here: importing any submodule runs this file
first, and the domain rules (backend/domain) and the face module must import on a kiosk that has
neither Flask nor SQLAlchemy installed (tests/kiosk/test_kiosk_imports.py).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apiflask import APIFlask

REPO = Path(__file__).resolve().parent.parent
API_PREFIX = "/api/v1"


def create_app(config: dict | None = None) -> APIFlask:
    """Build the app; `config` overrides environment settings (tests)."""
    from . import config as config_module
    from .app_class import App
    instance = os.environ.get("INSTANCE_PATH", str(REPO / "instance"))
    app = App("backend", title="职业技能电子培训券平台 API", version="1.0.0",
                   spec_path=f"{API_PREFIX}/openapi.json", docs_path=f"{API_PREFIX}/docs",
                   instance_path=instance, instance_relative_config=True,
                   static_folder="web/static", static_url_path="/static")
    app.config.update(config_module.load(app.instance_path, config))
    if app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix
        # Behind N proxies the peer is the last proxy; the client is the Nth address from the right of
        # X-Forwarded-For (anything further left is whatever the client chose to send).
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["TRUSTED_PROXIES"])  # type: ignore[method-assign]
    # Ids in paths fit the database's integer: a larger number is simply not found (404), not a crash.
    from werkzeug.routing import IntegerConverter

    class BoundedInt(IntegerConverter):
        def __init__(self, url_map, *args, **kwargs):
            kwargs.setdefault("max", 2**31 - 1)
            super().__init__(url_map, *args, **kwargs)

    app.url_map.converters["int"] = BoundedInt
    _configure_openapi(app)
    _init_extensions(app)
    _register(app)
    return app


def _configure_openapi(app: APIFlask) -> None:
    assets = f"{API_PREFIX}/docs/assets"
    app.config.update(
        SWAGGER_UI_CSS=f"{assets}/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS=f"{assets}/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS=f"{assets}/swagger-ui-standalone-preset.js",
        DOCS_FAVICON=f"{assets}/favicon-32x32.png",
        # No badge image from validator.swagger.io: the page loads nothing from another origin (CSP).
        SWAGGER_UI_CONFIG={"validatorUrl": None},
        AUTO_SERVERS=False,
        INFO={"description": "HTTP contract for the trainee client, kiosks and dashboards. "
                             "Errors: {\"error\": {code, message, details}}."},
        SECURITY_SCHEMES={"BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                          "DeviceSignature": {"type": "apiKey", "in": "header", "name": "X-Signature"}},
    )
    app.json.ensure_ascii = False
    from .security import docs_page
    app.after_request(docs_page.add_headers)


def _init_extensions(app: APIFlask) -> None:
    from . import db_setup  # noqa: F401  (engine event listeners)
    from .extensions import db, limiter, migrate
    from .security.crypto import DataVault

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.config["SQLALCHEMY_DATABASE_URI"][len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"connect_args": {"timeout": 30}})
    else:
        # No pool_pre_ping: it costs a round trip on every request; recycling covers idle server-side timeouts.
        app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {"pool_recycle": 1800,
                                                            "pool_size": app.config["DB_POOL_SIZE"],
                                                            "max_overflow": app.config["DB_MAX_OVERFLOW"]})
    db.init_app(app)
    migrate.init_app(app, db, directory=str(REPO / "migrations"), render_as_batch=True, compare_type=True)
    from .security import rate_storage
    # Without Redis, limits' memory storage minus its per-hit timer thread (backend/security/rate_storage.py).
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or f"{rate_storage.SCHEME}://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    from .security import login_throttle
    # Registered before the limiter's own hook so that it runs after it (Flask runs them in reverse).
    app.after_request(login_throttle.keep_retry_after)
    limiter.init_app(app)
    from .security import rate_gate
    rate_gate.skip_limiter_hook_for_counted_views(app)
    app.extensions["data_vault"] = DataVault(app.config["DATA_KEY"])
    from . import errors, logs
    errors.init_app(app)
    logs.init_app(app)


def _register(app: APIFlask) -> None:
    from .api import idempotency, register_api
    from .cli import register_cli
    from .security import json_limits
    from .security.authz import gate
    from .web import register_web
    app.before_request(gate)  # authentication first: nothing is parsed or replayed for strangers
    app.before_request(json_limits.before_request)  # a JSON body's depth and size, before anything parses it
    app.before_request(idempotency.before_request)
    app.after_request(idempotency.after_request)
    from .clock import add_server_time_header
    app.after_request(add_server_time_header)  # clients read time windows against this, never the phone's clock
    register_api(app, API_PREFIX)
    register_web(app)
    register_cli(app)
