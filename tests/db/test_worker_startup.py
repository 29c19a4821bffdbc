"""gunicorn worker start-up (gunicorn.conf.py): the pool is opened, the app's objects frozen, accepts spread,
gthread given threads, and the app told how many of them live streams may hold."""
from __future__ import annotations

import gc
import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from backend.db_setup import warm_pool
from backend.extensions import db
from backend.live.slots import stream_limit

CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


def test_warm_pool_opens_the_configured_connections(app):
    app.config["DB_POOL_SIZE"] = 4
    opened = warm_pool(app)
    if db.engine.dialect.name == "postgresql":
        assert opened == 4
        assert db.engine.pool.checkedin() >= 4  # idle in the pool, ready for the first burst
    else:
        assert opened == 0  # SQLite opens a file, nothing to warm


def test_warm_pool_survives_a_database_that_is_down(app):
    app.config.update(SQLALCHEMY_DATABASE_URI="postgresql+psycopg://nobody@127.0.0.1:1/none", DB_POOL_SIZE=2)
    broken = type(app)(__name__)
    broken.config.update(app.config)
    db.init_app(broken)
    assert warm_pool(broken) == 0


def test_post_worker_init_freezes_and_spreads_accepts(app, monkeypatch):
    from gevent.baseserver import BaseServer
    hooks = runpy.run_path(str(CONF))
    worker_class = type("GeventWorker", (), {"__module__": "gunicorn.workers.ggevent"})
    worker = worker_class()
    worker.wsgi = SimpleNamespace()  # not a Flask app: no pool to warm
    monkeypatch.setattr(BaseServer, "max_accept", BaseServer.max_accept)
    try:
        hooks["post_worker_init"](worker)
        assert gc.get_freeze_count() > 0
        assert BaseServer.max_accept == 1
    finally:
        gc.unfreeze()


@pytest.mark.parametrize(("module", "uri", "yields"), [
    ("gunicorn.workers.ggevent", "sqlite:////srv/app.db", True),      # SQLite never yields to gevent by itself
    ("gunicorn.workers.ggevent", "postgresql+psycopg://db/app", False),  # psycopg yields on every query
    ("gunicorn.workers.gthread", "sqlite:////srv/app.db", False),     # threads are preempted anyway
])
def test_pre_request_takes_turns_on_sqlite_under_gevent(monkeypatch, module, uri, yields):
    import gevent
    from gevent.baseserver import BaseServer
    hooks = runpy.run_path(str(CONF))
    worker = type("Worker", (), {"__module__": module})()
    worker.wsgi = SimpleNamespace(config={"SQLALCHEMY_DATABASE_URI": uri})  # not a Flask app: no pool to warm
    monkeypatch.setattr(BaseServer, "max_accept", BaseServer.max_accept)
    try:
        hooks["post_worker_init"](worker)
    finally:
        gc.unfreeze()
    switches = []
    monkeypatch.setattr(gevent, "sleep", lambda seconds=0: switches.append(seconds))
    for _ in range(3):
        hooks["pre_request"](worker, SimpleNamespace(method="POST", path="/api/v1/attendance"))
    assert switches == ([0, 0, 0] if yields else [])


@pytest.mark.parametrize(("argv", "env_args", "expected"), [
    (["-k", "gthread"], "", 16),
    (["--worker-class=gthread", "--workers", "2"], "", 16),
    (["--worker-class", "gunicorn.workers.gthread.ThreadWorker"], "", 16),
    ([], "--worker-class gthread", 16),
    (["-k", "gthread", "--threads", "1"], "", None),  # given: gunicorn applies it after this file
    ([], "-k gthread --threads 4", None),
    (["-k", "sync"], "", None),  # threads > 1 would turn the sync worker into gthread
    ([], "", None),  # sync is gunicorn's default
    (["-k", "gevent"], "", None),
])
def test_gthread_gets_threads_unless_given(monkeypatch, argv, env_args, expected):
    monkeypatch.setattr(sys, "argv", ["gunicorn", "--config", "gunicorn.conf.py", *argv, "backend:create_app()"])
    monkeypatch.setenv("GUNICORN_CMD_ARGS", env_args)
    assert runpy.run_path(str(CONF)).get("threads") == expected


@pytest.mark.parametrize(("name", "module", "threads", "limit"), [
    ("ThreadWorker", "gunicorn.workers.gthread", 16, 8),
    ("ThreadWorker", "gunicorn.workers.gthread", 1, 0),
    ("SyncWorker", "gunicorn.workers.sync", 1, 0),
    ("GeventWorker", "gunicorn.workers.ggevent", 1, None),
])
def test_post_worker_init_tells_the_app_how_many_streams_it_may_hold(app, monkeypatch, name, module, threads, limit):
    from gevent.baseserver import BaseServer
    monkeypatch.setattr(BaseServer, "max_accept", BaseServer.max_accept)
    hooks = runpy.run_path(str(CONF))
    worker = type(name, (), {"__module__": module})()
    worker.wsgi, worker.cfg = app, SimpleNamespace(threads=threads)
    try:
        hooks["post_worker_init"](worker)
    finally:
        gc.unfreeze()
    gunicorn_environ = {"SERVER_SOFTWARE": "gunicorn/27.0.1", "gunicorn.socket": object()}
    assert stream_limit(app, gunicorn_environ) == limit


@pytest.mark.parametrize("uri", [
    "postgresql+psycopg://db/app",  # psycopg yields on every query: a peer picks up a deferred client at once
    # The loop turns between whole requests; one connection per wake-up made deferring slow accepts down
    # there, taking a share of a burst at once does not (bench/README.md, 2026-12-07 08:25).
    "sqlite:////srv/app.db",
])
def test_post_worker_init_balances_accepts_on_every_database(monkeypatch, uri):
    from gevent.baseserver import BaseServer
    from gevent.server import StreamServer
    hooks = runpy.run_path(str(CONF))
    worker_class = type("GeventWorker", (), {"__module__": "gunicorn.workers.ggevent"})
    server = SimpleNamespace(WORKERS={})
    worker = worker_class()
    worker.wsgi = SimpleNamespace(config={"SQLALCHEMY_DATABASE_URI": uri})  # not a Flask app: no pool to warm
    hooks["pre_fork"](server, worker)  # the master gives it a slot on the connection-count board
    # install() patches gevent's server classes process-wide: restored after the test.
    monkeypatch.setattr(BaseServer, "max_accept", BaseServer.max_accept)
    monkeypatch.setattr(BaseServer, "_do_read", BaseServer._do_read)
    monkeypatch.setattr(BaseServer, "do_handle", BaseServer.do_handle)
    monkeypatch.setattr(StreamServer, "do_close", StreamServer.do_close)
    originals = (BaseServer._do_read, BaseServer.do_handle, StreamServer.do_close)
    try:
        hooks["post_worker_init"](worker)
    finally:
        gc.unfreeze()
    patched = (BaseServer._do_read, BaseServer.do_handle, StreamServer.do_close)
    assert all(now is not before for now, before in zip(patched, originals, strict=True))
