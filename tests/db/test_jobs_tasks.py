"""Job bodies in the app: each sweep reads the clock when it runs, commits as one unit of work and is idempotent;
errors split into retried (transient) and not; a lock keeps a sweep single; enqueue_after_commit; the queue
and schedules built from the environment."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from huey import RedisHuey
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from backend.extensions import db
from backend.jobs import enqueue_after_commit, huey, load_sweeps, shanghai_daily, task
from backend.jobs.queue import build_huey
from backend.jobs.registry import SWEEPS, _run
from backend.models import AuditEntry, DeviceNonce, IdempotencyRecord, Person, User
from backend.services import persons
from tests.conftest import make_id_number
from tests.db.jobs_helpers import jobs_queue, seed_due_voucher, voucher_status

pytestmark = pytest.mark.usefixtures("jobs_queue")

load_sweeps()
expire_vouchers, apply_retention, purge_expired = SWEEPS["vouchers-expire"], SWEEPS["retention"], SWEEPS["housekeeping"]
WALL = datetime.now(UTC)


@task()
def note_in_audit(text: str) -> int:
    """Test-only queued task: one audit entry carrying `text`."""
    from backend.services import audit
    return audit.record("job:note", "test.note", "note", 1, datetime.now(UTC), after={"text": text}).id


@task(retry_delay=5)
def lose_the_database() -> None:
    """Test-only: a transient error."""
    raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))


@task()
def hit_a_bug() -> None:
    """Test-only: a programming error."""
    raise KeyError("missing")


@pytest.fixture
def immediate(jobs_queue):
    """Huey in immediate mode (in-memory storage, a task runs when enqueued); restored afterwards."""
    huey.immediate = True
    try:
        yield huey
    finally:
        huey.immediate = False


def _audit_actors(action: str) -> list[str]:
    actors = list(db.session.execute(select(AuditEntry.actor).where(AuditEntry.action == action)).scalars())
    db.session.commit()
    return actors


def test_expiry_sweep_reads_the_clock_when_it_runs_and_commits(app, clock):
    voucher_id = seed_due_voucher(WALL + timedelta(days=5))
    assert expire_vouchers.call_local() == {"expired": 0}
    # The product may run with a clock days ahead of the wall clock: the sweep follows backend.clock.now().
    clock.set(WALL + timedelta(days=6))
    assert expire_vouchers.call_local() == {"expired": 1}
    assert voucher_status(voucher_id) == "expired"  # committed: seen from this test's own session
    assert _audit_actors("voucher.expire") == ["job:vouchers-expire"]
    assert expire_vouchers.call_local() == {"expired": 0}  # idempotent


def test_a_sweep_enqueued_in_immediate_mode_runs_in_the_app(app, clock, immediate):
    voucher_id = seed_due_voucher(WALL - timedelta(minutes=1))
    expire_vouchers()
    assert voucher_status(voucher_id) == "expired"


def test_retention_sweep_applies_the_configured_years(app, clock):
    clock.set(WALL)
    person = persons.new_person("赵六", make_id_number(seq="412"), WALL - timedelta(days=5 * 366))
    db.session.add(person)
    db.session.commit()
    app.config["RETENTION_YEARS"] = 6
    assert apply_retention.call_local()["persons_anonymised"] == 0
    app.config["RETENTION_YEARS"] = 4
    assert apply_retention.call_local()["persons_anonymised"] == 1
    row = db.session.execute(select(Person.name, Person.anonymised_at).where(Person.id == person.id)).one()
    db.session.commit()
    assert row.name == "已匿名" and row.anonymised_at is not None
    assert "job:retention" in _audit_actors("person.anonymise")


def test_housekeeping_drops_records_past_their_replay_windows(app, clock, make_institution):
    from backend.models import Device, Site

    clock.set(WALL)
    inst = make_institution()
    site = Site(institution_id=inst.id, name="基地", address="福州", lat=26.07, lon=119.29, radius_m=200,
                created_at=WALL)
    db.session.add(site)
    db.session.flush()
    device = Device(institution_id=inst.id, site_id=site.id, name="闸机", secret_enc=b"x", created_at=WALL)
    db.session.add(device)
    db.session.flush()
    db.session.add_all([
        IdempotencyRecord(scope="sub:u:1", key="old", request_hash="h", created_at=WALL - timedelta(hours=25)),
        IdempotencyRecord(scope="sub:u:1", key="new", request_hash="h", created_at=WALL - timedelta(hours=1)),
        DeviceNonce(device_id=device.id, nonce="old", seen_at=WALL - timedelta(minutes=11)),
        DeviceNonce(device_id=device.id, nonce="new", seen_at=WALL - timedelta(minutes=1)),
    ])
    db.session.commit()
    assert purge_expired.call_local() == {"idempotency_records": 1, "device_nonces": 1}
    assert list(db.session.execute(select(IdempotencyRecord.key)).scalars()) == ["new"]
    assert list(db.session.execute(select(DeviceNonce.nonce)).scalars()) == ["new"]
    db.session.commit()


def test_a_failing_body_is_rolled_back_and_only_transient_errors_are_retried(app):
    def write_then_fail(exc):
        def call():
            db.session.add(User(username="half-done", password_hash="x", role="admin", created_at=WALL))
            db.session.flush()
            raise exc
        return call

    from huey.exceptions import CancelExecution
    with pytest.raises(CancelExecution) as info:
        _run("job:test", write_then_fail(KeyError("bug")), None)
    assert info.value.retry is False
    lost = OperationalError("SELECT 1", {}, Exception("database is locked"))
    with pytest.raises(OperationalError):
        _run("job:test", write_then_fail(lost), None)
    assert db.session.execute(select(User).where(User.username == "half-done")).first() is None
    db.session.commit()


def test_huey_retries_a_transient_error_later_and_gives_up_on_a_bug(app, immediate):
    lose_the_database()
    scheduled = huey.scheduled()
    assert [t.name for t in scheduled] == ["lose_the_database"] and scheduled[0].retries == 2
    assert scheduled[0].eta > datetime.now(UTC).replace(tzinfo=None)  # after retry_delay, not at once
    huey.flush()
    hit_a_bug()
    assert huey.scheduled() == [] and huey.pending() == []


def test_a_locked_sweep_is_skipped_not_run_twice(app, clock, immediate):
    voucher_id = seed_due_voucher(WALL - timedelta(minutes=1))
    with huey.lock_task("sweep:vouchers-expire"):  # another worker is running it
        assert expire_vouchers.call_local() is None
        assert voucher_status(voucher_id) == "claimed"
    assert expire_vouchers.call_local() == {"expired": 1}


def test_a_queued_task_runs_with_its_arguments_in_the_app(app, immediate):
    note_in_audit("你好")
    entry = db.session.execute(select(AuditEntry).where(AuditEntry.action == "test.note")).scalar_one()
    assert entry.actor == "job:note" and entry.after == {"text": "你好"}
    db.session.commit()


class Recorder:
    """A stand-in task: records each enqueue."""

    def __init__(self, fail: bool = False):
        self.calls: list[tuple] = []
        self.fail = fail

    def __call__(self, *args):
        if self.fail:
            raise ConnectionError("queue unreachable")
        self.calls.append(args)


def test_enqueue_after_commit_waits_for_the_commit_and_forgets_on_rollback(app):
    app.config["JOBS_ENQUEUE"] = True
    hint = Recorder()
    enqueue_after_commit(hint, 1)
    enqueue_after_commit(hint, 1)
    enqueue_after_commit(hint, 2)
    assert hint.calls == []
    db.session.commit()
    assert hint.calls == [(1,), (2,)]  # once per task and arguments
    enqueue_after_commit(hint, 3)
    db.session.rollback()
    db.session.commit()
    assert hint.calls == [(1,), (2,)]


def test_enqueue_after_commit_is_off_with_jobs_enqueue_false(app):
    assert app.config["JOBS_ENQUEUE"] is False  # the suite's setting: API tests never touch a queue
    hint = Recorder()
    enqueue_after_commit(hint)
    db.session.commit()
    assert hint.calls == []


def test_a_queue_error_after_commit_is_logged_not_raised(app, caplog):
    app.config["JOBS_ENQUEUE"] = True
    enqueue_after_commit(Recorder(fail=True), 7)
    db.session.commit()
    assert "could not enqueue" in caplog.text and "queue unreachable" in caplog.text


def test_a_request_hint_runs_the_sweep_after_the_commit(app, clock, immediate):
    app.config["JOBS_ENQUEUE"] = True
    voucher_id = seed_due_voucher(WALL - timedelta(minutes=1))
    db.session.add(User(username="hint", password_hash="x", role="admin", created_at=WALL))
    enqueue_after_commit(expire_vouchers)
    db.session.commit()  # the request's unit of work; the sweep runs (immediate mode) once it is committed
    assert voucher_status(voucher_id) == "expired"
    assert db.session.execute(select(User.id).where(User.username == "hint")).first() is not None


def test_schedules_are_utc_crontabs_with_shanghai_times_converted():
    at = shanghai_daily(3, 30)
    assert at(datetime(2026, 3, 1, 19, 30)) and not at(datetime(2026, 3, 1, 3, 30))
    assert shanghai_daily(9)(datetime(2026, 3, 1, 1, 0))
    periodic = {name: wrapper.task_class() for name, wrapper in SWEEPS.items()}
    assert periodic["retention"].validate_datetime(datetime(2026, 3, 1, 19, 30))
    assert not periodic["retention"].validate_datetime(datetime(2026, 3, 1, 3, 30))
    assert periodic["vouchers-expire"].validate_datetime(datetime(2026, 3, 1, 4, 40))
    assert not periodic["vouchers-expire"].validate_datetime(datetime(2026, 3, 1, 4, 41))
    assert huey.utc is True


def test_the_queue_is_redis_with_redis_url_else_a_lazy_sqlite_file(tmp_path):
    from backend import REPO

    on_redis = build_huey({"REDIS_URL": "redis://127.0.0.1:1/3", "JOBS_QUEUE": "elsewhere"})
    assert isinstance(on_redis, RedisHuey) and on_redis.name == "elsewhere"  # no connection made yet
    assert build_huey({}).storage.filename == str(REPO / "instance" / "jobs.db")
    assert build_huey({"JOBS_DB": str(tmp_path / "q.db")}).storage.filename == str(tmp_path / "q.db")
    local = build_huey({"INSTANCE_PATH": str(tmp_path / "inst")})
    path = Path(local.storage.filename)
    assert path == tmp_path / "inst" / "jobs.db" and not path.exists()  # importing creates nothing
    local.storage.enqueue(b"message")
    assert path.exists() and local.storage.queue_size() == 1 and local.storage.dequeue() == b"message"


def test_job_settings_come_from_the_environment(tmp_path, monkeypatch):
    from backend.config import load
    from tests.conftest import TEST_KEYS

    monkeypatch.delenv("JOB_LEASE_S", raising=False)
    monkeypatch.delenv("JOBS_ENQUEUE", raising=False)
    cfg = load(str(tmp_path), dict(TEST_KEYS))
    assert cfg["JOB_LEASE_S"] == 120 and cfg["JOBS_ENQUEUE"] is True
    monkeypatch.setenv("JOB_LEASE_S", "30")
    monkeypatch.setenv("JOBS_ENQUEUE", "false")
    cfg = load(str(tmp_path), dict(TEST_KEYS))
    assert cfg["JOB_LEASE_S"] == 30 and cfg["JOBS_ENQUEUE"] is False


def test_the_worker_command_is_registered(app):
    result = app.test_cli_runner().invoke(args=["worker", "--help"])
    assert result.exit_code == 0 and "--workers" in result.output and "--include" in result.output
