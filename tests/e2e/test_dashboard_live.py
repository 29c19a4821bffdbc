"""The dashboard's live feed when the server has no thread to lend its stream (a sync or one-thread
gunicorn worker): every response is short, and the page's client comes back after the server's
`retry:` with its resume point, stays "connected" and shows each event."""
from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from .helpers import DESK, login_staff, new_context, watch_errors

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "demo-pass-2026"


def test_live_feed_over_short_streams(browser, server):
    from backend.extensions import db
    from backend.live.events import publish_attendance
    from backend.models import Person

    server.app.config["LIVE_STREAMS_PER_WORKER"] = 0  # as under gunicorn's sync worker
    ctx = new_context(browser, DESK)
    try:
        page = ctx.new_page()
        errors = watch_errors(page)
        streams: list[str] = []
        states: list[str] = []
        page.on("request", lambda r: streams.append(r.url) if "/live/stream" in r.url else None)
        login_staff(page, f"{server.url}/dashboard/", "supervisor", DEMO_PASSWORD)
        page.wait_for_function("() => document.querySelector('#conn-text')?.textContent === '实时连接中'")
        page.evaluate("""() => { window.__states = [];
            new MutationObserver(() => window.__states.push(document.querySelector('#conn-text').textContent))
              .observe(document.querySelector('#conn-text'), {childList: true, characterData: true, subtree: true}); }""")
        time.sleep(1.5)  # a few short responses and reconnects go by

        before = int(page.inner_text("#feed-count"))
        with server.app.app_context():
            person = db.session.execute(db.select(Person).where(Person.name == "李四")).scalar_one()
            publish_attendance({"kind": "check_out", "accepted": True, "source": "mobile", "flags": [],
                                "event_id": "e2e-short-stream", "received_at": datetime.now(UTC)},
                               server.seeded.lesson_id, {"id": person.id, "name": person.name}, "350102")
            db.session.commit()
            db.session.remove()
        published = time.monotonic()
        page.wait_for_function(f"() => Number(document.querySelector('#feed-count').textContent) > {before}")
        assert "李*" in page.locator("#feed li").first.inner_text()
        assert time.monotonic() - published < 2.0
        states += page.evaluate("() => window.__states")
        assert len(streams) >= 3, streams  # it did reconnect, every SHORT_RETRY_MS
        assert "连接中断，正在重连…" not in states, states  # planned ends are not shown as outages
        assert not errors, errors
    finally:
        server.app.config.pop("LIVE_STREAMS_PER_WORKER", None)
        ctx.close()
