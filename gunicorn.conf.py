"""gunicorn settings read by the Procfile, scripts/run and the benchmarks (`--config gunicorn.conf.py`).

Worker class, counts and the bind address stay on the command line; this file holds the hooks.
"""
import gc


def post_worker_init(worker):
    """Tune a freshly loaded worker: open its database pool, freeze the app's objects, spread accepts."""
    app = worker.wsgi
    if hasattr(app, "app_context"):
        from backend.db_setup import warm_pool
        warm_pool(app)
    # Without the freeze every full collection walks the ~180,000 long-lived objects of the app
    # (SQLAlchemy metadata, schemas, the OpenAPI spec) and stalls all of a worker's requests for
    # 100-200 ms on a 2-core machine: that was the check-in p99. Frozen, it takes a few ms.
    gc.collect()
    gc.freeze()
    if type(worker).__module__.endswith("ggevent"):
        # gevent's server accepts up to 100 pending connections per wake-up, so one worker can take
        # most of a burst of keep-alive clients (28 of 32 seen) while the other idles. One at a time
        # gives the other worker a chance at each; it does not guarantee an even split (25/7 was
        # still seen when a worker was descheduled during the burst).
        from gevent.baseserver import BaseServer
        BaseServer.max_accept = 1
