"""Kiosk configuration: TOML, environment overrides, refusals, and the shipped example."""
from pathlib import Path

import pytest

from kiosk.config import ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parents[2] / "kiosk" / "kiosk.example.toml"


def write(tmp_path, text):
    path = tmp_path / "kiosk.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_file_loads_with_the_secret_from_the_environment():
    config = load_config(EXAMPLE, {"KIOSK_DEVICE_SECRET": "s"})
    assert config.server_url == "http://127.0.0.1:5000"
    assert config.devices.qr.startswith("serial://") and config.devices.card
    assert config.face_threshold == 0.5 and config.batch_size == 500


def test_environment_wins_over_the_file(tmp_path):
    path = write(tmp_path, """
[server]
url = "http://a.example/"
device_id = "from-file"
device_secret = "file-secret"
[kiosk]
data_dir = "/tmp/x"
face_attempts = 2
[devices]
card = "fake:"
""")
    env = {"KIOSK_SERVER_URL": "https://b.example", "KIOSK_DEVICE_ID": "from-env", "KIOSK_FACE_ATTEMPTS": "4",
           "KIOSK_PIN_FALLBACK": "no", "KIOSK_CARD_URL": "pcsc:", "KIOSK_DATA_DIR": str(tmp_path)}
    config = load_config(path, env)
    assert (config.server_url, config.device_id, config.device_secret) == ("https://b.example", "from-env",
                                                                           "file-secret")
    assert config.face_attempts == 4 and config.pin_fallback is False
    assert config.devices.card == "pcsc:" and config.data_dir == tmp_path
    assert config.db_path == tmp_path / "kiosk.sqlite3"


def test_secret_file(tmp_path):
    (tmp_path / "secret").write_text("from-a-file\n")
    config = load_config(None, {"KIOSK_DEVICE_ID": "d", "KIOSK_DATA_DIR": str(tmp_path),
                                "KIOSK_DEVICE_SECRET_FILE": str(tmp_path / "secret")})
    assert config.device_secret == "from-a-file" and config.server_url == ""


@pytest.mark.parametrize(("text", "env", "message"), [
    ("", {"KIOSK_DEVICE_ID": "d", "KIOSK_DATA_DIR": "/tmp"}, "device_secret"),
    ("[kiosk]\nface_threshhold = 0.4\n", {}, "unknown keys"),
    ("[devices]\nprinter = 'x'\n", {}, "unknown keys"),
    ("[sync]\nbatch_size = 501\n", {}, "batch_size"),
    ("[kiosk]\nface_threshold = 1.5\n", {}, "face_threshold"),
    ("[kiosk]\nface_attempts = 'many'\n", {}, "face_attempts"),
    ("[server]\nurl = 'ftp://x'\n", {}, "server_url"),
    ("not toml [", {}, "kiosk.toml"),
])
def test_bad_configs_are_refused(tmp_path, text, env, message):
    base = {"KIOSK_DEVICE_ID": "d", "KIOSK_DEVICE_SECRET": "s", "KIOSK_DATA_DIR": str(tmp_path)}
    if "KIOSK_DEVICE_ID" in env:
        base = env
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text), base)
