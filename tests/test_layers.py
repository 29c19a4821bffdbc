"""The layers hold: services and domain import without an app, services never reach for Flask's request
state, and only backend/unit_of_work.py commits the session."""
from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import backend

BACKEND = Path(backend.__file__).parent
FLASK_STATE = {"g", "request", "current_app", "session", "has_request_context", "has_app_context"}


def _modules(package: str) -> list[str]:
    pkg = importlib.import_module(package)
    return [f"{package}.{info.name}" for info in pkgutil.iter_modules(pkg.__path__)]


def _flask_state_uses(path: Path) -> list[str]:
    """Every place a module names Flask's request/app state: imports of it, or `flask.g`-style attributes."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "flask":
            found += [f"{path.name}:{node.lineno} imports flask.{a.name}" for a in node.names
                      if a.name in FLASK_STATE or a.name == "*"]
        elif isinstance(node, ast.Import):
            found += [f"{path.name}:{node.lineno} imports {a.name}" for a in node.names if a.name.startswith("flask")]
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "flask"
              and node.attr in FLASK_STATE):
            found.append(f"{path.name}:{node.lineno} uses flask.{node.attr}")
    return found


def test_services_and_domain_import_without_an_app():
    """A fresh interpreter imports every module of backend/services and backend/domain with no app context."""
    names = _modules("backend.services") + _modules("backend.domain")
    assert len(names) > 40
    code = ("import importlib, sys\n"
            "from flask import has_app_context\n"
            f"for name in {names!r}:\n"
            "    importlib.import_module(name)\n"
            "assert not has_app_context()\n"
            "print('ok', len(sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=BACKEND.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")


@pytest.mark.parametrize("folder", ["services", "domain"])
def test_no_flask_request_state_below_the_api(folder):
    """No module of backend/services or backend/domain imports or names flask.g, request or current_app."""
    files = sorted((BACKEND / folder).glob("*.py"))
    assert files
    uses = [use for path in files for use in _flask_state_uses(path)]
    assert uses == []


def test_the_checker_sees_what_it_forbids(tmp_path):
    """The AST check itself finds each forbidden form (so an empty result above means something)."""
    sample = tmp_path / "sample.py"
    sample.write_text("import flask\nfrom flask import current_app, g\nfrom flask import request as r\n"
                      "x = flask.g\n", encoding="utf-8")
    assert len(_flask_state_uses(sample)) == 5


def test_only_the_unit_of_work_commits():
    """`session.commit()` is called in backend/unit_of_work.py alone; every other commit goes through it."""
    callers = _calls_of("session", "commit")
    assert callers and all(c.startswith("unit_of_work.py:") for c in callers), callers


def _calls_of(owner: str, method: str) -> list[str]:
    """Every `<...>.owner.method(...)` call under backend/, as "file:line"."""
    callers = []
    for path in sorted(BACKEND.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == method
                    and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == owner):
                callers.append(f"{path.relative_to(BACKEND)}:{node.lineno}")
    return callers


def test_only_the_unit_of_work_opens_connections_beside_the_session():
    """`engine.connect()` is called in backend/unit_of_work.py (own_connection, each use named) and in the
    pool warm-up of backend/db_setup.py alone: no other module runs a transaction the session does not see."""
    callers = _calls_of("engine", "connect")
    assert callers and all(c.startswith(("unit_of_work.py:", "db_setup.py:")) for c in callers), callers


def test_own_connection_names_its_reason(app):
    """An unnamed use is refused; a named one gives a working connection."""
    from sqlalchemy import text

    from backend.unit_of_work import own_connection
    with pytest.raises(ValueError):
        with own_connection("because"):
            pass
    with own_connection("read_only") as conn:
        assert conn.execute(text("SELECT 1")).scalar() == 1


def _service_imports(path: Path) -> set[str]:
    """The sibling services a module of backend/services imports, at the top or inside a function alike."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names |= {node.module.split(".")[0]} if node.module else {a.name for a in node.names}
    return names


def test_services_import_each_other_without_a_cycle():
    """No two services import each other, directly or round a loop (a function-level import counts too:
    it only hides the loop from the interpreter)."""
    files = {p.stem: p for p in (BACKEND / "services").glob("*.py") if p.stem != "__init__"}
    graph = {name: _service_imports(path) & files.keys() for name, path in files.items()}
    assert graph["outcomes"] >= {"hours", "policies"}  # the finder sees both forms (hours is imported in a function)
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> list[str] | None:
        state[name] = "open"
        for nxt in sorted(graph[name]):
            if state.get(nxt) == "open":
                return [*trail, name, nxt]
            if nxt not in state and (loop := visit(nxt, [*trail, name])):
                return loop
        state[name] = "done"
        return None

    loops = [loop for name in sorted(graph) if name not in state and (loop := visit(name, []))]
    assert loops == []


def test_a_record_reads_through_to_its_model_and_never_recurses():
    """ReadsThrough forwards what the record lacks, keeps its own fields, and refuses dunder probes."""
    import copy
    from dataclasses import dataclass
    from types import SimpleNamespace

    from backend.reads_through import ReadsThrough

    @dataclass(frozen=True)
    class Row(ReadsThrough):
        _through = "model"
        model: object
        extra: int

    row = Row(SimpleNamespace(title="电工", extra=0), 7)
    assert (row.title, row.extra) == ("电工", 7)
    assert copy.copy(row) == row  # copy's probes on a half-built instance raise instead of recursing
    with pytest.raises(AttributeError):
        _ = row.missing
