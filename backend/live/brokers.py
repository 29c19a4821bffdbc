"""Brokers: a publisher interface with Redis pub/sub and in-process implementations.

Each process keeps one set of local subscriber queues (one per open stream). The in-process
broker puts a published message straight into them; the Redis broker publishes to a channel and
one listener thread per process (a greenlet under gunicorn's gevent worker) feeds the local
queues, so a message published by any worker or instance reaches every stream once.
"""
from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Protocol

from flask import current_app

log = logging.getLogger(__name__)

# A stream that falls this far behind is marked lagged and catches up from the database instead
# of the process buffering without bound.
QUEUE_SIZE = 1000
_CREATE_LOCK = threading.Lock()


class Lagged(Exception):
    """The subscriber missed messages (slow reader or broker outage); it must resynchronise."""


class Subscription:
    """One stream's queue of published messages."""

    def __init__(self, owner: _FanOut, maxsize: int = QUEUE_SIZE):
        self._owner = owner
        self._queue: queue.Queue = queue.Queue(maxsize)
        self.lagged = False

    def offer(self, message: dict) -> None:
        """Enqueue without blocking the publisher; a full queue marks the subscriber lagged."""
        try:
            self._queue.put_nowait(message)
        except queue.Full:
            self.lagged = True

    def get(self, timeout: float) -> dict | None:
        """The next message, or None after `timeout` seconds; raises Lagged when messages were lost."""
        if self.lagged:
            raise Lagged()
        try:
            return self._queue.get(timeout=timeout)
        except queue.Empty:
            if self.lagged:
                raise Lagged() from None
            return None

    def close(self) -> None:
        """Stop receiving."""
        self._owner.unsubscribe(self)


class Broker(Protocol):
    """What the live stream and the publishers rely on."""

    def publish(self, message: dict) -> None:
        """Send a message to every subscriber of every process."""

    def subscribe(self) -> Subscription:
        """Start receiving messages published from now on."""


class _FanOut:
    """The local subscriber set shared by both brokers."""

    def __init__(self):
        self._lock = threading.Lock()
        self._subscribers: set[Subscription] = set()

    def subscribe(self) -> Subscription:
        """A new local subscription."""
        sub = Subscription(self)
        with self._lock:
            self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget a subscription (idempotent)."""
        with self._lock:
            self._subscribers.discard(sub)

    def dispatch(self, message: dict) -> None:
        """Hand a message to every local subscriber."""
        with self._lock:
            subscribers = list(self._subscribers)
        for sub in subscribers:
            sub.offer(message)

    def mark_all_lagged(self) -> None:
        """Tell every local stream it may have missed messages."""
        with self._lock:
            for sub in self._subscribers:
                sub.lagged = True

    @property
    def subscriber_count(self) -> int:
        """Open local subscriptions (for tests and health output)."""
        with self._lock:
            return len(self._subscribers)


class LocalBroker(_FanOut):
    """In-process fan-out for the single-process development server and tests."""

    def publish(self, message: dict) -> None:
        """Deliver to this process's subscribers only."""
        self.dispatch(message)


class RedisBroker(_FanOut):
    """Redis pub/sub on one channel; the region travels in the message and streams filter on it."""

    READY_TIMEOUT_S = 5.0

    def __init__(self, url: str, channel: str):
        super().__init__()
        import redis
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self._url = url
        self.channel = channel
        self._listener: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()

    def publish(self, message: dict) -> None:
        """PUBLISH the message; a Redis outage is logged, the event itself is already stored."""
        try:
            self._redis.publish(self.channel, json.dumps(message, ensure_ascii=False, separators=(",", ":")))
        except Exception:  # noqa: BLE001 — streams find the event in the database anyway
            log.exception("live: could not publish to Redis channel %s", self.channel)

    def subscribe(self) -> Subscription:
        """Subscribe locally, starting the process's listener and waiting until Redis confirms it."""
        self._ensure_listener()
        sub = super().subscribe()
        if not self._ready.wait(self.READY_TIMEOUT_S):
            log.warning("live: Redis subscription not confirmed within %.0f s", self.READY_TIMEOUT_S)
        return sub

    def close(self) -> None:
        """Stop the listener (tests)."""
        self._stop.set()

    def _ensure_listener(self) -> None:
        with self._lock:
            if self._listener is not None and self._listener.is_alive():
                return
            self._listener = threading.Thread(target=self._listen, name="live-redis-listener", daemon=True)
            self._listener.start()

    def _listen(self) -> None:
        import redis
        failures = 0
        while not self._stop.is_set():
            pubsub = None
            try:
                # No socket timeout here: get_message(timeout=) below bounds each wait instead.
                client = redis.Redis.from_url(self._url, socket_connect_timeout=2)
                pubsub = client.pubsub()
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    msg = pubsub.get_message(timeout=1.0)
                    if msg is None:
                        continue
                    if msg["type"] == "subscribe":
                        if failures:
                            log.warning("live: Redis subscription restored after %d failure(s)", failures)
                        failures = 0
                        self._ready.set()
                    elif msg["type"] == "message":
                        self._deliver(msg["data"])
            except Exception:  # noqa: BLE001 — keep listening whatever Redis does
                self._ready.clear()
                # Messages published while we were away are lost to the live path: streams take a
                # fresh subscription and read the gap from the database.
                self.mark_all_lagged()
                failures += 1
                if failures == 1:
                    log.exception("live: Redis listener failed; retrying")
                else:
                    log.debug("live: Redis listener still failing (%d)", failures)
                time.sleep(min(10.0, 0.5 * 2 ** min(failures, 5)))
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:  # noqa: BLE001
                        pass

    def _deliver(self, raw: bytes | str) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("live: ignoring a malformed message on %s", self.channel)
            return
        self.dispatch(message)


def broker() -> Broker:
    """This app's broker, created on first use in the current process (after gunicorn forks)."""
    app = current_app._get_current_object()
    found = app.extensions.get("live_broker")
    if found is not None:
        return found
    with _CREATE_LOCK:
        found = app.extensions.get("live_broker")
        if found is None:
            url = app.config.get("REDIS_URL")
            channel = app.config.get("LIVE_CHANNEL") or "peixunquan:live:attendance"
            found = RedisBroker(url, channel) if url else LocalBroker()
            app.extensions["live_broker"] = found
    return found
