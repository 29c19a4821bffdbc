"""The running app's settings and per-app caches, for reads too deep in the services to take them as arguments yet.

Like `backend.clock.now()` and `backend.security.crypto.vault()`, this is an accessor bound to the
running app, kept outside `backend/services` so that services never name `current_app` themselves.
Services take settings as plain arguments (the api layer passes `current_app.config` values in); the
one deep reader left is the policy layer (backend/services/policies.py): the national defaults, which a
deployment may override by setting, sit under every plan's parameters (`plan_params`, read by some
twenty rules in ten services), and the versions are cached per app.
"""
from __future__ import annotations

from collections.abc import Mapping

from flask import current_app


def app_settings() -> Mapping:
    """The running app's configuration (read-only use)."""
    return current_app.config


def app_cache(name: str, default: dict) -> dict:
    """A dict kept for the life of the running app (per app, so tests' apps never share it)."""
    return current_app.extensions.setdefault(name, default)
