"""Check-in throughput: the product's POST /api/v1/attendance against a standalone naive app, same run.

Run from a clean checkout: `scripts/bootstrap && .venv/bin/python bench/checkin_bench.py`
(needs `wrk` for the closed-loop part, `apt-get install wrk`, and PostgreSQL at BENCH_DATABASE_URL,
default postgresql://postgres@127.0.0.1:5432/bench_checkin; --databases sqlite runs without it).

Per database (PostgreSQL, then SQLite):
1. Resets a dedicated database and seeds, through the product itself, one site, one approved plan with
   lessons open for check-in now and `--trainees` enrolled trainees with access tokens.
2. Runs gunicorn servers with the Procfile's shape (gevent, `--workers` workers, 1000 connections
   each), one at a time, each warmed up after its start: the product exactly as the Procfile runs it (`backend:create_app()`, its
   gunicorn.conf.py, rate limits and access log on: the defaults), and the naive baseline
   (bench/naive_checkin_app.py: Flask + Flask-SQLAlchemy's default session + PyJWT + geographiclib,
   one table, one insert) with the same server tuning (bench/naive_gunicorn.conf.py).
3. Closed loop: wrk with `--clients` keep-alive connections replays prepared request lines
   (bench/wrk_prepared.lua: every line a distinct trainee, (trainee, lesson) pair and event id, the
   same lines for both servers, formatted before the clock starts), in rounds that alternate between
   the two servers (ABBA order) so the machine's noise hits both.
4. Open loop (`--storm-rate` req/s for `--storm-seconds`): bench/storm.py sends at a constant arrival
   rate without waiting for answers, product then naive, and records the latency distribution.
5. Checks in the database that every product check-in was accepted, prints the figures and writes
   the "Check-in throughput: the bench's own output" section of bench/README.md (--no-readme to skip).
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import random
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.report import README, PgCpu, backend_cpu_s, machine, write_section  # noqa: E402
from bench.storm import raw_request, run_storm  # noqa: E402

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/bench_checkin"
SITE = (26.0785, 119.2965)
RADIUS_M = 200
# The bench rewrites only its own section; the dated findings under "## Check-in throughput" are written by
# hand and stay (a run that rewrote that section would have erased them).
SECTION = "## Check-in throughput: the bench's own output"
LABELS = {"naive": "naive (standalone)", "product": "product", "before": "product before (`--before`)"}
PATHS = {"product": "/api/v1/attendance", "before": "/api/v1/attendance", "naive": "/checkin"}


def reset_postgres(url: str) -> None:
    """Create the bench database if needed and empty its public schema."""
    import psycopg
    base, _, name = url.rpartition("/")
    if name in ("test", "postgres", ""):
        raise SystemExit(f"refusing to reset database {name!r}: use a dedicated bench database")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS public CASCADE")
        conn.execute("CREATE SCHEMA public")


def seed(env: dict, trainees: int, lessons: int) -> dict:
    """Schema and data through the product itself; the trainees' access tokens and the lesson ids."""
    os.environ.update(env)
    from backend import create_app
    from backend.domain.identity import id_check_digit
    from backend.extensions import db
    from backend.models import Enrollment, Institution, Lesson, Site, TrainingPlan, WechatAccount
    from backend.security import tokens
    from backend.services import persons, policies

    app = create_app({"ACCESS_LOG": False})
    now = datetime.now(UTC)
    with app.app_context():
        db.create_all()
        inst = Institution(name="基准测试培训学校", credit_code="91350100M000100Y43", region_code="350102",
                           kind="training_org", status="approved", created_at=now)
        db.session.add(inst)
        db.session.flush()
        site = Site(institution_id=inst.id, name="基准实训基地", address="福州市鼓楼区", lat=SITE[0], lon=SITE[1],
                    radius_m=RADIUS_M, created_at=now)
        plan = TrainingPlan(institution_id=inst.id, region_code="350102", title="基准培训", occupation_code="4-03-02-01",
                            plan_type="pre_job", delivery="offline", starts_on=now.date(),
                            ends_on=now.date() + timedelta(days=30), status="in_progress", created_at=now)
        db.session.add_all([site, plan])
        db.session.flush()
        policies.snapshot(plan, now)  # as submission does: the plan carries the policy in force
        # Open for check-in now (the window opens 30 min before the start) and for the next hours.
        starts = now + timedelta(minutes=10)
        rows = [Lesson(plan_id=plan.id, title=f"第{i + 1}课", mode="offline", starts_at=starts,
                       ends_at=starts + timedelta(hours=3), class_hours=Decimal(4), site_id=site.id)
                for i in range(lessons)]
        db.session.add_all(rows)
        db.session.flush()
        lesson_ids = [lesson.id for lesson in rows]
        people = []
        for i in range(trainees):
            first17 = "350102" + (datetime(1960, 1, 1) + timedelta(days=i)).strftime("%Y%m%d") + f"{i % 1000:03d}"
            people.append(persons.new_person(f"学员{i}", first17 + id_check_digit(first17), now, None, []))
        db.session.add_all(people)
        db.session.flush()
        accounts = [WechatAccount(openid=f"bench-{i}", person_id=p.id, created_at=now, bound_at=now)
                    for i, p in enumerate(people)]
        db.session.add_all(accounts)
        db.session.add_all([Enrollment(plan_id=plan.id, person_id=p.id, status="active", created_at=now)
                            for p in people])
        db.session.flush()
        token_list = [tokens.issue_pair(f"w:{a.id}", "trainee", now, {"pid": a.person_id})["access_token"]
                      for a in accounts]
        db.session.commit()
        db.engine.dispose()
    return {"tokens": token_list, "lessons": lesson_ids, "pairs": trainees * lessons, "client_time": now.isoformat()}


class Lines:
    """Prepared check-ins: line i is trainee i mod T at lesson i div T, so neighbours are distinct people
    and no (trainee, lesson) pair repeats until all are used."""

    def __init__(self, seeded: dict):
        self.seeded = seeded
        self.next = 0
        self.rng = random.Random(17)

    def give_back(self, taken: int, used: int, margin: int) -> None:
        """Return the last `taken` lines except the `used` ones and a `margin` that may have been sent too
        (wrk formats up to one request per connection more than it counts), so no line is used twice."""
        self.next -= taken - min(taken, used + margin)

    def take(self, count: int) -> list[tuple[str, str]]:
        """The next `count` (token, JSON body) pairs."""
        tokens, lessons = self.seeded["tokens"], self.seeded["lessons"]
        if self.next + count > self.seeded["pairs"]:
            raise SystemExit("ran out of (trainee, lesson) pairs: raise --trainees/--lessons")
        out = []
        for i in range(self.next, self.next + count):
            # Each phone a little apart (up to ~50 m), as real phones in one room are.
            body = {"event_id": str(uuid.UUID(int=self.rng.getrandbits(128), version=4)),
                    "lesson_id": lessons[i // len(tokens)], "kind": "check_in",
                    "lat": round(SITE[0] + (self.rng.random() - 0.5) * 0.0008, 7),
                    "lon": round(SITE[1] + (self.rng.random() - 0.5) * 0.0008, 7),
                    "accuracy_m": 12.5, "coord_sys": "wgs84", "client_time": self.seeded["client_time"]}
            out.append((tokens[i % len(tokens)], json.dumps(body, separators=(",", ":"))))
        self.next += count
        return out


def _wait_healthy(proc: subprocess.Popen, port: int, path: str, log: Path) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"gunicorn did not start; see {log}:\n{log.read_text()[-2000:]}")


def start_server(which: str, env: dict, port: int, args, log: Path, tree: Path = REPO) -> subprocess.Popen:
    """gunicorn for the product (Procfile command) or the naive app, with the Procfile's worker shape; from
    `tree`, another checkout (the "before" line, or a scratch tree with changed server tuning)."""
    if which != "naive":
        target, config, health = "backend:create_app()", tree / "gunicorn.conf.py", "/api/v1/healthz"
    else:
        target, config, health = "bench.naive_checkin_app:create_app()", tree / "bench" / "naive_gunicorn.conf.py", \
            "/healthz"
    env = {**env, "PYTHONPATH": str(tree)}
    cmd = [str(REPO / ".venv" / "bin" / "gunicorn"), "--config", str(config), target,
           "--worker-class", args.worker_class, "--workers", str(args.workers), "--worker-connections", "1000",
           "--bind", f"127.0.0.1:{port}", "--timeout", "60"]
    with log.open("a") as out:  # appended: a server started again for a later round keeps the earlier log
        proc = subprocess.Popen(cmd, cwd=tree, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    _wait_healthy(proc, port, health, log)
    return proc


def stop_server(proc: subprocess.Popen) -> None:
    """Stop the gunicorn process group we started."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def worker_cpu_s(master: subprocess.Popen) -> float:
    """CPU seconds used so far by the gunicorn master's worker processes."""
    total = 0.0
    for task in Path(f"/proc/{master.pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += backend_cpu_s(int(child)) or 0.0
    return total


def worker_pids(master: subprocess.Popen) -> list[int]:
    """The gunicorn master's worker processes."""
    return [int(c) for task in Path(f"/proc/{master.pid}/task").iterdir() for c in (task / "children").read_text().split()]


def connection_split(master: subprocess.Popen, port: int) -> list[int]:
    """How many established client connections each worker holds on `port`, largest first.

    gunicorn's workers share one listening socket, so which worker takes a keep-alive client is decided at
    accept time; an uneven split (say 20/12) makes the busier worker's clients wait longer and shows in p99.
    """
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "01" and int(cols[1].rsplit(":", 1)[1], 16) == port:  # ESTABLISHED, server side
                inodes.add(cols[9])
    split = []
    for pid in worker_pids(master):
        held = 0
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held += 1
        split.append(held)
    return sorted(split, reverse=True)


def _storm_rates(spec: str, naive_rps: float) -> list[float]:
    """The storm's arrival rates: numbers, or `auto` for 70 % of the naive app's closed-loop throughput
    in this run (what this machine can carry at the moment, with headroom)."""
    rates = []
    for part in spec.split(","):
        part = part.strip()
        if part == "auto":
            rates.append(float(max(10, round(naive_rps * 0.7 / 10) * 10)))
        elif part:
            rates.append(float(part))
    return rates


def _order(servers: list[str], i: int) -> list[str]:
    """Round i's order: forwards, then backwards (ABBA), so no server always runs first or last."""
    return list(servers) if i % 2 == 0 else list(reversed(servers))


def start_py_spy(master: subprocess.Popen, seconds: float, out: Path) -> list[subprocess.Popen]:
    """Sample every worker of a server with py-spy for `seconds` (collapsed stacks, one file per worker)."""
    spy = shutil.which("py-spy") or str(REPO / ".venv" / "bin" / "py-spy")
    return [subprocess.Popen([spy, "record", "--rate", "200", "--duration", str(max(1, round(seconds))),
                              "--format", "raw", "--nonblocking", "--output", f"{out}-{pid}.txt", "--pid", str(pid)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for pid in worker_pids(master)]


class ProcfileShape:
    """The Procfile's web worker shape, for start_server's `args` in the scripts beside this one."""

    worker_class = "gevent"
    workers = 2


def wrk_margin(clients: int) -> int:
    """Lines a wrk run may have sent beyond the requests it counted (Lines.give_back's margin)."""
    return 2 * clients + 16


def warm_up(port: int, which: str, lines: Lines, clients: int, seconds: float, rate: float, url: str,
            workdir: Path) -> dict:
    """A server's warm-up: wrk for `seconds` (statements prepared, pool busy), then ANALYZE.

    Statistics again after the warm-up's check-ins: the plans the new server's connections cached were made
    while attendance_events was empty, and kept walking the growing table through the whole first round
    (PostgreSQL CPU 1.8-2.6 ms per check-in against 0.7-0.8 after the next ANALYZE replanned them). A
    deployment's table is never empty at class time, and autovacuum analyzes it as it grows.
    """
    batch = lines.take(int(seconds * rate) + clients)
    r = run_wrk(port, PATHS[which], batch, clients, seconds, workdir)
    lines.give_back(len(batch), r["requests"], wrk_margin(clients))
    analyze(url)
    return r


def run_wrk(port: int, path: str, lines: list[tuple[str, str]], clients: int, seconds: float, workdir: Path,
            master: subprocess.Popen | None = None) -> dict:
    """One wrk run over prepared lines (one thread: every line is sent at most once); with `master`, also
    how the clients were split between its workers (sampled a second into the run)."""
    file = workdir / "lines.tsv"
    file.write_text("".join(f"{t}\t{b}\n" for t, b in lines))
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
           "-s", str(REPO / "bench" / "wrk_prepared.lua"), f"http://127.0.0.1:{port}", "--",
           str(file), path, f"127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    split = None
    if master is not None and seconds > 2:
        time.sleep(1.0)
        split = connection_split(master, port)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed ({proc.returncode}):\n{out}\n{err}")
    match = re.search(r"BENCH_JSON (\{.*\})", out)
    if not match:
        raise SystemExit(f"unexpected wrk output:\n{out}")
    raw = json.loads(match.group(1))
    return {"requests": raw["requests"], "seconds": raw["duration_us"] / 1e6,
            "errors": raw["non2xx"] + raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
            "p50_ms": raw["p50_us"] / 1000, "p99_ms": raw["p99_us"] / 1000, "max_ms": raw["max_us"] / 1000,
            "split": split}


def _combine(runs: list[dict]) -> dict:
    """Sum requests and time over rounds; latency percentiles are the median of the rounds'."""
    return {"requests": sum(r["requests"] for r in runs), "seconds": sum(r["seconds"] for r in runs),
            "errors": sum(r["errors"] for r in runs),
            "worker_ms": sum(r["worker_s"] for r in runs) * 1000 / max(1, sum(r["requests"] for r in runs)),
            "db_ms": (sum(r["db_s"] for r in runs) * 1000 / max(1, sum(r["requests"] for r in runs))
                      if all(r["db_s"] is not None for r in runs) else None),
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "max_ms": max(r["max_ms"] for r in runs), "rounds": len(runs)}


def analyze(url: str, vacuum: bool = False) -> None:
    """Refresh PostgreSQL's planner statistics, as autovacuum would on tables growing by thousands of
    rows a round (it is off on this machine's test server; a production server runs it by default);
    with `vacuum`, also set the rows' hint bits and visibility map, as autovacuum would have long before
    a class checks in on rows written when its trainees enrolled."""
    if not url.startswith("postgresql"):
        return
    import psycopg
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)" if vacuum else "ANALYZE")


def verify(url: str) -> dict:
    """Accepted and rejected check-ins stored by the product, and the naive app's rows."""
    sql_events = "SELECT accepted, coalesce(reason, ''), count(*) FROM attendance_events GROUP BY 1, 2"
    if url.startswith("postgresql"):
        import psycopg
        with psycopg.connect(url) as conn:
            rows = conn.execute(sql_events).fetchall()
            naive = conn.execute("SELECT count(*) FROM naive_checkins").fetchone()[0]
    else:
        import sqlite3
        path = url[len("sqlite:///"):]
        with sqlite3.connect(path) as conn:
            rows = conn.execute(sql_events).fetchall()
        with sqlite3.connect(str(Path(path).with_name("naive.db"))) as conn:
            naive = conn.execute("SELECT count(*) FROM naive_checkins").fetchone()[0]
    return {"accepted": sum(n for a, _r, n in rows if a), "rejected": {r: n for a, r, n in rows if not a},
            "naive_rows": naive}


def server_envs(url: str, naive_url: str, workdir: Path, pool_size: int, max_overflow: int,
                redis_url: str | None = None) -> tuple[dict, dict]:
    """The product's and the naive app's environments: one signing key (the same tokens work on both) and
    the same pool size. The product's defaults otherwise: rate limits on (memory storage per process
    without REDIS_URL), access log on, log level INFO."""
    key = lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
    secret = key()
    env = {"DATABASE_URL": url, "SECRET_KEY": secret, "DATA_KEY": key(), "ACCESS_TOKEN_MINUTES": "240",
           "INSTANCE_PATH": str(workdir), "UPLOAD_DIR": str(workdir / "uploads"), "JOBS_DB": str(workdir / "jobs.db"),
           "DB_POOL_SIZE": str(pool_size), "DB_MAX_OVERFLOW": str(max_overflow)}
    if redis_url:
        env["REDIS_URL"] = redis_url
    naive_env = {"DATABASE_URL": naive_url, "SECRET_KEY": secret, "JWT_ISSUER": "peixunquan",
                 "NAIVE_SITE": f"{SITE[0]},{SITE[1]},{RADIUS_M}", "DB_POOL_SIZE": str(pool_size),
                 "DB_MAX_OVERFLOW": str(max_overflow)}
    return env, naive_env


def seed_and_analyze(env: dict, trainees: int, lessons: int) -> dict:
    """Seed the bench rows through the product's env, then VACUUM (ANALYZE) them on PostgreSQL.

    Statistics for the freshly seeded tables before the first round: without them the first product round
    planned its check-in read on default estimates and spent 1.0 ms of PostgreSQL CPU per request instead of
    0.6 (a deployment has them: autovacuum analyzes; it is off on this machine's server). VACUUM too, so the
    seeded rows are as a deployment's enrolments would be by class time (hint bits set, pages all-visible),
    rather than have the product's first reads of them pay for that.
    """
    seeded = seed(env, trainees, lessons)
    analyze(env["DATABASE_URL"], vacuum=True)
    return seeded


def bench_database(kind: str, args, workdir: Path) -> dict:
    """Seed, start both servers, run the closed-loop rounds and the storm on one database."""
    if kind == "postgres":
        url = args.database_url
        reset_postgres(url)
        naive_url = url
    else:
        url = f"sqlite:///{workdir / 'product.db'}"
        naive_url = f"sqlite:///{workdir / 'naive.db'}"
    for name in ("REDIS_URL", "RATELIMIT_ENABLED", "ACCESS_LOG", "LOG_LEVEL"):
        os.environ.pop(name, None)
    env, naive_env = server_envs(url, naive_url, workdir, args.pool_size, args.max_overflow, args.redis_url)
    print(f"[{kind}] seeding {args.trainees} trainees x {args.lessons} lessons ...", flush=True)
    seeded = seed_and_analyze(env, args.trainees, args.lessons)
    ports = {"product": args.port, "naive": args.port + 1}
    procs = {}
    lines = Lines(seeded)
    servers = ["naive", "product"] + (["before"] if args.before_tree else [])
    ports["before"] = args.port + 2
    rounds: dict[str, list[dict]] = {which: [] for which in servers}
    storms: dict[str, dict] = {}
    spied: dict[str, tuple] = {}
    if args.py_spy:
        args.py_spy.mkdir(parents=True, exist_ok=True)
    envs = {"product": env, "before": env, "naive": naive_env}

    def use(which: str) -> None:
        """Only one server runs at a time (each opens its full pool on the shared database server):
        stop the other, start this one and warm it up (statements prepared, pool open)."""
        if which in procs:
            return
        for other in list(procs):
            stop_server(procs.pop(other))
        procs[which] = start_server(which, envs[which], ports[which], args, workdir / f"{which}-{kind}.log",
                                    args.before_tree if which == "before" else REPO)
        warm_up(ports[which], which, lines, args.clients, args.warmup, args.max_rate, url, workdir)

    try:
        per_round = args.duration / args.rounds
        schedule = [(which, per_round) for i in range(args.rounds) for which in _order(servers, i)]
        for which, seconds in schedule:
            use(which)
            batch = lines.take(int(seconds * args.max_rate) + args.clients)
            pg_cpu = PgCpu(url)
            pg_cpu.start()
            cpu_before = worker_cpu_s(procs[which])
            spies = (start_py_spy(procs[which], seconds, args.py_spy / f"{kind}-{which}")
                     if args.py_spy and which not in spied else [])
            r = run_wrk(ports[which], PATHS[which], batch, args.clients, seconds, workdir, procs[which])
            for spy in spies:
                spy.wait(timeout=60)
            if spies:
                spied[which] = (sorted(args.py_spy.glob(f"{kind}-{which}-*.txt")), r)
            r["worker_s"] = worker_cpu_s(procs[which]) - cpu_before
            r["db_s"] = pg_cpu.stop()
            lines.give_back(len(batch), r["requests"], wrk_margin(args.clients))
            analyze(url)
            rounds[which].append(r)
            db_ms = f"{r['db_s'] * 1000 / max(1, r['requests']):.2f}" if r["db_s"] is not None else "-"
            print(f"[{kind}] {which:8s} {r['requests'] / r['seconds']:7.0f} req/s  p50 {r['p50_ms']:6.1f} ms  "
                  f"p99 {r['p99_ms']:6.1f} ms  max {r['max_ms']:6.1f} ms  errors {r['errors']}  "
                  f"worker CPU {r['worker_s'] * 1000 / max(1, r['requests']):.2f} ms/req  "
                  f"PostgreSQL CPU {db_ms} ms/req  clients per worker {_split(r)}", flush=True)
            time.sleep(0.5)
        naive_rps = sum(r["requests"] for r in rounds["naive"]) / max(1e-9, sum(r["seconds"] for r in rounds["naive"]))
        for rate in _storm_rates(args.storm_rate, naive_rps) if args.storm_seconds > 0 else []:
            for which in ("product", "naive"):
                use(which)
                n = int(rate * args.storm_seconds)
                raws = [raw_request("127.0.0.1", ports[which], PATHS[which], t, b) for t, b in lines.take(n)]
                s = run_storm("127.0.0.1", ports[which], raws, rate, args.storm_seconds)
                analyze(url)
                storms[(rate, which)] = s
                print(f"[{kind}] storm {which:8s} {s['answered']}/{s['sent']} answered at {rate:.0f}/s  "
                      f"p50 {s['p50_ms']:.1f}  p90 {s['p90_ms']:.1f}  p99 {s['p99_ms']:.1f}  max {s['max_ms']:.1f} ms  "
                      f"errors {s['errors'] or 0}  peak connections {s['peak_connections']}", flush=True)
                time.sleep(1)
    finally:
        for proc in procs.values():
            stop_server(proc)
        if any(r["errors"] for rs in rounds.values() for r in rs) or any(s["errors"] for s in storms.values()):
            kept = Path(tempfile.mkdtemp(prefix=f"checkin-bench-logs-{kind}-"))
            for log in workdir.glob("*.log"):
                shutil.copy(log, kept)
            print(f"[{kind}] errors in this run: the servers' logs are in {kept}", flush=True)
    return {"kind": kind, "rounds": rounds, "results": {w: _combine(rs) for w, rs in rounds.items()},
            "storms": storms, "check": verify(url), "spied": spied}


def _split(r: dict) -> str:
    return "/".join(map(str, r["split"])) if r.get("split") else "-"


def round_ratios(rounds: dict[str, list[dict]]) -> list[float]:
    """The product's req/s over the naive app's, round by round: the two ran back to back in each round,
    so a slow spell of the shared machine hits both sides of one ratio rather than one side of the total."""
    return [(p["requests"] / p["seconds"]) / (n["requests"] / n["seconds"])
            for p, n in zip(rounds.get("product", []), rounds.get("naive", []), strict=False)
            if p["seconds"] > 0 and n["seconds"] > 0 and n["requests"] > 0]


def _spread(ratios: list[float]) -> str:
    if not ratios:
        return "-"
    return (f"median {statistics.median(ratios):.2f}x, {sum(r >= 1.0 for r in ratios)} of {len(ratios)} rounds "
            f">= 1.0x, range {min(ratios):.2f}-{max(ratios):.2f}x")


def _section(runs: list[dict], args, load_before: str) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    parts = [f"""{SECTION}

`.venv/bin/python bench/checkin_bench.py{(" " + " ".join(sys.argv[1:])) if sys.argv[1:] else ""}` ({stamp});
machine: {machine(with_postgres=True)};
load average before the run: {load_before}. Every server under gunicorn with the Procfile's shape
(`--worker-class {args.worker_class} --workers {args.workers} --worker-connections 1000`), `DB_POOL_SIZE` {args.pool_size}
(+{args.max_overflow} overflow), on the same database server; one server runs at a time (the database server's
connections are shared with other sessions), started when its turn comes and warmed up for {args.warmup:.0f} s, then
`ANALYZE` (as autovacuum would: plans cached while attendance_events was still empty walk the whole table);
{args.clients} keep-alive clients from wrk (1 thread) replaying the same prepared request lines for all,
{args.duration:.0f} s per server in {args.rounds} rounds whose order alternates (ABC CBA ...); req/s over all
rounds, p50/p99 the median of the rounds'.

- **product**: `POST /api/v1/attendance` served exactly as the Procfile runs it (`backend:create_app()`,
  gunicorn.conf.py) with the defaults: rate limits on (60 a minute per account, {'Redis' if args.redis_url else
  'per-process memory storage, no REDIS_URL'}), access log on. Every rule runs (token, enrolment,
  plan status, time window, sequence, geofence with accuracy, replay, risk flags) and every check-in is
  a distinct trainee at a (trainee, lesson) pair not used before, so all are accepted (checked below).
- **naive**: bench/naive_checkin_app.py, its own gunicorn: Flask + Flask-SQLAlchemy's default session
  (expire_on_commit=True) + PyJWT + geographiclib, one table; verify the JWT, geodesic distance to the
  site, refuse outside the fence, `session.add` + `commit`, read the id back, JSON. Same pool size
  and SQLite settings as the product, same server tuning (pool opened at start, `gc.freeze`, one accept
  per wake-up: bench/naive_gunicorn.conf.py).
- **product before**: with `--before REF`, the product as of that git ref (`git archive`), served the
  same way from its own checkout on the same database, as a third line of the same run.
- CPU columns: the workers' CPU (/proc schedstat of the gunicorn workers) and PostgreSQL's (all
  backends of the bench database) over each round, per answered request.
- clients per worker: wrk's keep-alive connections held by each gunicorn worker a second into the round
  (the workers share one listening socket; an uneven split lengthens the busier worker's queue, and p99).
"""]
    for run in runs:
        res, check = run["results"], run["check"]
        naive_rps = res["naive"]["requests"] / res["naive"]["seconds"]
        prod_rps = res["product"]["requests"] / res["product"]["seconds"]
        name = "PostgreSQL" if run["kind"] == "postgres" else "SQLite (WAL)"
        table = ["| server | req/s | p50 ms | p99 ms | max ms | errors | vs naive | worker CPU ms/req | PostgreSQL CPU ms/req |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for which in res:
            r = res[which]
            rps = r["requests"] / r["seconds"]
            table.append(f"| {LABELS.get(which, which)} | {rps:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | "
                         f"{r['errors']} | {rps / naive_rps:.2f}x | {r['worker_ms']:.2f} | "
                         f"{'-' if r['db_ms'] is None else format(r['db_ms'], '.2f')} |")
        per_round = ["| round | server | req/s | p50 ms | p99 ms | max ms | clients per worker |",
                     "|---:|---|---:|---:|---:|---:|---|"]
        for i in range(args.rounds):
            for which in _order(list(run["rounds"]), i):
                r = run["rounds"][which][i]
                per_round.append(f"| {i + 1} | {which} | {r['requests'] / r['seconds']:,.0f} | {r['p50_ms']:.1f} | "
                                 f"{r['p99_ms']:.1f} | {r['max_ms']:.1f} | {_split(r)} |")
        p99 = res["product"]["p99_ms"]
        ratio = prod_rps / naive_rps
        paired = round_ratios(run["rounds"])
        verdict = (f"Target product >= 1.0x naive: {'met' if ratio >= 1.0 else 'NOT met'} ({ratio:.2f}x over all "
                   f"rounds; round by round {_spread(paired)}); product p99 < 100 ms: "
                   f"{'met' if p99 < 100 else 'NOT met'} ({p99:.1f} ms; the naive app's "
                   f"{res['naive']['p99_ms']:.1f} ms).")
        parts.append(f"""### {name}, closed loop, {args.clients} clients

{chr(10).join(table)}

{verdict} Stored by the product server(s): {check['accepted']:,} accepted, rejected: {check['rejected'] or 'none'};
naive rows: {check['naive_rows']:,}.

{chr(10).join(per_round)}
""")
        if run["spied"]:
            from bench.stack_breakdown import table as stack_table
            parts.append(f"""### {name}: where the workers' CPU went (py-spy, first measured round of each server)

py-spy sampled every worker at 200 Hz (`--py-spy DIR`; bench/stack_breakdown.py buckets the stacks).
ms/req = share x the round's worker CPU per request; py-spy's own sampling slows that round a little.
""")
            for which, (files, r) in run["spied"].items():
                parts.append(f"**{LABELS.get(which, which)}** ({r['worker_s'] * 1000 / max(1, r['requests']):.2f} ms of "
                             f"worker CPU per request in that round)\n\n"
                             f"{stack_table(files, r['worker_s'] * 1000 / max(1, r['requests']))}\n")
        if run["storms"]:
            st = ["| rate /s | server | sent | answered | achieved /s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors "
                  "| peak connections |", "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
            for (rate, which), s in run["storms"].items():
                errs = ", ".join(f"{k}: {v}" for k, v in s["errors"].items()) or "0"
                ok = s["answered"] - sum(v for k, v in s["errors"].items() if k.isdigit())
                st.append(f"| {rate:.0f} | {which} | {s['sent']:,} | {s['answered']:,} | {ok / s['wall_s']:.0f} | "
                          f"{s['p50_ms']:.1f} | {s['p90_ms']:.1f} | {s['p99_ms']:.1f} | {s['p999_ms']:.1f} | "
                          f"{s['max_ms']:.1f} | {errs} | {s['peak_connections']} |")
            parts.append(f"""### {name}, open loop: constant arrival rate for {args.storm_seconds:.0f} s

bench/storm.py (asyncio): request i is due at start + i / rate and is sent then, on an idle keep-alive
connection or a new one (up to 1,000), whether or not earlier requests were answered; latency counts
from the due time, so queueing is in it; 10 s timeout. Product first, then naive, each with fresh
prepared lines (distinct trainees and pairs). "achieved" = 2xx answers / wall time of the storm
(including the drain after the last send).

{chr(10).join(st)}
""")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and report."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--databases", default="postgres,sqlite", help="comma-separated: postgres, sqlite")
    ap.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    ap.add_argument("--redis-url", default=None, help="run the product with REDIS_URL (shared rate-limit storage)")
    ap.add_argument("--duration", type=float, default=30.0, help="measured seconds per server, over all rounds")
    ap.add_argument("--rounds", type=int, default=4, help="alternating rounds (naive/product, product/naive, ...)")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--worker-class", default="gevent")
    ap.add_argument("--trainees", type=int, default=3000)
    ap.add_argument("--lessons", type=int, default=40)
    ap.add_argument("--max-rate", type=float, default=2500, help="prepared lines per second of a round (upper bound)")
    ap.add_argument("--storm-rate", default="300",
                    help="arrival rates per second, comma-separated; `auto`: 70%% of the naive app's closed-loop req/s")
    ap.add_argument("--storm-seconds", type=float, default=60, help="0: no open-loop storm")
    ap.add_argument("--port", type=int, default=8817)
    ap.add_argument("--pool-size", type=int, default=20,
                    help="DB_POOL_SIZE of every server (the product's default; one server runs at a time)")
    ap.add_argument("--max-overflow", type=int, default=2, help="DB_MAX_OVERFLOW of every server")
    ap.add_argument("--no-readme", action="store_true")
    ap.add_argument("--before", default=None, metavar="GIT_REF",
                    help="also run the product as of GIT_REF (git archive into a temporary directory) as a third line")
    ap.add_argument("--py-spy", type=Path, default=None, metavar="DIR",
                    help="sample each server's workers with py-spy in its first measured round (stacks in DIR)")
    args = ap.parse_args(argv)
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed for the closed-loop part: apt-get install wrk")

    load_before = " ".join(Path("/proc/loadavg").read_text().split()[:3]) if Path("/proc/loadavg").exists() else "?"
    args.before_tree = None
    if args.before:
        args.before_tree = Path(tempfile.mkdtemp(prefix="checkin-bench-before-"))
        archive = subprocess.run(["git", "archive", args.before], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(args.before_tree)], input=archive, check=True)
    runs = []
    for kind in [k.strip() for k in args.databases.split(",") if k.strip()]:
        workdir = Path(tempfile.mkdtemp(prefix=f"checkin-bench-{kind}-"))
        try:
            runs.append(bench_database(kind, args, workdir))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.py_spy:
        from bench.stack_breakdown import table as stack_table
        for run in runs:
            for which, (files, r) in run["spied"].items():
                print(f"\n[{run['kind']}] {which}: where the workers' CPU went (py-spy, {len(files)} workers)")
                print(stack_table(files, r["worker_s"] * 1000 / max(1, r["requests"])))
    if args.before_tree:
        shutil.rmtree(args.before_tree, ignore_errors=True)
    text = _section(runs, args, load_before)
    print()
    print(text)
    if not args.no_readme:
        write_section(SECTION, text)
        print(f"wrote {README.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
