"""Helpers for the background-job tests: seeding a due voucher, running `flask --app backend worker`."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from backend.extensions import db
from tests.conftest import TEST_KEYS, make_id_number

REPO = Path(__file__).resolve().parents[2]
FLASK = str(Path(sys.executable).parent / "flask")


@pytest.fixture
def jobs_queue(tmp_path):
    """The process's Huey on an SQLite file in tmp_path (locks and queue), never the repository's instance/."""
    from backend.jobs import huey
    from backend.jobs.queue import LazySqliteStorage

    saved = huey.storage
    huey.storage = LazySqliteStorage(huey.name, filename=str(tmp_path / "jobs.db"))
    try:
        yield huey
    finally:
        huey.storage.close()
        huey.storage = saved


def seed_due_voucher(expires_at: datetime, status: str = "claimed") -> int:
    """A published batch, a supervisor, a person and their voucher expiring at `expires_at`; committed."""
    from backend.models import User, Voucher, VoucherBatch
    from backend.services import persons

    t0 = expires_at - timedelta(days=90)
    user = User(username=f"boss-{uuid.uuid4().hex[:8]}", password_hash="x", role="supervisor", region_code="3501",
                created_at=t0)
    db.session.add(user)
    db.session.flush()
    batch = VoucherBatch(name="电工券", region_code="350100", occupation_codes=["6-31-01-03"], institution_ids=None,
                         eligibility={}, quantity=10, remaining=9, face_value_fen=100000, claim_starts_at=t0,
                         claim_ends_at=t0 + timedelta(days=30), valid_days=90, funding_source="就业补助资金",
                         status="published", created_by=user.id, created_at=t0, published_at=t0)
    person = persons.new_person("王五", make_id_number(seq=f"{uuid.uuid4().int % 1000:03d}"), t0)
    db.session.add_all([batch, person])
    db.session.flush()
    voucher = Voucher(code=uuid.uuid4().hex[:16].upper(), batch_id=batch.id, person_id=person.id, status=status,
                      claimed_at=t0, expires_at=expires_at)
    db.session.add(voucher)
    db.session.commit()
    return voucher.id


def voucher_status(voucher_id: int) -> str:
    """The voucher's status as committed now (a short transaction of its own)."""
    from backend.models import Voucher
    status = db.session.execute(db.select(Voucher.status).where(Voucher.id == voucher_id)).scalar_one()
    db.session.commit()
    return status


def worker_env(tmp_path: Path, database_url: str, **extra: str) -> dict:
    """The environment of a worker process on `database_url`, its instance folder and job queue in tmp_path."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith(("JOBS_", "JOB_"))}
    env.update(TEST_KEYS, DATABASE_URL=database_url, INSTANCE_PATH=str(tmp_path / "instance"),
               JOBS_DB=str(tmp_path / "instance" / "jobs.db"), JOBS_QUEUE=f"test-{uuid.uuid4().hex[:12]}",
               RATELIMIT_ENABLED="false", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def start_worker(env: dict, log: Path, *args: str) -> subprocess.Popen:
    """Start `flask --app backend worker ARGS` in the repository, its output appended to `log`."""
    with log.open("a") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen([FLASK, "--app", "backend", "worker", *args], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop_worker(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    """Send `sig` and wait for the exit code; a worker that does not stop is killed and reported as None."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            return None
    return proc.returncode


def wait_for(condition, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None,
             interval: float = 0.1):
    """Poll `condition()` until it returns something truthy; fail with the worker's log on timeout or exit."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"worker exited with {proc.returncode}: {log.read_text()[-3000:] if log else ''}")
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s: {log.read_text()[-3000:] if log else ''}")
