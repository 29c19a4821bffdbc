"""Shared by the bench scripts: a one-line machine description and writing one section of bench/README.md."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


def machine(with_postgres: bool = False) -> str:
    """CPU count and model, Python (and the PostgreSQL client) version."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [f"{os.cpu_count()} CPUs ({cpu})"]
    if with_postgres and shutil.which("psql"):
        parts.append(subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip())
    parts.append(f"Python {sys.version.split()[0]}")
    return "; ".join(parts)


def reset_pg(url: str) -> bool:
    """Create (if needed) and empty a bench's own PostgreSQL database; False when PostgreSQL is not reachable."""
    try:
        import psycopg
    except ImportError:
        return False
    base, _, name = url.rpartition("/")
    if name in ("test", "postgres", "bench", ""):
        raise SystemExit(f"refusing to reset database {name!r}: use a dedicated one")
    try:
        with psycopg.connect(f"{base}/postgres", autocommit=True, connect_timeout=3) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL not available ({exc}); skipping it")
        return False
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return True


def analyze(db_url: str) -> None:
    """Refresh PostgreSQL's planner statistics, as autovacuum would (it may be off on a test server)."""
    if not db_url.startswith("postgresql"):
        return
    import psycopg
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute("ANALYZE")


def backend_cpu_s(pid: int) -> float | None:
    """CPU seconds a local process has run so far (/proc/PID/schedstat, nanoseconds); None when unreadable."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class PgCpu:
    """Server CPU used between start() and stop(), per backend pid (connections opened meanwhile count from 0)."""

    def __init__(self, db_url: str):
        self.db_url = db_url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.before: dict[int, float] | None = None

    def snapshot(self) -> dict[int, float] | None:
        """CPU seconds per backend of this database right now (None on SQLite or another host)."""
        if not self.db_url.startswith("postgresql"):
            return None
        import psycopg
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            pids = [r[0] for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                               "AND pid <> pg_backend_pid()").fetchall()]
        out = {}
        for pid in pids:
            cpu = backend_cpu_s(pid)
            if cpu is None:
                return None
            out[pid] = cpu
        return out

    def start(self) -> None:
        """Remember every backend's CPU time."""
        self.before = self.snapshot()

    def stop(self) -> float | None:
        """Server CPU seconds since start()."""
        after = self.snapshot()
        if after is None or self.before is None:
            return None
        return sum(cpu - self.before.get(pid, 0.0) for pid, cpu in after.items())


def write_section(section: str, text: str) -> None:
    """Replace (or append) the `section` heading's part of bench/README.md, leaving the others alone."""
    current = README.read_text() if README.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _m: text.rstrip("\n") + "\n\n", current).rstrip("\n") + "\n"
    else:
        updated = current.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    README.write_text(updated)
