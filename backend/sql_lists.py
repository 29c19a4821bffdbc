"""`column IN (values)` that stays one short statement on PostgreSQL, whatever the number of values.

SQLAlchemy renders `in_(values)` with one placeholder per value (with a `::TYPE` cast each on psycopg),
so a 500-event kiosk upload's lookups were ten statements of several thousand characters, each
different from the last: SQLAlchemy re-rendered them and psycopg re-parsed their text on every
execution (its statement cache keeps only short texts), ~40 ms of a batch (bench/README.md,
"Kiosk sync"). On PostgreSQL `column = ANY(:values)` sends the values as one array parameter: the
text is short and the same for every batch. Other databases keep the plain IN list.
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session


def among(session: Session, column, values: Iterable):
    """The condition `column IN values` for `session`'s database (an array parameter on PostgreSQL)."""
    values = list(values)
    if session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)
