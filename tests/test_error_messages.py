"""Every error code the backend raises has a Chinese and an English message (backend/domain/messages.py)."""
from __future__ import annotations

import re
from pathlib import Path

from backend.domain.messages import MESSAGES

BACKEND = Path(__file__).resolve().parents[1] / "backend"
RAISED = re.compile(r'\b(?:AppError|invalid|forbidden|conflict|not_found)\(\s*"([a-z][a-z0-9_]*)"')


def test_every_raised_code_has_zh_and_en_messages():
    raised = {m.group(1): str(p.relative_to(BACKEND)) for p in BACKEND.rglob("*.py")
              for m in RAISED.finditer(p.read_text(encoding="utf-8"))}
    assert {"identity_not_verified", "verification_required", "invalid_code", "not_bound"} <= set(raised)
    missing = {code: where for code, where in raised.items() if code not in MESSAGES}
    assert not missing, missing
    assert all(re.search(r"[\u4e00-\u9fff]", MESSAGES[c][0]) and MESSAGES[c][1] for c in raised)
