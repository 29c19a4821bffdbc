"""Browser tests: Playwright for Python driving the system's Chromium (Debian package `chromium`).

No browser is downloaded: `playwright install` is never needed. Without Playwright or Chromium the
tests are skipped with the reason; with CI=true they fail instead, so CI cannot pass silently.
Screenshots go to test-output/screenshots/, named <page>-<width>x<height>-<sqlite|postgres>.png.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .server import LiveServer

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def chromium_path() -> str | None:
    """CHROMIUM_PATH, else Debian's /usr/bin/chromium, else whatever `chromium` is on PATH."""
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"browser tests must run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser():
    """One Chromium for the session (skip, or fail under CI=true, when it cannot start)."""
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (pip install 'playwright>=1.40')")
    exe = chromium_path()
    if exe is None:
        _unavailable("Chromium not found (apt-get install chromium, or set CHROMIUM_PATH)")
    pw = sync_playwright().start()
    try:
        instance = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
    except Error as exc:
        pw.stop()
        _unavailable(f"Chromium at {exe} did not start: {exc}")
    yield instance
    instance.close()
    pw.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory, browser):
    """The app on a real port with the demo data (started only when a browser is available)."""
    srv = LiveServer(tmp_path_factory.mktemp("e2e")).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    """Where screenshots are written."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
