"""Fixtures for the kiosk tests; the helpers themselves live in kiosk_helpers.py and live_server.py."""
import shutil
from datetime import timedelta

import pytest

from tests.conftest import _truncate_pg
from tests.kiosk.kiosk_helpers import LESSON_START, FakeClock, FakeServer


@pytest.fixture
def clock():
    """Ten minutes before the lesson starts (inside the check-in window)."""
    return FakeClock(LESSON_START - timedelta(minutes=10))


@pytest.fixture
def fake_server():
    """A running FakeServer using the real clock for signature skew."""
    server = FakeServer()
    yield server
    server.stop()


@pytest.fixture
def live_db(db_template, tmp_path):
    """A fresh database URL for a real server process: a copy of the SQLite template, or (TEST_DB=postgres)
    this session's own PostgreSQL database emptied."""
    if db_template["kind"] == "postgres":
        _truncate_pg(db_template["url"])
        return db_template["url"]
    path = tmp_path / "server.db"
    shutil.copy(db_template["path"], path)
    return f"sqlite:///{path}"
