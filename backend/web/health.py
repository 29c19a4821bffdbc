"""The root probes (/healthz, /readyz) for load balancers that do not know the API prefix; same answers as the API's."""
from __future__ import annotations

from ..security.authz import public
from ..services import health


@public
def healthz():
    """Process is alive."""
    return {"status": "ok"}


@public
def readyz():
    """Database reachable: 200 with its dialect, else 503 with the error's name."""
    body = health.readiness()
    return body, 200 if body["status"] == "ok" else 503
