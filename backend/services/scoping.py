"""Which rows may this actor see: the one answer every list uses.

Admins see everything; a supervisor sees the rows of their region prefix (`350100` scopes like `3501`);
institution staff see their own institution's rows. Lists pass the columns that carry a row's region
and institution; a list without an institution column is region-scoped only. The single-object checks
(`ensure_region`, `ensure_institution` in backend/security/authz.py) answer the same question for one row.
"""
from __future__ import annotations

from sqlalchemy import true

from ..domain.identity import region_prefix
from ..security.actor import Actor


def region_condition(region_column, scope: str | None):
    """Rows whose region falls under the region `scope` (None: every row)."""
    if scope is None:
        return true()
    return region_column.startswith(region_prefix(scope), autoescape=True)


def visible_to(a: Actor, *, region=None, institution=None):
    """The WHERE condition of a list for `a`: the supervisor's region (`region` column), the institution's
    own rows (`institution` column); no limit for admins and for roles a list does not scope."""
    if a.role == "supervisor" and region is not None:
        return region_condition(region, a.region_code or "")
    if a.role == "institution" and institution is not None:
        return institution == a.institution_id
    return true()


def scoped(stmt, a: Actor, *, region=None, institution=None):
    """`stmt` limited to the rows `a` may see (see `visible_to`)."""
    return stmt.where(visible_to(a, region=region, institution=institution))
