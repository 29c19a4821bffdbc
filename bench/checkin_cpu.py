"""Process CPU of the phone check-in, for before/after comparisons on a loaded machine (CPU time moves less
than throughput when other processes share the cores).

Run: .venv/bin/python bench/checkin_cpu.py [--repo PATH] [--requests 2000] [--database-url URL]

1. `rules`: CPU per check-in of the judging part alone (what POST /attendance does between its read and its
   write: the facts, the rules in order, the flags), 5 x 20,000 calls, the best of 5. Works on a checkout
   from before the judge (c2a78dd, its `_verdict` / `_risk_flags` / `_site_qr_proven`) and after it.
2. `request`: CPU per POST /attendance in process (Flask test client, PostgreSQL, every check-in a new
   trainee/lesson pair, accepted), after 200 warm-up requests. PostgreSQL's own CPU is not counted.
`--repo` imports the backend of another checkout (e.g. a `git worktree add --detach` of the old commit).
"""
from __future__ import annotations

import argparse
import base64
import os
import secrets
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path


def rules_cpu_us(n: int = 20000) -> float:
    """Best-of-5 CPU microseconds to judge one accepted phone check-in (no database)."""
    from backend.domain import attendance as rules
    from backend.domain.geo import distance_m
    from backend.services import attendance as a
    start = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
    now = start + timedelta(minutes=5)
    ctx = a.LessonContext(1, "offline", start, start + timedelta(hours=2), Decimal("2"), False, "350102", "approved",
                          26.0785, 119.2965, 200, False, 5, "张三", None, start)
    ev = a.CheckIn("e" * 16, 1, "check_in", 26.0787, 119.2965, 15.0, "wgs84", now)
    cfg = {"FLAG_ACCURACY_M": 50, "MAX_SPEED_KMH": 120, "SITE_QR_PERIOD_S": 30}
    params = {"checkin_open_before_min": 30, "checkout_close_after_min": 30, "credit_grace_min": 15,
              "accuracy_max_m": 100, "kiosk_face_max_distance": 0.5, "require_site_qr": False}
    pol = a.policy(cfg, params)
    lat, lon, key = ev.lat, ev.lon, b"k" * 32
    distance = distance_m(lat, lon, ctx.site_lat, ctx.site_lon)
    if hasattr(a, "_facts"):  # one judge (#14)
        from backend.domain.judge import Event, judge

        def one():
            v = judge(Event(ev.kind, now), a._facts(ctx, 7, "sk", ev, lat, lon, distance, now, [], [], cfg, key,
                                                    params), pol)
            return a._verdict(v), list(v.flags)
    else:  # before: the rule order inside services/attendance.py
        from backend.domain import trust

        def one():
            verdict = a._verdict(ctx, [], ev, distance, now, pol, cfg, key, params)
            flags = []
            if verdict is None:
                times = rules.LessonTimes(ctx.starts_at, ctx.ends_at, ctx.class_hours)
                flags = a._risk_flags(7, "sk", ev, lat, lon, now, [], [], times, pol)
                if not a._site_qr_proven(ctx, ev, now, cfg, key, params):
                    flags = sorted([*flags, trust.GPS_ONLY])
            return verdict, flags
    assert one()[0] is None, one()  # accepted: every rule ran
    best = []
    for _ in range(5):
        t = time.process_time()
        for _ in range(n):
            one()
        best.append((time.process_time() - t) / n * 1e6)
    return min(best)


def request_cpu_ms(url: str, n: int) -> float:
    """CPU milliseconds per accepted POST /attendance through the whole app in process, with the product's
    defaults (rate limits on, in-process counters; access log on)."""
    from bench.checkin_bench import SITE, reset_postgres, seed
    workdir = Path(tempfile.mkdtemp(prefix="checkin-cpu-"))
    key = lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
    env = {"DATABASE_URL": url, "SECRET_KEY": key(), "DATA_KEY": key(), "ACCESS_TOKEN_MINUTES": "240",
           "INSTANCE_PATH": str(workdir), "UPLOAD_DIR": str(workdir / "uploads"), "LOG_LEVEL": "WARNING"}
    os.environ.pop("REDIS_URL", None)
    reset_postgres(url)
    # 100 trainees: each posts n / 100 times (under the limit of 60 a minute for n up to 6,000).
    seeded = seed(env, 100, (n + 200) // 100 + 1)
    from backend import create_app
    client = create_app().test_client()
    tokens, lessons = seeded["tokens"], seeded["lessons"]

    def post(i: int) -> None:
        body = {"event_id": str(uuid.uuid4()), "lesson_id": lessons[i // len(tokens)], "kind": "check_in",
                "lat": SITE[0], "lon": SITE[1] + (i % 997) * 1e-6, "accuracy_m": 12.5, "coord_sys": "wgs84",
                "client_time": seeded["client_time"]}
        r = client.post("/api/v1/attendance", json=body, headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"})
        assert r.status_code == 201, r.get_json()
    for i in range(200):
        post(i)
    t = time.process_time()
    for i in range(200, 200 + n):
        post(i)
    return (time.process_time() - t) / n * 1e3


def main(argv=None) -> None:
    """Print both figures for the checkout at --repo."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--repo", type=Path, default=Path(__file__).resolve().parent.parent)
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/checkin_cpu")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(args.repo))
    os.chdir(args.repo)
    rules_us = rules_cpu_us()
    request_ms = request_cpu_ms(args.database_url, args.requests)
    print(f"{args.repo}: rules {rules_us:.1f} us CPU per check-in; request {request_ms:.3f} ms CPU per check-in "
          f"({args.requests} requests, in process)")


if __name__ == "__main__":
    main()
