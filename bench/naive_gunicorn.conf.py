"""gunicorn settings of the naive baseline (bench/naive_checkin_app.py): the same server-level tuning the
product's gunicorn.conf.py gives its workers, so the comparison is about the request path alone.

Opens the database pool before taking requests, freezes the loaded objects out of the cyclic garbage
collector, and has each gevent worker take its even share of a burst of connections and step back while a
peer worker holds fewer (spreading keep-alive clients evenly between workers; the product's
backend/accept_balance.py, loaded by path as the product's gunicorn.conf.py does, so nothing else of the
product is imported).
"""
import gc
import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "accept_balance", Path(__file__).resolve().parent.parent / "backend" / "accept_balance.py")
accept_balance = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(accept_balance)
pre_fork = accept_balance.pre_fork
child_exit = accept_balance.child_exit


def post_worker_init(worker):
    """Warm the pool, freeze the loaded objects, spread connections between gevent workers."""
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
    accept_balance.install_in(worker)
