"""Where a 500-event kiosk upload spends its time on the server, with face crops, per step of ingest.

Run: .venv/bin/python bench/kiosk_ingest_profile.py [--events 10000] [--backends sqlite,postgres] [--cprofile]

In-process (Flask test client, no gunicorn, no network), one database per scenario, each seeded as
bench/kiosk_sync_bench.py seeds it: everyone's check-in then everyone's check-out (events/500
signed batches of 500) go to POST /api/v1/device/events, the scenarios' batches interleaved
(batch 1 of each, then batch 2 of each, ...) so load from elsewhere falls on all alike:
- `typical` and `all-flagged`: face events with their 7 KB crop, as in kiosk_sync_bench.py;
- `no-crop`: the same events proven by card + PIN: no crop, no face, no burst check, nothing
  stored but the events. The reference for what the crops add.
Timers wrap the product's functions from outside (nothing in backend/ is changed): device
authentication, ingest and its steps (_parse, _judge with trust.decode_face_crop, _flag, _store,
_after_store with evidence.store and evidence.mark_people_due, _publish), the AES-GCM encryption of
the crops, and the final commit; every SQL statement is timed through SQLAlchemy's cursor events.
On PostgreSQL `ANALYZE` runs after the warm-up, as autovacuum would (off on this machine's test server);
--stale-plans leaves it out. Prints medians per batch; nothing is written to bench/README.md.
"""
from __future__ import annotations

import argparse
import cProfile
import functools
import gc
import io
import json
import os
import pstats
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.kiosk_sync_bench import (  # noqa: E402
    BATCH,
    LESSON_TAIL,
    SCENARIOS,
    Timeline,
    bind_phones,
    both_kinds,
    make_events,
    set_pins,
    stretch_lessons,
)
from bench.report import PgCpu, analyze, backend_cpu_s, reset_pg  # noqa: E402
from tests.kiosk.live_server import PersonSpec, id_number_for, make_app, seed_site  # noqa: E402

DEFAULT_PG_BASE = "postgresql://postgres@127.0.0.1:5432/kiosk_profile"


class Timers:
    """Seconds per named step, accumulated for the batch in flight and kept per batch."""

    def __init__(self):
        self.current: dict[str, float] = defaultdict(float)
        self.sql: dict[str, list[float]] = defaultdict(lambda: [0.0, 0, 0.0])
        self.depth: dict[str, int] = defaultdict(int)

    def wrap(self, owner, name: str, label: str) -> None:
        """Replace owner.name with a timed wrapper (recursive calls are counted once)."""
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            self.depth[label] += 1
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                self.depth[label] -= 1
                if self.depth[label] == 0:
                    self.current[label] += time.perf_counter() - t0

        setattr(owner, name, timed)

    def take(self) -> dict[str, float]:
        """The finished batch's steps; starts a new batch."""
        out, self.current = dict(self.current), defaultdict(float)
        return out


def statement_key(sql: str) -> str:
    """A short, stable name for a SQL statement: verb and table, plus the WHERE columns of a SELECT."""
    flat = re.sub(r"\s+", " ", sql).strip()
    verb = flat.split(" ", 1)[0].upper()
    if verb == "INSERT":
        return "INSERT " + re.search(r"INSERT INTO (\S+)", flat).group(1)
    if verb == "UPDATE":
        return "UPDATE " + flat.split(" ")[1]
    if verb == "DELETE":
        return "DELETE " + re.search(r"FROM (\S+)", flat).group(1)
    if verb == "SELECT":
        table = re.search(r"FROM (\S+)", flat)
        where = re.findall(r"(\w+\.\w+) (?:IN|=|BETWEEN|<|>|IS)", flat.split(" WHERE ", 1)[1]) if " WHERE " in flat else []
        return f"SELECT {table.group(1) if table else '?'} by {', '.join(dict.fromkeys(where)) or '-'}"
    return verb


def install(timers: Timers) -> None:
    """Wrap the product's functions and SQLAlchemy's statement and commit paths with timers (once per process)."""
    if getattr(install, "done", False):
        return
    install.done = True
    gc_started: list[float] = []

    def gc_timer(phase: str, info: dict) -> None:
        if phase == "start":
            gc_started.append(time.perf_counter())
        elif gc_started:
            timers.current["garbage collection (all generations)"] += time.perf_counter() - gc_started.pop()

    gc.callbacks.append(gc_timer)
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from backend.domain import trust
    from backend.security import crypto
    from backend.security import devices as device_auth
    from backend.services import device_events, evidence

    timers.wrap(device_auth, "device_actor", "auth (signature over the body, nonce, commit)")
    timers.wrap(device_events, "ingest", "ingest")
    timers.wrap(device_events, "_parse", "ingest: _parse (per event)")
    timers.wrap(device_events, "_judge", "ingest: _judge (per event)")
    timers.wrap(trust, "decode_face_crop", "ingest: _judge: decode_face_crop (base64, markers)")
    timers.wrap(device_events, "_flag", "ingest: _flag (person facts, burst query)")
    timers.wrap(device_events, "_store", "ingest: _store (attendance INSERT)")
    timers.wrap(device_events, "_after_store", "ingest: _after_store")
    timers.wrap(evidence, "store", "ingest: _after_store: evidence.store")
    timers.wrap(crypto.DataVault, "encrypt", "ingest: _after_store: evidence.store: AES-GCM")
    timers.wrap(evidence, "mark_people_due", "ingest: _after_store: mark_people_due")
    timers.wrap(device_events, "_publish", "ingest: _publish (live rows)")
    timers.wrap(Session, "commit", "commits (the nonce's, in auth, and the upload's)")
    try:  # psycopg's client side of a statement: SQL text conversion (not cached above 50 parameters), parameter dumping
        from psycopg import _queries
        timers.wrap(_queries.PostgresQuery, "convert", "SQL: psycopg converts the query text (client)")
        timers.wrap(_queries.PostgresQuery, "dump", "SQL: psycopg dumps the parameters (client)")
    except (ImportError, AttributeError):
        pass

    def server_pid(conn) -> int | None:
        raw = conn.connection.dbapi_connection
        return raw.info.backend_pid if hasattr(raw, "info") and hasattr(raw.info, "backend_pid") else None

    @event.listens_for(Engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        pid = server_pid(conn)
        conn.info.setdefault("bench_t0", []).append((time.perf_counter(), pid and backend_cpu_s(pid)))

    @event.listens_for(Engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        t0, cpu0 = conn.info["bench_t0"].pop()
        elapsed = time.perf_counter() - t0
        key = statement_key(statement)
        timers.current["SQL (all statements)"] += elapsed
        timers.sql[key][0] += elapsed
        timers.sql[key][1] += 1
        if cpu0 is not None:
            timers.sql[key][2] += backend_cpu_s(server_pid(conn)) - cpu0


class Scenario:
    """One database seeded for one scenario, its signed batches, and its figures per batch."""

    def __init__(self, name: str, db_url: str, events_n: int):
        from backend.extensions import db
        from backend.models import Device
        from backend.security.crypto import vault
        from backend.security.devices import SECRET_CONTEXT

        self.name, self.db_url = name, db_url
        spacing_s, bound, face = SCENARIOS[name]
        self.app = make_app(db_url)
        self.app.config["TESTING"] = True
        with self.app.app_context():
            db.create_all()
            db.session.remove()
        n_people = events_n // 2
        seeded = seed_site(self.app, [PersonSpec(f"学员{i}", id_number_for(i), face=[0.01] * 128)
                                      for i in range(n_people)], lessons=2)
        people = sorted(seeded.person_ids.values())
        now = datetime.now(UTC)
        timeline = Timeline(now, spacing_s, [min(400, n_people), n_people, n_people])
        stretch_lessons(self.app, seeded.lesson_ids, timeline.start - timedelta(minutes=1), now + LESSON_TAIL)
        if bound:
            bind_phones(self.app, people)
        sealer = None if face else set_pins(self.app, people)
        self.secret = "profile-device-secret-0123456789abcdef"
        with self.app.app_context():
            device = Device(institution_id=seeded.institution_id, site_id=seeded.site_id, name="1号机",
                            secret_enc=vault().encrypt_text(self.secret, SECRET_CONTEXT), status="active",
                            created_at=now, activated_at=now)
            db.session.add(device)
            db.session.commit()
            self.device_id = device.id
            db.session.remove()
        if sealer is not None:
            sealer.device_id = self.device_id
        self.warm = make_events(people[:400], seeded.lesson_ids[0], "check_in", timeline.take(min(400, n_people)), face,
                                sealer)
        self.events = both_kinds(people, seeded.lesson_ids[1], timeline, face, sealer)
        analyze(db_url)
        self.client = self.app.test_client()
        self.steps: list[dict[str, float]] = []
        self.totals: list[float] = []
        self.bytes = 0
        self.server = PgCpu(db_url)
        self.server_cpu: float | None = None

    def post(self, events: list[dict]) -> float:
        """POST one signed batch; returns the seconds the request took (all receipts must be accepted)."""
        from backend.domain.device_signature import signature_headers

        path = "/api/v1/device/events"
        body = json.dumps({"events": events}, ensure_ascii=False, separators=(",", ":")).encode()
        self.bytes = len(body)
        headers = signature_headers(str(self.device_id), self.secret, "POST", path, body, time.time())
        t0 = time.perf_counter()
        resp = self.client.post(path, data=body, headers={**headers, "Content-Type": "application/json"})
        elapsed = time.perf_counter() - t0
        assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
        statuses = {r["status"] for r in resp.get_json()["results"]}
        assert statuses == {"accepted"}, resp.get_json()["results"][:3]
        return elapsed

    def batches(self) -> list[list[dict]]:
        """The timed batches of 500."""
        return [self.events[i:i + BATCH] for i in range(0, len(self.events), BATCH)]


def report(scenarios: list[Scenario], timers_sql: dict[str, dict[str, list[float]]], kind: str) -> str:
    """Markdown tables: median ms per batch per step and scenario, then the SQL statements."""
    names = [s.name for s in scenarios]
    labels: list[str] = []
    for s in scenarios:
        for step in s.steps:
            for label in step:
                if label not in labels:
                    labels.append(label)
    order = ["request (test client, whole)"] + sorted(lbl for lbl in labels if lbl != "SQL (all statements)") + \
        ["SQL (all statements)"]
    lines = [f"{kind}: median ms per {BATCH}-event batch ({len(scenarios[0].steps)} batches per scenario; "
             f"body {', '.join(f'{s.name} {s.bytes / 1e6:.2f} MB' for s in scenarios)})", "",
             "| step | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for label in order:
        cells = []
        for s in scenarios:
            values = s.totals if label == "request (test client, whole)" else [st.get(label, 0.0) for st in s.steps]
            cells.append(f"{statistics.median(values) * 1000:.1f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    server = []
    for s in scenarios:
        if s.server_cpu is not None:
            server.append(f"{s.name} {s.server_cpu / len(s.steps) * 1000:.1f}")
    if server:
        lines.append("")
        lines.append("PostgreSQL server CPU per batch (ms, from /proc): " + ", ".join(server))
    lines += ["", f"{kind}: SQL statements, ms per batch (mean) and executions per batch"
              + (", then the server backend's CPU ms in them (/proc schedstat)" if kind == "PostgreSQL" else ""), "",
              "| statement | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    keys = sorted({k for s in scenarios for k in timers_sql[s.name]},
                  key=lambda k: -max(timers_sql[s.name].get(k, [0, 0])[0] for s in scenarios))
    for key in keys:
        cells = []
        for s in scenarios:
            total, count, server = timers_sql[s.name].get(key, [0.0, 0, 0.0])
            n = len(s.steps)
            cell = f"{total / n * 1000:.1f} ({count / n:.0f})" if count else "—"
            if count and kind == "PostgreSQL":
                cell += f", server {server / n * 1000:.1f}"
            cells.append(cell)
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


TIMERS = Timers()


def run(kind: str, urls: dict[str, str], events_n: int, use_cprofile: bool, stale_plans: bool = False) -> str:
    """Seed every scenario, post the batches interleaved, return the report."""
    timers = TIMERS
    install(timers)
    scenarios = []
    for name, url in urls.items():
        print(f"[{kind}] seeding {name} ...", flush=True)
        scenarios.append(Scenario(name, url, events_n))
    sql_by_scenario: dict[str, dict[str, list[float]]] = {s.name: defaultdict(lambda: [0.0, 0, 0.0])
                                                          for s in scenarios}
    # As gunicorn.conf.py does after loading the app: what exists now (the app, and here also the
    # prepared batches) is left out of later collections, so a collection costs what a worker's would.
    gc.collect()
    gc.freeze()
    for s in scenarios:  # warm-up: SQL caches, lazy imports (kept out of the per-batch steps)
        for i in range(0, len(s.warm), 50):
            s.post(s.warm[i:i + 50])
        if not stale_plans:
            analyze(s.db_url)  # as autovacuum would: plans cached during the warm-up are made again
        timers.take()
        timers.sql.clear()
    profiler = cProfile.Profile() if use_cprofile else None
    batches = {s.name: s.batches() for s in scenarios}
    for s in scenarios:
        s.server.start()
    for i in range(len(batches[scenarios[0].name])):
        for s in scenarios:
            if profiler and s.name == "all-flagged":
                profiler.enable()
            elapsed = s.post(batches[s.name][i])
            if profiler:
                profiler.disable()
            s.totals.append(elapsed)
            s.steps.append(timers.take())
            for key, (total, count, server) in timers.sql.items():
                sql_by_scenario[s.name][key][0] += total
                sql_by_scenario[s.name][key][1] += count
                sql_by_scenario[s.name][key][2] += server
            timers.sql.clear()
    for s in scenarios:
        s.server_cpu = s.server.stop()
    text = report(scenarios, sql_by_scenario, kind)
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
        text += f"\n\ncProfile of the all-flagged batches ({kind}), top 25 by own time:\n" + out.getvalue()
    from backend.extensions import db
    for s in scenarios:
        with s.app.app_context():
            db.engine.dispose()
    return text


def main(argv: list[str] | None = None) -> int:
    """Run and print."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000, help="events per scenario (check-ins + check-outs)")
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--pg-base", default=DEFAULT_PG_BASE, help="PostgreSQL URL prefix: one database per scenario")
    ap.add_argument("--cprofile", action="store_true", help="also print a cProfile of the all-flagged batches")
    ap.add_argument("--stale-plans", action="store_true",
                    help="no ANALYZE after the warm-up (PostgreSQL keeps the plans it made for near-empty tables)")
    args = ap.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="kiosk-ingest-profile-"))
    os.environ.setdefault("INSTANCE_PATH", str(workdir / "instance"))
    os.environ.pop("REDIS_URL", None)  # as the sync bench's server: nonces in the database
    names = list(SCENARIOS)
    out = []
    for kind in args.backends.split(","):
        if kind == "sqlite":
            urls = {n: f"sqlite:///{workdir / f'profile-{i}.db'}" for i, n in enumerate(names)}
            out.append(run("SQLite", urls, args.events, args.cprofile, args.stale_plans))
        elif kind == "postgres":
            urls = {n: f"{args.pg_base}_{i}" for i, n in enumerate(names)}
            if all(reset_pg(u) for u in urls.values()):
                out.append(run("PostgreSQL", urls, args.events, args.cprofile, args.stale_plans))
    print()
    print("\n\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
