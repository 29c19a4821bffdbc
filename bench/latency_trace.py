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
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import checkin_bench as cb  # noqa: E402
from bench.storm import closed_loop, quantile  # noqa: E402

CLIENTS = 32
# Prepared check-ins per second of a run: above any server's rate here (the unused ones go back).
LINES_PER_S = 1500


def _quantiles(latencies: list[float]) -> tuple[float, float, float]:
    return quantile(latencies, 0.5) * 1000, quantile(latencies, 0.99) * 1000, max(latencies) * 1000


def main() -> None:
    """Run the rounds and print each server's figures."""
    seconds, rounds = float(sys.argv[1]), int(sys.argv[2])
    servers = [a.split("=", 1) for a in sys.argv[3:]]
    url = os.environ.get("BENCH_DATABASE_URL", cb.DEFAULT_URL)
    workdir = Path(tempfile.mkdtemp(prefix="latency-trace-"))
    cb.reset_postgres(url)
    env, naive_env = cb.server_envs(url, url, workdir, pool_size=20, max_overflow=2)
    seeded = cb.seed_and_analyze(env, 8000, 40)
    lines = cb.Lines(seeded)
    recorded: dict[str, list[float]] = {name: [] for name, _ in servers}
    port = 8840
    for r in range(rounds):
        for name, spec in (servers if r % 2 == 0 else servers[::-1]):
            which, tree, workers = (spec.split(":") + ["2"])[:3]
            shape = cb.ProcfileShape()
            shape.workers = int(workers)
            port += 1
            proc = cb.start_server(which, env if which == "product" else naive_env, port, shape,
                                   workdir / f"{name}.log", Path(tree))
            try:
                cb.warm_up(port, which, lines, CLIENTS, 3.0, LINES_PER_S, url, workdir)
                w = cb.warm_up(port, which, lines, CLIENTS, seconds, LINES_PER_S, url, workdir)  # wrk's figures
                raws = [cb.raw_request("127.0.0.1", port, cb.PATHS[which], t, b)
                        for t, b in lines.take(int(seconds * LINES_PER_S))]
                out = asyncio.run(closed_loop(port, raws, CLIENTS, seconds))
                lines.give_back(len(raws), len(out), CLIENTS)  # every line written was recorded
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
            firsts = sorted(x[1] * 1000 for x in out if x[3] == 0)
            later = max(x[1] for x in out if x[3] > 0) * 1000
            slowest = sorted(out, key=lambda x: -x[1])[:5]
            print(f"   connections' first requests: median {firsts[len(firsts) // 2]:.1f} max {firsts[-1]:.1f} ms; "
                  f"later requests max {later:.1f} ms; slowest at " + ", ".join(
                      f"{(x[0] - t0):.2f}s{'(first)' if x[3] == 0 else ''} {x[1] * 1000:.0f}ms" for x in slowest), flush=True)
    for name, p99s in recorded.items():
        print(f"{name}: median recorded steady-state p99 {statistics.median(p99s):.1f} ms over {len(p99s)} rounds")


if __name__ == "__main__":
    main()
