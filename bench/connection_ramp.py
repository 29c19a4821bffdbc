"""The connection ramp: 32 keep-alive clients connect at once and send check-ins for 2 s, eight times per server.

`.venv/bin/python bench/connection_ramp.py [NAME ...]` where NAME is `naive`, `product`, `naive@TREE` or
`product@TREE` (served from another checkout, e.g. a scratch tree with changed server tuning); with
`RAMP_DELAY=0.2` the clients wait that long after connecting before their first request, so every
connection is accepted before any request runs. Prints, per server and round (two rounds, ABC CBA), the
latency of each connection's first request, of the other requests in the first 0.5 s, and of the rest,
and how the clients were split between the workers in each burst.
Used for the 2026-12-07 05:30 and 08:25 UTC notes in bench/README.md ("Check-in throughput"): wrk's rounds
open new connections each time; the product's first requests waited longest to be accepted, until a worker
took its share of a burst at once.
"""
from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import checkin_bench as cb  # noqa: E402
from bench.storm import closed_loop, quantile  # noqa: E402

CLIENTS = 32
BURSTS = 8
BURST_S = 2.0
LINES_PER_S = 1500  # prepared check-ins per second of a burst: above any server's rate here


def main() -> None:
    """Seed, then per server and round: start, warm up (wrk 3 s), ANALYZE, the bursts; print the figures."""
    names = sys.argv[1:] or ["naive", "product"]
    delay = float(os.environ.get("RAMP_DELAY", "0"))
    url = os.environ.get("BENCH_DATABASE_URL", cb.DEFAULT_URL)
    workdir = Path(tempfile.mkdtemp(prefix="connection-ramp-"))
    cb.reset_postgres(url)
    env, naive_env = cb.server_envs(url, url, workdir, pool_size=20, max_overflow=2)
    # Two rounds of every server at up to LINES_PER_S: 2,000 trainees x 20 lessons per server.
    lines = cb.Lines(cb.seed_and_analyze(env, 2000 * len(names), 20))
    port = 8900
    for rnd in range(2):
        for name in (names if rnd == 0 else names[::-1]):
            kind, _, tree = name.partition("@")
            port += 1
            proc = cb.start_server(kind, env if kind == "product" else naive_env, port, cb.ProcfileShape(),
                                   workdir / f"{rnd}-{kind}-{port}.log", Path(tree) if tree else cb.REPO)
            try:
                cb.warm_up(port, kind, lines, CLIENTS, 3.0, LINES_PER_S, url, workdir)
                firsts, early, late, splits = [], [], [], []
                for _ in range(BURSTS):
                    raws = [cb.raw_request("127.0.0.1", port, cb.PATHS[kind], t, b)
                            for t, b in lines.take(int(BURST_S * LINES_PER_S))]
                    # Which worker holds each client, read half a second into the burst.
                    probe = threading.Timer(0.5 + delay, lambda out=splits, master=proc, p=port:
                                            out.append(cb.connection_split(master, p)))
                    probe.start()
                    out = asyncio.run(closed_loop(port, raws, CLIENTS, BURST_S, delay))
                    probe.join()
                    lines.give_back(len(raws), len(out), CLIENTS)  # every line written was recorded
                    firsts += [x[1] * 1000 for x in out if x[3] == 0]
                    early += [x[1] * 1000 for x in out if x[0] < 0.5 and x[3] > 0]
                    late += [x[1] * 1000 for x in out if x[0] >= 0.5]
                    time.sleep(0.5)
            finally:
                cb.stop_server(proc)
            print(f"{rnd} {name:28s} first requests p50 {quantile(firsts, .5):6.1f} p90 {quantile(firsts, .9):6.1f} "
                  f"max {max(firsts):6.1f} | others in the first 0.5 s p50 {quantile(early, .5):6.1f} p99 {quantile(early, .99):6.1f} | "
                  f"after p50 {quantile(late, .5):6.1f} p99 {quantile(late, .99):6.1f} max {max(late):6.1f} "
                  f"({len(late) / (BURSTS * (BURST_S - 0.5)):.0f} req/s) | splits "
                  f"{' '.join('/'.join(map(str, s)) for s in splits)}", flush=True)


if __name__ == "__main__":
    main()
