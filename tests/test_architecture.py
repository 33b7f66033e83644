"""The layout: no import circle between bayescale's modules (imports inside functions
counted, ``TYPE_CHECKING`` ones not) and no private name imported from another module."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "bayescale"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, list[str]]]:
    """``(module imported, names)`` for every relative import outside ``TYPE_CHECKING``."""
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for node in ast.walk(tree)
                   if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
                   for n in ast.walk(node)}
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or not node.level or id(node) in typing_only:
            continue
        base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
        names = [a.name for a in node.names]
        submodules = [f"{target}.{n}" for n in names if f"{target}.{n}" in modules]
        out += [(m, []) for m in submodules] or [(target, names)]
    return out


def test_no_import_circle():
    modules = _modules()
    graph = {m: {t for t, _ in _imports(m, p, modules) if t in modules and t != "bayescale"}
             for m, p in modules.items()}
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for nxt in sorted(graph[module]):
            assert state.get(nxt) != 1, " -> ".join([*path, nxt])
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_no_private_name_imported_across_modules():
    modules = _modules()
    private = [f"{m}: from {t} import {n}" for m, p in modules.items()
               for t, names in _imports(m, p, modules) for n in names
               if n.startswith("_") and n != "__version__"]
    assert not private, private
