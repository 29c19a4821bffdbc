"""Institutions and staff accounts (admin, supervisor, institution users): who may create which, creation with
its checks (for the API and the CLI), and the lists each actor may read."""
from __future__ import annotations

from datetime import datetime

from werkzeug.security import generate_password_hash

from ..domain import identity
from ..domain.errors import conflict, forbidden, invalid
from ..extensions import db
from ..models import Institution, User
from ..security.actor import Actor
from ..security.authz import ensure_region, get_or_404
from . import audit
from .scoping import scoped


def creation_check(a: Actor, role: str | None = None):
    """The check `a` must pass to create an institution (role None) or a staff account of `role` in a region:
    a callable of the region (None for an admin account) that raises 403 when `a` may not."""
    def check(region):
        # Separation of duties: a supervisor who could make another supervisor could approve and
        # disburse money alone. Supervisors create institution accounts in their region only.
        if a.role != "admin" and role in ("admin", "supervisor"):
            raise forbidden("forbidden", reason="only admins create supervisor and admin accounts")
        if region is None:  # creating an admin
            if a.role != "admin":
                raise forbidden("forbidden", reason="only admins create admins")
            return
        ensure_region(a, region)
    return check


def create_institution(data: dict, actor_label: str, t: datetime, scope_check) -> Institution:
    """Validate and add an institution at `t`; `scope_check(region)` raises when the caller may not."""
    code = identity.validate_credit_code(data["credit_code"])
    region = identity.validate_region_code(data["region_code"])
    if len(region) != 6:
        raise invalid("invalid_region_code", field="region_code", reason="must_be_6_digits")
    scope_check(region)
    if db.session.execute(db.select(Institution.id).where(Institution.credit_code == code)).scalar():
        raise conflict("credit_code_taken", field="credit_code")
    inst = Institution(name=data["name"].strip(), credit_code=code, region_code=region, kind=data["kind"],
                       status="approved", created_at=t)
    db.session.add(inst)
    db.session.flush()
    audit.record(actor_label, "institution.create", "institution", inst.id, t,
                 after={"name": inst.name, "credit_code": code, "region_code": region})
    return inst


def create_user(data: dict, actor_label: str, t: datetime, scope_check=None, created_by: int | None = None) -> User:
    """Validate and add a staff user at `t` (API and CLI); `scope_check(region)` raises when the caller may not;
    `created_by` is the creating staff account."""
    role = data["role"]
    region = data.get("region_code")
    inst_id = data.get("institution_id")
    if role == "supervisor":
        if not region:
            raise invalid("validation_error", fields={"region_code": ["required for supervisors"]})
        region = identity.validate_region_code(region)
        if scope_check:
            scope_check(region)
    if role == "institution":
        if not inst_id:
            raise invalid("validation_error", fields={"institution_id": ["required for institution staff"]})
        inst = get_or_404(Institution, inst_id)
        region = inst.region_code
        if scope_check:
            scope_check(inst.region_code)
    if role == "admin" and scope_check is not None:
        scope_check(None)
    if db.session.execute(db.select(User.id).where(User.username == data["username"])).scalar():
        raise conflict("username_taken", field="username")
    user = User(username=data["username"], password_hash=generate_password_hash(data["password"]), role=role,
                region_code=region, institution_id=inst_id if role == "institution" else None, created_at=t,
                created_by=created_by)
    db.session.add(user)
    db.session.flush()
    audit.record(actor_label, "user.create", "user", user.id, t,
                 after={"username": user.username, "role": role, "region_code": region, "institution_id": inst_id,
                        "created_by": created_by})
    return user


def staff_accounts(a: Actor):
    """The staff accounts `a` may list, newest first: every one for admins, their region's for supervisors."""
    stmt = db.select(User).where(User.role.in_(("admin", "supervisor", "institution"))).order_by(User.id.desc())
    return scoped(stmt, a, region=User.region_code) if a.role != "admin" else stmt


def institutions_for(a: Actor):
    """The institutions `a` may list, newest first: every one for admins, their region's for supervisors."""
    stmt = db.select(Institution).order_by(Institution.id.desc())
    return scoped(stmt, a, region=Institution.region_code) if a.role != "admin" else stmt
