"""Content-Security-Policy for the interactive API docs (APIFlask's Swagger UI page).

The page loads Swagger UI from our own `/api/v1/docs/assets/` and carries one inline `<script>` (the
start-up configuration) and one inline `<style>`, both rendered by APIFlask's template. Rather than
allowing inline code in general ('unsafe-inline'), the policy lists the SHA-256 of exactly the inline
blocks of the page being sent: anything injected into the page, or a template change we did not
look at, does not run. Nothing is loaded from another origin (government intranets are offline).
"""
from __future__ import annotations

import base64
import hashlib
import re

from flask import request

DOCS_ENDPOINTS = frozenset({"openapi.docs", "openapi.swagger_ui_oauth_redirect"})

_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.S | re.I)
_INLINE_STYLE = re.compile(r"<style[^>]*>(.*?)</style\s*>", re.S | re.I)

# Swagger UI draws icons from data: URIs in its CSS and fetches the spec and "Try it out" calls from
# this origin; everything else is shut.
_POLICY = ("default-src 'none'; script-src 'self'{scripts}; style-src 'self'{styles}; img-src 'self' data:; "
           "font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; "
           "frame-ancestors 'none'")


def _hashes(pattern: re.Pattern, html: str) -> str:
    digests = {base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
               for block in pattern.findall(html)}
    return "".join(f" 'sha256-{d}'" for d in sorted(digests))


def policy_for(html: str) -> str:
    """The docs page's CSP: our origin only, plus the hashes of the page's own inline blocks."""
    return _POLICY.format(scripts=_hashes(_INLINE_SCRIPT, html), styles=_hashes(_INLINE_STYLE, html))


def add_headers(response):
    """after_request: the CSP (and the usual hardening headers) on the docs pages."""
    if request.endpoint not in DOCS_ENDPOINTS or response.mimetype != "text/html":
        return response
    response.headers["Content-Security-Policy"] = policy_for(response.get_data(as_text=True))
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response
