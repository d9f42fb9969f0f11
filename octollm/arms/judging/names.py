"""Layer 2: are the required names defined (functions, classes, assignments)?

A name counts when the module binds it with ``def``/``class`` at any depth, or assigns it at
module or class level. Methods are also known by their qualified name (``Stack.push``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

from octollm.arms.judging.issues import Issue


def _targets(node: ast.expr) -> Iterable[str]:
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, ast.Tuple | ast.List):
        for element in node.elts:
            yield from _targets(element)
    elif isinstance(node, ast.Starred):
        yield from _targets(node.value)


def _scan(body: list[ast.stmt], prefix: str, names: set[str], assignments: bool) -> None:
    for stmt in body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(stmt.name)
            names.add(prefix + stmt.name)
            is_class = isinstance(stmt, ast.ClassDef)
            _scan(stmt.body, f"{prefix}{stmt.name}.", names, assignments=is_class)
        elif assignments and isinstance(stmt, ast.Assign):
            for target in stmt.targets:
                names.update(prefix + n for n in _targets(target))
        elif assignments and isinstance(stmt, ast.AnnAssign | ast.AugAssign):
            names.update(prefix + n for n in _targets(stmt.target))
        elif isinstance(stmt, ast.If | ast.Try | ast.With | ast.For | ast.While):
            # definitions guarded by `if TYPE_CHECKING`, try/except imports, etc.
            for block in ("body", "orelse", "finalbody", "handlers"):
                for child in getattr(stmt, block, []):
                    inner = child.body if isinstance(child, ast.ExceptHandler) else [child]
                    _scan(inner, prefix, names, assignments)


def defined_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    _scan(tree.body, "", names, assignments=True)
    return names


def missing_names(tree: ast.Module, required: Iterable[str]) -> list[Issue]:
    known = defined_names(tree)
    return [
        Issue(
            "error",
            "missing_name",
            f"required name `{name}` is not defined",
            suggestion=f"define `{name}` (function, class or assignment)",
        )
        for name in required
        if name not in known
    ]
