"""`flask --app backend worker [--workers N]`: the background job consumer (Procfile `worker:`).

Runs Huey's consumer on the queue of backend/jobs/queue.py with the product's config, periodic
sweeps on, and one run of every sweep queued at start-up so a restarted worker resumes at once.
SIGTERM stops it gracefully (running tasks get SHUTDOWN_TIMEOUT_S to finish), SIGINT at once;
either way nothing is lost, because the work is state in the database, not in the queue.
"""
from __future__ import annotations

import logging
import os

import click
from flask import current_app
from flask.cli import with_appcontext

log = logging.getLogger("backend.worker")
# Below the usual 30 s a platform waits between SIGTERM and SIGKILL.
SHUTDOWN_TIMEOUT_S = 20


@click.command("worker")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Worker threads running tasks at once.")
@click.option("--include", "modules", multiple=True, metavar="MODULE",
              help="Also import MODULE to register its tasks (repeatable).")
@click.option("--nice", "niceness", type=click.IntRange(min=0, max=19), default=None,
              help="Lower this process's CPU priority by this much (default: WORKER_NICE, 10; 0 keeps it).")
@with_appcontext
def worker_cmd(workers: int, modules: tuple[str, ...], niceness: int | None):
    """Run background jobs: periodic sweeps (voucher expiry, retention, ...) and queued tasks."""
    from ..jobs import bind_app, enqueue_sweeps, huey, load_sweeps
    from ..jobs.queue import describe

    niceness = current_app.config["WORKER_NICE"] if niceness is None else niceness
    if niceness:
        # Beside the web server on one machine, requests come first: the sweeps' work (face re-verification
        # above all) may lag by minutes, a check-in may not. On a machine of its own this changes nothing.
        os.nice(niceness)
    idle = bool(current_app.config["WORKER_SCHED_IDLE"]) and hasattr(os, "SCHED_IDLE")
    if idle:
        # Threads inherit the policy, so Huey's worker threads (started below) run under it too.
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    bind_app(current_app._get_current_object())
    sweeps = load_sweeps(modules)
    # flush_locks: a worker killed while holding a sweep's lock would otherwise keep that sweep off for good
    # (neither SQLite nor Redis before 7.4 gives Huey's locks a TTL). A lock a live worker elsewhere holds
    # goes too; that costs at most one overlapping run, which the idempotent sweeps tolerate.
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True, flush_locks=True,
                                    graceful_signal="TERM", shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    enqueue_sweeps()
    log.info("worker started: pid %s, %s thread(s), nice %s%s, %s, sweeps %s", os.getpid(), workers, os.nice(0),
             ", SCHED_IDLE" if idle else "", describe(huey), ", ".join(sweeps))
    try:
        consumer.run()
    finally:
        bind_app(None)
    log.info("worker stopped")


commands = [worker_cmd]
