"""A hot statement run straight on the DB-API cursor: SQLAlchemy compiles it once per dialect, and each
call only binds values, executes and converts the row values with SQLAlchemy's own type processors.

The phone check-in runs two statements per request. Through `Connection.execute` SQLAlchemy spent
more of the process's CPU on them than the driver did: for the check-in's read 0.63-0.78 ms against
0.30-0.36 ms on the psycopg cursor alone, for the event-and-live-row insert 0.38-0.42 ms against
0.25-0.28 (one process, PostgreSQL; bench/README.md, "Check-in throughput"). Here SQLAlchemy's part
is done once per process: the compiled SQL, the bind names and literal values, the type processors.
What a call still gets from SQLAlchemy:
the SQL text of its dialect, its bind and result processors (aware UTC datetimes, JSON, booleans on
SQLite), the pooled connection with its transaction settings, and SQLAlchemy's error handling
(an `IntegrityError` is still `sqlalchemy.exc.IntegrityError`; a lost connection invalidates the pool).
What it does not get: the engine's execution events (`before_cursor_execute`), which nothing on these
statements' path listens to.
"""
from __future__ import annotations

from collections import namedtuple
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect


class _Compiled:
    """One statement compiled for one dialect, with everything a call needs precomputed."""

    def __init__(self, statement, dialect: Dialect):
        compiled = statement.compile(dialect=dialect)
        if "POSTCOMPILE" in compiled.string or compiled.escaped_bind_names:
            raise ValueError("a driver statement needs plain bind names and no post-compile parameters")
        self.sql = compiled.string
        self.names = list(compiled.positiontup) if compiled.positional else None
        literals = {}
        self.given = []  # (name, bind processor or None) of the values each call passes
        for bind, name in compiled.bind_names.items():  # (compiled.binds also lists anonymous binds twice)
            proc = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:
                self.given.append((name, proc))
            else:  # a literal of the statement (a LIMIT, a constant): its value is fixed, processed once
                value = bind.effective_value
                literals[name] = proc(value) if proc is not None else value
        self.literals = literals
        self.dialect = dialect
        self.columns = list(statement.exported_columns)
        self.row = namedtuple("Row", [c.key for c in self.columns], rename=True)
        self.result = None  # the result processors, made at the first call from the driver's column types

    def result_processors(self, description) -> list:
        """(column index, processor) of the columns whose values SQLAlchemy converts, as it would for this
        result: some processors depend on the driver's type code (PostgreSQL's numeric kinds)."""
        if len(description) != len(self.columns):
            raise RuntimeError(f"expected {len(self.columns)} columns, the driver returned {len(description)}")
        if self.result is None:
            self.result = [(i, proc) for i, (c, d) in enumerate(zip(self.columns, description, strict=True))
                           if (proc := c.type.dialect_impl(self.dialect).result_processor(self.dialect, d[1]))
                           is not None]
        return self.result

    def parameters(self, params: dict) -> Any:
        """The DB-API parameters of one call: a dict (pyformat) or a tuple (qmark) as the dialect wants."""
        values = dict(self.literals)
        for name, proc in self.given:
            value = params[name]
            values[name] = proc(value) if proc is not None else value  # None too, as SQLAlchemy does (JSON null)
        return values if self.names is None else tuple(values[n] for n in self.names)


class DriverStatement:
    """A Core statement (select, or insert/update with RETURNING) executed on the DB-API cursor."""

    def __init__(self, statement):
        self.statement = statement
        self._compiled: dict[Dialect, _Compiled] = {}

    def compiled(self, dialect: Dialect) -> _Compiled:
        """The statement compiled for `dialect` (once per dialect object, that is per engine, and process)."""
        found = self._compiled.get(dialect)
        if found is None:
            found = self._compiled[dialect] = _Compiled(self.statement, dialect)
        return found

    def rows(self, conn: Connection, params: dict) -> list:
        """Execute on `conn`'s DB-API connection and return every row (named tuples, values converted)."""
        prepared = self.compiled(conn.dialect)
        dbapi_conn = conn.connection.dbapi_connection
        values, cursor = params, None
        try:
            values = prepared.parameters(params)
            cursor = dbapi_conn.cursor()
            cursor.execute(prepared.sql, values)
            description = cursor.description
            raw = cursor.fetchall() if description is not None else []
        except BaseException as err:
            # SQLAlchemy's own handling, as for a statement it runs itself (a private method, stable through
            # 2.x): driver errors wrapped (IntegrityError...), others as StatementError, a lost connection
            # invalidated together with the rest of the pool, handle_error events. It always raises.
            conn._handle_dbapi_exception(err, prepared.sql, values, cursor, None)
            raise  # not reached
        finally:
            if cursor is not None:
                cursor.close()
        if description is None:
            return []
        make = prepared.row._make
        processors = prepared.result_processors(description)
        if not processors:
            return [make(r) for r in raw]
        out = []
        for r in raw:
            r = list(r)
            for i, proc in processors:
                r[i] = proc(r[i])
            out.append(make(r))
        return out

    def scalar_one(self, conn: Connection, params: dict):
        """The first column of the one row the statement returns."""
        rows = self.rows(conn, params)
        if len(rows) != 1:
            raise exc.NoResultFound("no row") if not rows else exc.MultipleResultsFound("more than one row")
        return rows[0][0]
