"""Shared by the bench scripts: a one-line machine description and writing one section of bench/README.md."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


def machine(with_postgres: bool = False) -> str:
    """CPU count and model, Python (and the PostgreSQL client) version."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [f"{os.cpu_count()} CPUs ({cpu})"]
    if with_postgres and shutil.which("psql"):
        parts.append(subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip())
    parts.append(f"Python {sys.version.split()[0]}")
    return "; ".join(parts)


def write_section(section: str, text: str) -> None:
    """Replace (or append) the `section` heading's part of bench/README.md, leaving the others alone."""
    current = README.read_text() if README.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(current):
        updated = pattern.sub(lambda _m: text.rstrip("\n") + "\n\n", current).rstrip("\n") + "\n"
    else:
        updated = current.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    README.write_text(updated)
