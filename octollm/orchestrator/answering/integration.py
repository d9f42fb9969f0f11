"""Step outputs -> the task's answer, artefacts and citations.

* ``answer``: the text for the user. An integrate step's (``op: "integrate"``, on the planner
  pool: the LLM wrote it from the other steps' outputs), else, for a task that produced one
  piece of code, the code itself with what its runs showed (deterministic), else the text of the
  last step that produced some (``answer``, ``summary``, ``text``, ``explanation``, ``stdout``).
* ``artefacts``: code and files by name (``<step>.py``, or the names a step gave in ``files``).
* ``citations``: the sources retriever steps returned, with whatever source / document id
  fields their results carry, each once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

INTEGRATE_OP = "integrate"
_ROUND_SUFFIX = re.compile(r"\.r\d+$")  # a repair round's copy: code.r2
_EXTENSIONS = {"python": "py", "javascript": "js", "typescript": "ts", "bash": "sh", "go": "go",
               "rust": "rs", "java": "java", "ruby": "rb", "shell": "sh"}  # fmt: skip
_TEXT_KEYS = ("answer", "summary", "text", "explanation", "stdout")
_CITATION_KEYS = ("source", "doc_id", "document_id", "chunk_id", "title", "uri", "url", "page")


class StepLike(Protocol):
    step_id: str
    arm: str
    status: str
    level: int
    position: int
    input: dict[str, Any]


def is_integrate(step: StepLike) -> bool:
    return step.arm == "planner" and (step.input or {}).get("op") == INTEGRATE_OP


def integrate(rows: Sequence[StepLike], outputs: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """``{answer, artefacts, citations}`` from the task's current steps."""
    ordered = sorted(rows, key=lambda r: (r.level, r.position))
    artefacts = _artefacts(ordered, outputs)
    return {
        "answer": _answer(ordered, outputs, artefacts),
        "artefacts": artefacts,
        "citations": citations(ordered, outputs),
    }


def _artefacts(
    rows: Sequence[StepLike], outputs: Mapping[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        out = outputs.get(row.step_id) or {}
        files = out.get("files")
        if isinstance(files, dict):
            for name, content in files.items():
                if isinstance(content, str):
                    found[str(name)] = {"content": content, "step_id": row.step_id}
        code = out.get("code")
        if row.arm == "coder" and isinstance(code, str) and code.strip():
            language = str(out.get("language") or "python")
            base = _ROUND_SUFFIX.sub("", row.step_id)
            name = f"{base}.{_EXTENSIONS.get(language, 'txt')}"
            found[name] = {"content": code, "language": language, "step_id": row.step_id}
    return found


def _runs(rows: Sequence[StepLike], outputs: Mapping[str, dict[str, Any]]) -> list[str]:
    lines: list[str] = []
    for row in rows:
        out = outputs.get(row.step_id) or {}
        if "exit_code" not in out:
            continue
        for check in out.get("checks") or []:
            if isinstance(check, dict):
                result = check.get("result", f"raised {check.get('error')}")
                lines.append(f"{check.get('call')} -> {result}")
        if not out.get("checks"):
            lines.append(f"ran with exit code {out.get('exit_code')}")
    return lines


def _answer(
    rows: Sequence[StepLike],
    outputs: Mapping[str, dict[str, Any]],
    artefacts: Mapping[str, dict[str, Any]],
) -> str | None:
    for row in reversed(rows):
        if is_integrate(row):
            text = (outputs.get(row.step_id) or {}).get("answer")
            if isinstance(text, str) and text.strip():
                return text.strip()
    code = [a for a in artefacts.values() if "language" in a]
    if len(code) == 1:
        art = code[0]
        text = f"```{art['language']}\n{art['content'].rstrip()}\n```"
        runs = _runs(rows, outputs)
        return text + ("\n\nChecks:\n" + "\n".join(f"- {r}" for r in runs) if runs else "")
    for row in reversed(rows):
        if row.arm == "judge":
            continue
        out = outputs.get(row.step_id) or {}
        for key in _TEXT_KEYS:
            value = out.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def citations(
    rows: Sequence[StepLike], outputs: Mapping[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """The sources retriever steps found, each once (by its identifying fields)."""
    seen: set[tuple[tuple[str, str], ...]] = set()
    found: list[dict[str, Any]] = []
    for row in rows:
        if row.arm != "retriever":
            continue
        for result in (outputs.get(row.step_id) or {}).get("results") or []:
            if not isinstance(result, dict):
                continue
            cite: dict[str, Any] = {}
            for part in (result.get("metadata"), result.get("citation"), result):
                if isinstance(part, dict):
                    cite.update({k: part[k] for k in _CITATION_KEYS if part.get(k) is not None})
            if not cite:
                continue
            key = tuple(sorted((k, str(v)) for k, v in cite.items()))
            if key in seen:
                continue
            seen.add(key)
            found.append({**cite, "step_id": row.step_id})
    return found
