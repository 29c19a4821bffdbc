"""Two app processes (gunicorn, gevent worker) sharing a database, with Redis or without: an attendance
event posted to one appears within a second on a supervisor's stream served by the other."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("TEST_REDIS_URL")
KEYS = {"SECRET_KEY": "live-test-secret-key-0123456789abcdef0123456789",
        "DATA_KEY": "live-test-data-key-0123456789abcdef0123456789abc"}
SITE = (26.0745, 119.2965)

pytestmark = [pytest.mark.slow]
needs_redis = pytest.mark.skipif(not REDIS_URL and os.environ.get("CI") != "true",
                                 reason="needs TEST_REDIS_URL (a Redis server); CI always runs it")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seed(db_url: str, instance: Path) -> dict:
    """Schema and one open lesson with an enrolled trainee, a supervisor, and their tokens."""
    from backend import create_app
    from backend.extensions import db
    from backend.models import Enrollment, Institution, Lesson, Site, TrainingPlan, User, WechatAccount
    from backend.security import tokens
    from backend.services import persons
    from tests.conftest import make_id_number

    app = create_app(dict(KEYS, SQLALCHEMY_DATABASE_URI=db_url, INSTANCE_PATH=str(instance)))
    now = datetime.now(UTC)
    with app.app_context():
        db.create_all()
        inst = Institution(name="双进程测试学校", credit_code="91350100M000100Y43", region_code="350102",
                           kind="training_org", created_at=now)
        db.session.add(inst)
        db.session.flush()
        site = Site(institution_id=inst.id, name="基地", address="福州", lat=SITE[0], lon=SITE[1], radius_m=200,
                    created_at=now)
        plan = TrainingPlan(institution_id=inst.id, region_code="350102", title="计划", occupation_code="x",
                            plan_type="pre_job", delivery="offline", starts_on=now.date(), ends_on=now.date(),
                            status="approved", created_at=now)
        db.session.add_all([site, plan])
        db.session.flush()
        lesson = Lesson(plan_id=plan.id, title="课", mode="offline", starts_at=now - timedelta(minutes=10),
                        ends_at=now + timedelta(hours=2), class_hours=Decimal(2), site_id=site.id)
        person = persons.new_person("王小明", make_id_number(seq="777"), now)
        db.session.add_all([lesson, person])
        db.session.flush()
        account = WechatAccount(openid="stub-two-process", person_id=person.id, created_at=now, bound_at=now)
        supervisor = User(username="sup", password_hash="x", role="supervisor", region_code="3501", created_at=now)
        db.session.add_all([account, supervisor, Enrollment(plan_id=plan.id, person_id=person.id, created_at=now)])
        db.session.flush()
        trainee = tokens.issue_pair(f"w:{account.id}", "trainee", now, {"pid": person.id})["access_token"]
        sup = tokens.issue_pair(f"u:{supervisor.id}", "supervisor", now, {"rid": "3501"})["access_token"]
        out = {"lesson_id": lesson.id, "person_id": person.id, "trainee": trainee, "supervisor": sup}
        db.session.commit()
        db.engine.dispose()
    return out


def _start(port: int, env: dict, log: Path) -> subprocess.Popen:
    cmd = [str(Path(sys.executable).parent / "gunicorn"), "backend:create_app()", "--worker-class", "gevent",
           "--workers", "1", "--bind", f"127.0.0.1:{port}", "--timeout", "30", "--log-level", "warning"]
    with log.open("w") as out:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _wait_ready(port: int, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"app process exited: {log.read_text()[-2000:]}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        try:
            conn.request("GET", "/api/v1/healthz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
        finally:
            conn.close()
    pytest.fail(f"app on port {port} did not start: {log.read_text()[-2000:]}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def _post(port: int, token: str, body: dict) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/api/v1/attendance", body=json.dumps(body),
                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    resp = conn.getresponse()
    out = resp.status, json.loads(resp.read())
    conn.close()
    return out


def _next_frame(resp) -> dict:
    """Read lines until one complete `event: attendance` frame; keep-alive comments are skipped."""
    frame: dict = {}
    while True:
        line = resp.readline()
        assert line, "stream closed"
        line = line.decode().rstrip("\n")
        if line == "" and "data" in frame:
            return frame
        if line.startswith("id: "):
            frame["id"] = int(line[4:])
        elif line.startswith("data: "):
            frame["data"] = json.loads(line[6:])


@contextmanager
def _two_apps_and_a_stream(env: dict, tmp_path: Path, supervisor_token: str):
    """Processes A and B on one database; yields (port of A, port of B, an open stream on B)."""
    port_a, port_b = _free_port(), _free_port()
    logs = (tmp_path / "a.log", tmp_path / "b.log")
    procs = [_start(port_a, env, logs[0]), _start(port_b, env, logs[1])]
    stream = None
    try:
        _wait_ready(port_a, procs[0], logs[0])
        _wait_ready(port_b, procs[1], logs[1])
        stream = http.client.HTTPConnection("127.0.0.1", port_b, timeout=10)
        stream.request("GET", "/api/v1/live/stream", headers={"Authorization": f"Bearer {supervisor_token}"})
        resp = stream.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/event-stream")
        # The preamble is sent once process B's subscription is in place.
        assert resp.readline().startswith(b"retry:") and b"connected" in resp.readline()
        yield port_a, port_b, resp
    finally:
        if stream is not None:
            stream.close()
        for proc in procs:
            _stop(proc)


def _check_in(seeded: dict) -> dict:
    return {"event_id": str(uuid.uuid4()), "lesson_id": seeded["lesson_id"], "kind": "check_in",
            "lat": SITE[0] + 0.0003, "lon": SITE[1], "accuracy_m": 15, "coord_sys": "wgs84",
            "client_time": datetime.now(UTC).isoformat()}


@pytest.mark.redis
@needs_redis
def test_event_posted_to_one_process_reaches_a_stream_on_the_other(tmp_path):
    if not REDIS_URL:
        pytest.fail("CI=true needs TEST_REDIS_URL")
    db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    seeded = _seed(db_url, tmp_path)
    env = {**os.environ, **KEYS, "DATABASE_URL": db_url, "REDIS_URL": REDIS_URL, "RATELIMIT_ENABLED": "false",
           "LIVE_CHANNEL": f"test-live-{uuid.uuid4().hex}", "INSTANCE_PATH": str(tmp_path),
           "UPLOAD_DIR": str(tmp_path / "uploads"), "LOG_LEVEL": "WARNING"}
    env.pop("TEST_DB", None)
    with _two_apps_and_a_stream(env, tmp_path, seeded["supervisor"]) as (port_a, _port_b, resp):
        body = _check_in(seeded)
        status, answer = _post(port_a, seeded["trainee"], body)
        assert status == 201 and answer["accepted"] is True, answer
        posted_at = time.monotonic()
        frame = _next_frame(resp)
        assert time.monotonic() - posted_at < 1.0
        assert frame["data"]["lesson_id"] == seeded["lesson_id"] and frame["data"]["accepted"] is True
        assert frame["data"]["person_id"] == seeded["person_id"] and frame["data"]["name_masked"] == "王**"

        # A rejection (the repeat check-in with a new id) travels the same way, from A again.
        status, answer = _post(port_a, seeded["trainee"], dict(body, event_id=str(uuid.uuid4())))
        assert status == 409 and answer["error"]["code"] == "already_checked_in"
        frame2 = _next_frame(resp)
        assert frame2["data"]["accepted"] is False and frame2["data"]["reason"] == "already_checked_in"
        assert frame2["id"] > frame["id"]


def test_without_redis_the_database_poll_carries_events_between_processes(tmp_path):
    """`./scripts/run` without REDIS_URL: two workers, each with its own in-process broker."""
    db_url = f"sqlite:///{tmp_path / 'shared.db'}"
    seeded = _seed(db_url, tmp_path)
    env = {**os.environ, **KEYS, "DATABASE_URL": db_url, "RATELIMIT_ENABLED": "false",
           "INSTANCE_PATH": str(tmp_path), "UPLOAD_DIR": str(tmp_path / "uploads"), "LOG_LEVEL": "WARNING"}
    for name in ("TEST_DB", "REDIS_URL", "LIVE_POLL_S"):
        env.pop(name, None)
    with _two_apps_and_a_stream(env, tmp_path, seeded["supervisor"]) as (port_a, port_b, resp):
        body = _check_in(seeded)
        status, answer = _post(port_a, seeded["trainee"], body)
        assert status == 201, answer
        posted_at = time.monotonic()
        frame = _next_frame(resp)
        assert time.monotonic() - posted_at < 1.0
        assert frame["data"]["person_id"] == seeded["person_id"] and frame["data"]["accepted"] is True
        # One from B itself (its own broker) and then one from A again: both arrive, in id order.
        status, _ = _post(port_b, seeded["trainee"], dict(body, event_id=str(uuid.uuid4())))
        status2, _ = _post(port_a, seeded["trainee"], dict(body, event_id=str(uuid.uuid4()), kind="check_out"))
        assert (status, status2) == (409, 201)
        frames = [_next_frame(resp), _next_frame(resp)]
        assert [f["id"] for f in frames] == [frame["id"] + 1, frame["id"] + 2]
        assert [f["data"]["kind"] for f in frames] == ["check_in", "check_out"]
