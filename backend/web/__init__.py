"""People-facing pages (served by the app itself, no CDN) and root-level health probes.

- `/m/`         the trainee's mobile client, static files from the repository's `miniprogram_stub/`
- `/dashboard/` the supervisor dashboard, `/console/` the institution console: one HTML shell each,
                with ES modules and CSS under `/static/` (backend/web/static)
Every page speaks only the public API under /api/v1; nothing is fetched from another origin, which
the Content-Security-Policy below also enforces.
"""
from __future__ import annotations

import mimetypes
import re
from pathlib import Path

from flask import Blueprint, redirect, render_template, request, send_from_directory

from ..clock import now as clock_now
from ..domain.certificates import normalize_certificate_number
from ..services import publicity

REPO = Path(__file__).resolve().parent.parent.parent
MINIPROGRAM_DIR = REPO / "miniprogram_stub"
STATIC_DIR = Path(__file__).resolve().parent / "static"
REGION_QUERY = re.compile(r"\d{1,6}")


def yuan(fen: int) -> str:
    """Integer fen as yuan for people: 30000 -> '300.00 元', 1234567 -> '12,345.67 元'."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole:,}.{cents:02d} 元"

# ES modules must be served with a JavaScript type; some platforms' mime tables lack one.
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("application/json", ".json")

# Same-origin only: pages, modules, API calls, and images built in the page (blob:/data: QR codes).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; object-src 'none'; "
       "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")

bp = Blueprint("web", __name__, template_folder="templates")
mobile = Blueprint("mobile", __name__, static_folder=str(MINIPROGRAM_DIR), static_url_path="")
staff = Blueprint("staff", __name__, template_folder="templates")


@bp.get("/")
def index():
    """Landing page: the certificate lookup form and links to the clients and the publicity list."""
    return render_template("index.html")


@bp.get("/favicon.ico")
def favicon():
    """The site icon (browsers ask for it on every origin; a 404 would fill the logs)."""
    return send_from_directory(STATIC_DIR, "favicon.ico", mimetype="image/x-icon", max_age=86400)


@bp.get("/certificates/")
def certificate_lookup():
    """Public certificate lookup: a typed number goes to its verification page; a malformed one is explained."""
    typed = request.args.get("number", "")
    if not typed.strip():
        return render_template("public/certificates.html", number="")
    number = normalize_certificate_number(typed[:64])
    if number is None:
        return render_template("public/certificates.html", number=typed[:64],
                               error="证书编号格式不正确：应为 17 位，由数字组成（最后一位可能是 X），请核对后重试。"), 422
    return redirect(f"/certificates/{number}", code=303)


@bp.get("/publicity/")
def publicity_page():
    """The publicity (公示) list: claims in their publicity period, names masked by the server, amounts in yuan."""
    region_code = request.args.get("region_code", "").strip()
    if region_code and not REGION_QUERY.fullmatch(region_code):
        return render_template("public/publicity.html", claims=[], region_code=region_code[:6], yuan=yuan,
                               error="地区代码应为 1 至 6 位数字，例如 3501。"), 422
    claims = publicity.in_publicity(region_code or None, clock_now())
    return render_template("public/publicity.html", claims=claims, region_code=region_code, yuan=yuan)


@mobile.get("/")
def mobile_index():
    """The trainee client's single page; its modules and app.json come from the same folder."""
    return send_from_directory(MINIPROGRAM_DIR, "index.html")


@staff.get("/dashboard/")
def dashboard():
    """Supervisor dashboard shell (pages are ES modules under /static/dashboard/)."""
    return render_template("staff.html", app="dashboard", title="人社监管工作台")


@staff.get("/console/")
def console():
    """Institution console shell (pages are ES modules under /static/console/)."""
    return render_template("staff.html", app="console", title="培训机构工作台")


def _page_headers(response):
    """Security headers for every page and asset of the clients."""
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    # Geolocation for check-in and site picking, camera for QR scanning and face enrolment.
    response.headers.setdefault("Permissions-Policy", "geolocation=(self), camera=(self), microphone=()")
    return response


for _blueprint in (bp, mobile, staff):
    _blueprint.after_request(_page_headers)


def register_web(app) -> None:
    """Register pages and the root health probes."""
    from . import health
    app.register_blueprint(bp)
    app.add_url_rule("/healthz", "root_healthz", health.healthz)
    app.add_url_rule("/readyz", "root_readyz", health.readyz)
    app.register_blueprint(mobile, url_prefix="/m")
    app.register_blueprint(staff)
    from .certificates import pages as certificate_pages  # printable / verification certificate pages
    app.register_blueprint(certificate_pages)
