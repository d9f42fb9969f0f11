"""Layer 4: security rules over the code's AST (Python), or a secret scan (other languages).

Imports are resolved, so ``from subprocess import run as r; r(c, shell=True)`` is caught.

    rule                         severity  what
    eval-exec                    error     eval() / exec()
    shell-true                   error     subprocess.* with shell=True
    os-system                    error     os.system()
    os-popen, subprocess-shell   warning   os.popen(), subprocess.getoutput()
    pickle-loads                 warning   pickle/marshal/dill load(s) of untrusted bytes
    yaml-load                    warning   yaml.load() without a safe Loader
    dunder-import                warning   __import__()
    path-traversal               warning   "../" in a path given to open()/Path()
    sql-string-built             error     a query built from strings (f-string, %, +,
                                           .format) passed to execute/executemany/
                                           executescript, directly or through a variable
    hard-coded-secret            error     provider keys, JWTs, URL passwords, private keys,
                                           password/secret variables set to literals
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from octollm.arms.judging.issues import Issue, at
from octollm.arms.safety.finding import Finding, resolve_overlaps
from octollm.arms.safety.secrets import (
    GENERIC_DETECTORS,
    TOKEN_DETECTORS,
    detect_private_key,
    is_secret_name,
    secret_value,
)

_SHELL_FUNCS = frozenset({"run", "call", "check_call", "check_output", "Popen"})
_PICKLE = frozenset(
    {"pickle.loads", "pickle.load", "_pickle.loads", "cPickle.loads", "dill.loads", "marshal.loads"}
)
_OPENERS = frozenset({"open", "io.open", "os.open", "pathlib.Path", "codecs.open", "builtins.open"})
_SAFE_YAML_LOADERS = frozenset({"SafeLoader", "CSafeLoader", "BaseLoader"})

_ARGV = "pass an argument list to subprocess.run and drop shell=True"
_SAFE_LOAD = "use yaml.safe_load"
_CONFINE = "resolve the path and check that it stays inside an allowed root"
_VAULT = "load credentials from the environment or a secret store"
_UNPICKLE = "deserialise untrusted data with json or another data-only format"
_BIND = "pass the values as query parameters (execute(sql, params)) instead of building the SQL"
_SQL_RUNNERS = frozenset({"execute", "executemany", "executescript", "mogrify"})

#: qualified call name -> (severity, rule, message, suggestion)
_CALL_RULES: dict[str, tuple[str, str, str, str]] = {
    "eval": ("error", "eval-exec", "eval() runs arbitrary code", "use ast.literal_eval or json"),
    "exec": ("error", "eval-exec", "exec() runs arbitrary code", "dispatch explicitly instead"),
    "__import__": (
        "warning",
        "dunder-import",
        "__import__() loads modules by computed name",
        "use importlib.import_module with an allow-list",
    ),
    "os.system": ("error", "os-system", "os.system() runs a shell command", _ARGV),
    "os.popen": ("warning", "os-popen", "os.popen() runs a shell command", _ARGV),
    "subprocess.getoutput": ("warning", "subprocess-shell", "getoutput() uses the shell", _ARGV),
    "subprocess.getstatusoutput": (
        "warning",
        "subprocess-shell",
        "getstatusoutput() uses the shell",
        _ARGV,
    ),
    **{
        name: ("warning", "pickle-loads", f"{name}() can execute code from its input", _UNPICKLE)
        for name in _PICKLE
    },
}


def _issue(severity: str, rule: str, message: str, suggestion: str, node: ast.AST) -> Issue:
    line = getattr(node, "lineno", None)
    col = getattr(node, "col_offset", None)
    return Issue(
        "error" if severity == "error" else "warning",
        "security_issue",
        f"[{rule}] {message}",
        location=at(line, None if col is None else col + 1),
        suggestion=suggestion,
    )


def _token_findings(text: str) -> list[Finding]:
    # private key blocks too; assignments are checked on the AST instead
    return resolve_overlaps(f for d in (*TOKEN_DETECTORS, detect_private_key) for f in d(text))


def _string_built(node: ast.expr | None) -> str | None:
    """How ``node`` builds a string from parts (``f-string``, ``%``, ``+``, ``.format``)."""
    if isinstance(node, ast.JoinedStr) and any(
        isinstance(v, ast.FormattedValue) for v in node.values
    ):
        return "an f-string"
    if (
        isinstance(node, ast.BinOp)
        and isinstance(node.op, ast.Mod)
        and isinstance(node.left, ast.Constant)
        and isinstance(node.left.value, str)
    ):
        return "%-formatting"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        parts = (node.left, node.right)
        if any(isinstance(p, ast.Constant) and isinstance(p.value, str) for p in parts) or any(
            _string_built(p) for p in parts
        ):
            return "string concatenation"
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
        and isinstance(node.func.value.value, str)
    ):
        return "str.format"
    return None


class _Rules(ast.NodeVisitor):
    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.issues: list[Issue] = []
        #: variable name -> how the string assigned to it was built (last assignment wins)
        self.built: dict[str, str] = {}

    # -- name resolution --
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.aliases[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                self.aliases[top] = top

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            self.aliases[alias.asname or alias.name] = f"{node.module or ''}.{alias.name}"

    def qualname(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualname(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    # -- rules --
    def visit_Call(self, node: ast.Call) -> None:
        name = self.qualname(node.func) or ""
        self._call_rules(name, node)
        for kw in node.keywords:
            if kw.arg and is_secret_name(kw.arg):
                self._literal_secret(kw.arg, kw.value, node)
        self.generic_visit(node)

    def _sql_rule(self, node: ast.Call) -> bool:
        func = node.func
        if not (isinstance(func, ast.Attribute) and func.attr in _SQL_RUNNERS and node.args):
            return False
        query = node.args[0]
        how = _string_built(query)
        if how is None and isinstance(query, ast.Name):
            how = self.built.get(query.id)
        if how is None:
            return False
        message = f"SQL built with {how} passed to {func.attr}(): SQL injection"
        self.add("error", "sql-string-built", message, _BIND, node)
        return True

    def _call_rules(self, name: str, node: ast.Call) -> None:
        if self._sql_rule(node):
            return
        short = name.removeprefix("builtins.")
        if short in _CALL_RULES:
            self.add(*_CALL_RULES[short], node)
        elif name in _CALL_RULES:
            self.add(*_CALL_RULES[name], node)
        elif _subprocess_call(name) and _shell_true(node):
            message = f"{name}(..., shell=True) invites shell injection"
            self.add("error", "shell-true", message, _ARGV, node)
        elif name == "yaml.load" and not _safe_yaml(node):
            self.add("warning", "yaml-load", "yaml.load() without a safe Loader", _SAFE_LOAD, node)
        elif (short in _OPENERS or name in _OPENERS) and _parent_dir_arg(node):
            message = "path with '../' passed to a file opener"
            self.add("warning", "path-traversal", message, _CONFINE, node)

    def visit_Assign(self, node: ast.Assign) -> None:
        how = _string_built(node.value)
        for target in node.targets:
            if isinstance(target, ast.Name):
                if how:
                    self.built[target.id] = how
                else:
                    self.built.pop(target.id, None)
            if isinstance(target, ast.Name | ast.Attribute):
                name = target.id if isinstance(target, ast.Name) else target.attr
                if is_secret_name(name):
                    self._literal_secret(name, node.value, node)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name) and isinstance(node.op, ast.Add | ast.Mod):
            how = _string_built(node.value)
            if how is None and not isinstance(node.value, ast.Constant):
                how = "string concatenation" if isinstance(node.op, ast.Add) else "%-formatting"
            if node.target.id in self.built or how:
                self.built[node.target.id] = how or self.built[node.target.id]
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        target, value = node.target, node.value
        if isinstance(target, ast.Name) and value is not None and is_secret_name(target.id):
            self._literal_secret(target.id, value, node)
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and _secret_key(key.value):
                self._literal_secret(str(key.value), value, node)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and len(node.value) >= 16:
            for finding in _token_findings(node.value):
                message = f"string literal holds a {finding.message}"
                self.add("error", "hard-coded-secret", message, _VAULT, node)

    def _literal_secret(self, name: str, value: ast.expr, node: ast.AST) -> None:
        if not (isinstance(value, ast.Constant) and isinstance(value.value, str)):
            return
        if _token_findings(value.value):
            return  # reported by visit_Constant with the provider named
        if secret_value(value.value, quoted=True):
            message = f"`{name}` is set to a literal secret"
            self.add("error", "hard-coded-secret", message, _VAULT, node)

    def add(self, severity: str, rule: str, message: str, suggestion: str, node: ast.AST) -> None:
        self.issues.append(_issue(severity, rule, message, suggestion, node))


def _secret_key(value: object) -> bool:
    return isinstance(value, str) and is_secret_name(value)


def _subprocess_call(name: str) -> bool:
    return name.startswith("subprocess.") and name.rsplit(".", 1)[1] in _SHELL_FUNCS


def _shell_true(node: ast.Call) -> bool:
    return any(kw.arg == "shell" and _truthy(kw.value) for kw in node.keywords)


def _parent_dir_arg(node: ast.Call) -> bool:
    return bool(node.args) and _mentions_parent_dir(node.args[0])


def _truthy(node: ast.expr) -> bool:
    return not (isinstance(node, ast.Constant) and not node.value)


def _safe_yaml(node: ast.Call) -> bool:
    for kw in node.keywords:
        if kw.arg == "Loader":
            loader = kw.value
            leaf = loader.attr if isinstance(loader, ast.Attribute) else getattr(loader, "id", "")
            return leaf in _SAFE_YAML_LOADERS
    return (
        len(node.args) >= 2
        and isinstance(node.args[1], ast.Attribute | ast.Name)
        and (getattr(node.args[1], "attr", getattr(node.args[1], "id", "")) in _SAFE_YAML_LOADERS)
    )


def _strings(node: ast.expr) -> Iterator[str]:
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            yield child.value


def _mentions_parent_dir(node: ast.expr) -> bool:
    return any("../" in s or "..\\" in s for s in _strings(node))


def python_security(tree: ast.Module) -> list[Issue]:
    rules = _Rules()
    rules.visit(tree)
    return sorted(rules.issues, key=lambda i: (i.location or {}).get("line", 0))


def text_security(code: str) -> list[Issue]:
    """For code the AST rules cannot read: credentials in the text."""
    found = resolve_overlaps(f for d in (*TOKEN_DETECTORS, *GENERIC_DETECTORS) for f in d(code))
    return [
        Issue(
            "error",
            "security_issue",
            f"[hard-coded-secret] {finding.message}",
            location=at(code.count("\n", 0, finding.start) + 1),
            suggestion=_VAULT,
        )
        for finding in found
    ]
