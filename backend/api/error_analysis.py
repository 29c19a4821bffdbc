"""Static analysis (`ast`) of the backend package: which error codes a function can raise, transitively.

Reads every `AppError(code, status)`, `invalid(code)` (422), `conflict(code)` (409), `forbidden(code)`
(403) and `not_found(code)` (404) a function reaches through what it calls or hands on, with its status.
Followed: module-level functions and methods through each module's imports (also imports inside
functions), `self.method`, `Class(...)` to `__init__`, methods of a parameter annotated with a class and of
that class's annotated fields (`b: Batch` ... `b.pins.check(...)`); codes kept in local variables, module constants,
`a if c else b`, `a or b`, and the string literals a function returns (also one element of a returned
tuple); codes handed to a small helper as an argument; `err.code` of a caught AppError. Errors raised
inside `try` whose `except AppError` (or broader) handler neither re-raises nor returns the error are
not the caller's (they become rows or reasons in a 200 body). It over-approximates: a branch that cannot
run still counts. A site whose code or status it cannot read is recorded in `unresolved`, unless the
caller's overrides (backend/api/error_catalogue.py) supply it.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
ERRORS_MODULE = "backend.domain.errors"
# Error constructors of backend/domain/errors.py and the status each implies (None: AppError's argument).
FACTORIES = {"AppError": None, "invalid": 422, "conflict": 409, "forbidden": 403, "not_found": 404}
DEFAULT_CODES = {"forbidden": "forbidden", "not_found": "not_found"}
_CATCHING = {"AppError", "Exception", "BaseException"}


@dataclass
class _Module:
    name: str
    tree: ast.Module
    is_package: bool
    defs: dict[str, ast.AST] = field(default_factory=dict)  # qualname -> FunctionDef / ClassDef
    imports: dict[str, str] = field(default_factory=dict)  # alias -> "module" or "module:attribute"
    constants: dict[str, ast.expr] = field(default_factory=dict)  # NAME -> value expression


@dataclass
class _Ctx:
    """One function under analysis: where it lives and what its local names are bound to."""

    key: str
    module: _Module
    node: ast.AST
    cls: str | None
    params: list[str]
    imports: dict[str, str]
    assigned: dict[str, list[tuple[ast.expr, int | None]]]
    handlers: dict[str, list[ast.Try]]


@dataclass
class Codes:
    """What a function can raise: fixed (code, status) pairs, and statuses of codes taken from parameters."""

    fixed: set[tuple[str, int]] = field(default_factory=set)
    from_params: dict[str, set[int]] = field(default_factory=dict)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_targets(node: ast.AST, module: str, is_package: bool, known: set[str]) -> dict[str, str]:
    """alias -> "module" or "module:attribute" for one import statement."""
    out: dict[str, str] = {}
    if isinstance(node, ast.Import):
        for a in node.names:
            out[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
        return out
    if not isinstance(node, ast.ImportFrom):
        return out
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[:len(base) - node.level + 1]
        full = ".".join(base + ([node.module] if node.module else []))
    else:
        full = node.module or ""
    for a in node.names:
        sub = f"{full}.{a.name}"
        out[a.asname or a.name] = sub if sub in known else f"{full}:{a.name}"
    return out


def _walk_local(node: ast.AST):
    """ast.walk that does not enter nested functions, classes or lambdas."""
    todo = list(ast.iter_child_nodes(node))
    while todo:
        n = todo.pop()
        yield n
        if not isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            todo.extend(ast.iter_child_nodes(n))


def _catches_app_error(h: ast.ExceptHandler) -> bool:
    if h.type is None:
        return True
    names = h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]
    return any((n.id if isinstance(n, ast.Name) else getattr(n, "attr", None)) in _CATCHING for n in names)


def _passes_on(h: ast.ExceptHandler) -> bool:
    """Whether the handler re-raises the caught error or returns it (then it is still the answer)."""
    for n in ast.walk(h):
        if isinstance(n, ast.Raise) and (n.exc is None or (isinstance(n.exc, ast.Name) and n.exc.id == h.name)):
            return True  # `raise` / `raise err`
        if isinstance(n, ast.Return) and isinstance(n.value, ast.Name) and n.value.id == h.name:
            return True
    return False


class _Recursion:
    """Memoised recursion over a call graph with cycles. A call that comes back to an entry still on the
    stack gets `empty`; what the entries above it computed meanwhile is partial and not remembered (it is
    computed again when asked for directly), while the entry the cycle returned to is complete."""

    def __init__(self):
        self.memo: dict = {}
        self.stack: list = []
        self.low: int | None = None  # the shallowest stack depth a cut-short call reached

    def run(self, key, compute, empty):
        """compute() for `key`, memoised unless partial."""
        if key in self.memo:
            return self.memo[key]
        if key in self.stack:
            depth = self.stack.index(key)
            self.low = depth if self.low is None else min(self.low, depth)
            return empty
        depth = len(self.stack)
        self.stack.append(key)
        try:
            result = compute()
        finally:
            self.stack.pop()
        if self.low is None or self.low >= depth:
            self.memo[key] = result
            self.low = None
        return result


class Analyzer:
    """Static error-code analysis of the backend package (parsed once)."""

    def __init__(self, site_overrides: dict | None = None, return_overrides: dict | None = None,
                 root: Path = PACKAGE_DIR):
        self.site_overrides = site_overrides or {}  # function key -> (code, status) pairs of its unreadable sites
        self.return_overrides = return_overrides or {}  # function key -> the strings it returns
        paths = sorted(p for p in root.rglob("*.py") if "static" not in p.parts)
        self.modules: dict[str, _Module] = {}
        sources = {_module_name(p): (p, ast.parse(p.read_text(encoding="utf-8"), str(p))) for p in paths}
        known = self._known = set(sources)
        for name, (path, tree) in sources.items():
            mod = _Module(name, tree, path.name == "__init__.py")
            for stmt in tree.body:
                self._index(mod, stmt, known, prefix="")
            self.modules[name] = mod
        self._codes = _Recursion()
        self._returns = _Recursion()
        self.unresolved: dict[str, set[int]] = {}  # function key -> line numbers of sites it cannot read
        self.overridden: set[str] = set()  # site_overrides keys that did cover such a site

    def _index(self, mod: _Module, stmt: ast.stmt, known: set[str], prefix: str) -> None:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            mod.defs[prefix + stmt.name] = stmt
        elif isinstance(stmt, ast.ClassDef) and not prefix:
            mod.defs[stmt.name] = stmt
            for inner in stmt.body:
                self._index(mod, inner, known, prefix=stmt.name + ".")
        elif isinstance(stmt, ast.Import | ast.ImportFrom) and not prefix:
            mod.imports.update(_import_targets(stmt, mod.name, mod.is_package, known))
        elif isinstance(stmt, ast.Assign) and not prefix:
            for t in stmt.targets:
                if isinstance(t, ast.Name):
                    mod.constants[t.id] = stmt.value
        elif isinstance(stmt, ast.If | ast.Try) and not prefix:  # `if TYPE_CHECKING:` and guarded imports
            for inner in [*stmt.body, *getattr(stmt, "orelse", []), *getattr(stmt, "handlers", [])]:
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    mod.imports.update(_import_targets(inner, mod.name, mod.is_package, known))

    # ---- names -----------------------------------------------------------------------------------

    def _symbol(self, module: str, name: str, depth: int = 0) -> tuple[str, str] | None:
        """("function"|"class"|"module", key) that `name` denotes in `module`, following re-exports."""
        mod = self.modules.get(module)
        if mod is None or depth > 8:
            return None
        node = mod.defs.get(name)
        if node is not None:
            return ("class" if isinstance(node, ast.ClassDef) else "function"), f"{module}:{name}"
        return self._target(mod.imports.get(name), depth)

    def _target(self, target: str | None, depth: int = 0) -> tuple[str, str] | None:
        if target is None:
            return None
        if ":" in target:
            module, attr = target.split(":", 1)
            return self._symbol(module, attr, depth + 1)
        return ("module", target) if target in self.modules else None

    def _resolve(self, expr: ast.expr, ctx: _Ctx) -> tuple[str, str] | None:
        if isinstance(expr, ast.Name):
            if expr.id in ctx.params:
                return self._instance(self._param_annotation(ctx, expr.id), ctx)
            if expr.id in ctx.imports:
                return self._target(ctx.imports[expr.id])
            return self._symbol(ctx.module.name, expr.id)
        if isinstance(expr, ast.Attribute):
            if isinstance(expr.value, ast.Name) and expr.value.id in ("self", "cls") and ctx.cls:
                return self._member(f"{ctx.module.name}:{ctx.cls}", expr.attr)
            base = self._resolve(expr.value, ctx)
            if base is None:
                return None
            if base[0] == "module":
                return self._symbol(base[1], expr.attr)
            if base[0] in ("class", "instance"):
                return self._member(base[1], expr.attr)
        return None

    @staticmethod
    def _param_annotation(ctx: _Ctx, name: str) -> ast.expr | None:
        args = getattr(ctx.node, "args", None)
        if args is None:
            return None
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
            if a.arg == name:
                return a.annotation
        return None

    def _instance(self, annotation: ast.expr | None, ctx: _Ctx) -> tuple[str, str] | None:
        """("instance", class key) when an annotation names one of the package's classes."""
        if not isinstance(annotation, ast.Name | ast.Attribute):
            return None
        target = self._resolve(annotation, _Ctx(ctx.key, ctx.module, ctx.node, ctx.cls, [], ctx.imports, {}, {}))
        return ("instance", target[1]) if target and target[0] == "class" else None

    def _member(self, class_key: str, attr: str) -> tuple[str, str] | None:
        module, cls = class_key.split(":", 1)
        mod = self.modules[module]
        node = mod.defs.get(f"{cls}.{attr}")
        if node is not None:
            return ("function", f"{class_key}.{attr}")
        for stmt in getattr(mod.defs.get(cls), "body", []):  # an annotated field: `pins: SealedPins`
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == attr:
                return self._instance(stmt.annotation, self._module_ctx(mod))
        return None

    def _callee(self, call: ast.Call, ctx: _Ctx) -> str | None:
        """The function a call runs (a class call runs its __init__), or None."""
        target = self._resolve(call.func, ctx)
        if target is None:
            return None
        if target[0] == "class":
            init = self._member(target[1], "__init__")
            return init[1] if init else None
        return target[1] if target[0] == "function" else None

    def _ctx(self, key: str) -> _Ctx | None:
        module, qual = key.split(":", 1)
        mod = self.modules.get(module)
        node = mod.defs.get(qual) if mod else None
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return None
        args = node.args
        params = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
        imports: dict[str, str] = {}
        assigned: dict[str, list[tuple[ast.expr, int | None]]] = {}
        handlers: dict[str, list[ast.Try]] = {}
        for n in ast.walk(node):
            if isinstance(n, ast.Import | ast.ImportFrom):
                imports.update(_import_targets(n, module, mod.is_package, self._known))
            elif isinstance(n, ast.Assign | ast.AnnAssign | ast.NamedExpr) and n.value is not None:
                for t in (n.targets if isinstance(n, ast.Assign) else [n.target]):
                    if isinstance(t, ast.Name):
                        assigned.setdefault(t.id, []).append((n.value, None))
                    elif isinstance(t, ast.Tuple):
                        for i, elt in enumerate(t.elts):
                            if isinstance(elt, ast.Name):
                                assigned.setdefault(elt.id, []).append((n.value, i))
            elif isinstance(n, ast.Try):
                for h in n.handlers:
                    if h.name:
                        handlers.setdefault(h.name, []).append(n)
        cls = qual.split(".")[0] if "." in qual else None
        return _Ctx(key, mod, node, cls, params, imports, assigned, handlers)

    # ---- values ----------------------------------------------------------------------------------

    def strings(self, expr: ast.expr | None, ctx: _Ctx, index: int | None = None) -> tuple[set[str], bool]:
        """The strings an expression can evaluate to, and whether that set is complete."""
        if expr is None:
            return set(), True
        if index is not None:
            if isinstance(expr, ast.Tuple):
                return self.strings(expr.elts[index], ctx) if index < len(expr.elts) else (set(), False)
            if isinstance(expr, ast.Call) and (callee := self._callee(expr, ctx)):
                return self.returns(callee, index)
            if isinstance(expr, ast.IfExp):
                return self._union([expr.body, expr.orelse], ctx, index)
            return set(), False
        if isinstance(expr, ast.Constant):
            text = isinstance(expr.value, str)
            return ({expr.value} if text else set()), text or expr.value is None
        if isinstance(expr, ast.IfExp):
            return self._union([expr.body, expr.orelse], ctx)
        if isinstance(expr, ast.BoolOp):
            return self._union(expr.values, ctx)
        if isinstance(expr, ast.Name):
            if expr.id in ctx.assigned:
                return self._union_assigned(ctx.assigned[expr.id], ctx)
            if expr.id in ctx.params:
                return set(), False
            const = ctx.module.constants.get(expr.id)
            if const is not None:
                return self.strings(const, self._module_ctx(ctx.module))
            return set(), False
        if isinstance(expr, ast.Attribute) and expr.attr == "code" and isinstance(expr.value, ast.Name) \
                and expr.value.id in ctx.handlers:
            found: set[tuple[str, int]] = set()
            for t in ctx.handlers[expr.value.id]:
                for stmt in t.body:
                    self._scan(stmt, ctx, False, Codes(fixed=found))
            return {code for code, _ in found}, True
        if isinstance(expr, ast.Attribute):
            target = self._resolve(expr.value, ctx)
            if target and target[0] == "module":
                const = self.modules[target[1]].constants.get(expr.attr)
                if const is not None:
                    return self.strings(const, self._module_ctx(self.modules[target[1]]))
            return set(), False
        if isinstance(expr, ast.Call) and (callee := self._callee(expr, ctx)):
            return self.returns(callee)
        return set(), False

    def _union(self, exprs, ctx: _Ctx, index: int | None = None) -> tuple[set[str], bool]:
        out, complete = set(), True
        for e in exprs:
            vals, ok = self.strings(e, ctx, index)
            out |= vals
            complete &= ok
        return out, complete

    def _union_assigned(self, values, ctx: _Ctx) -> tuple[set[str], bool]:
        out, complete = set(), True
        for value, index in values:
            vals, ok = self.strings(value, ctx, index)
            out |= vals
            complete &= ok
        return out, complete

    def _module_ctx(self, mod: _Module, deep: bool = False) -> _Ctx:
        imports: dict[str, str] = {}
        if deep:  # every import of the module, also those inside functions
            for n in ast.walk(mod.tree):
                imports.update(_import_targets(n, mod.name, mod.is_package, self._known))
        return _Ctx(f"{mod.name}:", mod, mod.tree, None, [], imports, {}, {})

    def returns(self, key: str, index: int | None = None, overrides: bool = True) -> tuple[set[str], bool]:
        """The strings a function returns (or element `index` of the tuple it returns), and whether that is all."""
        if overrides and key in self.return_overrides and index is None:
            return set(self.return_overrides[key]), True
        ctx = self._ctx(key)
        if ctx is None:
            return set(), False

        def compute() -> tuple[frozenset[str], bool]:
            out, complete = set(), True
            for n in _walk_local(ctx.node):
                if isinstance(n, ast.Return) and n.value is not None:
                    vals, ok = self.strings(n.value, ctx, index)
                    out |= vals
                    complete &= ok
            return frozenset(out), complete
        # In a recursion the other paths of the cycle supply the values.
        vals, complete = self._returns.run((key, index), compute, (frozenset(), True))
        return set(vals), complete

    def _ints(self, expr: ast.expr, ctx: _Ctx) -> tuple[set[int], bool]:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, int):
            return {expr.value}, True
        if isinstance(expr, ast.IfExp):
            a, ok_a = self._ints(expr.body, ctx)
            b, ok_b = self._ints(expr.orelse, ctx)
            return a | b, ok_a and ok_b
        if isinstance(expr, ast.Name) and expr.id not in ctx.assigned and expr.id not in ctx.params:
            const = ctx.module.constants.get(expr.id)
            if const is not None:
                return self._ints(const, ctx)
        return set(), False

    # ---- codes -----------------------------------------------------------------------------------

    def codes(self, key: str) -> Codes:
        """Every (code, status) a function can raise, transitively."""
        if key.startswith(ERRORS_MODULE + ":"):
            return Codes()  # the constructors themselves: their sites are read where they are called
        ctx = self._ctx(key)
        if ctx is None:
            return Codes()

        def compute() -> Codes:
            out = Codes()
            for stmt in ctx.node.body:
                self._scan(stmt, ctx, False, out)
            out.fixed.update(self.site_overrides.get(key, ()))
            return out
        # In a recursion the cycle's other entries contribute their own codes.
        return self._codes.run(key, compute, Codes())

    def _scan(self, node: ast.AST, ctx: _Ctx, hidden: bool, out: Codes) -> None:
        if isinstance(node, ast.Try):
            catching = [h for h in node.handlers if _catches_app_error(h)]
            hide = hidden or (bool(catching) and not any(_passes_on(h) for h in catching))
            for stmt in node.body:
                self._scan(stmt, ctx, hide, out)
            for part in [*node.handlers, *node.orelse, *node.finalbody]:
                self._scan(part, ctx, hidden, out)
            return
        if isinstance(node, ast.Call) and not hidden:
            if not self._error_site(node, ctx, out):
                callee = self._callee(node, ctx)
                if callee is not None:
                    self._merge_call(callee, node, ctx, out)
        elif isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load) and not hidden:
            target = self._resolve(node, ctx)  # a function handed on (a callback, key_func=...) may run too
            if target and target[0] == "function":
                out.fixed |= self.codes(target[1]).fixed
        for child in ast.iter_child_nodes(node):
            self._scan(child, ctx, hidden, out)

    def _merge_call(self, callee: str, call: ast.Call, ctx: _Ctx, out: Codes) -> None:
        got = self.codes(callee)
        out.fixed |= got.fixed
        if not got.from_params:
            return
        target = self._ctx(callee)
        names = target.params[1:] if target.cls and isinstance(call.func, ast.Attribute) else target.params
        bound = dict(zip(names, call.args, strict=False))
        bound.update({k.arg: k.value for k in call.keywords if k.arg})
        for param, statuses in got.from_params.items():
            self._add_site(bound.get(param), statuses, ctx, out, call)

    def _error_site(self, call: ast.Call, ctx: _Ctx, out: Codes) -> bool:
        target = self._resolve(call.func, ctx)
        if not target or not target[1].startswith(ERRORS_MODULE + ":"):
            return False
        name = target[1].split(":", 1)[1]
        if name not in FACTORIES:
            return False
        kw = {k.arg: k.value for k in call.keywords if k.arg}
        code_expr = call.args[0] if call.args else kw.get("code")
        status = FACTORIES[name]
        if status is None:
            status_expr = call.args[1] if len(call.args) > 1 else kw.get("status")
            statuses, ok = self._ints(status_expr, ctx) if status_expr is not None else ({422}, True)
            if not ok:
                self._unresolved(ctx, call)
        else:
            statuses = {status}
        if code_expr is None:
            out.fixed |= {(DEFAULT_CODES[name], s) for s in statuses}
            return True
        self._add_site(code_expr, statuses, ctx, out, call)
        return True

    def _add_site(self, code_expr: ast.expr | None, statuses: set[int], ctx: _Ctx, out: Codes, call) -> None:
        if isinstance(code_expr, ast.Name) and code_expr.id in ctx.params and code_expr.id not in ctx.assigned:
            out.from_params.setdefault(code_expr.id, set()).update(statuses)
            return
        codes, ok = self.strings(code_expr, ctx)
        if not ok:
            self._unresolved(ctx, call)
        out.fixed |= {(c, s) for c in codes for s in statuses}

    def _unresolved(self, ctx: _Ctx, call: ast.Call) -> None:
        if ctx.key in self.site_overrides:
            self.overridden.add(ctx.key)
        else:
            self.unresolved.setdefault(ctx.key, set()).add(call.lineno)

    # ---- whole-package views -------------------------------------------------------------------

    def all_codes(self) -> dict[str, set[str]]:
        """Every code any function of the package can raise (CLI and jobs included): code -> functions."""
        found: dict[str, set[str]] = {}
        for mod in self.modules.values():
            for qual, node in mod.defs.items():
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    for code, _status in self.codes(f"{mod.name}:{qual}").fixed:
                        found.setdefault(code, set()).add(f"{mod.name}:{qual}")
        return found

    def rate_limited(self, key: str) -> bool:
        """Whether a view carries a Flask-Limiter decorator (`@limiter.limit(...)`, or a shared limit's name)."""
        module, qual = key.split(":", 1)
        mod = self.modules.get(module)
        node = mod.defs.get(qual) if mod else None
        for deco in getattr(node, "decorator_list", ()):
            if isinstance(deco, ast.Name):
                deco = mod.constants.get(deco.id)
            if isinstance(deco, ast.Call) and isinstance(deco.func, ast.Attribute) \
                    and deco.func.attr in ("limit", "shared_limit"):
                return True
        return False
