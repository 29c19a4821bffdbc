"""Spread keep-alive connections evenly over a gevent gunicorn's workers: least connections at accept time.

gunicorn's workers share one listening socket, and whichever worker calls accept() first takes the
connection for its whole keep-alive life. A burst of clients (a kiosk fleet reconnecting, a proxy's
upstream pool, the benchmark's 32 clients) can land 26/6 on two workers; the busier worker's clients then
queue behind each other while the other worker has CPU to spare: check-in p99 0.4-4 s in such rounds,
against 0.1 s when the split was even (bench/README.md, "Check-in throughput").

Every worker is woken for every pending connection (both watch the shared socket). Here a woken worker
takes its even share of what its peers and it hold plus what waits in the accept queue (Linux reports
the queue's length in TCP_INFO), all at once; a worker already at its share, or holding more than the
least busy of its peers, steps back for DEFER_S so that peer takes the rest; after MAX_DEFERS steps back
it accepts one anyway, so a peer that is stuck never leaves a client waiting long. Taking a burst one
connection per turn of the loop made its last clients wait for sixteen turns, each running a chunk of
every request already accepted (first requests up to 250 ms against 100 ms once connected; bench/README.md,
"the connection ramp"). Each worker's count lives in a small shared-memory board the master creates
before forking, one slot per worker, freed when the worker exits; it counts connections handed to a
greenlet and closed, so a peer reading it as a new burst arrives is not told of connections long gone.

Standard library only, and gevent only inside the worker: gunicorn.conf.py loads this file by path in the
master (importing the `backend` package there would import the app's libraries before the workers'
gevent monkey-patching), and the benchmark's naive baseline loads it too, so both sides of the
comparison get the same server tuning.
"""
from __future__ import annotations

import mmap
import socket
import struct

MAX_WORKERS = 64
DEFER_S = 0.002
MAX_DEFERS = 3
MAX_BATCH = 100  # accept() calls per wake-up at most, as gevent's own default max_accept
_FREE = -1
_TCP_INFO_LEN = 104
_TCP_LISTEN = 10


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


def install_in(worker) -> None:
    """From post_worker_init: balance this gevent worker's accepts against its peers' (no-op for other workers).

    A SQLite app too, since a worker takes its share of a burst at once: with one connection per wake-up,
    its loop turning only between whole requests, a peer picked up a deferred client late and the balancing
    was left off there (check-in p99 1.1-2.2 s against 0.8-1.1 s); with the share it halves SQLite's p99
    and its max falls from 670-920 ms to 140-180 (bench/README.md, "Check-in throughput", 2026-12-07 08:25).
    """
    if not _is_gevent(worker):
        return
    from gevent.baseserver import BaseServer

    # gevent's server accepts up to 100 pending connections per wake-up, so one worker could take most of a
    # burst of keep-alive clients (28 of 32 seen) while the other idled: one per accept() call, also for a
    # worker without a board slot, which then takes turns with its peers at the socket.
    BaseServer.max_accept = 1
    board = getattr(worker, "accept_board", None)
    if board is not None and worker.accept_slot is not None:
        install(board, worker.accept_slot)


def listen_backlog(sock) -> int | None:
    """Connections waiting in a listening TCP socket's accept queue (Linux TCP_INFO), None where unknown."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, _TCP_INFO_LEN)
    except (AttributeError, OSError):  # not Linux, or not a TCP socket (a unix socket bind)
        return None
    # struct tcp_info: eight u8 fields, then u32 rto, ato, snd_mss, rcv_mss, unacked; for a socket in
    # LISTEN the kernel reports its accept queue's length as tcpi_unacked.
    if len(info) < 28 or info[0] != _TCP_LISTEN:
        return None
    return struct.unpack_from("I", info, 24)[0]


def accept_quota(mine: int, others: list[int], waiting: int | None, deferred: int) -> int:
    """How many waiting connections a worker holding `mine` takes at this wake-up (`others`: its live peers'
    counts, `waiting`: the accept queue's length or None where unknown), having stepped back `deferred`
    times; 0 means step back once more."""
    if waiting is None:
        return 0 if should_defer(mine, others, deferred) else 1
    if waiting == 0:
        return 1  # woken for a connection a peer has taken meanwhile: accept() finds none, no step back counted
    # Its even share of everything held or waiting: a burst is taken in at one or two wake-ups per
    # worker instead of one connection per turn of each worker's loop.
    share = -(-(mine + sum(others) + waiting) // (len(others) + 1))
    quota = min(waiting, share - mine, MAX_BATCH)
    if quota > 0:
        return quota
    return 0 if should_defer(mine, others, deferred) else 1


def install(board: Board, slot: int) -> None:
    """In a gevent worker: its servers take their even share of waiting connections and step back while a
    peer holds fewer."""
    from gevent.baseserver import BaseServer
    from gevent.server import StreamServer

    accept, handle, close = BaseServer._do_read, BaseServer.do_handle, StreamServer.do_close
    # The connections this worker holds over all its listeners, counted as they are handed to a greenlet and
    # as they are closed: a pool's size also counts greenlets that have finished and not been removed yet,
    # and a count published as a burst of clients hangs up would tell the peers of connections long gone.
    held = 0

    def publish(server) -> None:
        # A closed server (a worker draining before it exits) takes no more: out of its peers' shares.
        board.publish(slot, _FREE if server.closed else held)

    def do_handle(server, *args) -> None:
        nonlocal held
        # Counted first: a server without a pool runs the handler (and its close) inside this call, and one
        # whose greenlet cannot be spawned closes the socket before raising; do_close counts both out.
        held += 1
        publish(server)
        handle(server, *args)

    def do_close(server, *args) -> None:
        nonlocal held
        try:
            close(server, *args)
        finally:
            held = max(0, held - 1)
            publish(server)

    def _do_read(server) -> None:
        publish(server)
        deferred = getattr(server, "_balance_deferred", 0)
        quota = accept_quota(held, board.others(slot), listen_backlog(server.socket), deferred)
        if quota == 0:
            server._balance_deferred = deferred + 1
            server.stop_accepting()
            # gevent's own back-off timer: stop_accepting() cancels it, _start_accepting_if_started resumes.
            server._timer = server.loop.timer(DEFER_S)
            server._timer.start(server._start_accepting_if_started)
            return
        server._balance_deferred = 0
        server.max_accept = 1  # one accept() per call of gevent's reader: the quota counts them
        for _ in range(quota):
            before = held
            accept(server)
            if held == before or server._watcher is None:
                break  # nothing was waiting any more, the pool is full, or accept() failed and backed off

    BaseServer._do_read = _do_read
    BaseServer.do_handle = do_handle
    StreamServer.do_close = do_close
