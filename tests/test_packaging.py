"""What a kiosk installs: the base requirements and the kiosk extra, none of the server's stack."""
import configparser
import re
from pathlib import Path

SETUP = Path(__file__).resolve().parents[1] / "setup.cfg"
SERVER_ONLY = {"flask", "apiflask", "flask-sqlalchemy", "sqlalchemy", "flask-migrate", "flask-limiter", "gunicorn",
               "gevent", "psycopg", "redis", "openpyxl", "huey"}


def _names(block: str) -> set[str]:
    return {re.split(r"[\[<>=!~ ]", line.strip(), maxsplit=1)[0].lower()
            for line in block.splitlines() if line.strip() and not line.strip().startswith("#")}


def test_a_kiosk_install_has_no_server_stack():
    cfg = configparser.ConfigParser()
    cfg.read(SETUP, encoding="utf-8")
    base = _names(cfg["options"]["install_requires"])
    extras = cfg["options.extras_require"]
    kiosk = base | _names(extras["kiosk"])
    assert not kiosk & SERVER_ONLY, kiosk & SERVER_ONLY
    assert SERVER_ONLY <= _names(extras["server"])  # ... and the server still gets all of it
    # What the kiosk imports (tests/kiosk/test_kiosk_imports.py proves the rest is not needed) is there.
    assert {"numpy", "pillow", "cryptography", "geographiclib", "chinese-calendar", "dlib-bin"} <= kiosk
