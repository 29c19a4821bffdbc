"""Lossless sync under crashes: 2,000 offline events, the kiosk SIGKILLed mid-upload again and again,
then the server itself stopped mid-sync; in the end every event is on the server exactly once.

Each kiosk queues, through the outbox API, 500 enrolled people x (check-in, check-out) that the server
accepts, plus 500 check-ins with a face too far (rejected face_mismatch) and 500 events of people the
server does not know (rejected unknown_person): 2,000 events that all end as accepted or explicitly
rejected, whatever the order of batches and retries.
"""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from backend.extensions import db
from tests.api.device_helpers import FACE_CROP
from tests.kiosk.live_server import (
    GunicornServer,
    PersonSpec,
    device_counts,
    device_rows,
    id_number_for,
    kiosk_env,
    make_app,
    outbox_states,
    register_device,
    seed_site,
    start_kiosk,
    wait_for,
)

pytestmark = pytest.mark.slow

PEOPLE = 500
EVENTS = 4 * PEOPLE
SETTLED = ("accepted", "duplicate", "rejected")


@pytest.fixture(scope="module")
def crash_site(db_template, tmp_path_factory):
    """One server for both tests: 500 enrolled people, two lessons in session, one kiosk per test."""
    from tests.conftest import _truncate_pg

    root = tmp_path_factory.mktemp("crash")
    if db_template["kind"] == "postgres":
        _truncate_pg(db_template["url"])
        url = db_template["url"]
    else:
        import shutil
        shutil.copy(db_template["path"], root / "server.db")
        url = f"sqlite:///{root / 'server.db'}"
    app = make_app(url)
    # Every person has a template: the server refuses face methods for people without one.
    seeded = seed_site(app, [PersonSpec(f"学员{i:03d}", id_number_for(1000 + i), face=[0.01] * 128)
                             for i in range(PEOPLE)], lessons=2)
    server = GunicornServer(url, root / "server").start()
    try:
        yield {"app": app, "server": server, "seeded": seeded, "root": root}
    finally:
        server.stop()
        with app.app_context():
            db.engine.dispose()


def _queue_offline(crash_site, lesson_id: int, name: str) -> tuple[int, dict, Path, set[str]]:
    """Register a kiosk and queue the 2,000 events in its outbox while it is offline."""
    from kiosk.outbox import Outbox

    device_id, secret = register_device(crash_site["server"], crash_site["seeded"], name)
    data_dir = crash_site["root"] / name
    env = kiosk_env(data_dir, crash_site["server"].url, device_id, secret, KIOSK_BATCH_SIZE="50")
    people = sorted(crash_site["seeded"].person_ids.values())
    start = datetime.now(UTC) - timedelta(seconds=90)
    box = Outbox(data_dir / "kiosk.sqlite3")
    ids = set()
    try:
        for i, person_id in enumerate(people):
            at = start + timedelta(milliseconds=40 * i)
            base = {"lesson_id": lesson_id, "method": "card+face", "face_distance": 0.31, "face_jpeg_base64": FACE_CROP}
            for n, event in enumerate((
                    dict(base, person_id=person_id, kind="check_in"),
                    dict(base, person_id=person_id, kind="check_in", face_distance=0.74),
                    dict(base, person_id=900_000_000 + i, kind="check_in", method="card+pin", face_distance=None),
                    dict(base, person_id=person_id, kind="check_out"))):
                event.update(event_id=str(uuid.uuid4()), captured_at=(at + timedelta(milliseconds=n)).isoformat())
                if event["face_distance"] is None:
                    del event["face_distance"], event["face_jpeg_base64"]
                assert box.put(event)
                ids.add(event["event_id"])
        assert box.counts() == {"ready": EVENTS}
    finally:
        box.close()
    return device_id, env, data_dir / "kiosk.sqlite3", ids


def _assert_exactly_once(crash_site, device_id: int, db_path: Path, ids: set[str]) -> None:
    """The server holds each queued event once, judged as the rules say; the outbox has a receipt for each."""
    total, distinct = device_counts(crash_site["app"], device_id)
    assert (total, distinct) == (EVENTS, EVENTS)
    rows = device_rows(crash_site["app"], device_id)
    assert {r.event_id for r in rows} == ids
    accepted = [r for r in rows if r.accepted]
    reasons: dict[str | None, int] = {}
    for r in rows:
        reasons[r.reason] = reasons.get(r.reason, 0) + 1
    assert len(accepted) == 2 * PEOPLE
    assert reasons == {None: 2 * PEOPLE, "face_mismatch": PEOPLE, "unknown_person": PEOPLE}
    assert all(r.source == "kiosk" for r in rows)
    # Every outbox event has a receipt that agrees with the server; "duplicate" where a batch was
    # stored but its answer was lost to a crash, and the re-upload found it already there.
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        receipts = {e: (state, reason) for e, state, reason in conn.execute(
            "SELECT event_id, state, reason FROM outbox")}
    finally:
        conn.close()
    assert set(receipts) == ids
    on_server = {r.event_id: ("accepted" if r.accepted else "rejected", r.reason) for r in rows}
    for event_id, (state, reason) in receipts.items():
        assert state in SETTLED, (event_id, state)
        if state != "duplicate":
            assert (state, reason) == on_server[event_id]


def _settled(db_path: Path) -> int:
    states = outbox_states(db_path)
    return sum(states.get(s, 0) for s in SETTLED)


def test_sigkill_during_sync_loses_and_duplicates_nothing(crash_site):
    seeded = crash_site["seeded"]
    device_id, env, db_path, ids = _queue_offline(crash_site, seeded.lesson_ids[0], "kiosk-sigkill")
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    log = db_path.parent / "kiosk.log"
    kills = []
    # Kill points spread over the whole sync: after a random number of settled events, once an
    # upload is in flight, plus a random pause (inside the request, the server's work or the marking).
    for target in sorted(rng.sample(range(0, EVENTS - 300, 25), 5)):
        proc = start_kiosk(env, "--once", log=log)
        try:
            wait_for(lambda p=proc, t=target: (_settled(db_path) >= t and outbox_states(db_path).get("inflight"))
                     or p.poll() is not None, 60, interval=0.005, what=f"{target} settled and an upload in flight")
            if proc.poll() is not None:
                break
            pause = rng.uniform(0, 0.08)  # a 50-event batch takes ~20-60 ms here
            time.sleep(pause)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        kills.append((target, round(pause, 3), device_counts(crash_site["app"], device_id)[0], _settled(db_path)))
    mid_sync = [k for k in kills if k[3] < EVENTS]
    assert len(mid_sync) >= 3, f"too few kills landed mid-sync (seed {seed}): {kills}"
    assert any(0 < on_server < EVENTS for _, _, on_server, _ in kills), kills
    print(f"seed {seed}; kills (target, pause s, rows on server, settled in outbox): {kills}")
    # The last restart finishes the job.
    proc = start_kiosk(env, "--once", log=log)
    assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
    _assert_exactly_once(crash_site, device_id, db_path, ids)


def test_server_stopped_mid_sync(crash_site, tmp_path):
    seeded, server = crash_site["seeded"], crash_site["server"]
    device_id, env, db_path, ids = _queue_offline(crash_site, seeded.lesson_ids[1], "kiosk-outage")
    config = tmp_path / "kiosk.toml"
    # Retry quickly so the test does not wait out production backoffs (1 s doubling up to 5 min).
    config.write_text("[sync]\nbatch_size = 50\ninterval_s = 0.2\nbackoff_base_s = 0.2\nbackoff_cap_s = 1.0\n"
                      "heartbeat_s = 2\n")
    env.pop("KIOSK_BATCH_SIZE")
    log = db_path.parent / "kiosk.log"
    daemon = start_kiosk(env, "--config", str(config), log=log)
    try:
        outages = []
        for after in (200, 1000):
            wait_for(lambda a=after: _settled(db_path) >= a and outbox_states(db_path).get("inflight"), 60,
                     interval=0.005, what=f"{after} events settled and an upload in flight")
            server.kill()  # SIGKILL to master and workers, in the middle of an upload
            on_server = device_counts(crash_site["app"], device_id)[0]
            time.sleep(2.0)  # down for a while: the kiosk keeps retrying with backoff
            assert daemon.poll() is None
            depth = EVENTS - _settled(db_path)
            assert depth > 0
            outages.append((after, on_server, depth))
            server.start()
        wait_for(lambda: _settled(db_path) == EVENTS, 90, interval=0.05, what="the queue to drain")
    finally:
        if server.proc is None:
            server.start()
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0, log.read_text()[-3000:]
    assert all(0 < on_server < EVENTS for _, on_server, _ in outages), outages
    print(f"outages (settled when killed, rows on server, events pending while down): {outages}")
    _assert_exactly_once(crash_site, device_id, db_path, ids)
    assert "recovered after" in log.read_text()  # the sync loop noticed the outage and the return
