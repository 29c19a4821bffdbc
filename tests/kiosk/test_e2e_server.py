"""The kiosk daemon end to end against the real server (gunicorn, SQLite or PostgreSQL).

`python -m kiosk --once` runs as a separate process with real adapters: the card reader and the QR
scanner are pyserial ports opened on pseudo-terminals the test writes scans into, the camera
replays image files (`dir:`), the PIN pad is a scripted fake. Faces: scikit-image's astronaut (the
enrolled template; a shifted, scaled and darker copy must match) and an upscaled LFW face (someone
else, must not). The PIN comes from the real CLI, `flask --app backend persons set-pin`.
"""
from __future__ import annotations

import os
import subprocess
import sys
import termios
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from backend.extensions import db
from backend.models import Enrollment, User, Voucher, VoucherBatch
from tests.kiosk.live_server import (
    REPO,
    GunicornServer,
    PersonSpec,
    device_rows,
    free_port,
    id_number_for,
    kiosk_env,
    make_app,
    register_device,
    seed_site,
    start_kiosk,
    wait_for,
)

pytest.importorskip("serial")
pytestmark = pytest.mark.slow

FRAME = (1280, 720)


class Pty:
    """A pseudo-terminal pair standing in for a USB-serial device: the kiosk opens `name`."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        self.name = os.ttyname(self.slave)

    def opened(self) -> bool:
        """True once pyserial has opened the port (it switches the line to raw mode, then flushes input)."""
        return not termios.tcgetattr(self.slave)[3] & termios.ICANON

    def scan(self, *lines: str) -> None:
        """What a scanner sends: each code followed by CR LF."""
        os.write(self.master, b"".join(line.encode() + b"\r\n" for line in lines))

    def close(self) -> None:
        """Close both ends."""
        os.close(self.master)
        os.close(self.slave)


def _on_canvas(rgb: np.ndarray, top: int, left: int) -> np.ndarray:
    canvas = np.full((FRAME[1], FRAME[0], 3), 118, np.uint8)
    h, w = rgb.shape[:2]
    canvas[top:top + h, left:left + w] = rgb
    return canvas


@pytest.fixture(scope="module")
def faces_data(tmp_path_factory):
    """The astronaut's template, and two 1280x720 camera frames on disk: her (moved, smaller, darker), a stranger."""
    from skimage import data

    from backend import faces

    astronaut = data.astronaut()
    template = faces.enroll_template(astronaut)
    root = tmp_path_factory.mktemp("frames")
    her = Image.fromarray(astronaut).resize((430, 430), Image.BILINEAR)
    her = np.asarray(ImageEnhance.Brightness(her).enhance(0.75))
    (root / "match").mkdir()
    Image.fromarray(_on_canvas(her, 250, 760)).save(root / "match" / "frame-001.png")
    stranger = (data.lfw_subset()[0] * 255).astype(np.uint8)
    stranger = np.asarray(Image.fromarray(stranger).resize((400, 400), Image.BICUBIC).convert("RGB"))
    (root / "stranger").mkdir()
    Image.fromarray(_on_canvas(stranger, 160, 440)).save(root / "stranger" / "frame-001.png")
    return {"template": template, "match": root / "match", "stranger": root / "stranger"}


A, B, C, D, E, F = (id_number_for(i) for i in (11, 22, 33, 44, 55, 66))
PINS = {C: "135790", D: "246813", E: "975310"}


@pytest.fixture
def site(live_db, tmp_path, faces_data):
    """Server running on the database, people seeded, PINs set with the CLI, a kiosk registered."""
    app = make_app(live_db)
    t = faces_data["template"]
    people = [PersonSpec("张三", A, face=t),          # face; also holds a voucher (QR path)
              PersonSpec("李四", B, face=t),          # face only: a stranger presenting her card is refused
              PersonSpec("王五", C),                   # no face: card + PIN
              PersonSpec("赵六", D, face=t),          # face and PIN: PIN after the face checks fail
              PersonSpec("钱七", E),                   # card + PIN; withdrawn while the kiosk is offline
              PersonSpec("孙八", F, enrolled=False)]   # a real person, not on this roster
    seeded = seed_site(app, people)
    server = GunicornServer(live_db, tmp_path / "server").start()
    try:
        # C's PIN through the real command in its own process; the others through Click's runner.
        r = subprocess.run([sys.executable, "-m", "flask", "--app", "backend", "persons", "set-pin", C],
                           cwd=REPO, env=server.env, input=f"{PINS[C]}\n{PINS[C]}\n", capture_output=True,
                           text=True, timeout=60, start_new_session=True)  # no controlling tty: getpass reads stdin
        assert r.returncode == 0 and "PIN set for person" in r.stdout, r.stdout + r.stderr
        assert PINS[C] not in r.stdout
        for id_number in (D, E):
            r = app.test_cli_runner().invoke(args=["persons", "set-pin", id_number],
                                             input=f"{PINS[id_number]}\n{PINS[id_number]}\n")
            assert r.exit_code == 0, r.output
        device_id, secret = register_device(server, seeded)
        yield {"app": app, "server": server, "seeded": seeded, "device_id": device_id, "secret": secret,
               "data_dir": tmp_path / "kiosk"}
    finally:
        server.stop()
        with app.app_context():
            db.engine.dispose()


def _voucher_token(app, seeded, person_id: int) -> str:
    """A claimed-and-used voucher for the person and a fresh QR token for it, as the trainee's phone shows."""
    from backend.domain.vouchers import encode_qr_token, new_voucher_code
    from backend.security.crypto import vault

    now = datetime.now(UTC)
    with app.app_context():
        staff = db.session.execute(db.select(User).where(User.username == seeded.staff_username)).scalar_one()
        batch = VoucherBatch(name="2026年电工培训券", region_code="350100", occupation_codes=["6-31-01-03"],
                             quantity=10, remaining=9, face_value_fen=150000, claim_starts_at=now - timedelta(days=9),
                             claim_ends_at=now + timedelta(days=30), valid_days=90, funding_source="就业补助资金",
                             status="published", created_by=staff.id, created_at=now - timedelta(days=10))
        db.session.add(batch)
        db.session.flush()
        voucher = Voucher(code=new_voucher_code(os.urandom(10)), batch_id=batch.id, person_id=person_id,
                          status="used", claimed_at=now - timedelta(days=3), expires_at=now + timedelta(days=80),
                          used_at=now - timedelta(days=2))
        db.session.add(voucher)
        db.session.commit()
        token = encode_qr_token(vault().token_key, voucher.id, person_id, int(now.timestamp()), ttl=120)
        db.session.remove()
    return token


def _drive(env: dict, feeds: dict[str, list[str]], log: Path, timeout: float = 180) -> tuple[int, str]:
    """Run `python -m kiosk --once` with a fresh pseudo-terminal per serial role in `feeds`
    ("card", "qr"); once the daemon has opened them, scan the lines into them."""
    ptys = {role: Pty() for role in feeds}
    env = dict(env, **{f"KIOSK_{role.upper()}_URL": f"serial://{pty.name}?baud=9600" for role, pty in ptys.items()})
    if feeds:
        env["KIOSK_ONCE_IDLE_S"] = "2.5"  # room for this (possibly busy) machine to write after the ports open
    proc = start_kiosk(env, "--once", log=log)
    try:
        for pty in ptys.values():
            wait_for(lambda p=pty: p.opened() or proc.poll() is not None, 60, what=f"kiosk to open {pty.name}")
        time.sleep(0.2)  # pyserial flushes the input right after switching to raw mode
        for role, lines in feeds.items():
            ptys[role].scan(*lines)
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pty in ptys.values():
            pty.close()
    return proc.returncode, log.read_text()


def test_kiosk_against_real_server(site, faces_data, tmp_path):
    app, seeded, data_dir = site["app"], site["seeded"], site["data_dir"]
    pid = seeded.person_ids
    lesson_id = seeded.lesson_ids[0]
    # The lesson is in session, so check-outs here are early: the second-scan confirmation (tested in
    # tests/kiosk/test_controller.py) is off, as a pseudo-terminal cannot wait out the card bounce.
    online = kiosk_env(data_dir, site["server"].url, site["device_id"], site["secret"],
                       KIOSK_CONFIRM_CHECK_OUT_S=0)
    logs = tmp_path / "logs"
    logs.mkdir()
    match, stranger = f"dir:{faces_data['match']}", f"dir:{faces_data['stranger']}"

    # 1. Her card and her face; a card without a face and a mistyped PIN first; line noise is ignored.
    #    The camera shows one still picture of her: the face matches but the liveness check (on by
    #    default) fails, and as she has no PIN the check-in is recorded with the failed check, for review.
    rc, out = _drive(dict(online, KIOSK_CAMERA_URL=match, KIOSK_PINPAD_URL="fake:?script=000000,135790"),
                     {"card": ["garbage", f"CARD:{A}", C]}, logs / "1.log")
    assert rc == 0, out
    assert out.count("签到成功 / Checked in") == 1 and "密码错误 / Wrong PIN" in out, out
    assert "签到已记录，活体检测未通过，将由人工审核" in out and "请向" in out, out  # first visit: a challenge

    # 2. A stranger at the camera: B (no PIN) is refused on the spot, D falls back to the PIN,
    #    F's card is genuine but F is not on the roster.
    rc, out = _drive(dict(online, KIOSK_CAMERA_URL=stranger, KIOSK_PINPAD_URL="fake:?script=246813"),
                     {"card": [B, D, F]}, logs / "2.log")
    assert rc == 0, out
    assert "人脸核验未通过 / Face does not match" in out and "未在今日参训名单中" in out, out
    assert out.count("签到成功 / Checked in") == 1, out

    # 3. Check-outs: A with the voucher QR code from her phone (checked online) and her face, C by card + PIN.
    token = _voucher_token(app, seeded, pid[A])
    rc, out = _drive(dict(online, KIOSK_CAMERA_URL=match, KIOSK_PINPAD_URL="fake:?script=135790"),
                     {"qr": [token], "card": [C]}, logs / "3.log")
    assert rc == 0, out
    assert out.count("签退成功 / Checked out") == 1 and "签退已记录，活体检测未通过" in out, out

    # 4. E is withdrawn from the plan while the kiosk is offline: it works from the cached
    #    manifest, records E's check-in and keeps it queued. D checks out with a wrong PIN: off line the
    #    kiosk cannot know (it holds no PIN hashes), so it records the sealed PIN for the server to judge.
    with app.app_context():
        db.session.execute(db.update(Enrollment).where(Enrollment.person_id == pid[E]).values(status="withdrawn"))
        db.session.commit()
        db.session.remove()
    offline = dict(online, KIOSK_SERVER_URL=f"http://127.0.0.1:{free_port()}", KIOSK_HTTP_TIMEOUT_S="2")
    rc, out = _drive(dict(offline, KIOSK_PINPAD_URL="fake:?script=975310,111111"), {"card": [E, D]},
                     logs / "4.log")
    assert rc == 1, out  # the upload failed: the events stay queued
    assert "签到已记录，密码将在联网后由服务器核验" in out and "签退已记录" in out, out

    # 5. Back online with no scans: the queue drains and the server judges E's event itself.
    rc, out = _drive(online, {}, logs / "5.log")
    assert rc == 0, out

    rows = device_rows(app, site["device_id"])
    got = sorted((r.person_id, r.kind, r.method, r.accepted, r.reason) for r in rows)
    assert got == sorted([
        (pid[A], "check_in", "card+face", True, None),
        (pid[A], "check_out", "qr+face", True, None),
        (pid[C], "check_in", "card+pin", True, None),
        (pid[C], "check_out", "card+pin", True, None),
        (pid[D], "check_in", "card+pin", True, None),
        (pid[D], "check_out", "card+pin", False, "pin_wrong"),   # judged by the server on upload
        (pid[E], "check_in", "card+pin", False, "not_enrolled"),
    ])
    assert all(r.source == "kiosk" and r.lesson_id == lesson_id and r.device_id == site["device_id"] for r in rows)
    faces_used = [r.face_distance for r in rows if r.method.endswith("+face")]
    assert len(faces_used) == 2 and all(0 <= d <= 0.5 for d in faces_used)
    assert all(r.face_distance is None for r in rows if r.method == "card+pin")
    assert not any(r.person_id in (pid[B], pid[F]) for r in rows)  # refused at the kiosk, nothing recorded
    # Her two face events: accepted, but held by the liveness_failed flag with the kiosk's result kept.
    hers = [r for r in rows if r.person_id == pid[A]]
    assert all("liveness_failed" in r.flags and r.details["liveness"]["passed"] is False for r in hers), hers
    assert not any("liveness_failed" in r.flags or "liveness_missing" in r.flags for r in rows if r.method == "card+pin")

    from kiosk.outbox import Outbox
    box = Outbox(data_dir / "kiosk.sqlite3")
    try:
        assert box.counts() == {"accepted": 5, "rejected": 2}
        (e_event,) = [r for r in rows if r.person_id == pid[E]]
        assert box.get(e_event.event_id)["reason"] == "not_enrolled"
    finally:
        box.close()

    # The heartbeat reached the server: supervisors see the kiosk online with an empty queue.
    from backend.models import Device
    with app.app_context():
        device = db.session.get(Device, site["device_id"])
        assert device.last_heartbeat_at is not None and device.queue_depth == 0 and device.version
        db.session.remove()
