"""The Judge arm: validates an artefact against rules and acceptance criteria.

Layers, in order (each deterministic except the optional LLM criteria):
``syntax`` -> ``required_names`` -> ``lint`` (ruff) -> ``security`` -> ``execution`` ->
``schema`` -> ``criteria`` -> ``quality``. The artefact is the input's ``code``/``output`` or,
when absent, what the dependencies produced (coder ``code``, executor ``exit_code``/``stdout``/
``stderr``/``timed_out``; a failed optional dependency ``{"_gap": ...}`` becomes an issue).

The output is OctoLLM's ValidationResult::

    {valid, verdict, confidence, issues: [{severity, type, message, location?, suggestion?}],
     passed_criteria, failed_criteria, undecided_criteria,
     criteria: [{criterion, status: passed|failed|undecided, why, method}],
     quality_score, metadata}

Verdicts are honest: a criterion passes only on evidence (a run's checks, a schema, the parsed
code); one the Judge cannot decide is ``undecided``, never passed. ``verdict`` is ``invalid``
when any issue has severity ``error``, else ``unverified`` when some criterion is undecided or
nothing was checked (no criterion passed and no code parsed, run or schema checked), else
``valid``; ``valid`` is ``verdict == "valid"``. A dependency
that failed is an error (its output was needed); a criterion that needed a run fails when the
run's step failed. A retriever dependency that found nothing is an error and the failed
criterion ``no sources found``. The Judge returns its verdict
and does not raise for an invalid artefact, unless ``fail_on_invalid`` is set: then it raises
``PermanentError`` listing the errors.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

from octollm.arms.base import ArmContext, ArmResult
from octollm.arms.judging import criteria as rules
from octollm.arms.judging.artefact import Artefact, gather
from octollm.arms.judging.execution import execution_issues, gap_issues, retrieval_issues
from octollm.arms.judging.issues import Issue, counts, quality_score
from octollm.arms.judging.lint import lint
from octollm.arms.judging.llm_criteria import ask, describe
from octollm.arms.judging.names import defined_names, missing_names
from octollm.arms.judging.schema import schema_issues
from octollm.arms.judging.security import python_security, text_security
from octollm.arms.judging.syntax import PYTHON_NAMES, parse
from octollm.contracts.arm_io import JudgeInput, JudgeOutput
from octollm.errors import InvalidInput, PermanentError

LAYERS: tuple[str, ...] = (
    "syntax", "required_names", "lint", "security", "execution", "schema", "criteria", "quality",
)  # fmt: skip
#: OctoLLM layers that need trusted sources or a claim extractor; accepted, reported as skipped.
UNSUPPORTED_LAYERS = frozenset({"facts", "hallucination"})
_CONFIDENCE = {"deterministic": 1.0, "llm": 0.7, "none": 0.3}
#: Layers whose passing is evidence about the artefact (not just the absence of findings).
_EVIDENCE_LAYERS = frozenset({"syntax", "execution", "schema"})
#: The failed criterion a question whose retrieval found nothing gets.
NO_SOURCES = "no sources found"


@dataclass
class _Run:
    """The verdict as it accumulates over the layers."""

    wanted: frozenset[str]
    issues: list[Issue] = field(default_factory=list)
    layers_run: list[str] = field(default_factory=list)
    confidences: list[float] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    ambiguous: list[str] = field(default_factory=list)
    evidence: dict[str, str] = field(default_factory=dict)
    verdicts: list[rules.Verdict] = field(default_factory=list)
    model: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def wants(self, layer: str) -> bool:
        return layer in self.wanted

    def ran(self, layer: str, issues: list[Issue], confidence: float = 1.0) -> None:
        self.layers_run.append(layer)
        self.issues.extend(issues)
        self.confidences.append(confidence)


class JudgeArm:
    """Validates code and outputs: syntax, names, lint, security, execution, schema, criteria."""

    name = "judge"
    capabilities = frozenset(
        {"schema_validation", "criteria_validation", "quality_assessment", "code_analysis"}
    )

    input_model = JudgeInput
    output_model = JudgeOutput

    def run(self, input: JudgeInput, ctx: ArmContext) -> ArmResult[JudgeOutput]:
        began = time.perf_counter()
        request = input
        state = _Run(wanted=_wanted_layers(request))
        art = gather(
            code=request.code,
            language=request.language,
            output=request.output,
            output_given="output" in request.model_fields_set,
            dependencies=ctx.dependencies,
        )
        state.issues.extend(gap_issues(art.gaps))
        no_sources = retrieval_issues(art.retrievals)
        state.issues.extend(no_sources)
        if no_sources:
            queries = ", ".join(repr(r.query[:80]) for r in art.retrievals if not r.found)
            _record(
                state,
                rules.Verdict(
                    NO_SOURCES, "failed", f"the search for {queries} found nothing", "deterministic"
                ),
                issue=False,
            )
        evidence = _code_layers(request, art, state, ctx)
        _evidence_layers(request, art, state, evidence, ctx)
        _criteria_layer(request, art, state, evidence, ctx)
        if art.empty and not state.issues:
            state.issues.append(
                Issue(
                    "warning", "nothing_to_validate", "no code, output or execution result to judge"
                )
            )
        if ctx.screening.get("flagged"):
            kinds = ", ".join(ctx.screening.get("kinds") or []) or "unspecified"
            state.issues.append(
                Issue("warning", "input_flagged", f"the edge flagged this task's input ({kinds})")
            )
        output = _verdict(request, art, state, began)
        if request.fail_on_invalid and not output["valid"]:
            errors = [i for i in output["issues"] if i["severity"] == "error"]
            summary = "; ".join(f"{i['type']}: {i['message']}" for i in errors[:5])
            raise PermanentError(
                f"judge found {len(errors)} error(s): {summary}"[:4000],
                details={"issues": errors, "validation": output},
            )
        return ArmResult(
            output=JudgeOutput.model_validate(output),
            confidence=output["confidence"],
            model=state.model,
        )


def _wanted_layers(request: JudgeInput) -> frozenset[str]:
    if request.validation_types is None:
        return frozenset(LAYERS)
    wanted = {"required_names" if t == "names" else t for t in request.validation_types}
    unknown = wanted - set(LAYERS) - UNSUPPORTED_LAYERS
    if unknown:
        known = [*LAYERS, *sorted(UNSUPPORTED_LAYERS)]
        raise InvalidInput(
            f"unknown validation_types {sorted(unknown)}",
            details={"field": "validation_types", "unknown": sorted(unknown), "known": known},
        )
    return frozenset(wanted | {"quality"})


def _code_layers(
    request: JudgeInput, art: Artefact, state: _Run, ctx: ArmContext
) -> rules.Evidence:
    searchable = art.has_output and art.output_source != art.code_source
    ev = rules.Evidence(
        code=art.code,
        executions=art.executions,
        gaps=art.gaps,
        output=art.output if searchable else None,
        has_output=searchable,
    )
    if art.code is None:
        return ev
    if art.language not in PYTHON_NAMES:
        state.issues.append(
            Issue(
                "info",
                "validation_skipped",
                f"syntax, names and lint checks are Python-only (language: {art.language})",
            )
        )
        if state.wants("security"):
            found = text_security(art.code)
            state.ran("security", found)
            ev.security_errors = sum(i.severity == "error" for i in found)
        return ev
    ev.tree, syntax_issue = parse(art.code)
    if state.wants("syntax"):
        state.ran("syntax", [syntax_issue] if syntax_issue else [])
    if ev.tree is None:
        return ev
    ev.names = defined_names(ev.tree)
    if state.wants("required_names") and request.required_names:
        state.ran("required_names", missing_names(ev.tree, request.required_names))
    if state.wants("lint"):
        ctx.ensure_time()
        left = ctx.remaining()
        timeout = (
            request.lint_timeout_seconds
            if left is None
            else max(0.5, min(request.lint_timeout_seconds, left))
        )
        found, ran = lint(art.code, timeout=timeout)
        if ran:
            state.ran("lint", found)
            ev.lint_findings = len(found)
        else:
            state.issues.extend(found)
    if state.wants("security"):
        found = python_security(ev.tree)
        state.ran("security", found)
        ev.security_errors = sum(i.severity == "error" for i in found)
    return ev


def _evidence_layers(
    request: JudgeInput, art: Artefact, state: _Run, ev: rules.Evidence, ctx: ArmContext
) -> None:
    ctx.check_cancelled()
    if state.wants("execution") and art.executions:
        state.ran("execution", execution_issues(art.executions))
    if state.wants("schema") and request.expected_schema is not None:
        if art.has_output:
            state.ran("schema", schema_issues(request.expected_schema, art.output))
            state.notes["schema_checked"] = art.output_source
        else:
            state.issues.append(
                Issue(
                    "warning",
                    "schema_violation",
                    "expected_schema given but there is no output to check",
                )
            )
    for layer in sorted(state.wanted & UNSUPPORTED_LAYERS):
        state.issues.append(
            Issue("info", "validation_skipped", f"the {layer} layer is not implemented")
        )


def _criteria_layer(
    request: JudgeInput, art: Artefact, state: _Run, ev: rules.Evidence, ctx: ArmContext
) -> None:
    criteria = list(dict.fromkeys([*request.acceptance_criteria, *ctx.acceptance_criteria]))
    if not state.wants("criteria") or not criteria:
        return
    artefact_text: str | None = None
    confidences = []
    for criterion in criteria:
        ctx.check_cancelled()
        outcome = rules.decide(criterion, ev)
        if outcome is not None and outcome[0] != "undecidable":
            verdict = rules.Verdict(
                criterion,
                "passed" if outcome[0] == "passed" else "failed",
                outcome[1],
                "deterministic",
            )
        elif request.use_llm_criteria:
            ctx.ensure_time()
            artefact_text = artefact_text if artefact_text is not None else describe(art)
            verdict, model = ask(ctx.llm, criterion, artefact_text)
            state.model = model or state.model
        else:
            why = outcome[1] if outcome else "no deterministic rule applies"
            verdict = rules.Verdict(
                criterion, "ambiguous", f"{why}; set use_llm_criteria to ask the LLM", "none"
            )
        confidences.append(_CONFIDENCE[verdict.method])
        _record(state, verdict)
    state.ran("criteria", [], fmean(confidences))


def _record(state: _Run, verdict: rules.Verdict, *, issue: bool = True) -> None:
    state.evidence[verdict.criterion] = verdict.evidence
    state.verdicts.append(verdict)
    if verdict.status == "passed":
        state.passed.append(verdict.criterion)
    elif verdict.status == "failed":
        state.failed.append(verdict.criterion)
        if not issue:
            return
        state.issues.append(
            Issue(
                "error",
                "criteria_not_met",
                f"criterion not met: {verdict.criterion} ({verdict.evidence})",
                location={"criterion": verdict.criterion},
            )
        )
    else:
        state.ambiguous.append(verdict.criterion)
        state.issues.append(
            Issue(
                "warning",
                "criteria_ambiguous",
                f"criterion could not be decided: {verdict.criterion} ({verdict.evidence})",
                location={"criterion": verdict.criterion},
            )
        )


def _verdict(request: JudgeInput, art: Artefact, state: _Run, began: float) -> dict[str, Any]:
    issues = state.issues
    state.layers_run.append("quality")
    by_severity = counts(issues)
    metadata: dict[str, Any] = {
        "validation_types_run": state.layers_run,
        "counts": by_severity,
        "duration_ms": round((time.perf_counter() - began) * 1000, 3),
        "language": art.language,
        "code_source": art.code_source,
        "ambiguous_criteria": state.ambiguous,
        "criteria_evidence": state.evidence,
        **state.notes,
    }
    if state.model:
        metadata["model"] = state.model
    if by_severity["error"]:
        verdict = "invalid"
    elif state.ambiguous or not (state.passed or _EVIDENCE_LAYERS & set(state.layers_run)):
        verdict = "unverified"  # nothing undecided may pass, and nothing checked is no pass
    else:
        verdict = "valid"
    return {
        "valid": verdict == "valid",
        "verdict": verdict,
        "criteria": [
            {
                "criterion": v.criterion,
                "status": "undecided" if v.status == "ambiguous" else v.status,
                "why": v.evidence,
                "method": v.method,
            }
            for v in state.verdicts
        ],
        "undecided_criteria": state.ambiguous,
        "confidence": round(fmean(state.confidences), 3) if state.confidences else 0.5,
        "issues": [i.to_dict() for i in issues],
        "passed_criteria": state.passed,
        "failed_criteria": state.failed,
        "quality_score": quality_score(issues),
        "metadata": metadata,
    }
