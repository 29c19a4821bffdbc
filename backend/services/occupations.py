"""The occupation catalogue (backend/data/occupations.json: national occupation classification code -> name)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

CATALOGUE = Path(__file__).resolve().parent.parent / "data" / "occupations.json"


@lru_cache(maxsize=1)
def catalogue() -> dict[str, str]:
    """Every known occupation code with its Chinese name, in code order."""
    data = json.loads(CATALOGUE.read_text(encoding="utf-8"))
    return dict(sorted(data.items()))


def occupation_name(code: str | None) -> str | None:
    """The name of an occupation code, or None when the catalogue does not know it."""
    return catalogue().get((code or "").strip())
