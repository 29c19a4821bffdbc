"""Alembic migrations: empty → head matches the models, one step down and back up, on SQLite and PostgreSQL."""
from __future__ import annotations

import os
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text

from backend import create_app
from backend.extensions import db
from tests.conftest import TEST_KEYS, _pg_url


@pytest.fixture
def migrated_url(tmp_path):
    """A fresh, empty database URL: a new SQLite file, or a throwaway PostgreSQL database."""
    if os.environ.get("TEST_DB") == "postgres":
        base = _pg_url(os.environ["TEST_DATABASE_URL"])
        name = f"test_mig_{uuid.uuid4().hex[:10]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield base.rsplit("/", 1)[0] + "/" + name
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        yield f"sqlite:///{tmp_path / 'mig.db'}"


def _app(url):
    return create_app(dict(TEST_KEYS, SQLALCHEMY_DATABASE_URI=url, RATELIMIT_ENABLED=False, ACCESS_LOG=False))


def _diffs():
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, db.metadata)


def test_upgrade_matches_models_and_downgrade_roundtrips(migrated_url):
    app = _app(migrated_url)
    with app.app_context():
        upgrade()
        assert _diffs() == []
        tables = set(inspect(db.engine).get_table_names())
        assert {"persons", "vouchers", "attendance_events", "audit_log"} <= tables
        if db.engine.dialect.name == "postgresql":
            # Storage settings are not compared by autogenerate: the migration sets them as the models do.
            from tests.db.test_bulk_insert import _crop_storage
            assert _crop_storage() == ("e", ["toast_tuple_target=8160"])
        downgrade(revision="-1")
        upgrade()
        assert _diffs() == []
        db.engine.dispose()


def test_single_head():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from backend import REPO
    cfg = Config(str(REPO / "migrations" / "alembic.ini"))
    cfg.set_main_option("script_location", str(REPO / "migrations"))
    assert len(ScriptDirectory.from_config(cfg).get_heads()) == 1


def test_database_enforces_append_only_audit(migrated_url):
    app = _app(migrated_url)
    with app.app_context():
        upgrade()
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO audit_log (at, actor, action, object_type, object_id, prev_hash, hash) "
                              "VALUES (CURRENT_TIMESTAMP, 'a', 'b', 'c', '1', 'p', 'h')"))
        for stmt in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(Exception, match="append-only"):
                with db.engine.begin() as conn:
                    conn.execute(text(stmt))
        db.engine.dispose()


def test_creators_of_existing_accounts_are_recovered_from_the_audit_log(migrated_url):
    """A second supervisor a supervisor made before the rule is tied to its creator by the migration."""
    app = _app(migrated_url)
    with app.app_context():
        upgrade(revision="e71d18cc960e")
        with db.engine.begin() as conn:
            for uid, name, role in ((1, "admin", "admin"), (2, "sup1", "supervisor"), (3, "sup1-puppet", "supervisor"),
                                    (4, "school", "supervisor")):
                conn.execute(text("INSERT INTO users (id, username, password_hash, role, region_code, active, created_at)"
                                  " VALUES (:i, :n, 'x', :r, :g, :a, CURRENT_TIMESTAMP)"),
                             {"i": uid, "n": name, "r": role, "g": None if role == "admin" else "3501", "a": True})
            for n, (actor, obj) in enumerate((("admin:u:1", "2"), ("supervisor:u:2", "3"), ("cli:admin", "4"))):
                conn.execute(text("INSERT INTO audit_log (at, actor, action, object_type, object_id, prev_hash, hash) "
                                  "VALUES (CURRENT_TIMESTAMP, :a, 'user.create', 'user', :o, 'p', :h)"),
                             {"a": actor, "o": obj, "h": f"h{n}"})
        upgrade()
        with db.engine.connect() as conn:
            creators = dict(conn.execute(text("SELECT id, created_by FROM users")).all())
        assert creators == {1: None, 2: 1, 3: 2, 4: None}
        db.engine.dispose()
