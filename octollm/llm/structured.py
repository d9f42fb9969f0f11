"""Structured output: JSON schemas as ``response_format`` wants them, and lenient JSON reading.

Pure functions, no I/O: what the chat client needs to ask for JSON and to read it back from
models that wrap it in code fences or prose.
"""

from __future__ import annotations

import json
import re
from typing import Any

_NAME_RE = re.compile(r"[^A-Za-z0-9_-]+")


def extract_json_object(text: str) -> dict[str, Any]:
    """The first balanced JSON object in ``text``; prose and code fences around it are skipped.

    Raises ``ValueError`` naming the problem when there is none.
    """
    decoder = json.JSONDecoder()
    start = text.find("{")
    if start < 0:
        raise ValueError("no JSON object in the reply" if text.strip() else "the reply is empty")
    last_error = "unbalanced braces"
    while start >= 0:
        end = _balanced_end(text, start)
        if end is None:
            break
        try:
            value, _ = decoder.raw_decode(text[start:end])
        except json.JSONDecodeError as exc:
            last_error = f"{exc.msg} at char {start + exc.pos}"
        else:
            if isinstance(value, dict):
                return value
        start = text.find("{", start + 1)
    raise ValueError(last_error)


def _balanced_end(text: str, start: int) -> int | None:
    """Index just past the ``}`` that closes the ``{`` at ``start`` (strings respected)."""
    depth = 0
    in_string = escaped = False
    for index in range(start, len(text)):
        char = text[index]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return index + 1
    return None


def with_system_note(messages: list[dict[str, str]], note: str) -> list[dict[str, str]]:
    """``messages`` with ``note`` added to the leading system message (one is made if absent);
    some chat templates accept a system message only in first place."""
    if messages and messages[0].get("role") == "system":
        first = {**messages[0], "content": f"{messages[0].get('content', '')}\n\n{note}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


def schema_name(schema: dict[str, Any]) -> str:
    """A ``response_format`` name (``^[A-Za-z0-9_-]{1,64}$``) from the schema's title."""
    name = _NAME_RE.sub("_", str(schema.get("title") or "reply")).strip("_")
    return (name or "reply")[:64]


def strict_compatible(schema: Any) -> bool:
    """Whether OpenAI's strict mode accepts ``schema``: every object closed, all required."""
    if isinstance(schema, list):
        return all(strict_compatible(item) for item in schema)
    if not isinstance(schema, dict):
        return True
    if schema.get("type") == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is not False or not properties:
            return False
        if set(schema.get("required", [])) != set(properties):
            return False
    return all(strict_compatible(value) for value in schema.values())
