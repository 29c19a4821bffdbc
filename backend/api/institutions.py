"""Institutions and staff users."""
from __future__ import annotations

from apiflask import APIBlueprint, Schema
from apiflask.fields import Integer, String
from apiflask.validators import Length, OneOf

from ..clock import now
from ..models import Institution
from ..security.authz import actor, get_or_404, requires
from ..services.users import create_institution, create_user, creation_check, institutions_for, staff_accounts
from .paging import paginate

bp = APIBlueprint("institutions", __name__, tag="Institutions")


class InstitutionIn(Schema):
    name = String(required=True, validate=Length(min=1, max=128))
    credit_code = String(required=True, validate=Length(min=1, max=32))
    region_code = String(required=True, validate=Length(min=2, max=6))
    kind = String(required=True, validate=OneOf(["training_org", "enterprise", "college"]))


class InstitutionOut(Schema):
    id = Integer()
    name = String()
    credit_code = String()
    region_code = String()
    kind = String()
    status = String()


class UserIn(Schema):
    username = String(required=True, validate=Length(min=3, max=64))
    password = String(required=True, validate=Length(min=10, max=256))
    role = String(required=True, validate=OneOf(["admin", "supervisor", "institution"]))
    region_code = String(load_default=None, validate=Length(min=2, max=6))
    institution_id = Integer(load_default=None)


class UserOut(Schema):
    id = Integer()
    username = String()
    role = String()
    region_code = String(allow_none=True)
    institution_id = Integer(allow_none=True)


@bp.post("/institutions")
@bp.input(InstitutionIn, arg_name="body")
@bp.output(InstitutionOut, status_code=201)
@bp.doc(summary="Register an institution (admin, or supervisor inside the region)")
@requires("admin", "supervisor")
def post_institution(body):
    a = actor()
    return create_institution(body, a.label, now(), creation_check(a))


@bp.get("/institutions")
@bp.output(InstitutionOut(many=True))
@bp.doc(summary="Institutions: every one for admins, those of the region for supervisors; newest first")
@requires("admin", "supervisor")
def list_institutions():
    return paginate(institutions_for(actor()), lambda i: i)


@bp.get("/users")
@bp.output(UserOut(many=True))
@bp.doc(summary="Staff accounts: every one for admins; for supervisors the accounts of their region; newest first")
@requires("admin", "supervisor")
def list_users():
    return paginate(staff_accounts(actor()), lambda u: u)


@bp.get("/institutions/<int:institution_id>")
@bp.output(InstitutionOut)
@bp.doc(summary="One institution")
@requires("admin", "supervisor", "institution", "trainee")
def get_institution(institution_id):
    return get_or_404(Institution, institution_id)


@bp.post("/users")
@bp.input(UserIn, arg_name="body")
@bp.output(UserOut, status_code=201)
@bp.doc(summary="Create a staff user; only admins create supervisors and admins (403 for a supervisor)")
@requires("admin", "supervisor")
def post_user(body):
    a = actor()
    return create_user(body, a.label, now(), creation_check(a, body["role"]), created_by=a.user_id)
