"""Layer 1: does the code parse? A syntax error carries its line and column."""

from __future__ import annotations

import ast
import warnings

from octollm.arms.judging.issues import Issue, at

PYTHON_NAMES = frozenset({"python", "py", "python3"})


def parse(code: str) -> tuple[ast.Module | None, Issue | None]:
    """The module's AST, or None and a ``syntax_error`` issue."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. SyntaxWarning for invalid escapes
            return ast.parse(code, filename="<artefact>"), None
    except SyntaxError as exc:
        detail = (exc.text or "").strip()
        message = f"syntax error: {exc.msg}"
        return None, Issue(
            "error",
            "syntax_error",
            message + (f" in `{detail[:120]}`" if detail else ""),
            location=at(exc.lineno, exc.offset),
            suggestion="fix the syntax so that the module parses with ast.parse",
        )
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, absurd nesting
        return None, Issue("error", "syntax_error", f"code cannot be parsed: {type(exc).__name__}")
