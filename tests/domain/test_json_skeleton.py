"""The JSON body limits measure a body's structure with its strings blanked out (backend/security/json_limits.py).

The skeleton is built with splits instead of a regular expression; these tests hold it to what a parser
sees: the same skeleton as a reference that walks the body character by character, for tricky escapes
and for random documents.
"""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.security.json_limits import MAX_DEPTH, json_problem, skeleton_of


def reference_skeleton(body: bytes) -> bytes:
    """Blank every string the way a JSON parser reads it: a quote opens, a backslash escapes one character."""
    out, inside, i = bytearray(), False, 0
    while i < len(body):
        c = body[i:i + 1]
        if inside:
            if c == b"\\":
                i += 2
                continue
            if c == b'"':
                inside = False
                out += b'"'
        else:
            out += c
            inside = c == b'"'
        i += 1
    return bytes(out)


@pytest.mark.parametrize("body, skeleton", [
    (b'{"a": "b"}', b'{"": ""}'),
    (b'["x\\"y"]', b'[""]'),                        # an escaped quote stays inside
    (b'["x\\\\"]', b'[""]'),                        # an escaped backslash, then the closing quote
    (b'["x\\\\\\"]", 1]', b'["", 1]'),              # escaped backslash, escaped quote, closing quote
    (b'["\\\\\\\\", "[["]', b'["", ""]'),           # two escaped backslashes; brackets in strings vanish
    (b'["\\u005c", "\\n\\""]', b'["", ""]'),       # \u005c is a backslash to the parser, not to the bytes
    (b'{"k": "\\/"}', b'{"": ""}'),
    (b'[1, 2.5e3, true, null]', b'[1, 2.5e3, true, null]'),
    (b'"\\\\"', b'""'),
    (b'[]', b'[]'),
])
def test_skeleton_table(body, skeleton):
    assert skeleton_of(body) == skeleton == reference_skeleton(body)
    json.loads(body)  # every case is valid JSON


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.sampled_from('ab"\\/[]{},:\n中\x00\u2028')),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.text(alphabet=st.sampled_from('k"\\[{'), max_size=4), inner, max_size=4),
    max_leaves=30)


@settings(max_examples=400, deadline=None)
@given(json_values, st.booleans())
def test_skeleton_matches_a_parser_on_random_documents(value, ascii_only):
    body = json.dumps(value, ensure_ascii=ascii_only).encode()
    skeleton = skeleton_of(body)
    assert skeleton == reference_skeleton(body)
    assert b"\\" not in skeleton


def test_a_brackets_in_strings_body_passes_and_a_deep_one_still_fails():
    crop = "A/+9" * 2500  # base64 text, as in a kiosk upload's face crops
    events = [{"event_id": f"e{i:08d}", "face_jpeg_base64": crop, "note": '[{"\\'} for i in range(50)]
    assert json_problem(json.dumps({"events": events}).encode()) is None
    deep = json.dumps({"s": "]]]]\\\"" * 10}).encode()[:-1] + b", " + b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1) + b"}"
    assert json_problem(deep).details["reason"] == "too_deep"
