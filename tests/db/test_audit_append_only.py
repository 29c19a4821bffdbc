"""The audit log is append-only in the database itself (Alembic-created triggers), on the ORM path, and
`flask --app backend audit verify` notices an edited or a missing entry.

Runs the real migrations on a fresh SQLite file and, with TEST_DB=postgres, on a throwaway PostgreSQL
database (created and dropped here, so the shared test schema is never touched)."""
from __future__ import annotations

import logging
import os
import uuid
from datetime import UTC, datetime, timedelta

import flask_migrate
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from backend import create_app
from backend.extensions import db
from backend.models import AuditEntry
from backend.services import audit
from tests.conftest import TEST_KEYS, _pg_url

T0 = datetime(2026, 3, 5, 2, 0, tzinfo=UTC)


@pytest.fixture
def keep_logging():
    """Alembic's env.py reconfigures logging from alembic.ini; put every logger back afterwards."""
    manager = logging.root.manager
    saved = {name: (lg.disabled, lg.level, list(lg.handlers), lg.propagate)
             for name, lg in manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    root = (logging.root.level, list(logging.root.handlers))
    yield
    for name, (disabled, level, handlers, propagate) in saved.items():
        lg = logging.getLogger(name)
        lg.disabled, lg.level, lg.handlers, lg.propagate = disabled, level, handlers, propagate
    for name, lg in manager.loggerDict.items():
        if isinstance(lg, logging.Logger) and name not in saved:
            lg.disabled = False
    logging.root.level, logging.root.handlers = root


def _backends():
    yield "sqlite"
    if os.environ.get("TEST_DB") == "postgres":
        yield "postgres"


@pytest.fixture(params=list(_backends()))
def migrated(request, tmp_path, keep_logging):
    """An app on a freshly migrated database (SQLite file, or a new PostgreSQL database)."""
    admin_engine = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'audit.db'}"
    else:
        base = make_url(_pg_url(os.environ["TEST_DATABASE_URL"]))
        name = f"test_audit_{uuid.uuid4().hex[:12]}"
        admin_engine = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name).render_as_string(hide_password=False)
    app = create_app(dict(TEST_KEYS, SQLALCHEMY_DATABASE_URI=url, TESTING=True, ACCESS_LOG=False,
                          RATELIMIT_ENABLED=False, UPLOAD_DIR=str(tmp_path / "uploads")))
    try:
        with app.app_context():
            flask_migrate.upgrade()
            yield app
            db.session.remove()
            db.engine.dispose()
    finally:
        if admin_engine is not None:
            with admin_engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin_engine.dispose()


def _seed(n: int = 4) -> list[int]:
    ids = [audit.record("test:seed", "thing.create", "thing", i, T0 + timedelta(minutes=i), after={"i": i}).id
           for i in range(n)]
    db.session.commit()
    return ids


def _refused(sql: str, **params) -> str:
    with pytest.raises(DBAPIError) as err:
        with db.engine.begin() as conn:
            conn.execute(text(sql), params)
    return str(err.value.orig)


def _verify(app):
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    db.session.rollback()  # end the read transaction (on SQLite it holds the write lock: BEGIN IMMEDIATE)
    return result


def _drop_guards() -> None:
    """Simulate an attacker with DDL rights removing the triggers."""
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
            conn.execute(text("DROP TRIGGER audit_log_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_change ON audit_log"))


def test_database_refuses_update_and_delete(migrated):
    ids = _seed()
    assert "append-only" in _refused("UPDATE audit_log SET actor = 'mallory' WHERE id = :id", id=ids[1])
    assert "append-only" in _refused("DELETE FROM audit_log WHERE id = :id", id=ids[1])
    assert "append-only" in _refused("DELETE FROM audit_log")
    assert db.session.execute(select(AuditEntry.actor).where(AuditEntry.id == ids[1])).scalar() == "test:seed"
    assert db.session.execute(select(AuditEntry.id)).scalars().all() == ids


def test_orm_path_refuses_too(migrated):
    ids = _seed()
    entry = db.session.get(AuditEntry, ids[0])
    entry.after = {"i": 99}
    with pytest.raises(PermissionError):
        db.session.commit()
    db.session.rollback()
    db.session.delete(db.session.get(AuditEntry, ids[0]))
    with pytest.raises(PermissionError):
        db.session.commit()
    db.session.rollback()
    assert _verify(migrated).exit_code == 0


def test_verify_detects_an_edit(migrated):
    ids = _seed()
    result = _verify(migrated)
    assert result.exit_code == 0 and "intact: 4 entries" in result.output
    _drop_guards()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE id = :id"), {"id": ids[2]})
    db.session.expire_all()
    result = _verify(migrated)
    assert result.exit_code != 0
    assert f"entry {ids[2]}: content altered" in result.output


def test_verify_detects_a_rewritten_hash(migrated):
    """Editing a row and recomputing its own hash still breaks the link to the next entry."""
    ids = _seed()
    _drop_guards()
    entry = db.session.get(AuditEntry, ids[1])
    entry.after = {"i": 1000}
    forged = audit.entry_hash(entry.prev_hash, entry)
    db.session.rollback()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET after = :a, hash = :h WHERE id = :id"),
                     {"a": '{"i": 1000}', "h": forged, "id": ids[1]})
    db.session.expire_all()
    result = _verify(migrated)
    assert result.exit_code != 0 and f"entry {ids[2]}: chain broken" in result.output


def test_verify_detects_a_gap(migrated):
    ids = _seed()
    _drop_guards()
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": ids[1]})
    db.session.expire_all()
    result = _verify(migrated)
    assert result.exit_code != 0
    assert f"entry {ids[2]}: chain broken (gap or reorder)" in result.output
