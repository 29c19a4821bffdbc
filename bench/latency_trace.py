"""Closed-loop latency per request, with a client that records every request, next to wrk's figures.

`.venv/bin/python bench/latency_trace.py SECONDS ROUNDS NAME=KIND:TREE[:WORKERS] ...` (KIND: product or
naive; TREE: the checkout to serve the product from). Seeds the bench database as checkin_bench.py does,
then in each round, for each server in ABC CBA order: start it, warm it up (wrk, 3 s), ANALYZE, run wrk
for SECONDS, ANALYZE, then 32 asyncio keep-alive clients for SECONDS that record each request's start
and latency. Prints wrk's p50/p99/max and the recorded p50/p99/max from the first second on (steady
state, the connections' first requests left out) and over all requests. Used for the 2026-12-07 notes in
bench/README.md ("Check-in throughput"): wrk's p99 and the recorded one disagree for the product.
"""
from __future__ import annotations

import asyncio
import base64
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import checkin_bench as cb  # noqa: E402
from bench.storm import _read_response  # noqa: E402

CLIENTS = 32


class _Shape:
    worker_class = "gevent"
    workers = 2


async def _closed_loop(port: int, raws: list[bytes], seconds: float) -> list[tuple[float, float, int]]:
    """(start, latency, status) of every request of CLIENTS keep-alive clients for `seconds`."""
    out = []

    async def client(it, t_end):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.monotonic() < t_end:
            t0 = time.monotonic()
            writer.write(next(it))
            status, _ = await _read_response(reader)
            out.append((t0, time.monotonic() - t0, status))
        writer.close()

    it = iter(raws)
    t_end = time.monotonic() + seconds
    await asyncio.gather(*[client(it, t_end) for _ in range(CLIENTS)])
    return out


def _quantiles(latencies: list[float]) -> tuple[float, float, float]:
    s = sorted(latencies)
    return s[len(s) // 2] * 1000, s[int(len(s) * 0.99)] * 1000, s[-1] * 1000


def main() -> None:
    """Run the rounds and print each server's figures."""
    seconds, rounds = float(sys.argv[1]), int(sys.argv[2])
    servers = [a.split("=", 1) for a in sys.argv[3:]]
    url = os.environ.get("BENCH_DATABASE_URL", cb.DEFAULT_URL)
    workdir = Path(tempfile.mkdtemp(prefix="latency-trace-"))
    key = lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()  # noqa: E731
    cb.reset_postgres(url)
    secret = key()
    env = {"DATABASE_URL": url, "SECRET_KEY": secret, "DATA_KEY": key(), "ACCESS_TOKEN_MINUTES": "240",
           "INSTANCE_PATH": str(workdir), "UPLOAD_DIR": str(workdir / "uploads"), "JOBS_DB": str(workdir / "jobs.db"),
           "DB_POOL_SIZE": "20", "DB_MAX_OVERFLOW": "2"}
    seeded = cb.seed(env, 8000, 40)
    cb.analyze(url, vacuum=True)
    naive_env = {"DATABASE_URL": url, "SECRET_KEY": secret, "JWT_ISSUER": "peixunquan",
                 "NAIVE_SITE": f"{cb.SITE[0]},{cb.SITE[1]},{cb.RADIUS_M}", "DB_POOL_SIZE": "20", "DB_MAX_OVERFLOW": "2"}
    lines = cb.Lines(seeded)
    recorded: dict[str, list[float]] = {name: [] for name, _ in servers}
    port = 8840
    for r in range(rounds):
        for name, spec in (servers if r % 2 == 0 else servers[::-1]):
            which, tree, workers = (spec.split(":") + ["2"])[:3]
            shape = _Shape()
            shape.workers = int(workers)
            port += 1
            proc = cb.start_server(which, env if which == "product" else naive_env, port, shape,
                                   workdir / f"{name}.log", Path(tree))
            try:
                for secs in (3.0, seconds):  # the warm-up, then the measured wrk run
                    batch = lines.take(int(secs * 700))
                    w = cb.run_wrk(port, cb.PATHS[which], batch, CLIENTS, secs, workdir)
                    lines.next -= len(batch) - min(len(batch), w["requests"] + 2 * CLIENTS + 16)
                    cb.analyze(url)
                raws = [cb.raw_request("127.0.0.1", port, cb.PATHS[which], t, b)
                        for t, b in lines.take(int(seconds * 700))]
                out = asyncio.run(_closed_loop(port, raws, seconds))
                # Every line written was used; the rest go back.
                lines.next -= len(raws) - len(out) - CLIENTS
            finally:
                cb.stop_server(proc)
            cb.analyze(url)
            t0 = min(x[0] for x in out)
            steady = _quantiles([x[1] for x in out if x[0] - t0 >= 1.0])
            every = _quantiles([x[1] for x in out])
            recorded[name].append(steady[1])
            print(f"{r} {name:8s} wrk {w['requests'] / w['seconds']:5.0f} req/s p50 {w['p50_ms']:6.1f} p99 {w['p99_ms']:6.1f} "
                  f"max {w['max_ms']:6.1f} | recorded {len(out) / seconds:5.0f} req/s p50 {steady[0]:6.1f} "
                  f"p99 {steady[1]:6.1f} (all {every[1]:6.1f}) max {every[2]:6.1f} non-2xx "
                  f"{sum(1 for x in out if x[2] >= 300)}", flush=True)
    for name, p99s in recorded.items():
        print(f"{name}: median recorded steady-state p99 {statistics.median(p99s):.1f} ms over {len(p99s)} rounds")


if __name__ == "__main__":
    main()
