"""HTTP API blueprints, all under /api/v1."""
from __future__ import annotations

import importlib

# One module per area; each exposes `bp`. Order only affects the OpenAPI tag order.
MODULES = ("auth", "nearby", "institutions", "sites", "vouchers", "faces", "plans", "attendance", "live", "devices",
           "outcomes", "stats", "health")


def register_api(app, prefix: str) -> None:
    """Register every area's blueprint under the API prefix."""
    for name in MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        app.register_blueprint(module.bp, url_prefix=prefix)
