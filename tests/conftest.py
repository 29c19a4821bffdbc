"""Shared fixtures: an app on SQLite (default) or PostgreSQL (TEST_DATABASE_URL), a fake clock,
and factories for staff, trainees and the objects most tests need."""
from __future__ import annotations

import os
import shutil
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text

from backend import create_app
from backend.extensions import db

TEST_KEYS = {"SECRET_KEY": "test-secret-key-0123456789abcdef0123456789",
             "DATA_KEY": "test-data-key-0123456789abcdef0123456789abc"}
PG_URL = os.environ.get("TEST_DATABASE_URL")
REDIS_URL = os.environ.get("TEST_REDIS_URL")
BACKEND = os.environ.get("TEST_DB", "sqlite")


def pytest_sessionstart(session):
    """With REQUIRE_SERVICES (CI), a missing PostgreSQL or Redis fails the run instead of skipping."""
    if not os.environ.get("REQUIRE_SERVICES"):
        return
    problems = []
    try:
        eng = create_engine(_pg_url(PG_URL or ""))
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"PostgreSQL at {PG_URL!r}: {exc}")
    try:
        import redis
        redis.Redis.from_url(REDIS_URL or "").ping()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"Redis at {REDIS_URL!r}: {exc}")
    if problems:
        pytest.exit("CI needs its services: " + "; ".join(problems), returncode=3)


def _pg_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


class FakeClock:
    """A settable clock installed as the app's CLOCK."""

    def __init__(self):
        self.current: datetime | None = None

    def __call__(self) -> datetime:
        return self.current or datetime.now(UTC)

    def set(self, when: datetime) -> None:
        """Freeze at `when` (aware)."""
        self.current = when

    def advance(self, **kw) -> None:
        """Move the frozen clock forward."""
        self.current = self() + timedelta(**kw)


def _migrate(app) -> None:
    # Tests build the schema from the models so areas can evolve in parallel; tests/db proves the
    # Alembic migrations produce exactly this schema on SQLite and PostgreSQL.
    with app.app_context():
        db.create_all()


@pytest.fixture(scope="session")
def db_template(tmp_path_factory):
    """Build the schema once per session: an SQLite template file, or a PostgreSQL database of its own
    (created next to TEST_DATABASE_URL's database, so parallel runs never share tables)."""
    inst = tmp_path_factory.mktemp("instance")
    if BACKEND == "postgres":
        if not PG_URL:
            pytest.exit("TEST_DB=postgres needs TEST_DATABASE_URL", returncode=3)
        base = _pg_url(PG_URL)
        name = f"test_run_{uuid.uuid4().hex[:12]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.rsplit("/", 1)[0] + "/" + name
        app = create_app(dict(TEST_KEYS, SQLALCHEMY_DATABASE_URI=url, RATELIMIT_ENABLED=False))
        _migrate(app)
        with app.app_context():
            db.engine.dispose()
        yield {"kind": "postgres", "url": url, "instance": inst}
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        return
    path = inst / "template.db"
    app = create_app(dict(TEST_KEYS, SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}", RATELIMIT_ENABLED=False))
    _migrate(app)
    with app.app_context():
        db.engine.dispose()
    yield {"kind": "sqlite", "path": path, "instance": inst}


def _truncate_pg(url: str) -> None:
    """Empty every table and restart the id sequences. DELETE with triggers off (replica role) is
    ~20x faster than TRUNCATE on a few dozen tiny tables, which matters once per test."""
    eng = create_engine(url)
    with eng.begin() as conn:
        names = [r[0] for r in conn.execute(text(
            "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"))]
        seqs = [r[0] for r in conn.execute(text(
            "SELECT sequence_name FROM information_schema.sequences WHERE sequence_schema='public'"))]
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("; ".join(f'DELETE FROM "{n}"' for n in names)))
        if seqs:
            conn.execute(text("SELECT " + ", ".join(f"setval('\"{n}\"', 1, false)" for n in seqs)))
    eng.dispose()


@pytest.fixture
def clock():
    """The fake clock (real time until set)."""
    return FakeClock()


@pytest.fixture
def app_config(db_template, tmp_path, clock):
    """Config overrides for the app under test; tests may add to it before `app` is built."""
    if db_template["kind"] == "postgres":
        _truncate_pg(db_template["url"])
        url = db_template["url"]
    else:
        path = tmp_path / "test.db"
        shutil.copy(db_template["path"], path)
        url = f"sqlite:///{path}"
    return dict(TEST_KEYS, SQLALCHEMY_DATABASE_URI=url, TESTING=True, CLOCK=clock, ACCESS_LOG=False,
                UPLOAD_DIR=str(tmp_path / "uploads"), RATELIMIT_ENABLED=False,
                # Requests never touch a job queue in tests; tests/db/test_jobs_*.py drive the jobs directly.
                JOBS_ENQUEUE=False)


@pytest.fixture
def app(app_config):
    """The Flask app on a fresh database."""
    application = create_app(app_config)
    with application.app_context():
        yield application
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


def auth(token: str) -> dict:
    """Bearer header."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def make_institution(app):
    """Factory: an institution in a region (direct insert, audited elsewhere)."""
    from backend.domain.identity import credit_check_char, org_check_char
    from backend.models import Institution

    def make(region_code="350102", name=None, kind="training_org"):
        base = f"{uuid.uuid4().int % 10**8:08d}"
        org = base + org_check_char(base)
        first17 = "91" + region_code[:6].ljust(6, "0") + org
        code = first17 + credit_check_char(first17)
        inst = Institution(name=name or f"机构{base}", credit_code=code, region_code=region_code, kind=kind,
                           status="approved", created_at=datetime.now(UTC))
        db.session.add(inst)
        db.session.commit()
        return inst
    return make


@pytest.fixture
def staff(app, client, make_institution):
    """Factory: a staff user of a role, logged in; returns (user, headers)."""
    from werkzeug.security import generate_password_hash

    from backend.models import User

    def make(role="supervisor", region_code="3501", institution=None, username=None):
        if role == "institution" and institution is None:
            institution = make_institution()
        username = username or f"{role}-{uuid.uuid4().hex[:8]}"
        user = User(username=username, password_hash=generate_password_hash("password-123", method="pbkdf2:sha256:1000"),
                    role=role, region_code=(institution.region_code if institution else region_code) if role != "admin" else None,
                    institution_id=institution.id if institution else None, created_at=datetime.now(UTC))
        db.session.add(user)
        db.session.commit()
        r = client.post("/api/v1/auth/login", json={"username": username, "password": "password-123"})
        assert r.status_code == 200, r.get_json()
        return user, auth(r.get_json()["access_token"])
    return make


def make_id_number(region="350102", birth="19900307", seq="123") -> str:
    """A valid ID number with the computed check digit."""
    from backend.domain.identity import id_check_digit
    first17 = region + birth + seq
    return first17 + id_check_digit(first17)


def sent_sms_code(phone: str) -> str:
    """The newest binding code the stub SMS outbox holds for `phone` (what the phone's owner reads)."""
    import re

    from backend.models import SmsMessage
    text = db.session.execute(db.select(SmsMessage.text).where(SmsMessage.phone == phone)
                              .order_by(SmsMessage.id.desc()).limit(1)).scalar()
    db.session.commit()
    assert text, f"no SMS to {phone} in the stub outbox"
    return re.search(r"验证码 ?(\d{6})", text).group(1)


def bind_identity(client, headers, body: dict):
    """POST /me/identity; when the person's phone is on record, walk the SMS step as the phone's owner."""
    from backend.models import Person
    from backend.services.persons import find_by_id_number
    r = client.post("/api/v1/me/identity", json=body, headers=headers)
    if r.status_code == 409 and r.get_json()["error"]["code"] == "verification_required":
        person = find_by_id_number(body["id_number"].upper())
        phone = db.session.get(Person, person.id).phone
        db.session.commit()
        r = client.post("/api/v1/me/identity", json=dict(body, sms_code=sent_sms_code(phone)), headers=headers)
    return r


@pytest.fixture
def trainee(app, client):
    """Factory: a WeChat-logged-in trainee, bound to a real name unless bind=False; returns (person_id, headers)."""
    counter = {"n": 0}

    def make(name="张三", id_number=None, bind=True, code=None, phone="13800138000"):
        counter["n"] += 1
        code = code or f"t{uuid.uuid4().hex[:10]}"
        r = client.post("/api/v1/auth/wechat", json={"code": code})
        assert r.status_code == 200, r.get_json()
        headers = auth(r.get_json()["access_token"])
        if not bind:
            return None, headers
        id_number = id_number or make_id_number(seq=f"{counter['n'] % 1000:03d}")
        # A person an institution already recorded with a phone binds with the code sent to that phone.
        r = bind_identity(client, headers, {"name": name, "id_number": id_number, "phone": phone})
        assert r.status_code == 200, r.get_json()
        return r.get_json()["id"], headers
    return make
