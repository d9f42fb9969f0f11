"""What the Judge judges, gathered from its input and the outputs of the steps it depends on.

A dependency output with a ``code`` string is a coder result; one with ``exit_code`` (or
``timed_out``) is an executor result; ``{"_gap": {...}}`` marks an optional dependency that
failed, which the Judge reports instead of crashing on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Execution:
    step_id: str
    exit_code: int | None
    stdout: str
    stderr: str
    timed_out: bool
    checks: tuple[dict[str, Any], ...] = ()

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.exit_code == 0

    @property
    def failed_checks(self) -> list[str]:
        """The call checks that raised or returned nothing (their calls): a check asks the
        function for a value, and ``None`` (typically printed instead of returned) is no
        evidence that it computes one."""
        return [str(c.get("call")) for c in self.checks if "error" in c or returned_none(c)]


def returned_none(check: dict[str, Any]) -> bool:
    return "error" not in check and check.get("result") == "None"


@dataclass(frozen=True)
class Gap:
    step_id: str
    error: dict[str, Any]


@dataclass(frozen=True)
class Retrieval:
    """A retriever dependency's search: its query and how many sources it found."""

    step_id: str
    query: str
    found: int


@dataclass
class Artefact:
    code: str | None = None
    code_source: str | None = None
    language: str = "python"
    output: Any = None
    output_source: str | None = None
    executions: list[Execution] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    retrievals: list[Retrieval] = field(default_factory=list)

    @property
    def has_output(self) -> bool:
        return self.output_source is not None

    @property
    def empty(self) -> bool:
        return self.code is None and not self.has_output and not self.executions


def _execution(step_id: str, out: dict[str, Any]) -> Execution:
    code = out.get("exit_code")
    return Execution(
        step_id=step_id,
        exit_code=code if isinstance(code, int) and not isinstance(code, bool) else None,
        stdout=str(out.get("stdout") or ""),
        stderr=str(out.get("stderr") or ""),
        timed_out=bool(out.get("timed_out")),
        checks=tuple(c for c in out.get("checks") or () if isinstance(c, dict)),
    )


def gather(
    *,
    code: str | None,
    language: str | None,
    output: Any,
    output_given: bool,
    dependencies: dict[str, dict[str, Any]],
) -> Artefact:
    """Input fields win; otherwise the last dependency (in plan order) that provides each part."""
    art = Artefact(code=code, code_source="input" if code is not None else None)
    if output_given:
        art.output, art.output_source = output, "input"
    dep_language: str | None = None
    for step_id, out in dependencies.items():
        if not isinstance(out, dict):
            continue
        if "_gap" in out:
            gap = out["_gap"]
            art.gaps.append(Gap(step_id, gap if isinstance(gap, dict) else {"detail": gap}))
            continue
        if "exit_code" in out or "timed_out" in out:
            art.executions.append(_execution(step_id, out))
        if isinstance(out.get("results"), list) and "query" in out:
            art.retrievals.append(Retrieval(step_id, str(out["query"]), len(out["results"])))
        if code is None and isinstance(out.get("code"), str):
            art.code, art.code_source = out["code"], step_id
            if isinstance(out.get("language"), str):
                dep_language = out["language"]
        if not output_given:
            art.output, art.output_source = out, step_id
    art.language = (language or dep_language or "python").lower()
    return art
