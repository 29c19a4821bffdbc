"""People-facing pages (served by the app itself, no CDN) and root-level health probes."""
from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("web", __name__, template_folder="templates")


@bp.get("/")
def index():
    """Landing page linking the clients."""
    return render_template("index.html")


def register_web(app) -> None:
    """Register pages and the root health probes."""
    from ..api import health
    app.register_blueprint(bp)
    app.add_url_rule("/healthz", "root_healthz", health.healthz)
    app.add_url_rule("/readyz", "root_readyz", health.readyz)
