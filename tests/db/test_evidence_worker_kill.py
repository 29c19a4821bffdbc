"""The real re-verification job under a worker kill: `flask --app backend worker` is SIGKILLed while it holds
leased face crops; after a restart every crop is judged, each exactly once (one flag, one live frame).

The crops are the astronaut's face (real dlib work, ~0.1 s each) against templates of someone else, so
every judgement raises face_recheck_failed: a crop handled twice would show as a second live frame.
"""
from __future__ import annotations

import signal
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from skimage import data
from sqlalchemy import func, select

from backend import faces
from backend.extensions import db
from backend.models import AttendanceEvent, Device, FaceEvidence, LiveEvent, TrustFlag
from backend.security.crypto import vault
from backend.services.evidence import CROP_CONTEXT
from backend.services.persons import FACE_CONTEXT, new_person
from tests.api.device_helpers import lesson_setup
from tests.conftest import make_id_number
from tests.db.jobs_helpers import start_worker, stop_worker, wait_for, worker_env

pytestmark = [pytest.mark.slow]
N = 80  # ~0.08 s of dlib work each: the sweep takes seconds, so the kill lands inside it


def _seed(make_institution) -> None:
    """N persons on a lesson, each with one accepted kiosk face event whose crop is due for re-verification."""
    start = datetime.now(UTC) - timedelta(hours=4)
    frame = data.astronaut()
    crop = vault().encrypt(faces.crop_jpeg(frame, faces.detect_faces(frame)[0]), CROP_CONTEXT)
    inst = make_institution("350102")
    people = []
    for i in range(N):
        p = new_person(f"学员{i}", make_id_number(seq=f"{300 + i:03d}"), start)
        p.face_template_enc = vault().encrypt_json([0.05] * 128, FACE_CONTEXT)  # not the astronaut
        people.append(p)
    db.session.add_all(people)
    db.session.flush()
    site, lesson = lesson_setup(inst, start, people=tuple(p.id for p in people))
    device = Device(institution_id=inst.id, site_id=site.id, name="1号机", secret_enc=b"x", status="active",
                    created_at=start)
    db.session.add(device)
    db.session.flush()
    for p in people:
        ev = AttendanceEvent(origin=f"d{device.id}", event_id=str(uuid.uuid4()), person_id=p.id, lesson_id=lesson.id,
                             kind="check_in", source="kiosk", method="card+face", captured_at=start,
                             received_at=start, face_distance=0.3, device_id=device.id, accepted=True, details={},
                             flags=[], status_code=201)
        db.session.add(ev)
        db.session.flush()
        db.session.add(FaceEvidence(attendance_event_id=ev.id, person_id=p.id, lesson_id=lesson.id,
                                    device_id=device.id, kiosk_distance=0.3, crop_enc=crop, state="due",
                                    created_at=start))
    db.session.commit()


def _read(stmt):
    # A read-only connection (a deferred BEGIN on SQLite): polling must not take the write lock.
    with db.engine.connect().execution_options(read_only=True) as conn:
        return conn.execute(stmt).all()


def _finished() -> int:
    return _read(select(func.count()).select_from(FaceEvidence).where(FaceEvidence.state != "due"))[0][0]


def _leased_due() -> set[int]:
    return {r.id for r in _read(select(FaceEvidence.id).where(FaceEvidence.state == "due",
                                                              FaceEvidence.lease_until.is_not(None)))}


def test_killed_recheck_worker_resumes_and_judges_every_crop_once(app, tmp_path, make_institution):
    _seed(make_institution)
    env = worker_env(tmp_path, app.config["SQLALCHEMY_DATABASE_URI"], JOB_LEASE_S="2", RECHECK_SAMPLE_PERCENT="0")
    log = tmp_path / "worker.log"
    first = start_worker(env, log)
    try:
        # Kill while the worker is inside the sweep: some crops judged, others leased and not yet judged.
        wait_for(lambda: 3 <= _finished() <= N - 10, 120, first, log, interval=0.02)
        first.send_signal(signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    finally:
        if first.poll() is None:
            first.kill()
    killed_at = datetime.now(UTC)
    judged_before, orphaned = _finished(), _leased_due()
    assert 3 <= judged_before < N and orphaned, (judged_before, orphaned)
    time.sleep(2.5)  # restart once the dead worker's leases (JOB_LEASE_S=2) have run out

    second = start_worker(env, log)
    try:
        wait_for(lambda: _finished() == N, 120, second, log)
    finally:
        code = stop_worker(second)
    assert code == 0, log.read_text()[-3000:]

    rows = db.session.execute(select(FaceEvidence)).scalars().all()
    assert {r.state for r in rows} == {"failed"} and all(r.lease_until is None for r in rows)
    assert all(r.checked_at >= killed_at for r in rows if r.id in orphaned)   # the new worker took them over
    flags = _read(select(TrustFlag.attendance_event_id).where(TrustFlag.code == "face_recheck_failed"))
    assert len(flags) == N and len({f[0] for f in flags}) == N
    frames = [e.payload for e in db.session.execute(select(LiveEvent)).scalars() if e.payload.get("event") == "flag"]
    assert len(frames) == N and len({f["attendance_event_id"] for f in frames}) == N   # one frame per crop
