"""One Redis client per URL per process (connection pool inside), created on first use."""
from __future__ import annotations

import threading

_clients: dict[str, object] = {}
_lock = threading.Lock()


def redis_client(url: str):
    """A shared redis.Redis for `url`."""
    client = _clients.get(url)
    if client is None:
        import redis
        with _lock:
            client = _clients.get(url)
            if client is None:
                client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
                _clients[url] = client
    return client
