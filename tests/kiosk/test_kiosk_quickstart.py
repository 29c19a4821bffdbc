"""The README's kiosk quick start, as a technician runs it: demo data, `flask demo-kiosk`, `python -m kiosk
check`, then the daemon with fake devices checks a face trainee and a card + PIN trainee in."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta

from backend.extensions import db
from kiosk.config import load_config
from tests.kiosk.live_server import REPO, GunicornServer, device_rows, make_app


def test_quick_start_from_demo_data_to_accepted_check_ins(live_db, tmp_path):
    from backend.models import Lesson
    from backend.seed import seed_demo

    app = make_app(live_db)
    server = GunicornServer(live_db, tmp_path / "server")
    with app.app_context():
        assert seed_demo() is not None
        db.session.remove()
    out = tmp_path / "kiosk-demo"
    result = app.test_cli_runner().invoke(args=["demo-kiosk", "--out", str(out), "--server-url", server.url])
    assert result.exit_code == 0, result.output
    assert "已登记并激活" in result.output and "正在上课" in result.output
    cards = [line.split() for line in result.output.splitlines() if "卡号 " in line]
    assert len(cards) == 3, result.output
    face_card, pin_card = cards[0][2], cards[1][2]
    pin = cards[1][4]
    assert "人脸" in " ".join(cards[0]) and "刷卡 + 密码" in " ".join(cards[1])

    # The secret is a 0600 file named by the config, never in the config itself.
    config_text = (out / "kiosk.toml").read_text(encoding="utf-8")
    secret = (out / "device.secret").read_text()
    assert secret not in config_text
    assert stat.S_IMODE(os.stat(out / "device.secret").st_mode) == 0o600
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIOSK_")}
    env["PYTHONPATH"] = str(REPO)
    config = load_config(out / "kiosk.toml", env)
    assert config.device_secret == secret and config.devices.camera.startswith("dir:")
    with app.app_context():
        now = datetime.now(UTC)
        in_session = db.session.execute(db.select(Lesson).where(Lesson.starts_at <= now, Lesson.ends_at > now)) \
            .scalars().all()
        # The demo's own lesson, or a seeded one in session for at least half an hour more that it reused. A
        # seeded lesson in its last half hour (11:30-12:00 and 16:30-17:00 in Shanghai) is not reused and may
        # be in session beside the demo's.
        demo = [lesson for lesson in in_session if lesson.title in result.output]
        assert len(demo) == 1 and demo[0].ends_at > now + timedelta(minutes=29), [x.title for x in in_session]
        assert all(x is demo[0] or x.ends_at <= now + timedelta(minutes=30) for x in in_session)
        db.session.remove()

    server.start()
    try:
        check = subprocess.run([sys.executable, "-m", "kiosk", "check", "--config", str(out / "kiosk.toml")],
                               cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
        assert check.returncode == 0, check.stdout + check.stderr
        assert "已激活，密钥正确" in check.stdout and "名学员" in check.stdout

        # The terminal devices of the config swapped for scripted ones (a test has no typist).
        run_env = dict(env, KIOSK_CARD_URL=f"fake:?script=CARD:{face_card},CARD:{pin_card}",
                       KIOSK_PINPAD_URL=f"fake:?script={pin}", KIOSK_QR_URL="", KIOSK_STATUS_PORT="0",
                       KIOSK_ONCE_IDLE_S="3")
        done = subprocess.run([sys.executable, "-m", "kiosk", "--once", "--config", str(out / "kiosk.toml")],
                              cwd=REPO, env=run_env, capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stdout + done.stderr
        device_id = int(config.device_id)
        rows = device_rows(app, device_id)
        assert sorted((r.method, r.kind) for r in rows) == [("card+face", "check_in"), ("card+pin", "check_in")], \
            done.stdout + done.stderr
    finally:
        server.stop()
        with app.app_context():
            db.engine.dispose()
