"""Declaring jobs in one place: `@sweep(name, schedule)` for periodic sweeps, `@task()` for queued work.

Every body runs in the app (backend.jobs.context.in_app) as one unit of work. Transient errors
(database or broker unreachable, locked, serialisation failure) are retried by Huey after a delay;
anything else is logged with its traceback and not retried, because the next scheduled run
re-drives whatever is still due.
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from huey import crontab
from huey.api import TaskWrapper
from huey.exceptions import CancelExecution, TaskLockedException

from ..clock import now
from .context import in_app, is_transient
from .queue import huey

log = logging.getLogger(__name__)

RETRIES = 3
RETRY_DELAY_S = 30
RETRY_BACKOFF = 2  # 30 s, 60 s, 120 s
SHANGHAI_UTC_OFFSET_H = 8  # Asia/Shanghai has no daylight saving time
SWEEP_MODULES = ("backend.jobs.sweeps",)

SWEEPS: dict[str, TaskWrapper] = {}


def shanghai_daily(hour: int, minute: int = 0):
    """A Huey crontab firing every day at hour:minute Asia/Shanghai (our Huey reads its crontabs in UTC)."""
    return crontab(minute=str(minute), hour=str((hour - SHANGHAI_UTC_OFFSET_H) % 24))


def _run(label: str, call, lock):
    """Run `call` in the app under the optional Huey lock, sorting errors into retry / no retry."""
    try:
        if lock is None:
            return in_app(call)
        with lock:
            return in_app(call)
    except TaskLockedException:
        log.info("%s: already running (another worker or thread), skipped", label)
        return None
    except Exception as exc:
        if is_transient(exc):
            log.warning("%s: transient error, Huey retries it: %r", label, exc)
            raise
        log.exception("%s failed; the next scheduled run tries again", label)
        raise CancelExecution(f"{label} failed: {exc!r}", retry=False) from exc


def _named_like(run, body) -> None:
    # Huey registers a task as "<module>.<name>": make it the body's, not this module's.
    run.__module__, run.__name__, run.__qualname__, run.__doc__ = (
        body.__module__, body.__name__, body.__qualname__, body.__doc__)


def sweep(name: str, schedule, *, lock: bool = True, retries: int = RETRIES,
          retry_delay: int = RETRY_DELAY_S) -> Callable:
    """Register `body(now, actor)` as a periodic sweep on `schedule` (a Huey crontab, read in UTC).

    `now` is backend.clock.now() read when the run starts; `actor` is "job:<name>" for audit entries.
    With `lock`, a Huey lock keeps two workers from running the sweep at once (the second skips); a
    lease sweep (backend.jobs.lease) may pass lock=False to let several workers split its rows.
    Returns the Huey task: calling it enqueues a run, `.call_local()` runs it here.
    """
    if name in SWEEPS:
        raise ValueError(f"sweep {name!r} is already registered")

    def decorate(body):
        actor = f"job:{name}"
        # Created now, not per run, so the consumer knows the lock's key and can flush it at start-up.
        task_lock = huey.lock_task(f"sweep:{name}") if lock else None

        def call():
            result = body(now(), actor)
            log.info("%s done: %s", actor, result)
            return result

        def run():
            return _run(actor, call, task_lock)

        _named_like(run, body)
        wrapper = huey.periodic_task(schedule, retries=retries, retry_delay=retry_delay,
                                     retry_backoff=RETRY_BACKOFF, name=body.__name__)(run)
        wrapper.sweep_name = name
        SWEEPS[name] = wrapper
        return wrapper
    return decorate


def task(*, retries: int = RETRIES, retry_delay: int = RETRY_DELAY_S) -> Callable:
    """Register `body(*args, **kwargs)` as a queued Huey task run in the app as one unit of work."""
    def decorate(body):
        label = f"job:{body.__name__}"

        def run(*args, **kwargs):
            return _run(label, lambda: body(*args, **kwargs), None)

        _named_like(run, body)
        return huey.task(retries=retries, retry_delay=retry_delay, retry_backoff=RETRY_BACKOFF,
                         name=body.__name__)(run)
    return decorate


def load_sweeps(extra_modules=()) -> dict[str, TaskWrapper]:
    """Import the modules that declare sweeps (and any extra task modules); returns the registry."""
    for module in (*SWEEP_MODULES, *extra_modules):
        importlib.import_module(module)
    return SWEEPS


def enqueue_sweeps() -> list[str]:
    """Queue one run of every registered sweep: a (re)started worker resumes unfinished work at once."""
    for wrapper in SWEEPS.values():
        wrapper()
    return list(SWEEPS)
