"""The import contract of the layers: the core never imports a face, and no two core modules
import each other (lazily or not), so every concept has one home and a clear direction."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "companion"
FACES = ("companion.tui", "companion.commands", "companion.cli")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(path: Path) -> set[str]:
    """Every companion module ``path`` imports at run time, at the top or inside a function
    (imports for type checkers only are left out: they never run)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub)
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names if a.name.startswith("companion"))
            elif isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("companion"):
                found.add(child.module)
                found.update(f"{child.module}.{a.name}" for a in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in _imports(p) if m in modules and m != name} for name, p in modules.items()}


def test_the_core_never_imports_a_face() -> None:
    graph = _graph()
    bad = sorted((m, dep) for m, deps in graph.items() if m.startswith("companion.core")
                 for dep in deps if dep.startswith(FACES))
    assert bad == []


def test_no_two_core_modules_import_each_other() -> None:
    graph = {m: {d for d in deps if d.startswith("companion.core.")}
             for m, deps in _graph().items() if m.startswith("companion.core.")}
    cycles = []
    for start in sorted(graph):  # a depth-first walk from each module back to itself
        stack, seen = [(start, [start])], set()
        while stack:
            node, trail = stack.pop()
            for dep in sorted(graph.get(node, ())):
                if dep == start:
                    cycles.append(" -> ".join([*trail, start]))
                elif dep not in seen:
                    seen.add(dep)
                    stack.append((dep, [*trail, dep]))
    assert cycles == []
