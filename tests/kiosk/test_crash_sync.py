"""Lossless sync under crashes: 2,000 offline events, the kiosk SIGKILLed mid-upload again and again,
then the server itself stopped mid-sync; in the end every event is on the server exactly once.

Each kiosk queues, through the outbox API, 500 enrolled people x (check-in, check-out) that the server
accepts, plus 500 check-ins with a face too far (rejected face_mismatch) and 500 events of people the
server does not know (rejected unknown_person): 2,000 events that all end as accepted or explicitly
rejected, whatever the order of batches and retries.
"""
from __future__ import annotations

import json
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
    ReplyDropper,
    device_counts,
    device_rows,
    id_number_for,
    inflight_since,
    kiosk_env,
    live_rows_per_event,
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


def _assert_exactly_once(crash_site, device_id: int, db_path: Path, ids: set[str]) -> set[str]:
    """The server holds each queued event once, judged as the rules say, with one live-stream row; the
    outbox has a receipt for each. Returns the events whose receipt is "duplicate" (first answer lost)."""
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
    # Where a repeat could still show up despite the unique event ids: the supervisors' live stream
    # (one row per stored event, written in the same transaction), and the receipts themselves.
    live = live_rows_per_event(crash_site["app"], ids)
    assert set(live) == ids and set(live.values()) == {1}, {e: n for e, n in live.items() if n != 1}
    return {e for e, (state, _) in receipts.items() if state == "duplicate"}


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
    # Thirty candidate points for five kills inside an upload: a kill that falls between two batches
    # is not counted, and since the outbox stopped fsyncing its take/mark commits a batch is quick.
    targets = iter(sorted(rng.sample(range(0, EVENTS - 300, 25), 30)))
    while len([k for k in kills if k[4]]) < 5:
        target = next(targets)  # StopIteration: thirty tries could not land five kills inside an upload
        # Rows a killed predecessor left "inflight" are not this process's upload: only a batch taken
        # after this start counts (the new process requeues the old ones once it has started).
        started = datetime.now(UTC).isoformat()
        proc = start_kiosk(env, "--once", log=log)
        try:
            wait_for(lambda p=proc, t=target, s=started: (_settled(db_path) >= t and inflight_since(db_path, s))
                     or p.poll() is not None, 60, interval=0.002, what=f"{target} settled and an upload in flight")
            assert proc.poll() is None, f"the kiosk finished before kill {len(kills) + 1}: {kills}"
            batch = _inflight_seqs(db_path)
            pause = rng.uniform(0, 0.015)  # a 50-event batch takes ~15-40 ms here: land in its request,
            time.sleep(pause)             # the server's work or the marking of its receipts
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        # Evidence the kill landed during that upload: the batch is still marked in flight after the kill
        # (a kill that fell between two batches is reported and not counted).
        in_flight = len(batch & _inflight_seqs(db_path))
        kills.append((target, round(pause, 3), device_counts(crash_site["app"], device_id)[0], _settled(db_path),
                      in_flight))
    print(f"seed {seed}; kills (target, pause s, rows on server, settled in outbox, of its batch in flight): "
          f"{kills}")
    assert all(k[3] < EVENTS for k in kills), kills
    assert any(0 < on_server < EVENTS for _, _, on_server, _, _ in kills), kills
    # The last restart finishes the job.
    proc = start_kiosk(env, "--once", log=log)
    assert proc.wait(timeout=120) == 0, log.read_text()[-3000:]
    duplicates = _assert_exactly_once(crash_site, device_id, db_path, ids)
    # A "duplicate" receipt means the server had stored the event when a kill took the answer: at most
    # the batches in flight at the kills (50 events each).
    assert len(duplicates) <= 50 * len(kills), len(duplicates)


def _inflight_seqs(db_path: Path) -> set[int]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=10)
    try:
        return {seq for (seq,) in conn.execute("SELECT seq FROM outbox WHERE state = 'inflight'")}
    finally:
        conn.close()


def test_server_stopped_mid_sync(crash_site, tmp_path):
    seeded, server = crash_site["seeded"], crash_site["server"]
    device_id, env, db_path, ids = _queue_offline(crash_site, seeded.lesson_ids[1], "kiosk-outage")
    config = tmp_path / "kiosk.toml"
    # Retry quickly so the test does not wait out production backoffs (1 s doubling up to 5 min).
    config.write_text("[sync]\nbatch_size = 50\ninterval_s = 0.2\nbackoff_base_s = 0.2\nbackoff_cap_s = 1.0\n"
                      "heartbeat_s = 2\n")
    env.pop("KIOSK_BATCH_SIZE")
    # The kiosk talks to the server through a proxy that loses one answer on the way back.
    proxy = ReplyDropper(server.port)
    env["KIOSK_SERVER_URL"] = proxy.url
    log = db_path.parent / "kiosk.log"
    daemon = start_kiosk(env, "--config", str(config), log=log)
    try:
        wait_for(lambda: _settled(db_path) >= 100, 60, interval=0.01, what="100 events settled")
        proxy.arm()
        wait_for(lambda: proxy.dropped, 60, interval=0.01, what="an upload's answer lost")
        outages = []
        for after in (600, 1200):
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
        proxy.stop()
    assert all(0 < on_server < EVENTS for _, on_server, _ in outages), outages
    print(f"outages (settled when killed, rows on server, events pending while down): {outages}")
    duplicates = _assert_exactly_once(crash_site, device_id, db_path, ids)
    # The lost answer: every event of that batch was stored by the server and, re-sent, came back
    # "duplicate" (not stored twice, not lost).
    (lost,) = proxy.dropped
    lost_ids = {r["event_id"] for r in json.loads(lost.partition(b"\r\n\r\n")[2])["results"]}
    assert len(lost_ids) == 50 and lost_ids <= duplicates, (len(lost_ids), len(lost_ids - duplicates))
    assert "recovered after" in log.read_text()  # the sync loop noticed the outage and the return


def test_sigkill_while_scans_are_recorded(live_db, tmp_path):
    """Kills while the kiosk records scans from its card reader (off line, card + PIN): every scan it
    recorded survives, none is recorded twice, and all reach the server once when it is back on line."""
    from backend.services.pins import set_pin

    scanned = 120
    app = make_app(live_db)
    specs = [PersonSpec(f"学员{i:03d}", id_number_for(3000 + i)) for i in range(scanned)]
    seeded = seed_site(app, specs)
    with app.app_context():
        from backend.models import Person
        now = datetime.now(UTC)
        for person in db.session.execute(db.select(Person)).scalars():
            set_pin(person, "246810", "test", now)
        # The card keys, as the worker's sweep computes them ahead of the day (a manifest request only
        # computes what fits in its time budget).
        from backend.services.card_keys import fill_upcoming
        assert fill_upcoming(now) == scanned
        db.session.commit()
        db.session.remove()
    server = GunicornServer(live_db, tmp_path / "server").start()
    try:
        device_id, secret = register_device(server, seeded)
        data_dir = tmp_path / "kiosk"
        online = kiosk_env(data_dir, server.url, device_id, secret)
        db_path = data_dir / "kiosk.sqlite3"
        log = data_dir / "kiosk.log"
        # On line once with no scans: the day's manifest is cached for the off-line runs.
        assert start_kiosk(online, "--once", log=log).wait(timeout=120) == 0, log.read_text()[-3000:]
        (tmp_path / "cards.txt").write_text("".join(f"CARD:{s.id_number}\n" for s in specs))
        (tmp_path / "pins.txt").write_text("246810\n" * scanned)
        # Every run replays the whole card script: people recorded by an earlier run are asked to confirm
        # an early check-out (nothing recorded), the others are checked in with their PIN.
        offline = dict(online, KIOSK_SERVER_URL="", KIOSK_ONCE_IDLE_S="1.5",
                       KIOSK_CARD_URL=f"fake:?script_file={tmp_path / 'cards.txt'}",
                       KIOSK_PINPAD_URL=f"fake:?script_file={tmp_path / 'pins.txt'}")
        rng = random.Random(int.from_bytes(os.urandom(4), "big"))
        kills = []
        for target in sorted(rng.sample(range(10, scanned - 10), 3)):
            before = sum(outbox_states(db_path).values())
            proc = start_kiosk(offline, "--once", log=log)
            try:
                wait_for(lambda t=target, p=proc: sum(outbox_states(db_path).values()) >= t or p.poll() is not None,
                         90, interval=0.005, what=f"{target} scans recorded")
                assert proc.poll() is None, f"the run ended before {target} scans were recorded"
                time.sleep(rng.uniform(0, 0.05))  # a scan takes ~50 ms: land inside the next one
                proc.send_signal(signal.SIGKILL)
            finally:
                proc.wait(timeout=30)
            after = sum(outbox_states(db_path).values())
            kills.append((target, before, after))
            conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
            try:
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                people, rows = conn.execute("SELECT COUNT(DISTINCT person_id), COUNT(*) FROM outbox").fetchone()
            finally:
                conn.close()
            assert people == rows == after, (people, rows, after)  # nobody twice, however the kill fell
        print(f"kills (target, recorded before the run, recorded at the kill): {kills}")
        # Each kill interrupted a run that had recorded scans of its own.
        assert all(after > before for _, before, after in kills), kills
        assert start_kiosk(offline, "--once", log=log).wait(timeout=120) == 0, log.read_text()[-3000:]
        assert outbox_states(db_path) == {"ready": scanned}
        assert start_kiosk(online, "--once", log=log).wait(timeout=120) == 0, log.read_text()[-3000:]
        rows = device_rows(app, device_id)
        assert len(rows) == scanned and all(r.accepted and r.kind == "check_in" for r in rows), \
            {(r.reason, r.kind) for r in rows}
        assert {r.person_id for r in rows} == set(seeded.person_ids.values())
        assert outbox_states(db_path) == {"accepted": scanned}
        live = live_rows_per_event(app, {r.event_id for r in rows})
        assert set(live.values()) == {1} and len(live) == scanned
    finally:
        server.stop()
        with app.app_context():
            db.engine.dispose()
