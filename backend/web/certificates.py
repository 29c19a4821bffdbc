"""The certificate pages outside /api/v1: what a certificate's QR code opens, and the printable page."""
from __future__ import annotations

import hmac

from flask import Blueprint, current_app, render_template, request

from ..api.outcome_schemas import CertificatePublicOut
from ..domain.errors import AppError
from ..extensions import PUBLIC_LOOKUP_LIMIT, db, limiter
from ..models import TrainingPlan
from ..security.authz import public
from ..services import certificates

pages = Blueprint("certificate_pages", __name__, template_folder="templates")


# Self-contained pages: inline styles and an inline SVG QR code, nothing fetched from anywhere.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                           "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def page_context(number_text: str, sig: str | None) -> dict:
    """Everything the certificate page shows; the full name only with a valid print signature."""
    cert = certificates.find_certificate(number_text)
    view = CertificatePublicOut().dump(cert)
    plan = db.session.get(TrainingPlan, cert.plan_id)
    # Bytes: compare_digest raises TypeError on a str with non-ASCII characters, and `sig` is whatever
    # the query string carried (werkzeug decodes it leniently, so it may hold any character).
    expected = certificates.print_signature(cert.number, current_app.config["SECRET_KEY"])
    full = bool(sig) and hmac.compare_digest(sig.encode("utf-8", "replace"), expected.encode())
    url = certificates.verify_url(cert.number, current_app.config["PUBLIC_BASE_URL"])
    return dict(view, holder_name=cert.person.name if full else view["holder_name_masked"], full_name=full,
                plan_title=plan.title, plan_starts_on=plan.starts_on.isoformat(),
                plan_ends_on=plan.ends_on.isoformat(), verify_url=url, qr_svg=certificates.qr_svg(url))


def _page(number: str, sig: str | None, mode: str):
    try:
        ctx = page_context(number, sig)
    except AppError as err:
        return render_template("certificate.html", mode="missing", code=err.code), err.status, PAGE_HEADERS
    headers = dict(PAGE_HEADERS)
    if ctx["full_name"]:
        headers["Cache-Control"] = "private, no-store"  # the signed print page carries the full name
    return render_template("certificate.html", mode=mode, **ctx), 200, headers


@pages.get("/certificates/<number>")
@limiter.limit(PUBLIC_LOOKUP_LIMIT)
@public
def certificate_verify_page(number):
    """Human verification page (what the certificate's QR code opens)."""
    return _page(number, None, "verify")


@pages.get("/certificates/<number>/print")
@limiter.limit(PUBLIC_LOOKUP_LIMIT)
@public
def certificate_print_page(number):
    """Printable certificate; the holder's full name only with the signed link from the owner's list."""
    return _page(number, request.args.get("sig"), "print")
