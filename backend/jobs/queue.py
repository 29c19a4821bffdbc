"""The Huey instance, built from the environment at import: Redis when REDIS_URL is set, else an SQLite file.

Web processes (to enqueue) and the worker (to consume) import the same module, so both agree on the
storage. The SQLite file is only opened on first use: importing the app (the CLI, gunicorn's master
before it forks, the test suite) never creates it or shares its connection across a fork.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from huey import Huey, RedisHuey
from huey.storage import SqliteStorage

DEFAULT_QUEUE = "peixunquan"


class LazySqliteStorage(SqliteStorage):
    """Huey's SQLite storage, creating its directory, file and tables on the first connection."""

    def __init__(self, name: str = "huey", filename: str = "huey.db", **kwargs):
        kwargs["create_tables"] = False
        super().__init__(name, filename=filename, **kwargs)

    def _create_connection(self):
        Path(self.filename).parent.mkdir(parents=True, exist_ok=True)
        conn = super()._create_connection()
        for statement in self.ddl:  # every statement is "if (not) exists": safe on each new connection
            conn.execute(statement)
        return conn


def jobs_db_path(env: Mapping[str, str]) -> str:
    """JOBS_DB, else jobs.db in the instance folder (INSTANCE_PATH, else <repo>/instance), like create_app()."""
    if env.get("JOBS_DB"):
        return env["JOBS_DB"]
    from .. import REPO
    return str(Path(env.get("INSTANCE_PATH") or REPO / "instance") / "jobs.db")


def build_huey(env: Mapping[str, str]) -> Huey:
    """A Huey on REDIS_URL if set, else on the SQLite file of jobs_db_path(); queue name JOBS_QUEUE."""
    name = env.get("JOBS_QUEUE") or DEFAULT_QUEUE
    # results=False: jobs keep their outcome in the application's tables, nobody waits on a result,
    # and stored results would pile up. utc=True: schedules and crontabs are read in UTC.
    if env.get("REDIS_URL"):
        return RedisHuey(name, url=env["REDIS_URL"], results=False, utc=True)
    return Huey(name, results=False, utc=True, storage_class=LazySqliteStorage, filename=jobs_db_path(env))


def describe(instance: Huey) -> str:
    """Where a Huey keeps its queue, for log lines (no credentials)."""
    storage = instance.storage
    if isinstance(storage, SqliteStorage):
        return f"sqlite:{storage.filename} queue {instance.name}"
    kwargs = storage.pool.connection_kwargs if hasattr(storage, "pool") else {}
    return f"{type(storage).__name__} {kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)} " \
           f"queue {instance.name}"


huey = build_huey(os.environ)
