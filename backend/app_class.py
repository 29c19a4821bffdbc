"""The application class: APIFlask that decides once per function whether it must run a coroutine."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from apiflask import APIFlask

# Hooks and views are registered at start; the bound keeps a caller that wraps functions per request
# from growing the cache without end (those are then simply asked every time, as Flask does).
_MAX_CACHED = 4096


class App(APIFlask):
    """APIFlask with `ensure_sync` remembered per function.

    Flask asks `inspect.iscoroutinefunction` of every before/after/teardown hook and the view on every
    request (17 calls per check-in); the answer for a function never changes, so it is asked once.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_for: dict[Any, Callable] = {}

    def ensure_sync(self, func: Callable) -> Callable:
        """The function itself, or its synchronous wrapper when it is a coroutine function (cached)."""
        try:
            return self._sync_for[func]
        except KeyError:
            pass
        except TypeError:  # not hashable: decide it every time
            return super().ensure_sync(func)
        sync = super().ensure_sync(func)
        if len(self._sync_for) < _MAX_CACHED:
            self._sync_for[func] = sync
        return sync
