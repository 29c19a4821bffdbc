"""Where one worker's time goes on POST /api/v1/attendance: cProfile over a few thousand check-ins in-process.

Run: .venv/bin/python bench/checkin_profile.py [--database-url postgresql://...] [--requests 3000]

Seeds like bench/checkin_bench.py (SQLite in a temporary directory by default), then sends prepared
check-ins (distinct trainees, every one accepted) through the WSGI app with the product's defaults
(rate limits on, access log on, to a file; gevent's monkey patching, as in the gunicorn worker): first
the process CPU per check-in with parts switched off and the naive app's, then, under cProfile, the per-request time of each part of the path,
as cumulative time of the function that does it divided by the request count. The WSGI test client's
own work (building the environ, reading the answer) is the "driver" line, outside the app.
"""
from __future__ import annotations

import sys

if "--no-gevent" not in sys.argv:
    # As in gunicorn's gevent worker: threads, locks, sockets and sleeps are gevent's.
    from gevent import monkey
    monkey.patch_all()

import argparse
import base64
import cProfile
import io
import logging
import os
import pstats
import secrets
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.checkin_bench import RADIUS_M, SITE, Lines, reset_postgres, seed  # noqa: E402

# (label, file suffix, function name): cumulative time of these, per request. Parts nest (the view
# contains the statements); the table says which.
PARTS = [
    ("whole request in the app (Flask.wsgi_app)", "flask/app.py", "wsgi_app"),
    ("  before_request: rate limiter", "flask_limiter/_extension.py", "_check_request_limit"),
    ("  before_request: request id (logs)", "backend/logs.py", "_request_id"),
    ("  before_request: gate (authentication)", "backend/security/authz.py", "gate"),
    ("    JWT verify (tokens.decode)", "backend/security/tokens.py", "decode"),
    ("  before_request: JSON limits", "backend/security/json_limits.py", "before_request"),
    ("  before_request: idempotency", "backend/services/idempotency.py", "before_request"),
    ("  input schema (webargs/marshmallow)", "webargs/core.py", "parse"),
    ("  view post_attendance", "backend/api/attendance.py", "post_attendance"),
    ("    record_mobile_event", "backend/services/attendance.py", "record_mobile_event"),
    ("      SQL (Connection.execute)", "sqlalchemy/engine/base.py", "execute"),
    ("      live publication (broker publish)", "backend/live/brokers.py", "publish"),
    ("      live row (SQLite: store_live_event)", "backend/live/events.py", "store_live_event"),
    ("      risk flags", "backend/services/attendance.py", "_risk_flags"),
    ("      rules (_verdict)", "backend/services/attendance.py", "_verdict"),
    ("    unit of work commit (Session.commit)", "sqlalchemy/orm/session.py", "commit"),
    ("  JSON answer (jsonify)", "flask/json/__init__.py", "jsonify"),
    ("  after_request: limiter headers", "flask_limiter/_extension.py", "__inject_headers"),
    ("  after_request: access log", "backend/logs.py", "_access_log"),
    ("  after_request: idempotency", "backend/services/idempotency.py", "after_request"),
    ("  teardown: session remove", "flask_sqlalchemy/session.py", "_app_ctx_id"),
    ("  logging (Logger.info)", "logging/__init__.py", "info"),
]


def _cpu_per_request(client, path: str, batch, check=True) -> float:
    """CPU seconds of this process per request over `batch` (the test client's own work included)."""
    started = time.process_time()
    for token, body in batch:
        resp = client.post(path, data=body,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        if check and resp.status_code != 201:
            raise SystemExit(f"check-in refused: {resp.status_code} {resp.get_data(as_text=True)}")
    return (time.process_time() - started) / len(batch)


def _quiet_logs(workdir: Path) -> None:
    # The access log goes to a file, as gunicorn's stderr would.
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and getattr(handler, "stream", None) is not None:
            handler.setStream(open(workdir / "access.log", "a"))  # noqa: SIM115


def profile(url: str | None, requests: int, trainees: int, top: int, clock: str, rounds: int,
            save: Path | None = None) -> None:
    """Seed, then measure CPU per check-in with parts switched off, then profile the defaults."""
    workdir = Path(tempfile.mkdtemp(prefix="checkin-profile-"))
    if url:
        reset_postgres(url)
    db_url = url or f"sqlite:///{workdir / 'product.db'}"
    key = lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
    secret = key()
    env = {"DATABASE_URL": db_url, "SECRET_KEY": secret, "DATA_KEY": key(), "ACCESS_TOKEN_MINUTES": "240",
           "INSTANCE_PATH": str(workdir), "UPLOAD_DIR": str(workdir / "uploads")}
    variants = [("product defaults (rate limits on, access log on)", {}),
                ("  rate limits off", {"RATELIMIT_ENABLED": False}),
                ("  access log off", {"ACCESS_LOG": False}),
                ("  both off", {"RATELIMIT_ENABLED": False, "ACCESS_LOG": False})]
    batch_size = max(200, requests // 4)
    lessons = (batch_size * (len(variants) + 2) * rounds + requests * 2 + 3000) // trainees + 1
    seeded = seed(env, trainees, lessons)
    from backend import create_app
    lines = Lines(seeded)
    clients = {}
    for label, overrides in variants:
        app = create_app(overrides)
        _quiet_logs(workdir)
        clients[label] = (app.test_client(), "/api/v1/attendance", True)
    os.environ.update({"DATABASE_URL": url or f"sqlite:///{workdir / 'naive.db'}", "SECRET_KEY": secret,
                       "NAIVE_SITE": f"{SITE[0]},{SITE[1]},{RADIUS_M}"})
    from bench.naive_checkin_app import create_app as create_naive
    clients["naive app (bench/naive_checkin_app.py)"] = (create_naive().test_client(), "/checkin", True)
    floor = create_naive()

    @floor.post("/noop")
    def _noop():
        return "", 201
    clients["empty Flask view (test client + Flask floor)"] = (floor.test_client(), "/noop", False)
    os.environ["DATABASE_URL"] = db_url  # the product again, for the profile below
    for client, path, check in clients.values():
        _cpu_per_request(client, path, lines.take(200), check)
    cpu: dict[str, list[float]] = {label: [] for label in clients}
    # Interleaved rounds, so a burst of load from elsewhere hits every variant alike.
    for _ in range(rounds):
        for label, (client, path, check) in clients.items():
            cpu[label].append(_cpu_per_request(client, path, lines.take(batch_size), check))
    import backend
    print(f"\nproduct code: {Path(backend.__file__).parent}")
    print(f"{db_url.split(':')[0]}: process CPU per request, {rounds} interleaved rounds of {batch_size} "
          f"(the WSGI test client's own work included); min and median of the rounds:")
    for label, values in cpu.items():
        print(f"  {label:52s} {min(values) * 1e6:7.0f} {statistics.median(values) * 1e6:7.0f} us")

    app = create_app()
    _quiet_logs(workdir)
    client = app.test_client()
    _cpu_per_request(client, "/api/v1/attendance", lines.take(200))
    batch = lines.take(requests)
    # CPU time by default: on a shared machine the waits for PostgreSQL measure the neighbours.
    prof = cProfile.Profile(time.process_time) if clock == "cpu" else cProfile.Profile()
    prof.enable()
    _cpu_per_request(client, "/api/v1/attendance", batch)
    prof.disable()
    n = len(batch)
    stats = pstats.Stats(prof)
    total = sum(v[3] for k, v in stats.stats.items() if k[2] == "post" and k[0].endswith("werkzeug/test.py"))
    print(f"\nUnder cProfile ({clock} time; the profiler inflates small Python calls, so read shares): "
          f"per request, {total / n * 1e6:.0f} us in FlaskClient.post")
    print(f"{'part':52s} {'us':>8s} {'share':>6s} {'calls/req':>9s}")
    for label, suffix, func in PARTS:
        cum, calls = 0.0, 0
        for (file, _line, name), (_cc, nc, _tt, ct, _callers) in stats.stats.items():
            if file.endswith(suffix) and (name == func or name.endswith(func)):
                cum = max(cum, ct)
                calls = max(calls, nc)
        print(f"{label:52s} {cum / n * 1e6:8.0f} {cum / total * 100:5.1f}% {calls / n:9.2f}")
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(top)
    print(out.getvalue())
    if save is not None:
        prof.dump_stats(str(save))
        print(f"profile saved to {save} (pstats.Stats({str(save)!r}).print_callees(...))")


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", default=None, help="PostgreSQL URL of a dedicated database (default: SQLite)")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--trainees", type=int, default=600)
    ap.add_argument("--top", type=int, default=40, help="functions by own time to list")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the CPU comparison")
    ap.add_argument("--tree", type=Path, default=None,
                    help="profile the product from another checkout (e.g. `git archive main | tar -x -C DIR`)")
    ap.add_argument("--no-gevent", action="store_true", help="plain threads instead of gevent's monkey patching")
    ap.add_argument("--save", type=Path, default=None, metavar="FILE", help="also write the cProfile stats to FILE")
    ap.add_argument("--clock", choices=["cpu", "wall"], default="cpu",
                    help="process CPU time (default) or wall time, which includes the waits for the database")
    args = ap.parse_args(argv)
    if args.tree:
        sys.path.insert(0, str(args.tree.resolve()))  # `backend` is first imported after this
    profile(args.database_url, args.requests, args.trainees, args.top, args.clock, args.rounds, args.save)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
