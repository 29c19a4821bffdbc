"""Open-loop load: requests at a constant arrival rate, each sent at its time whether or not earlier ones
have been answered (a 9:00 check-in storm does not slow down because the server does).

Used by bench/checkin_bench.py. A small asyncio HTTP/1.1 client: request i is due at start + i / rate;
when it is due it takes an idle keep-alive connection (idle for less than a second: gunicorn closes
them after 2 s), or opens a new one (up to `max_connections`),
writes the prepared bytes and reads the answer. Its latency counts from when it was due, not from
when it was written, so time spent waiting for a connection is in the figure (no coordinated omission).
"""
from __future__ import annotations

import asyncio
import statistics
import time


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Status and whether the connection may be reused; reads the body (Content-Length or chunked)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status, not close


def quantile(values: list[float], p: float) -> float:
    """The value below which a share `p` of `values` lies (nearest rank, no interpolation)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def closed_loop(port: int, raws: list[bytes], clients: int, seconds: float,
                      delay: float = 0.0) -> list[tuple[float, float, int, int]]:
    """(start since the first send, latency, status, number on its connection) of every request of `clients`
    keep-alive clients, each sending the next of `raws` when answered, for `seconds`; the connections are
    opened together, `delay` before the first send (0: at once, as wrk does)."""
    out = []
    it = iter(raws)
    conns = await asyncio.gather(*[asyncio.open_connection("127.0.0.1", port) for _ in range(clients)])
    await asyncio.sleep(delay)
    t_start = time.monotonic()
    t_end = t_start + seconds

    async def client(reader, writer):
        n = 0
        # Out of prepared lines: the round ends early rather than reuse a check-in.
        while time.monotonic() < t_end and (raw := next(it, None)) is not None:
            t0 = time.monotonic()
            writer.write(raw)
            status, _ = await _read_response(reader)
            out.append((t0 - t_start, time.monotonic() - t0, status, n))
            n += 1
        writer.close()

    await asyncio.gather(*[client(r, w) for r, w in conns])
    return out


class _Pool:
    """Idle keep-alive connections to one host, and a cap on how many are open."""

    def __init__(self, host: str, port: int, max_connections: int, max_idle_s: float):
        self.host, self.port = host, port
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self.open = 0
        self.peak = 0
        self.slots = asyncio.Semaphore(max_connections)
        self.max_idle_s = max_idle_s

    async def take(self):
        """An idle connection, or a new one."""
        await self.slots.acquire()
        now = time.monotonic()
        while self.idle:
            reader, writer, since = self.idle.pop()
            if now - since < self.max_idle_s:
                return reader, writer
            # The server may close it any moment now (gunicorn's keep-alive timeout is 2 s): a
            # browser or phone would not send on it either.
            self.open -= 1
            writer.close()
        try:
            conn = await asyncio.open_connection(self.host, self.port)
        except BaseException:
            self.slots.release()
            raise
        self.open += 1
        self.peak = max(self.peak, self.open)
        return conn

    def give(self, conn, reusable: bool) -> None:
        """Return a connection after its answer (or close it)."""
        if reusable:
            self.idle.append((conn[0], conn[1], time.monotonic()))
        else:
            self.open -= 1
            conn[1].close()
        self.slots.release()


async def _storm(host: str, port: int, requests: list[bytes], rate: float, seconds: float,
                 max_connections: int, timeout: float) -> dict:
    pool = _Pool(host, port, max_connections, max_idle_s=1.0)
    total = min(len(requests), int(rate * seconds))
    latencies: list[float] = []
    errors: dict[str, int] = {}
    loop = asyncio.get_running_loop()

    def error(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    async def one(raw: bytes, due: float) -> None:
        conn = None
        reusable = False
        try:
            conn = await asyncio.wait_for(pool.take(), timeout)
            conn[1].write(raw)
            status, reusable = await asyncio.wait_for(_read_response(conn[0]), timeout)
            latencies.append(loop.time() - due)
            if status >= 300:
                error(str(status))
        except TimeoutError:
            error("timeout")
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            error(type(exc).__name__)
        finally:
            if conn is not None:
                pool.give(conn, reusable)

    tasks = []
    start = loop.time() + 0.05
    late = 0.0
    for i in range(total):
        due = start + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        else:
            late = max(late, -delay)
        tasks.append(asyncio.ensure_future(one(requests[i], due)))
    sent_in = loop.time() - start
    await asyncio.gather(*tasks)
    for _reader, writer, _since in pool.idle:
        writer.close()
    lat = sorted(latencies)
    q = statistics.quantiles(lat, n=1000) if len(lat) > 1 else [0.0] * 999
    return {"sent": total, "rate": rate, "seconds": seconds, "send_span_s": sent_in, "answered": len(lat),
            "errors": errors, "p50_ms": q[499] * 1000, "p90_ms": q[899] * 1000, "p99_ms": q[989] * 1000,
            "p999_ms": q[998] * 1000, "max_ms": (lat[-1] if lat else 0.0) * 1000,
            "mean_ms": (statistics.fmean(lat) if lat else 0.0) * 1000, "peak_connections": pool.peak,
            "scheduler_late_ms": late * 1000}


def run_storm(host: str, port: int, requests: list[bytes], rate: float, seconds: float,
              max_connections: int = 1000, timeout: float = 10.0) -> dict:
    """Send min(len(requests), rate * seconds) prepared requests at `rate` per second; latency figures."""
    started = time.perf_counter()
    out = asyncio.run(_storm(host, port, requests, rate, seconds, max_connections, timeout))
    out["wall_s"] = time.perf_counter() - started
    return out


def raw_request(host: str, port: int, path: str, token: str, body: str) -> bytes:
    """The bytes of one keep-alive JSON POST with a bearer token."""
    data = body.encode()
    return (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n").encode() + data
