"""Bucket py-spy's collapsed stacks of a gunicorn worker into the parts of a request.

Run: .venv/bin/python bench/stack_breakdown.py STACKS... (py-spy `record --format raw` output, as
bench/checkin_bench.py --py-spy writes it). A sample counts for the first STICKY part with a
frame anywhere in its stack (the SQL inside the view counts as SQL, not as the view), else for the
part of its innermost frame that matches one of INNERMOST.
"""
from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

# Parts that own everything below them: a sample with any of these frames counts for the first one.
STICKY = [
    ("SQL: SQLAlchemy (Core, ORM, pool) + psycopg, incl. waiting on the socket", r"\((psycopg|sqlalchemy)/"),
    ("JWT (PyJWT)", r"\(jwt/"),
    ("rate limiter (Flask-Limiter, limits)", r"\((flask_limiter|limits)/|rate_storage\.py"),
    ("logging (access log, request id)", r"\(logging/|backend/logs\.py"),
    ("live publication", r"backend/live/"),
    ("geodesic distance (geographiclib)", r"\(geographiclib/"),
]
# Otherwise the innermost frame that matches one of these decides (library wrappers around the view,
# like apiflask's, then do not take the view's own time).
INNERMOST = [
    ("input/output schemas (apiflask, webargs, marshmallow)", r"\((marshmallow|webargs|apiflask)/"),
    ("JSON body limits (json_limits)", r"json_limits\.py"),
    ("check-in rules, risk flags, auth gate (backend/domain, services, security)",
     r"backend/(domain|services|security)/"),
    ("views (backend/api, the naive view)", r"backend/api/|naive_checkin_app\.py|backend/__init__\.py"),
    ("Flask/Werkzeug request handling (routing, hooks, contexts, JSON)", r"\((flask|werkzeug|flask_sqlalchemy)/"),
    ("gunicorn/gevent HTTP server (parse, socket, greenlets)", r"\((gunicorn|gevent)/"),
]
PARTS = STICKY + INNERMOST
# Decorator frames that only pass the call through to the view: left out before matching, or every
# sample of the view would count for the limiter.
WRAPPERS = re.compile(r"^RouteLimit\.__call__\.<locals>\.__inner \(flask_limiter/")


def breakdown(paths: list[Path]) -> tuple[Counter, int]:
    """Samples per part over the given stack files, and the total."""
    counts: Counter = Counter()
    total = 0
    sticky = [(name, re.compile(pattern)) for name, pattern in STICKY]
    inner = [(name, re.compile(pattern)) for name, pattern in INNERMOST]
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, n = line.rpartition(" ")
            if not stack or not n.isdigit():
                continue
            samples = int(n)
            total += samples
            frames = [f for f in stack.split(";") if not WRAPPERS.match(f)]
            counts[_part(frames, sticky, inner)] += samples
    return counts, total


def _part(frames: list[str], sticky, inner) -> str:
    for name, pattern in sticky:
        if any(pattern.search(frame) for frame in frames):
            return name
    for frame in reversed(frames):
        for name, pattern in inner:
            if pattern.search(frame):
                return name
    return "other"


def table(paths: list[Path], per_request_ms: float | None = None) -> str:
    """A markdown table of the parts' shares (and ms per request when the worker CPU per request is given)."""
    counts, total = breakdown(paths)
    head = "| part | share |" + (" ms/req |" if per_request_ms else "")
    rule = "|---|---:|" + ("---:|" if per_request_ms else "")
    rows = [head, rule]
    for name, _pattern in [*PARTS, ("other", "")]:
        if counts[name]:
            share = counts[name] / total
            rows.append(f"| {name} | {share * 100:.1f} % |" + (f" {share * per_request_ms:.2f} |" if per_request_ms else ""))
    return "\n".join(rows) + f"\n\n({total:,} samples)"


if __name__ == "__main__":
    print(table([Path(p) for p in sys.argv[1:]]))
