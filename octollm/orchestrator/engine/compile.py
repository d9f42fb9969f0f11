"""Plan DAG -> one flat Celery canvas.

Topological levels form a chain; a level of several steps is a group; a group followed by a
step becomes a chord, built here explicitly (not left to Celery's implicit ``group | sig``
upgrade). Two groups in a row get a no-op barrier between them, so a chord's header is always a
group of plain step signatures and its body one plain signature: no chord is ever nested.

    levels  [a] [b c] [d e] [f]     ->  chain(a, chord([b, c], barrier), chord([d, e], f), finalize)

Every message carries ids only: ``(task_id, step_id, generation)``; inputs and outputs travel
through Postgres. A step message also carries its capability token in the
``octollm_capability`` header (``tokens``, minted by the publisher: ``orchestrator.tokens``).
Every signature ignores its result: the Redis result backend counts chord members without
storing their results, and a publisher (the API) then does not subscribe to a
result channel per header member it sends.

The canvas is a schedule, not the source of truth: each step's claim re-checks in Postgres that
its dependencies finished, and the reconciler re-drives whatever a lost message leaves behind.
Levels make the schedule coarser than the DAG (a step waits for its whole previous level), which
keeps the canvas flat; the claim is what keeps it correct.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from celery import Celery, chord, group
from celery.canvas import Signature

from octollm.contracts.status import Priority
from octollm.orchestrator.broker import queues
from octollm.orchestrator.broker.queues import Target
from octollm.security.capability import TOKEN_HEADER

STEP_TASK = "octollm.step.run"
FINALIZE_TASK = "octollm.task.finalize"
BARRIER_TASK = "octollm.task.barrier"


@dataclass(frozen=True)
class StepSpec:
    step_id: str
    arm: str
    depends_on: tuple[str, ...] = ()
    #: A suspect: published to the quarantine lane instead of its arm's queues (the step
    #: still runs its own arm there; its capability token names that arm).
    quarantine: bool = False


def message_id(task_id: str, step_id: str, generation: int) -> str:
    """Deterministic Celery task id: lets cancel revoke queued steps and Flower show them."""
    return f"{task_id}.{step_id}.g{generation}"


def control_id(task_id: str, name: str, generation: int) -> str:
    """Deterministic Celery task id of a control message (``finalize``, ``barrier1``...): Flower
    shows it, and a re-sent canvas reuses it. ``:`` never occurs in a step id, so it never
    collides with a step's message id."""
    return f"{task_id}:{name}.g{generation}"


def levels(steps: list[StepSpec]) -> list[list[StepSpec]]:
    """Topological levels (Kahn); dependencies outside ``steps`` count as done.

    Order inside a level is the input order. Raises ``ValueError`` on a cycle."""
    ids = {s.step_id for s in steps}
    waiting = {s.step_id: {d for d in s.depends_on if d in ids} for s in steps}
    dependants: dict[str, list[str]] = {s.step_id: [] for s in steps}
    for s in steps:
        for dep in waiting[s.step_id]:
            dependants[dep].append(s.step_id)
    level: dict[str, int] = {}
    frontier = [s.step_id for s in steps if not waiting[s.step_id]]
    depth = 0
    while frontier:
        nxt: list[str] = []
        for sid in frontier:
            level[sid] = depth
            for child in dependants[sid]:
                waiting[child].discard(sid)
                if not waiting[child]:
                    nxt.append(child)
        frontier = nxt
        depth += 1
    if len(level) != len(steps):
        raise ValueError("steps form a cycle")
    out: list[list[StepSpec]] = [[] for _ in range(depth)]
    for s in steps:
        out[level[s.step_id]].append(s)
    return out


def compile_canvas(
    app: Celery,
    task_id: str,
    generation: int,
    steps: list[StepSpec],
    urgency: Priority | str,
    target: Target,
    *,
    finalize: bool = True,
    tokens: Mapping[str, str] | None = None,
) -> Signature:
    """Compile ``steps`` (dependencies outside the list count as done) into one flat canvas.

    With no steps, the canvas is the finalize message alone (``finalize`` must be set).
    ``tokens``: each step's capability token by step id, sent as a message header."""
    if not steps and not finalize:
        raise ValueError("nothing to compile")

    def step_sig(spec: StepSpec) -> Signature:
        lane = queues.QUARANTINE_ARM if spec.quarantine else spec.arm
        options: dict[str, Any] = queues.route(target.prefix, lane, urgency, target.broker_url)
        options["task_id"] = message_id(task_id, spec.step_id, generation)
        options["ignore_result"] = True
        token = (tokens or {}).get(spec.step_id)
        if token is not None:
            options["headers"] = {TOKEN_HEADER: token}
        return app.signature(
            STEP_TASK, args=(task_id, spec.step_id, generation), immutable=True, **options
        )

    barriers = 0

    def control_sig(name: str) -> Signature:
        nonlocal barriers
        options = queues.route(target.prefix, queues.CONTROL_ARM, urgency, target.broker_url)
        if name == BARRIER_TASK:
            barriers += 1
            options["task_id"] = control_id(task_id, f"barrier{barriers}", generation)
        else:
            options["task_id"] = control_id(task_id, "finalize", generation)
        return app.signature(
            name, args=(task_id, generation), immutable=True, ignore_result=True, **options
        )

    parts: list[Signature] = []
    pending_group: list[StepSpec] | None = None  # a group waiting for its chord body

    def close_group(body: Signature) -> None:
        nonlocal pending_group
        assert pending_group is not None
        header = group([step_sig(spec) for spec in pending_group])
        parts.append(chord(header, body))
        pending_group = None

    for level in levels(steps):
        if len(level) == 1:
            sig = step_sig(level[0])
            if pending_group is not None:
                close_group(sig)
            else:
                parts.append(sig)
            continue
        if pending_group is not None:
            close_group(control_sig(BARRIER_TASK))
        pending_group = level
    if pending_group is not None:
        if finalize:
            close_group(control_sig(FINALIZE_TASK))
        else:
            parts.append(group([step_sig(spec) for spec in pending_group]))
    elif finalize:
        parts.append(control_sig(FINALIZE_TASK))
    if len(parts) == 1:
        return parts[0]
    # ``chain(...)`` would fold each following signature into the previous chord's body
    # (``chord | sig``), nesting every later chord inside an earlier one; a flat chain keeps the
    # parts side by side and Celery links them when the canvas is applied. Celery's public
    # dict form of a chain builds exactly that (its class is private).
    return Signature.from_dict(
        {
            "task": "celery.chain",
            "subtask_type": "chain",
            "args": (),
            "options": {},
            "kwargs": {"tasks": parts},
        }
    )
