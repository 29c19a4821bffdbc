"""gunicorn settings read by the Procfile, scripts/run and the benchmarks (`--config gunicorn.conf.py`).

Worker class, counts and the bind address stay on the command line; this file holds the hooks, and
the thread count of gthread workers when the command line gives none. gunicorn also reads this file
by itself when started in the repository without --config.
"""
import gc
import importlib.util
import os
import shlex
import sys


def _load(name: str, path: str):
    """A module loaded from its file: the master must not import the `backend` package (see accept_balance)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


accept_balance = _load("accept_balance", os.path.join(os.path.dirname(os.path.abspath(__file__)), "backend",
                                                       "accept_balance.py"))

# gthread's own default is one thread per worker: the first supervisor's live stream then held it
# and every later request accepted by that worker waited behind the stream (backend/live/slots.py).
# Half of these may be lent to live streams; the other half always serve check-ins and the rest.
# Within DB_POOL_SIZE (20): every thread finds a pooled PostgreSQL connection.
GTHREAD_THREADS = 16


def _command_line(name):
    """A setting as given on gunicorn's command line or in GUNICORN_CMD_ARGS; None when not given."""
    try:
        from gunicorn.config import Config
        parser = Config().parser()
        given = parser.parse_known_args(sys.argv[1:])[0]
        from_env = parser.parse_known_args(shlex.split(os.environ.get("GUNICORN_CMD_ARGS", "")))[0]
    except (Exception, SystemExit):  # noqa: BLE001 — not started by gunicorn's CLI: no threads default
        return None
    value = getattr(given, name, None)
    return value if value is not None else getattr(from_env, name, None)


# Only for gthread: `threads` > 1 would also turn a requested sync worker into gthread, and gevent
# ignores it. An explicit --threads (even 1) wins, being read after this file.
if str(_command_line("worker_class") or "").rsplit(".", 1)[-1] in ("gthread", "ThreadWorker") \
        and _command_line("threads") is None:
    threads = GTHREAD_THREADS


# Least connections at accept time between gevent workers (the master's hooks; the worker's is below).
pre_fork = accept_balance.pre_fork
child_exit = accept_balance.child_exit


def post_worker_init(worker):
    """Tune a freshly loaded worker: open its database pool, freeze the app's objects, spread accepts."""
    app = worker.wsgi
    if hasattr(app, "app_context"):
        from backend.db_setup import warm_pool
        from backend.live.slots import record_worker_threads
        warm_pool(app)
        # How many requests this process runs at once, so live streams never take all of them.
        kind = type(worker).__name__
        if kind == "ThreadWorker":
            record_worker_threads(app, worker.cfg.threads)
        elif kind == "SyncWorker":
            record_worker_threads(app, 1)
        elif type(worker).__module__.endswith(("ggevent", "geventlet")):
            record_worker_threads(app, None)  # a greenlet per request: a stream holds no thread
    # Without the freeze every full collection walks the ~180,000 long-lived objects of the app
    # (SQLAlchemy metadata, schemas, the OpenAPI spec) and stalls all of a worker's requests for
    # 100-200 ms on a 2-core machine: that was the check-in p99. Frozen, it takes a few ms.
    gc.collect()
    gc.freeze()
    # A SQLite app under gevent takes turns between its connections before each request (pre_request).
    worker.yield_each_request = type(worker).__module__.endswith("ggevent") and str(
        getattr(app, "config", {}).get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite")
    # A gevent worker takes its even share of a burst of keep-alive clients, not all it can (accept_balance).
    accept_balance.install_in(worker)


def pre_request(worker, req):
    """On SQLite under gevent, let the worker's other connections run before each request is handled.

    SQLite calls never yield to gevent's loop, and a keep-alive client whose next request is already in the
    socket is read without yielding either: one connection could keep the worker to itself while the others
    waited for seconds (32 clients, 2 workers: p50 8 ms, p99 4.4 s). One switch per request takes turns
    (p50 53 ms, p99 0.97 s, same throughput; bench/README.md). PostgreSQL's driver yields on every
    query under gevent already, so there the switch is left out.
    """
    if getattr(worker, "yield_each_request", False):  # decided once, in post_worker_init
        import gevent
        gevent.sleep(0)
