"""backend.app_class.App: Flask's per-request `ensure_sync` answered once per function."""
from __future__ import annotations

import flask.app


def test_ensure_sync_decides_each_function_once(app, client, monkeypatch):
    asked = []
    real = flask.app.iscoroutinefunction
    monkeypatch.setattr(flask.app, "iscoroutinefunction", lambda f: asked.append(f) or real(f))
    client.get("/api/v1/healthz")
    first = len(asked)
    for _ in range(3):
        assert client.get("/api/v1/healthz").status_code == 200
    assert len(asked) == first  # the hooks and the view were decided by the first request


def test_ensure_sync_keeps_plain_functions_and_wraps_coroutines(app, monkeypatch):
    def plain():
        return "plain"

    async def coro():
        return "coro"

    made = []
    monkeypatch.setattr(app, "async_to_sync", lambda f: made.append(f) or (lambda: "ran " + f.__name__))
    assert app.ensure_sync(plain) is plain
    wrapped = app.ensure_sync(coro)
    assert wrapped() == "ran coro" and app.ensure_sync(coro) is wrapped and made == [coro]
