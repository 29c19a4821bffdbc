"""The domain rules, the face module and the kiosk daemon's core import without Flask or SQLAlchemy.

A fresh virtual environment (no pip, no site packages) sees the repository and only the few libraries the
domain needs, symlinked from this environment; Flask and SQLAlchemy are not importable there at all, so
any import of them on the way (backend/__init__.py used to import APIFlask) fails the test.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Top-level modules the domain and the kiosk core use beyond the standard library.
# numpy: camera frames and the liveness geometry (kiosk/core/liveness.py).
ALLOWED = ("geographiclib", "chinese_calendar", "cryptography", "cffi", "_cffi_backend", "numpy", "PIL")

PROBE = r"""
import importlib, importlib.util, pkgutil, sys
import backend.domain
for info in pkgutil.iter_modules(backend.domain.__path__):
    importlib.import_module(f"backend.domain.{info.name}")
import backend.faces, kiosk.core.schedule, kiosk.core.controller, kiosk.core.manifest
import kiosk.runtime, kiosk.check, kiosk.provision, kiosk.__main__  # the whole daemon, not only its core
from backend.domain import judge
assert judge.judge  # the judge itself, not just its module
for name in ("flask", "apiflask", "sqlalchemy", "flask_sqlalchemy"):
    assert importlib.util.find_spec(name) is None, f"{name} is importable: the probe proves nothing"
    assert name not in sys.modules, name
print("ok", len(sys.modules))
"""


def _link_allowed(target: Path) -> None:
    for name in ALLOWED:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (target / source.name).symlink_to(source)
        libs = source.parent / f"{source.name}.libs"  # a manylinux wheel's bundled shared libraries
        if libs.is_dir():
            (target / libs.name).symlink_to(libs)


def test_domain_faces_and_kiosk_core_import_without_flask_or_sqlalchemy(tmp_path):
    env = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False, system_site_packages=False, symlinks=True).create(env)
    deps = tmp_path / "deps"
    deps.mkdir()
    _link_allowed(deps)
    python = env / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "repo.pth").write_text(f"{REPO}\n{deps}\n")
    out = subprocess.run([python, "-I", "-c", PROBE], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def test_the_app_factory_still_loads_flask_when_called():
    out = subprocess.run([sys.executable, "-c", "import sys, backend; assert 'apiflask' not in sys.modules; "
                          "assert callable(backend.create_app); print('ok')"],
                         capture_output=True, text=True, timeout=60, cwd=REPO)
    assert out.returncode == 0, out.stderr
