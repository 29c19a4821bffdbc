"""Limits on the shape of every JSON request body, checked before anything parses it.

Python's json module recurses once per nesting level: 10,000 nested brackets raise RecursionError, and
a number of more than 4,300 digits raises ValueError; neither is the JSONDecodeError that Flask and
webargs turn into a 400, so both were 500s. The size of a body is capped by MAX_CONTENT_LENGTH (413),
but a 24 MB body of `[],[],...` still becomes millions of Python objects. So a body's structure is
measured first, on the raw bytes with its strings blanked out (splits and byte counts, all in C), and
refused when it is deeper, holds more values or longer numbers than any request of
this API needs:

- depth over MAX_DEPTH: 422 validation_error {reason: "too_deep"}
- more than MAX_CONTAINERS objects/arrays or MAX_VALUES values: 413 payload_too_large
  {reason: "too_many_values"} (the largest real body, 50,000 online-learning records, has 50,000
  objects and 200,000 values)
- a number longer than MAX_NUMBER_CHARS: 422 validation_error {reason: "number_too_long"}
- bytes that are not UTF-8: 400 validation_error {reason: "not_utf8"}, as malformed JSON is.
"""
from __future__ import annotations

import re

from flask import request

from ..domain.errors import AppError

MAX_DEPTH = 32
MAX_CONTAINERS = 100_000
MAX_VALUES = 400_000
MAX_NUMBER_CHARS = 100

_LONG_NUMBER = re.compile(rb"[-+0-9.eE]{%d}" % (MAX_NUMBER_CHARS + 1))
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_problem(body: bytes) -> AppError | None:
    """The limit a raw JSON body breaks (as the error to raise), or None when it is within all of them."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return AppError("validation_error", 400, {"reason": "not_utf8"})
    skeleton = skeleton_of(body)
    containers = skeleton.count(b"[") + skeleton.count(b"{")
    values = skeleton.count(b",") + 1
    if containers > MAX_CONTAINERS or values > MAX_VALUES:
        return AppError("payload_too_large", 413, {"reason": "too_many_values", "max_containers": MAX_CONTAINERS,
                                                   "max_values": MAX_VALUES})
    if _LONG_NUMBER.search(skeleton):
        return AppError("validation_error", 422, {"reason": "number_too_long", "max_chars": MAX_NUMBER_CHARS})
    depth = 0
    for byte in skeleton.translate(None, _NOT_BRACKETS):  # at most 2 * MAX_CONTAINERS brackets
        depth += 1 if byte in b"[{" else -1
        if depth > MAX_DEPTH:
            return AppError("validation_error", 422, {"reason": "too_deep", "max_depth": MAX_DEPTH})
    return None


def skeleton_of(body: bytes) -> bytes:
    """The body with every string's content removed (`"ab\\"c"` becomes `""`), for counting its structure.

    Escapes go first: escaped backslashes, then escaped quotes. A run of backslashes in JSON always starts
    where an escape can start, so pairing them left to right is how a parser reads them, and what is left
    of each string holds no quote but its own two. The strings are then every other piece between quotes.
    Three passes in C: a regular expression stepping through a kiosk upload's 500 base64 face crops
    (4.8 MB) took 23 ms, five times the parse it guards; these take about 4 ms (bench/README.md).
    Invalid JSON may be counted differently here, but the parser stops at the first error, so what it
    builds before that point was counted the same.
    """
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    return b'""'.join(body.split(b'"')[0::2])


def before_request() -> None:
    """Refuse a JSON body beyond the limits before Flask or webargs parse it."""
    if not request.is_json:
        return
    body = request.get_data(cache=True)  # MAX_CONTENT_LENGTH applies here: 413 when over
    if body:
        problem = json_problem(body)
        if problem is not None:
            raise problem
