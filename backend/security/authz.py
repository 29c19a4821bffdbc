"""Authorization in one place: the role gate on every route (which runs the view in `unit_of_work()`), scope checks."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import g

from ..domain.errors import AppError, forbidden, not_found
from ..domain.identity import region_in_scope
from ..extensions import db
from ..unit_of_work import unit_of_work
from .actor import Actor, bearer_actor

PUBLIC = "public"


def _resolve(roles: tuple[str, ...]) -> Actor | None:
    if roles == (PUBLIC,):
        return None
    if "device" in roles:
        from .devices import device_actor  # device requests carry signature headers, not a bearer token
        actor = device_actor() if "device" in roles and _is_device_request() else bearer_actor()
    else:
        actor = bearer_actor()
    if actor.role not in roles:
        raise forbidden("forbidden", required_roles=list(roles))
    return actor


def _is_device_request() -> bool:
    from flask import request
    return "X-Device-Id" in request.headers


def gate() -> None:
    """before_request: authenticate and check roles before any parsing or validation runs."""
    from flask import current_app, request
    # `g` lives in the app context, which tests keep open across requests: start clean every time.
    g.pop("actor", None)
    g.pop("gated", None)
    g.pop("device", None)
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    roles = getattr(view, "_roles", None)
    if roles is not None and not g.get("gated"):
        _resolve(roles)
        g.gated = True


def requires(*roles: str) -> Callable:
    """Gate a view on roles and run it as one unit of work: commit on success, roll back on error.

    The roles are recorded on the view (`_roles`): `gate()` enforces them before the request body is
    even parsed, and the authorization matrix test lists them.
    """
    def deco(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if not g.get("gated"):  # called outside a request that went through gate()
                _resolve(roles)
                g.gated = True
            with unit_of_work():
                return view(*args, **kwargs)
        wrapper._roles = roles  # type: ignore[attr-defined]
        return wrapper
    return deco


def public(view: Callable) -> Callable:
    """An endpoint anyone may call (still one unit of work)."""
    return requires(PUBLIC)(view)


def actor() -> Actor:
    """The current request's actor (set by `requires`)."""
    a = getattr(g, "actor", None)
    if a is None:
        raise AppError("unauthorized", 401)
    return a


def optional_actor() -> Actor | None:
    """The actor if the request authenticated, else None."""
    return getattr(g, "actor", None)


def ensure_region(a: Actor, region_code: str) -> None:
    """Supervisors act only inside their region prefix; admins everywhere."""
    if a.role == "admin":
        return
    if a.role == "supervisor" and region_in_scope(region_code, a.region_code):
        return
    raise forbidden("out_of_scope", region_code=region_code)


def ensure_institution(a: Actor, institution_id: int, region_code: str | None = None) -> None:
    """Institution staff act only on their own institution; supervisors within their region."""
    if a.role == "admin":
        return
    if a.role == "institution" and a.institution_id == institution_id:
        return
    if a.role == "supervisor" and region_code is not None and region_in_scope(region_code, a.region_code):
        return
    if a.role == "device" and a.institution_id == institution_id:
        return
    raise forbidden("forbidden", institution_id=institution_id)


def get_or_404(model, object_id):
    """Load a row by primary key or raise not_found."""
    obj = db.session.get(model, object_id)
    if obj is None:
        raise not_found("not_found", object=model.__tablename__, id=object_id)
    return obj
