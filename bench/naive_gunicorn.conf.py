"""gunicorn settings of the naive baseline (bench/naive_checkin_app.py): the same server-level tuning the
product's gunicorn.conf.py gives its workers, so the comparison is about the request path alone.

Opens the database pool before taking requests, freezes the loaded objects out of the cyclic garbage
collector, has gevent accept one connection per wake-up and closes a keep-alive connection after 25 requests
(spreading keep-alive clients between workers).
"""
import gc

KEEPALIVE_REQUESTS = 25  # as the product's gunicorn.conf.py: recycle keep-alive connections


def pre_request(worker, req):
    """Close a keep-alive connection after KEEPALIVE_REQUESTS requests, as the product does."""
    if req.req_number >= KEEPALIVE_REQUESTS:
        req.must_close = True


def post_worker_init(worker):
    """Warm the pool, freeze the loaded objects, accept one connection at a time under gevent."""
    app = worker.wsgi
    from bench.naive_checkin_app import db
    if str(app.config["SQLALCHEMY_DATABASE_URI"]).startswith("postgresql"):
        with app.app_context():
            conns = [db.engine.connect() for _ in range(app.config["SQLALCHEMY_ENGINE_OPTIONS"]["pool_size"])]
            for conn in conns:
                conn.exec_driver_sql("SELECT 1")
                conn.close()
    gc.collect()
    gc.freeze()
    if type(worker).__module__.endswith("ggevent"):
        from gevent.baseserver import BaseServer
        BaseServer.max_accept = 1
