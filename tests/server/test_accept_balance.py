"""Keep-alive clients are spread evenly over gevent workers (backend/accept_balance.py, gunicorn.conf.py)."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from backend import accept_balance
from backend.accept_balance import Board, accept_quota, listen_backlog, should_defer
from tests.kiosk.live_server import free_port

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("mine", "others", "deferred", "defer"), [
    (0, [0], 0, False),      # even: take it
    (1, [0], 0, True),       # a peer holds fewer: leave it to the peer
    (5, [3, 7], 0, True),    # the least busy peer decides
    (3, [3, 7], 0, False),   # as few as the least busy peer: take it
    (9, [0], 2, True),
    (9, [0], 3, False),      # stepped back MAX_DEFERS times: a stuck peer never leaves the client waiting
    (9, [], 0, False),       # the only worker
])
def test_should_defer(mine, others, deferred, defer):
    assert accept_balance.MAX_DEFERS == 3
    assert should_defer(mine, others, deferred) is defer


@pytest.mark.parametrize(("mine", "others", "waiting", "deferred", "quota"), [
    (0, [0], 32, 0, 16),     # a burst on two idle workers: half of it at once
    (0, [0], 31, 0, 16),     # an odd total: both may take the larger half; the second finds one fewer
    (0, [16], 16, 0, 16),    # the peer took its half first: the rest
    (16, [0], 16, 0, 0),     # took its half, the peer has not yet: step back for it
    (16, [0], 16, 3, 1),     # ... but a stuck peer never leaves a client waiting: one after MAX_DEFERS
    (15, [16], 1, 0, 1),     # one behind: take the last one
    (16, [15], 1, 0, 0),     # one ahead, one waiting: the peer's
    (0, [10, 2], 6, 0, 6),   # three workers: (0+12+6)/3 = 6
    (10, [0], 5, 0, 0),      # above its share
    (3, [3], 0, 0, 1),       # woken for a connection a peer took meanwhile: accept() just finds none
    (3, [3], 0, 2, 1),
    (0, [], 40, 0, 40),      # the only worker (or the only one with a slot): everything waiting
    (0, [0], 500, 0, 100),   # at most MAX_BATCH per wake-up, as gevent
    (0, [0], None, 0, 1),    # queue length unknown (not Linux, a unix socket): one at a time as before
    (1, [0], None, 0, 0),
    (1, [0], None, 3, 1),
])
def test_accept_quota(mine, others, waiting, deferred, quota):
    assert accept_balance.MAX_DEFERS == 3
    assert accept_quota(mine, others, waiting, deferred) == quota


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="TCP_INFO's accept queue is Linux's")


@linux_only
def test_listen_backlog_is_the_accept_queue_of_a_listening_tcp_socket():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        assert listen_backlog(listener) == 0
        clients = [socket.create_connection(listener.getsockname(), timeout=5) for _ in range(3)]
        try:
            deadline = time.monotonic() + 5
            while listen_backlog(listener) != 3 and time.monotonic() < deadline:
                time.sleep(0.01)  # the handshakes complete in the kernel, not in connect()'s caller
            assert listen_backlog(listener) == 3
            accepted, _ = listener.accept()
            accepted.close()
            assert listen_backlog(listener) == 2
            assert listen_backlog(clients[0]) is None  # a connected socket: not an accept queue
        finally:
            for c in clients:
                c.close()
    with socket.socket(socket.AF_UNIX) as unix:  # gunicorn can bind a unix socket: no TCP_INFO there
        unix.bind(f"\0accept-balance-{os.getpid()}")
        unix.listen(8)
        assert listen_backlog(unix) is None


# Runs in its own process: install() patches gevent's server classes for the whole process.
_SHARE_AND_COUNT = """
import json, socket, gevent
from gevent.baseserver import BaseServer
from gevent.pool import Pool
from gevent.server import StreamServer
from backend.accept_balance import Board, install, listen_backlog

board = Board(2)
mine, peer = board.claim(set()), board.claim({0})
install(board, mine)
after_wake_ups = []
balanced_read = BaseServer._do_read
def recording_read(server):
    balanced_read(server)
    after_wake_ups.append(board.counts[mine])
BaseServer._do_read = recording_read

def hold(sock, _address):
    while sock.recv(64):  # until the client hangs up
        pass

listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(64)
# Six clients connected before the server looks: the kernel completes their handshakes on its own.
clients = [socket.create_connection(listener.getsockname()) for _ in range(6)]
while listen_backlog(listener) < 6:
    gevent.sleep(0.01)
server = StreamServer(listener, hold, spawn=Pool(100))  # as gunicorn's gevent worker builds it
server.max_accept = 1
server.start()
gevent.sleep(0.3)
held_all = board.counts[mine]
for c in clients[:4]:
    c.close()
gevent.sleep(0.1)
after_hang_ups = board.counts[mine]
server.close()  # as a worker does when told to stop: it drains and takes no more
clients[4].close()
gevent.sleep(0.1)
print(json.dumps({"first": after_wake_ups[0], "held_all": held_all, "after_hang_ups": after_hang_ups,
                  "draining": board.counts[mine]}))
"""


@linux_only
def test_a_worker_takes_its_share_at_once_and_counts_hang_ups_at_once():
    run = subprocess.run([sys.executable, "-c", _SHARE_AND_COUNT], cwd=ROOT, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["first"] == 3  # half of the six waiting at its first wake-up, the peer holding none
    assert seen["held_all"] == 6  # the peer never came: after the steps back the rest were taken anyway
    assert seen["after_hang_ups"] == 2  # four clients hung up: the board says so at once
    assert seen["draining"] == -1  # a closed server's worker is out of its peers' shares, not "least busy"


def test_board_slots_are_claimed_released_and_shared_across_fork():
    board = Board(3)
    first = board.claim(set())
    second = board.claim({first})
    assert (first, second) == (0, 1)
    assert board.claim({0, 1, 2}) is None  # full: that worker runs unbalanced rather than fail to start
    assert board.others(first) == [0]
    pid = os.fork()
    if pid == 0:  # a worker writes its count; the master and its peers read it
        board.publish(second, 7)
        os._exit(0)
    os.waitpid(pid, 0)
    assert board.others(first) == [7]
    board.release(second)
    assert board.others(first) == []


def _get_pid(sock: socket.socket) -> int:
    """Send one request on a keep-alive connection; the answering worker's pid."""
    sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "connection closed"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = int(head.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
    while len(body) < length:
        body += sock.recv(4096)
    return int(body)


def test_a_burst_of_keep_alive_clients_is_split_evenly_between_two_gevent_workers():
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(ROOT / "gunicorn.conf.py"), "tests.server.pid_wsgi:app",
         "--worker-class", "gevent", "--workers", "2", "--bind", f"127.0.0.1:{port}", "--log-level", "warning"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # Wait until both workers serve: a short connection at a time until two pids answered.
        seen, deadline = set(), time.monotonic() + 30
        while len(seen) < 2:
            assert time.monotonic() < deadline, "the two workers did not come up"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    seen.add(_get_pid(s))
            except OSError:
                time.sleep(0.1)
        time.sleep(0.5)  # the probes' connections are closed and their counts published again
        for _ in range(3):
            clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(32)]
            try:
                split = Counter(_get_pid(c) for c in clients)
            finally:
                for c in clients:
                    c.close()
            assert set(split) == seen
            # Without the balancing 22/10 was seen; a little slack for a worker descheduled during the burst.
            assert max(split.values()) - min(split.values()) <= 4, split
            time.sleep(0.5)
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=30)
    assert b"Traceback" not in err, err.decode()


def test_master_hooks_give_each_gevent_worker_its_own_slot_and_free_it_on_exit():
    gevent_worker = type("GeventWorker", (), {"__module__": "gunicorn.workers.ggevent"})
    thread_worker = type("ThreadWorker", (), {"__module__": "gunicorn.workers.gthread"})
    server = type("Arbiter", (), {})()
    server.WORKERS = {}
    hooks = {}
    exec(compile((ROOT / "backend" / "accept_balance.py").read_text(), "accept_balance.py", "exec"), hooks)
    first, second, third = gevent_worker(), gevent_worker(), gevent_worker()
    hooks["pre_fork"](server, first)
    server.WORKERS[101] = first
    hooks["pre_fork"](server, second)
    server.WORKERS[102] = second
    assert (first.accept_slot, second.accept_slot) == (0, 1) and first.accept_board is second.accept_board
    second.accept_board.publish(second.accept_slot, 4)
    assert first.accept_board.others(first.accept_slot) == [4]
    hooks["child_exit"](server, server.WORKERS.pop(102))  # the second worker died: its count no longer counts
    assert first.accept_board.others(first.accept_slot) == []
    hooks["pre_fork"](server, third)  # its replacement takes the freed slot
    assert third.accept_slot == 1
    other = thread_worker()
    hooks["pre_fork"](server, other)  # not gevent: no slot, and post_worker_init installs nothing
    assert not hasattr(other, "accept_slot")
    hooks["install_in"](other)
