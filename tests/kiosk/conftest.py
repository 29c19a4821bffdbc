"""Fixtures for the kiosk tests; the helpers themselves live in kiosk_helpers.py."""
from datetime import timedelta

import pytest

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
