"""`flask --app backend worker` as a process: its start-up sweep expires a due voucher in the database it is
given, on the SQLite job queue or on Redis, and it exits cleanly on SIGTERM and SIGINT."""
from __future__ import annotations

import os
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backend.extensions import db
from backend.models import AuditEntry
from tests.db.jobs_helpers import (
    seed_due_voucher,
    start_worker,
    stop_worker,
    voucher_status,
    wait_for,
    worker_env,
)

pytestmark = [pytest.mark.slow]
REDIS_URL = os.environ.get("TEST_REDIS_URL")


def _scheduling(pid: int) -> tuple[int, int]:
    """A process's nice value and scheduling policy, as the kernel reports them (/proc/PID/stat, fields 19, 41)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[16]), int(fields[38])


def _run_worker_until_expired(app, tmp_path, stop_signal, nice: int = 10, idle: bool = True, **env_extra):
    """Seed a claimed voucher an hour past expiry, start a worker, see it expire, stop the worker; its log.

    The worker runs `nice` steps below this process's priority (WORKER_NICE, default 10) and, with `idle`
    (WORKER_SCHED_IDLE, default on), under SCHED_IDLE: beside the web server on one machine, requests get
    the CPU first."""
    voucher_id = seed_due_voucher(datetime.now(UTC) - timedelta(hours=1))
    assert voucher_status(voucher_id) == "claimed"
    log = tmp_path / "worker.log"
    if nice != 10:
        env_extra["WORKER_NICE"] = str(nice)
    if not idle:
        env_extra["WORKER_SCHED_IDLE"] = "false"
    proc = start_worker(worker_env(tmp_path, app.config["SQLALCHEMY_DATABASE_URI"], **env_extra), log)
    try:
        wait_for(lambda: voucher_status(voucher_id) == "expired", 30, proc, log)
        here = os.sched_getscheduler(0)
        assert _scheduling(proc.pid) == (min(19, os.nice(0) + nice), os.SCHED_IDLE if idle else here)
    finally:
        code = stop_worker(proc, stop_signal)
    text = log.read_text()
    assert code == 0, text[-3000:]
    assert "worker started" in text and "vouchers-expire" in text and "worker stopped" in text
    assert "Traceback" not in text, text[-3000:]
    return text


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_worker_on_the_sqlite_queue_expires_a_due_voucher_and_stops(app, tmp_path, stop_signal):
    plain = stop_signal == signal.SIGINT  # one run with the defaults, one with both turned off
    text = _run_worker_until_expired(app, tmp_path, stop_signal, nice=0 if plain else 10, idle=not plain)
    assert "sqlite:" in text and (tmp_path / "instance" / "jobs.db").exists()
    actors = db.session.execute(db.select(AuditEntry.actor).where(AuditEntry.action == "voucher.expire")).scalars()
    assert list(actors) == ["job:vouchers-expire"]
    db.session.commit()


@pytest.mark.redis
@pytest.mark.skipif(not REDIS_URL and not os.environ.get("REQUIRE_SERVICES"),
                    reason="needs TEST_REDIS_URL (a Redis server); REQUIRE_SERVICES makes it mandatory")
def test_worker_on_redis_expires_a_due_voucher_and_stops(app, tmp_path):
    if not REDIS_URL:
        pytest.fail("REQUIRE_SERVICES needs TEST_REDIS_URL")
    import redis

    queue = f"test{uuid.uuid4().hex[:12]}"
    text = _run_worker_until_expired(app, tmp_path, signal.SIGTERM, REDIS_URL=REDIS_URL, JOBS_QUEUE=queue)
    assert "RedisStorage" in text and f"queue {queue}" in text
    assert not (tmp_path / "instance" / "jobs.db").exists()
    # Redis drops emptied lists and hashes; whatever this run's queue left behind goes.
    client = redis.Redis.from_url(REDIS_URL)
    for key in client.scan_iter(f"huey.*.{queue}"):
        client.delete(key)
