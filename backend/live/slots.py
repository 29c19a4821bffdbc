"""How many live streams one server process may hold open, and a probe for a client that left.

A live stream is a response that lasts (up to LIVE_STREAM_MAX_S). Under gevent it costs a greenlet;
under a thread-per-request server it holds one of the worker's request threads for as long as it
lasts. With gunicorn's gthread worker and its default of one thread, one open stream was enough to
leave every later request accepted by that worker (a check-in, another stream) queued behind it
until the stream ended, an hour later; a closed dashboard held its thread until the second keep-alive
write failed (30 s). So each process lends streams at most `stream_limit()` threads; a stream that
finds none free is served short: it sends what is new since its Last-Event-ID and ends at once with
a short `retry:`, and the client's reconnect picks up the rest (the resume point is always sent, so
nothing is missed between two connections).
"""
from __future__ import annotations

import select
import socket
import threading
from collections.abc import Callable

# Streams may take at most this share of a threaded worker's request threads; the rest stay free
# for check-ins and everything else, whatever the dashboards do.
STREAM_SHARE = 0.5
_WORKER_KEY = "live_worker_threads"
_SLOTS_KEY = "live_stream_slots"
_UNKNOWN = object()


class StreamSlots:
    """A per-process count of open long-lived streams, bounded by a limit given at each take."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open = 0

    def take(self, limit: int | None) -> bool:
        """Count one more stream if fewer than `limit` are open (None: no limit); False when full."""
        with self._lock:
            if limit is not None and self._open >= limit:
                return False
            self._open += 1
            return True

    def release(self) -> None:
        """A stream taken with take() has ended."""
        with self._lock:
            self._open = max(0, self._open - 1)

    @property
    def open(self) -> int:
        """Long-lived streams open in this process now."""
        with self._lock:
            return self._open


def slots(app) -> StreamSlots:
    """This process's stream counter for `app`."""
    found = app.extensions.get(_SLOTS_KEY)
    if found is None:
        found = app.extensions.setdefault(_SLOTS_KEY, StreamSlots())
    return found


def record_worker_threads(app, threads: int | None) -> None:
    """Tell the app how many requests its server process runs at once (None: no fixed number, e.g. gevent).

    Called by gunicorn.conf.py's post_worker_init with the worker's class and `threads` setting.
    """
    app.extensions[_WORKER_KEY] = threads


def _guess_threads(environ: dict) -> int | None:
    """The request threads of a server that did not report them (gunicorn without gunicorn.conf.py, others)."""
    if not str(environ.get("SERVER_SOFTWARE", "")).startswith("gunicorn"):
        return None  # the development server (a thread per request) and the test client
    sock = environ.get("gunicorn.socket")
    if type(sock).__module__.startswith("gevent"):
        return None
    # sync serves one request at a time; a gthread worker without the config file most likely runs
    # gunicorn's default of one thread. Guessing too few only makes streams short, never starves.
    return 1


def stream_limit(app, environ: dict) -> int | None:
    """How many long-lived streams this process may hold at once; None means no limit.

    LIVE_STREAMS_PER_WORKER when set; otherwise half of a threaded worker's threads (0 for gunicorn's
    sync worker or a single thread), and no limit under gevent or the development server.
    """
    configured = app.config.get("LIVE_STREAMS_PER_WORKER")
    if configured is not None and configured != "":
        return max(0, int(configured))
    threads = app.extensions.get(_WORKER_KEY, _UNKNOWN)
    if threads is _UNKNOWN:
        threads = _guess_threads(environ)
    if threads is None:
        return None
    return int(threads * STREAM_SHARE)


def peer_closed_probe(environ: dict) -> Callable[[], bool]:
    """A cheap check whether the client closed the connection, without writing to it.

    An SSE client sends nothing after its request, so a readable socket means end of file (the client
    left) unless it pipelined another request. Without it, a closed dashboard is noticed only when
    a write fails: the second keep-alive after the close, 30 s, all the while holding a thread.
    """
    sock = environ.get("gunicorn.socket") or environ.get("werkzeug.socket")
    if sock is None or hasattr(sock, "getpeercert") or not hasattr(select, "poll"):
        return lambda: False  # the test client; TLS sockets cannot peek (their bytes are records)

    def closed() -> bool:
        try:
            poller = select.poll()  # gevent's under gevent: cooperative, and no FD_SETSIZE limit
            poller.register(sock, select.POLLIN)
            if not poller.poll(0):
                return False
            # Readable: peek, so a pipelined request stays in the socket for the server to read.
            return sock.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True  # reset, or the server closed the socket already
    return closed
