"""Layer 6: the output against ``expected_schema`` (JSON Schema, any draft jsonschema knows;
``$schema`` picks it, default 2020-12). Each violation is an issue naming its JSON path, typed
as in OctoLLM's taxonomy: ``missing_field``, ``invalid_type``, ``constraint_violation`` or
``schema_violation``. A schema that is itself invalid is the caller's error (``InvalidInput``).
Needs the ``jsonschema`` package; without it the layer reports itself skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from octollm.arms.judging.issues import Issue
from octollm.errors import InvalidInput

MAX_SCHEMA_ISSUES = 50

_CONSTRAINTS = frozenset(
    {
        "additionalProperties", "const", "enum", "exclusiveMaximum", "exclusiveMinimum",
        "format", "maxItems", "maxLength", "maxProperties", "maximum", "minItems",
        "minLength", "minProperties", "minimum", "multipleOf", "pattern", "uniqueItems",
        "propertyNames", "dependentRequired", "unevaluatedProperties", "unevaluatedItems",
    }
)  # fmt: skip


def json_path(parts: Iterable[Any]) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _type(keyword: str) -> str:
    if keyword == "required":
        return "missing_field"
    if keyword == "type":
        return "invalid_type"
    if keyword in _CONSTRAINTS:
        return "constraint_violation"
    return "schema_violation"


def schema_issues(schema: dict[str, Any], output: Any) -> list[Issue]:
    try:  # imported here so that a missing package costs the schema layer, not the Judge
        from jsonschema import exceptions, validators
    except ImportError:
        return [Issue("warning", "validation_skipped", "schema not checked: no jsonschema")]
    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except exceptions.SchemaError as exc:
        raise InvalidInput(
            f"expected_schema is not a valid JSON Schema: {exc.message}",
            details={"path": json_path(exc.absolute_path)},
        ) from None
    validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(output), key=lambda e: [str(p) for p in e.absolute_path])
    issues = [
        Issue(
            "error",
            _type(str(err.validator)),
            f"{json_path(err.absolute_path)}: {err.message[:300]}",
            location={"path": json_path(err.absolute_path)},
        )
        for err in errors[:MAX_SCHEMA_ISSUES]
    ]
    if len(errors) > MAX_SCHEMA_ISSUES:
        more = len(errors) - MAX_SCHEMA_ISSUES
        issues.append(
            Issue("info", "schema_violation", f"{more} more schema violations not listed")
        )
    return issues
