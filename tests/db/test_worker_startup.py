"""gunicorn worker start-up (gunicorn.conf.py): the pool is opened, the app's objects frozen, accepts spread."""
from __future__ import annotations

import gc
import runpy
from pathlib import Path
from types import SimpleNamespace

from backend.db_setup import warm_pool
from backend.extensions import db

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
