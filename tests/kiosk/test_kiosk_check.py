"""`python -m kiosk check`: each step's verdict against a real server, and the offline steps alone."""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from kiosk.check import FAIL, PASS, WARN, check_devices, check_server, report, run_checks
from kiosk.config import ConfigError, DeviceUrls, KioskConfig, load_config
from tests.kiosk.live_server import (
    REPO,
    GunicornServer,
    PersonSpec,
    _login,
    free_port,
    id_number_for,
    kiosk_env,
    make_app,
    register_device,
    seed_site,
)


def _config(tmp_path: Path, server_url: str, device_id, secret: str, **devices) -> KioskConfig:
    return KioskConfig(server_url=server_url, device_id=str(device_id), device_secret=secret,
                       data_dir=tmp_path / "kiosk", devices=DeviceUrls(**devices), http_timeout_s=5)


def _by_step(verdicts) -> dict:
    return {v.step: v for v in verdicts}


def _check_cli(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kiosk", "check"], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=120)


def test_check_walks_every_step_against_a_real_server(live_db, tmp_path):
    app = make_app(live_db)
    seeded = seed_site(app, [PersonSpec("王五", id_number_for(3))])
    server = GunicornServer(live_db, tmp_path / "server").start()
    try:
        # A device the institution registered but the bureau has not activated yet: the secret is right.
        status, body = server.request("POST", "/api/v1/devices", {"name": "2号机", "site_id": seeded.site_id},
                                      _login(server, seeded.staff_username))
        assert status == 201, body
        pending = _by_step(run_checks(_config(tmp_path, server.url, body["device_id"], body["secret"])))
        assert pending["服务器"].level == PASS and pending["时钟"].level == PASS
        assert pending["设备"].level == FAIL and "尚未激活" in pending["设备"].detail

        device_id, secret = register_device(server, seeded)
        # Provisioning from the console's QR, as the kiosk's scanner reads it: the written config checks out.
        from backend.domain.device_provisioning import encode
        code = encode(server.url, device_id, secret)
        env_p = {k: v for k, v in kiosk_env(tmp_path / "p", server.url, device_id, secret).items()
                 if not k.startswith("KIOSK_")}
        done = subprocess.run([sys.executable, "-m", "kiosk", "provision", "--scanner",
                               "fake:?script=CARD:110105194912310021," + code, "--out", str(tmp_path / "etc"),
                               "--data-dir", str(tmp_path / "data")],
                              cwd=REPO, env=env_p, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert secret not in (tmp_path / "etc" / "kiosk.toml").read_text()
        assert oct((tmp_path / "etc" / "device.secret").stat().st_mode & 0o777) == "0o600"
        provisioned = load_config(tmp_path / "etc" / "kiosk.toml", {})
        assert (provisioned.server_url, provisioned.device_id, provisioned.device_secret) == \
            (server.url, str(device_id), secret)
        steps = _by_step(run_checks(replace(provisioned, devices=DeviceUrls())))
        assert steps["设备"].level == PASS, steps["设备"]
        # Wrong secret: refused by signature, said as such (not "offline").
        wrong = _by_step(run_checks(_config(tmp_path, server.url, device_id, "x" * 43)))
        assert wrong["设备"].level == FAIL and "设备未激活或密钥错误" in wrong["设备"].detail
        unknown = _by_step(run_checks(_config(tmp_path, server.url, 999_999, secret)))
        assert unknown["设备"].level == FAIL and "设备编号" in unknown["设备"].detail

        # The real thing, through the command a technician types (fake card reader, no camera).
        env = kiosk_env(tmp_path / "kiosk-ok", server.url, device_id, secret,
                        KIOSK_CARD_URL="fake:?script=", KIOSK_PINPAD_URL="fake:?script=")
        done = _check_cli(env)
        assert done.returncode == 0, done.stdout + done.stderr
        out = done.stdout
        assert f"[{PASS}] 设备  设备 {device_id} 已激活，密钥正确，站点：鼓楼实训基地" in out
        assert f"[{PASS}] 名单" in out and "共 1 节课，1 名学员" in out
        assert f"[{WARN}] 摄像头  未配置" in out and "结论：可以使用" in out

        # A clock 400 s ahead: the clock step fails, yet the device step still tells the truth about
        # the id and secret (signed with the server's time, as the daemon does after a refusal).
        skewed = _by_step(run_checks(_config(tmp_path, server.url, device_id, secret),
                                     now=lambda: time.time() + 400))
        assert skewed["时钟"].level == FAIL and "快" in skewed["时钟"].detail
        assert skewed["设备"].level == PASS
        slow = _by_step(run_checks(_config(tmp_path, server.url, device_id, secret), now=lambda: time.time() - 60))
        assert slow["时钟"].level == WARN and "慢" in slow["时钟"].detail
    finally:
        server.stop()


def test_unreachable_server_fails_and_skips_the_device_step(tmp_path):
    port = free_port()  # nothing listens there
    verdicts = run_checks(_config(tmp_path, f"http://127.0.0.1:{port}", 1, "s" * 43))
    steps = _by_step(verdicts)
    assert steps["服务器"].level == FAIL and "连不上" in steps["服务器"].detail
    assert "设备" not in steps
    lines = []
    assert report(verdicts, type("Out", (), {"write": lambda self, s: lines.append(s)})()) == 1
    assert any("项失败" in s for s in lines)


def test_no_server_url_is_an_offline_kiosk_not_a_failure(tmp_path):
    verdicts, skew = check_server(_config(tmp_path, "", 1, "s" * 43))
    assert [v.level for v in verdicts] == [WARN] and skew == 0.0


@pytest.mark.parametrize(("urls", "expected"), [
    ({"card": "fake:?script=CARD:1"}, {"读卡器": PASS}),
    ({"card": "nope:x"}, {"读卡器": FAIL}),
    ({"qr": "serial:///dev/no-such-scanner"}, {"扫码器": FAIL}),  # opened on the first read: the probe finds out
    ({}, {"读卡器": WARN, "扫码器": WARN, "摄像头": WARN, "密码键盘": WARN}),
])
def test_devices_step(tmp_path, urls, expected):
    steps = _by_step(check_devices(_config(tmp_path, "", 1, "s" * 43, **urls)))
    for step, level in expected.items():
        assert steps[step].level == level, steps[step]


def test_camera_without_opencv_falls_back_to_the_documented_fake(tmp_path):
    from kiosk.devices import camera, open_device

    if camera.opencv_available():
        pytest.skip("OpenCV is installed here: camera: opens a real camera")
    cam = open_device("camera:0", "camera")
    assert cam.is_fallback and "OpenCV" in cam.fallback_reason
    assert cam.capture(timeout=0.1).shape == (480, 640, 3)  # grey frames: the daemon runs, faces never match
    steps = _by_step(check_devices(_config(tmp_path, "", 1, "s" * 43, camera="camera:0")))
    assert steps["摄像头"].level == WARN and "opencv-python-headless" in steps["摄像头"].detail


def test_shipped_example_config_loads(tmp_path):
    example = REPO / "kiosk" / "kiosk.example.toml"
    config = load_config(example, {"KIOSK_DEVICE_SECRET": "s" * 43, "KIOSK_DATA_DIR": str(tmp_path)})
    assert config.device_id and config.devices.camera


def test_check_reports_a_broken_config_plainly(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    done = _check_cli(env)
    assert done.returncode == 1 and f"[{FAIL}] 配置" in done.stdout
    with pytest.raises(ConfigError):
        load_config(None, {})
