"""Spread keep-alive connections evenly over a gevent gunicorn's workers: least connections at accept time.

gunicorn's workers share one listening socket, and whichever worker calls accept() first takes the
connection for its whole keep-alive life. A burst of clients (a kiosk fleet reconnecting, a proxy's
upstream pool, the benchmark's 32 clients) can land 26/6 on two workers; the busier worker's clients then
queue behind each other while the other worker has CPU to spare: check-in p99 0.4-4 s in such rounds,
against 0.1 s when the split was even (bench/README.md, "Check-in throughput").

Every worker is woken for every pending connection (both watch the shared socket). Here a worker that
already holds more connections than the least busy of its peers steps back for DEFER_S before accepting,
so that peer takes it; after MAX_DEFERS steps back it accepts anyway, so a peer that is stuck never
leaves a client waiting long. Each worker's count lives in a small shared-memory board the master
creates before forking, one slot per worker, freed when the worker exits.

Standard library only, and gevent only inside the worker: gunicorn.conf.py loads this file by path in the
master (importing the `backend` package there would import the app's libraries before the workers'
gevent monkey-patching), and the benchmark's naive baseline loads it too, so both sides of the
comparison get the same server tuning.
"""
from __future__ import annotations

import mmap

MAX_WORKERS = 64
DEFER_S = 0.002
MAX_DEFERS = 3
_FREE = -1


def should_defer(mine: int, others: list[int], deferred: int) -> bool:
    """Whether a worker holding `mine` connections leaves the next one to a peer (`others`: its peers'
    counts), having already stepped back `deferred` times for it."""
    return deferred < MAX_DEFERS and bool(others) and mine > min(others)


class Board:
    """Connection counts of a gunicorn master's workers, in shared memory inherited across fork()."""

    def __init__(self, size: int = MAX_WORKERS):
        # An anonymous shared mapping: a forked worker writes the same memory its master and peers read.
        self._memory = mmap.mmap(-1, 4 * size, flags=mmap.MAP_SHARED)
        self.counts = memoryview(self._memory).cast("i")
        for slot in range(size):
            self.counts[slot] = _FREE

    def claim(self, taken: set[int]) -> int | None:
        """A free slot for a worker about to be forked (master side), or None when all are taken."""
        for slot in range(len(self.counts)):
            if slot not in taken:
                self.counts[slot] = 0
                return slot
        return None

    def release(self, slot: int | None) -> None:
        """Free an exited worker's slot (master side)."""
        if slot is not None:
            self.counts[slot] = _FREE

    def publish(self, slot: int, connections: int) -> None:
        """Record a worker's current connection count (worker side)."""
        self.counts[slot] = connections

    def others(self, slot: int) -> list[int]:
        """The connection counts of the other live workers."""
        return [c for i, c in enumerate(self.counts) if i != slot and c != _FREE]


# The master's board, created before it forks the first gevent worker and inherited by every worker. Each
# worker also keeps a reference to the board its slot is on: after a configuration reload (HUP) the master
# makes a new board for the new workers while the old ones drain on theirs.
_board: Board | None = None


def _is_gevent(worker) -> bool:
    return type(worker).__module__.endswith("ggevent")


def pre_fork(server, worker) -> None:
    """gunicorn hook, in the master before a worker is forked: give a gevent worker its board slot."""
    global _board
    if not _is_gevent(worker):
        return
    if _board is None:
        _board = Board()
    taken = {w.accept_slot for w in server.WORKERS.values() if getattr(w, "accept_board", None) is _board}
    worker.accept_board, worker.accept_slot = _board, _board.claim(taken)


def child_exit(server, worker) -> None:
    """gunicorn hook, in the master when a worker has exited: free its slot, so its last count stops
    steering the others' accepts."""
    board = getattr(worker, "accept_board", None)
    if board is not None:
        board.release(worker.accept_slot)


def install_in(worker, database_uri: str) -> None:
    """From post_worker_init: balance this gevent worker's accepts against its peers' (no-op otherwise).

    Not for a SQLite app: its worker's loop turns only between whole requests, so a peer picks up a deferred
    client late and accepts slow down (13-20 of 32 clients accepted a second into a round instead of 22-25,
    check-in p99 1.1-2.2 s instead of 0.8-1.1 s; bench/README.md "Check-in throughput").
    """
    board = getattr(worker, "accept_board", None)
    if board is not None and _is_gevent(worker) and worker.accept_slot is not None \
            and not str(database_uri).startswith("sqlite"):
        install(board, worker.accept_slot)


def install(board: Board, slot: int) -> None:
    """In a gevent worker: make its servers step back from accepting while a peer holds fewer connections."""
    from gevent.baseserver import BaseServer

    accept = BaseServer._do_read

    def _do_read(server) -> None:
        mine = len(server.pool) if server.pool is not None else 0
        board.publish(slot, mine)
        deferred = getattr(server, "_balance_deferred", 0)
        if should_defer(mine, board.others(slot), deferred):
            server._balance_deferred = deferred + 1
            server.stop_accepting()
            # gevent's own back-off timer: stop_accepting() cancels it, _start_accepting_if_started resumes.
            server._timer = server.loop.timer(DEFER_S)
            server._timer.start(server._start_accepting_if_started)
            return
        server._balance_deferred = 0
        accept(server)
        board.publish(slot, len(server.pool) if server.pool is not None else 0)

    BaseServer._do_read = _do_read
