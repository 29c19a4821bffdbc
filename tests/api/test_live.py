"""Live view: the SSE stream (scope, keep-alive, Last-Event-ID replay, after-commit publication) and /live/lessons."""
from __future__ import annotations

import http.client
import json
import threading
import uuid
from datetime import timedelta

import pytest
from werkzeug.serving import make_server

from backend.extensions import db
from backend.live import LocalBroker, broker, queue_publication
from backend.models import LiveEvent
from tests.api.attendance_fixtures import INSIDE, SITE, START, World, long_tokens, world  # noqa: F401

M = timedelta(minutes=1)


def parse(chunk: bytes | str) -> list[dict]:
    """SSE frames in a chunk: [{"id", "event", "data"} or {"comment"}]."""
    text = chunk.decode() if isinstance(chunk, bytes) else chunk
    frames = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        frame: dict = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                frame.setdefault("comment", line[1:].strip())
            elif line.startswith("id: "):
                frame["id"] = int(line[4:])
            elif line.startswith("event: "):
                frame["event"] = line[7:]
            elif line.startswith("data: "):
                frame["data"] = json.loads(line[6:])
            elif line.startswith("retry: "):
                frame["retry"] = int(line[7:])
        frames.append(frame)
    return frames


def open_stream(client, headers, last_event_id=None):
    """Start the stream; returns (response, iterator) after the 'connected' preamble."""
    h = dict(headers)
    if last_event_id is not None:
        h["Last-Event-ID"] = str(last_event_id)
    resp = client.get("/api/v1/live/stream", headers=h, buffered=False)
    assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
    it = iter(resp.response)
    preamble = parse(next(it))
    assert preamble[0]["retry"] == 3000
    return resp, it


@pytest.fixture
def live_config(app_config):
    app_config["LIVE_KEEPALIVE_S"] = 0.2
    return app_config


def test_stream_shows_accepted_and_rejected_events_in_scope(live_config, world, clock, staff, make_institution,
                                                            client, trainee, app):
    pid, h = world.person("张三丰")
    _u, sup = world.staff("supervisor", region_code="3501")
    far = World(client, clock, make_institution, trainee, staff, region="350200")  # Xiamen: out of scope
    _fpid, fh = far.person("李四", plan=far.plan)
    clock.set(START)
    resp, it = open_stream(client, sup)
    try:
        assert world.post(h).status_code == 201
        assert far.post(fh).status_code == 201
        assert world.post(h).status_code == 409
        frames = parse(next(it)) + parse(next(it))
        assert [f["event"] for f in frames] == ["attendance", "attendance"]
        first, second = (f["data"] for f in frames)
        assert first["lesson_id"] == world.lesson.id and first["person_id"] == pid
        assert first["name_masked"] == "张**" and first["kind"] == "check_in" and first["accepted"] is True
        assert first["source"] == "mobile" and first["flags"] == [] and "reason" not in first
        assert first["distance_m"] > 0
        assert second["accepted"] is False and second["reason"] == "already_checked_in"
        assert frames[0]["id"] < frames[1]["id"]
        # Nothing else queued: the Xiamen event never reaches a Fuzhou supervisor; a keep-alive comes instead.
        assert parse(next(it)) == [{"comment": "keep-alive"}]
    finally:
        resp.close()
    assert broker().subscriber_count == 0


def test_replay_after_last_event_id(live_config, world, clock, client):
    _pid, h = world.person()
    _pid2, h2 = world.person("李四")
    _u, sup = world.staff("supervisor", region_code="35")
    clock.set(START)
    for headers in (h, h2, h):
        world.post(headers)
    ids = [i for (i,) in db.session.execute(db.select(LiveEvent.id).order_by(LiveEvent.id))]
    assert len(ids) == 3
    resp, it = open_stream(client, sup, last_event_id=ids[0])
    try:
        frames = parse(next(it)) + parse(next(it))
        assert [f["id"] for f in frames] == ids[1:]
        assert frames[1]["data"]["reason"] == "already_checked_in"
        # Live events keep flowing after the replay, without repeating it.
        clock.set(START + 5 * M)
        assert world.post(h2, kind="check_out").status_code == 201
        [live] = parse(next(it))
        assert live["id"] > ids[-1] and live["data"]["kind"] == "check_out"
    finally:
        resp.close()


def test_long_replay_is_split_without_a_gap(live_config, world, clock, client, monkeypatch):
    from backend.api import live as live_api
    monkeypatch.setattr(live_api, "REPLAY_MAX", 2)
    _pid, h = world.person()
    _pid2, h2 = world.person("李四")
    _u, sup = world.staff("supervisor", region_code="35")
    clock.set(START)
    for headers in (h, h2, h, h2):
        world.post(headers)
    ids = [i for (i,) in db.session.execute(db.select(LiveEvent.id).order_by(LiveEvent.id))]
    resp, it = open_stream(client, sup, last_event_id=ids[0] - 1)
    try:
        frames = [f for chunk in it for f in parse(chunk)]  # the stream ends by itself
    finally:
        resp.close()
    assert [f["id"] for f in frames if "id" in f] == ids[:2]
    assert frames[-1]["comment"].startswith("more to replay")
    resp, it = open_stream(client, sup, last_event_id=ids[1])
    try:
        got = parse(next(it)) + parse(next(it))
    finally:
        resp.close()
    assert [f["id"] for f in got] == ids[2:]


def test_stream_roles(world, client):
    _pid, h = world.person()
    _u, inst = world.staff("institution")
    assert client.get("/api/v1/live/stream", headers=h).status_code == 403
    assert client.get("/api/v1/live/stream", headers=inst).status_code == 403
    assert client.get("/api/v1/live/lessons", headers=inst).status_code == 403
    assert client.get("/api/v1/live/stream").status_code == 401


def test_publication_waits_for_commit(app):
    b = broker()
    assert isinstance(b, LocalBroker)
    sub = b.subscribe()
    try:
        queue_publication({"id": 1, "region_code": "350102", "payload": {}})
        db.session.rollback()
        assert sub.get(timeout=0.01) is None
        queue_publication({"id": 2, "region_code": "350102", "payload": {}})
        assert sub.get(timeout=0.01) is None  # not before the commit
        db.session.commit()
        assert sub.get(timeout=0.01)["id"] == 2
    finally:
        sub.close()


def test_live_lessons_counts(world, clock, staff):
    _a, ha = world.person("张三")
    _b, hb = world.person("李四")
    _c, hc = world.person("王五")
    later = world.add_lesson(starts_at=START + timedelta(hours=6))
    _u, sup = world.staff("supervisor", region_code="3501")
    clock.set(START)
    world.post(ha)
    world.post(hb, at=(INSIDE[0] + 0.0002, INSIDE[1]))
    world.post(ha)  # rejected: already checked in
    world.post(hc)  # the very same coordinates as 张三: flagged
    clock.set(START + 110 * M)
    world.post(ha, kind="check_out", at=(INSIDE[0] - 0.0002, INSIDE[1]))
    r = world.client.get("/api/v1/live/lessons", headers=sup)
    assert r.status_code == 200, r.get_json()
    rows = r.get_json()
    assert [x["lesson_id"] for x in rows] == [world.lesson.id]  # the later lesson is not in session
    row = rows[0]
    assert (row["expected"], row["checked_in"], row["checked_out"], row["rejected"]) == (3, 3, 1, 1)
    assert row["site"] == world.site.name and row["flagged"] == 1
    _u, far = staff("supervisor", region_code="3502")
    assert world.client.get("/api/v1/live/lessons", headers=far).get_json() == []
    clock.set(later.starts_at)
    assert [x["lesson_id"] for x in world.client.get("/api/v1/live/lessons", headers=sup).get_json()] == [later.id]


def test_stream_over_a_real_http_server(live_config, app, world, clock):
    """A threaded WSGI server: the first frame arrives while the response is still open."""
    _pid, h = world.person()
    _u, sup = world.staff("supervisor", region_code="3501")
    clock.set(START)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_port
    stream = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        stream.request("GET", "/api/v1/live/stream", headers=sup)
        resp = stream.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/event-stream")
        assert b"connected" in resp.readline() + resp.readline()
        poster = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        poster.request("POST", "/api/v1/attendance", headers={**h, "Content-Type": "application/json"},
                       body=json.dumps({"event_id": str(uuid.uuid4()), "lesson_id": world.lesson.id,
                                        "kind": "check_in", "lat": INSIDE[0], "lon": INSIDE[1], "accuracy_m": 8,
                                        "coord_sys": "wgs84", "client_time": START.isoformat()}))
        assert poster.getresponse().status == 201
        poster.close()
        lines = []
        while not any(line.startswith(b"data: ") for line in lines):
            line = resp.readline()
            assert line, "stream ended"
            lines.append(line)
        data = json.loads([x for x in lines if x.startswith(b"data: ")][0][6:])
        assert data["lesson_id"] == world.lesson.id and data["accepted"] is True
        assert SITE  # the fence centre the event was measured against
    finally:
        stream.close()
        server.shutdown()
        thread.join(5)
        server.server_close()


def test_prune_cli_keeps_recent_live_rows(app, world, clock):
    _pid, h = world.person()
    clock.set(START)
    world.post(h)
    clock.set(START + timedelta(days=8))
    result = app.test_cli_runner().invoke(args=["live", "prune", "--days", "7"])
    assert result.exit_code == 0 and "pruned 1" in result.output
    assert db.session.execute(db.select(db.func.count()).select_from(LiveEvent)).scalar() == 0
