"""The occupation catalogue (national occupation classification codes → names), read from backend/data."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

CATALOGUE = Path(__file__).resolve().parent.parent / "data" / "occupations.json"


@cache
def occupations() -> dict[str, str]:
    """{code: name} of the occupations the product knows by name (a code not listed stays valid)."""
    return json.loads(CATALOGUE.read_text(encoding="utf-8"))


def occupation_name(code: str | None) -> str | None:
    """The name of an occupation code, or None when the catalogue does not list it."""
    return occupations().get((code or "").strip())


def occupation_label(code: str | None) -> str:
    """"中式烹调师（4-03-02-01）" for a listed code, the bare code otherwise (as the pages show it)."""
    name = occupation_name(code)
    return f"{name}（{code}）" if name else (code or "")
