"""The certificate pages outside /api/v1: what a certificate's QR code opens, and the printable page."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from ..domain.errors import AppError
from ..extensions import PUBLIC_LOOKUP_LIMIT, limiter
from ..security.authz import public
from ..services import certificates

pages = Blueprint("certificate_pages", __name__, template_folder="templates")


# Self-contained pages: inline styles and an inline SVG QR code, nothing fetched from anywhere.
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                           "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _page(number: str, sig: str | None, mode: str):
    try:
        ctx = certificates.page_context(number, sig)
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
