"""Collections as JSON arrays with `?page=&per_page=` and the total in X-Total-Count."""
from __future__ import annotations

from flask import request
from sqlalchemy import func, select

from ..domain.errors import invalid
from ..extensions import db


def page_args(default_per_page: int = 50, max_per_page: int = 500) -> tuple[int, int]:
    """Read and validate ?page= and ?per_page=."""
    try:
        page = int(request.args.get("page", 1))
        per_page = int(request.args.get("per_page", default_per_page))
    except ValueError:
        raise invalid("validation_error", fields={"page": ["must be an integer"]}) from None
    if not 1 <= page <= 1_000_000 or not 1 <= per_page <= max_per_page:
        raise invalid("validation_error", fields={"per_page": [f"1..{max_per_page}"], "page": [">= 1"]})
    return page, per_page


def paginate(stmt, serialize, default_per_page: int = 50):
    """Run a select for one page; returns (items, 200, headers)."""
    page, per_page = page_args(default_per_page)
    total = db.session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar()
    rows = db.session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).scalars().all()
    return [serialize(r) for r in rows], 200, {"X-Total-Count": str(total)}


def page_list(items: list, serialize=lambda x: x, default_per_page: int = 50):
    """Paginate an already-built Python list."""
    page, per_page = page_args(default_per_page)
    chunk = items[(page - 1) * per_page: page * per_page]
    return [serialize(x) for x in chunk], 200, {"X-Total-Count": str(len(items))}
