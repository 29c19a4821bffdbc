"""Two real `flask --app backend worker` processes, each on its own job queue (so not even Huey's lock keeps
them apart), run the notification sweeps at start-up on the same database at once: each reminder is queued,
routed and pushed exactly once."""
from __future__ import annotations

import os
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.models import (
    Lesson,
    Notification,
    NotificationDelivery,
    NotificationOutboxMessage,
    Person,
    Voucher,
)
from tests.api.outcomes_fixtures import enroll, make_batch, make_person, make_plan
from tests.db.jobs_helpers import start_worker, stop_worker, wait_for, worker_env

pytestmark = [pytest.mark.slow]
REDIS_URL = os.environ.get("TEST_REDIS_URL")


def _count(model) -> int:
    n = db.session.execute(select(func.count()).select_from(model)).scalar()
    db.session.commit()
    return n


@pytest.mark.parametrize("queue", ["sqlite", pytest.param("redis", marks=[pytest.mark.redis, pytest.mark.skipif(
    not REDIS_URL and not os.environ.get("REQUIRE_SERVICES"), reason="needs TEST_REDIS_URL (a Redis server)")])])
def test_two_worker_processes_push_each_reminder_once(app, tmp_path, staff, make_institution, queue):
    now = datetime.now(UTC)
    inst = make_institution()
    user, _ = staff("supervisor")
    plan = make_plan(inst, days=1, start=date(2026, 1, 1), status="in_progress")
    lesson = db.session.execute(select(Lesson).where(Lesson.plan_id == plan.id)).scalar_one()
    # The lesson starts in 30 minutes by the wall clock the workers read: the 1-hour reminder is due.
    lesson.starts_at, lesson.ends_at = now + timedelta(minutes=30), now + timedelta(hours=3, minutes=30)
    people = [make_person("陈一", "401"), make_person("林二", "402")]
    for i, p in enumerate(people):
        db.session.get(Person, p.id).phone = f"1370000000{i}"
        enroll(plan, p.id)
    batch = make_batch(user.id)
    db.session.add(Voucher(code="WORKERS0000001", batch_id=batch.id, person_id=people[0].id, status="claimed",
                           claimed_at=now - timedelta(days=80), expires_at=now + timedelta(days=3)))
    db.session.commit()

    url = app.config["SQLALCHEMY_DATABASE_URI"]
    procs, logs, envs = [], [], []
    for k in (1, 2):
        log = tmp_path / f"worker{k}.log"
        extra = {"REDIS_URL": REDIS_URL, "JOBS_QUEUE": f"test{uuid.uuid4().hex[:12]}"} if queue == "redis" else {}
        env = worker_env(tmp_path / f"w{k}", url, **extra)
        envs.append(env)
        procs.append(start_worker(env, log))
        logs.append(log)
    try:
        wait_for(lambda: _count(NotificationOutboxMessage) >= 3, 60, procs[0], logs[0])
        # Let both finish whatever they were doing: a second copy would show up now.
        wait_for(lambda: all("job:notify-send done" in log.read_text() for log in logs), 60, procs[1], logs[1])
    finally:
        codes = [stop_worker(p) for p in procs]
        if queue == "redis":
            _drop_queues(env["JOBS_QUEUE"] for env in envs)
    texts = [log.read_text() for log in logs]
    assert codes == [0, 0], [t[-2000:] for t in texts]
    # Only the notification sweeps are judged here: other sweeps count on the Huey lock that separate queues lack.
    assert not any("job:notify-scan failed" in t or "job:notify-send failed" in t or "notification delivery" in t
                   for t in texts), [t[-3000:] for t in texts]
    assert all("job:notify-scan done" in t for t in texts), [t[-3000:] for t in texts]
    assert all(("RedisStorage" if queue == "redis" else "sqlite:") in t for t in texts)
    rows = db.session.execute(select(Notification.person_id, Notification.kind, Notification.window_key)).all()
    db.session.commit()
    assert sorted(rows) == sorted([(people[0].id, "lesson_reminder", "1h"), (people[1].id, "lesson_reminder", "1h"),
                                   (people[0].id, "voucher_expiring", "7d")])
    assert _count(NotificationDelivery) == 3 and _count(NotificationOutboxMessage) == 3
    recipients = db.session.execute(select(NotificationOutboxMessage.recipient)).scalars().all()
    db.session.commit()
    assert sorted(recipients) == ["13700000000", "13700000000", "13700000001"]


def _drop_queues(names) -> None:
    """Redis drops emptied lists and hashes; whatever these queues left behind goes."""
    import redis
    client = redis.Redis.from_url(REDIS_URL)
    for name in names:
        for key in client.scan_iter(f"huey.*.{name}"):
            client.delete(key)
