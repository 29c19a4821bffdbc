"""Many-row INSERTs that stay cheap on PostgreSQL.

A kiosk upload stores up to 500 events, their live-stream rows and their face crops: three
INSERTs of ~500 rows each. SQLAlchemy's "insertmanyvalues" renders one multi-row VALUES statement
with a parameter per value (7,500 for the attendance rows), and psycopg re-parses that SQL text on
every execution because its statement cache keeps only short statements: ~20 ms per statement,
the largest client-side cost of a PostgreSQL upload (bench/README.md, "where the time goes").

On PostgreSQL the same rows go in as one array per column (a JSON column's values as one JSON
array), `INSERT ... SELECT ... FROM ROWS FROM (unnest(...), json_array_elements(...)) WITH ORDINALITY
ORDER BY ordinality`: the statement text is short and the same for every batch. The order of the RETURNING values is restored the way SQLAlchemy's own
`sort_by_parameter_order` does it for SERIAL/IDENTITY keys: the SELECT feeds the rows in
parameter order, so the sequence hands out ascending ids in that order, and sorting the returned
ids ascending puts them back in parameter order. Other databases use the plain executemany, and so
do tables with binary columns: psycopg sends a bytea array as escaped text built in Python, which for
500 face crops (3.6 MB) cost four times the per-value parameters it replaces (measured with
bench/kiosk_ingest_profile.py). Rows with a binary column and no RETURNING (the face crops) go in
through `copy_rows`: PostgreSQL's binary COPY carries the bytes as they are, with no statement text
to build or parse (500 crops: ~70 ms as one multi-row INSERT, ~40 ms as binary COPY, ~25 ms when
the crops also stay in the heap row instead of TOAST; bench/README.md "Kiosk sync").
"""
from __future__ import annotations

import json
import re

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    bindparam,
    cast,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection

_statements: dict[tuple, object] = {}


def insert_rows(conn: Connection, table: Table, rows: list[dict], returning: Column | None = None) -> list:
    """Insert `rows` (dicts) into `table` in one statement; with `returning` (an integer autoincrement
    key), return its values in the order of `rows`."""
    if not rows:
        return []
    keys = tuple(rows[0])
    if (conn.dialect.name != "postgresql" or any(isinstance(table.c[k].type, LargeBinary) for k in keys)
            or any(isinstance(table.c[k].type, JSON) and table.c[k].type.none_as_null for k in keys)
            or any(tuple(r) != keys for r in rows)):
        return _executemany(conn, table, rows, returning)
    sql = _unnest_sql(conn, table, keys, returning)
    dumps = getattr(conn.dialect, "_json_serializer", None) or json.dumps
    params = {}
    for i, k in enumerate(keys):
        column_type = table.c[k].type
        if isinstance(column_type, JSON):
            params[f"a{i}"] = dumps([r[k] for r in rows])
        else:
            process = column_type.bind_processor(conn.dialect)
            values = [r[k] for r in rows]
            if isinstance(column_type, Float):
                # A binary array takes its element type from the values (a JSON `0` among 0.31s is an int):
                # all floats, so it travels as float8[] like the column.
                values = [None if v is None else float(v) for v in values]
            params[f"a{i}"] = values if process is None else [None if v is None else process(v) for v in values]
    result = conn.exec_driver_sql(sql, params)
    if returning is None:
        return []
    ids = sorted(result.scalars().all())
    if len(ids) != len(rows):  # cannot happen without ON CONFLICT; never hand back misaligned ids
        raise RuntimeError(f"{table.name}: {len(ids)} ids returned for {len(rows)} rows")
    return ids


# Binary COPY needs the PostgreSQL type of every column; the first match in this order wins
# (BigInteger and SmallInteger are Integers, DateTime covers UTCDateTime's impl).
_COPY_TYPES = ((BigInteger, "int8"), (SmallInteger, "int2"), (Integer, "int4"), (Float, "float8"),
               (LargeBinary, "bytea"), (Boolean, "bool"), (DateTime, "timestamp"), (String, "text"), (Text, "text"))


def copy_rows(conn: Connection, table: Table, rows: list[dict]) -> None:
    """Insert `rows` (dicts with the same keys) into `table`; on PostgreSQL as one binary COPY.

    Values go through the columns' own bind processing first (a UTCDateTime becomes naive UTC), so
    the rows are the same as an INSERT would store. Other databases, and columns of a type the COPY
    path does not know, use the plain executemany.
    """
    if not rows:
        return
    keys = tuple(rows[0])
    pg_types = [_copy_type(table.c[k].type) for k in keys]
    if conn.dialect.name != "postgresql" or None in pg_types or any(tuple(r) != keys for r in rows):
        _executemany(conn, table, rows, None)
        return
    processors = [table.c[k].type.bind_processor(conn.dialect) for k in keys]
    names = ", ".join(conn.dialect.identifier_preparer.quote(table.c[k].name) for k in keys)
    target = conn.dialect.identifier_preparer.format_table(table)
    with conn.connection.driver_connection.cursor() as cursor, \
            cursor.copy(f"COPY {target} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(pg_types)
        for row in rows:
            copy.write_row([v if p is None or v is None else p(v)
                            for v, p in zip((row[k] for k in keys), processors, strict=True)])


def _copy_type(column_type) -> str | None:
    """The PostgreSQL type name binary COPY sends a column's values as, or None when not known."""
    impl = getattr(column_type, "impl", column_type)
    if isinstance(impl, DateTime) and impl.timezone:
        return None
    for sa_type, name in _COPY_TYPES:
        if isinstance(impl, sa_type):
            return name
    return None


def _executemany(conn: Connection, table: Table, rows: list[dict], returning: Column | None) -> list:
    """The portable path: SQLAlchemy's executemany (insertmanyvalues where RETURNING is asked for)."""
    stmt = insert(table)
    if returning is None:
        conn.execute(stmt, rows)
        return []
    return conn.execute(stmt.returning(returning, sort_by_parameter_order=True), rows).scalars().all()


_binary_re = re.compile(r"%\((a\d+)\)s(::[A-Z ]+(?:\(\d+\))?\[\])")
_sql: dict[tuple, str] = {}


def _unnest_sql(conn: Connection, table: Table, keys: tuple, returning: Column | None) -> str:
    """The unnest INSERT as driver SQL with binary array parameters (`%(aN)b`), built once per shape.

    psycopg dumps a list in text format for a `%s` placeholder, element by element in Python (a
    500-row batch of datetimes or strings: ~1.5 ms per column, ~40 ms for a kiosk upload); in binary
    format it packs the same list in ~0.15 ms. SQLAlchemy always renders `%s`, so the compiled text
    is rewritten for the array parameters; the JSON arrays stay text (one string each).
    """
    cache_key = (table.name, keys, returning.key if returning is not None else None)
    sql = _sql.get(cache_key)
    if sql is None:
        compiled = _unnest_statement(table, keys, returning).compile(dialect=conn.dialect)
        sql = _binary_re.sub(r"%(\1)b\2", compiled.string)
        _sql[cache_key] = sql
    return sql


def _unnest_statement(table: Table, keys: tuple, returning: Column | None):
    """The INSERT ... SELECT FROM ROWS FROM (unnest(...), ...) for these columns, built once per shape."""
    cache_key = (table.name, keys, returning.key if returning is not None else None)
    stmt = _statements.get(cache_key)
    if stmt is None:
        dialect = postgresql.dialect()
        functions, binds, values = [], [], []
        for i, key in enumerate(keys):
            column_type = table.c[key].type
            if isinstance(column_type, JSON):
                # A JSON column's values travel as one JSON array (psycopg sends a str as it is; a text[]
                # of JSON documents would be escaped element by element in Python).
                functions.append(f"json_array_elements(CAST(:a{i} AS JSON))")
                binds.append(bindparam(f"a{i}", type_=Text()))
                values.append(literal_column(f"src.c{i}") if type(column_type) is JSON
                              else cast(literal_column(f"src.c{i}"), column_type))
            else:
                # Cast to the column's array type so a batch of NULLs still has its element type;
                # ARRAY(type) applies the column type's bind processing to every element.
                array = ARRAY(column_type)
                functions.append(f"unnest(CAST(:a{i} AS {array.compile(dialect=dialect)}))")
                binds.append(bindparam(f"a{i}", type_=array))
                values.append(literal_column(f"src.c{i}"))
        names = ", ".join(f"c{i}" for i in range(len(keys)))
        # ROWS FROM zips the functions row by row; WITH ORDINALITY numbers the rows in parameter order.
        source = text(f"ROWS FROM ({', '.join(functions)}) WITH ORDINALITY AS src({names}, ord)").bindparams(*binds)
        rows = select(*values).select_from(source).order_by(literal_column("src.ord"))
        stmt = insert(table).from_select([table.c[k] for k in keys], rows, include_defaults=True)
        if returning is not None:
            stmt = stmt.returning(returning)
        _statements[cache_key] = stmt
    return stmt
