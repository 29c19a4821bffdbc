"""Background jobs on Huey: the queue, running bodies in the app, declaring sweeps, leases on due rows.

Durability lives in the application's database, not in the queue: a job is an idempotent sweep over
rows that are due, so a lost queue message (Huey's SQLite storage deletes a task when a worker takes
it) costs nothing: the next scheduled run, or the worker's start-up run, finds the rows again.
The product's sweeps are declared in backend/jobs/sweeps.py; `flask --app backend worker` runs them.
"""
from .context import bind_app, in_app, is_transient
from .enqueue import enqueue_after_commit
from .lease import claim, finish, sweep_due
from .queue import huey
from .registry import SWEEPS, enqueue_sweeps, load_sweeps, shanghai_daily, sweep, task

__all__ = ["SWEEPS", "bind_app", "claim", "enqueue_after_commit", "enqueue_sweeps", "finish", "huey", "in_app",
           "is_transient", "load_sweeps", "shanghai_daily", "sweep", "sweep_due", "task"]
