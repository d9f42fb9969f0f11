"""Plan DAG -> flat canvas, without a broker: shape, ids-only messages, barriers, ordering."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from celery import Celery
from celery.canvas import Signature, _chain, _chord, group
from hypothesis import given, settings
from hypothesis import strategies as st

from octollm.orchestrator.broker.queues import Target
from octollm.orchestrator.engine.compile import (
    BARRIER_TASK,
    FINALIZE_TASK,
    STEP_TASK,
    StepSpec,
    compile_canvas,
    levels,
    message_id,
)

TASK = "task-00000000-0000-4000-8000-000000000000"
TARGET = Target("octollm", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="module")
def app() -> Celery:
    return Celery("compile-test", set_as_current=False)


def _plain(sig: Any) -> bool:
    return isinstance(sig, Signature) and not isinstance(sig, (group, _chain, _chord))


def stages(canvas: Signature) -> list[list[Signature]]:
    """The canvas as the sequence of things that run one after another, asserting flatness:
    a chord's header is a group of plain signatures and its body one plain signature."""
    parts = list(canvas.tasks) if isinstance(canvas, _chain) else [canvas]
    out: list[list[Signature]] = []
    for index, part in enumerate(parts):
        if isinstance(part, _chord):
            header = list(part.tasks)
            assert all(_plain(m) for m in header), "chord header holds a nested canvas"
            assert _plain(part.body), "chord body is a nested canvas"
            out += [header, [part.body]]
        elif isinstance(part, group):
            assert index == len(parts) - 1, "a bare group may only end the canvas"
            assert all(_plain(m) for m in part.tasks)
            out.append(list(part.tasks))
        else:
            assert _plain(part), f"nested canvas in the chain: {part!r}"
            out.append([part])
    return out


def check(app: Celery, steps: list[StepSpec], *, finalize: bool = True) -> list[list[Signature]]:
    canvas = compile_canvas(app, TASK, 3, steps, "high", TARGET, finalize=finalize)
    seq = stages(canvas)
    where: dict[str, int] = {}
    for i, stage in enumerate(seq):
        for sig in stage:
            if sig.task == STEP_TASK:
                step_id = sig.args[1]
                assert step_id not in where, f"{step_id} scheduled twice"
                where[step_id] = i
                # ids only, immutable, deterministic message id, routed to the arm's queue
                assert tuple(sig.args) == (TASK, step_id, 3)
                assert not sig.kwargs
                assert sig.immutable
                assert sig.options["task_id"] == message_id(TASK, step_id, 3)
                arm = next(s.arm for s in steps if s.step_id == step_id)
                assert sig.options["queue"] == f"octollm.{arm}.high"
            else:
                assert sig.task in (BARRIER_TASK, FINALIZE_TASK)
                assert tuple(sig.args) == (TASK, 3)
    assert set(where) == {s.step_id for s in steps}
    for s in steps:
        for dep in (d for d in s.depends_on if d in where):
            assert where[dep] < where[s.step_id], f"{s.step_id} may run before {dep}"
    # a barrier sits exactly between two parallel stages
    for i, stage in enumerate(seq):
        if stage[0].task == BARRIER_TASK:
            assert len(seq[i - 1]) > 1
            assert len(seq[i + 1]) > 1
    for i in range(1, len(seq)):
        assert not (len(seq[i - 1]) > 1 and len(seq[i]) > 1), "two groups with no barrier"
    if finalize:
        assert seq[-1][0].task == FINALIZE_TASK
    # no signature stores a result (chord members are counted without one)
    for stage in seq:
        for sig in stage:
            assert sig.options.get("ignore_result") is True
    return seq


def test_a_single_step_compiles_to_the_step_then_finalize(app: Celery) -> None:
    seq = check(app, [StepSpec("only", "coder")])
    assert [[s.task for s in stage] for stage in seq] == [[STEP_TASK], [FINALIZE_TASK]]


def test_a_single_step_without_finalize_is_one_plain_signature(app: Celery) -> None:
    canvas = compile_canvas(
        app, TASK, 1, [StepSpec("plan", "planner")], "low", TARGET, finalize=False
    )
    assert _plain(canvas)
    assert canvas.args == (TASK, "plan", 1)


def test_no_steps_compile_to_the_finalize_message_alone(app: Celery) -> None:
    canvas = compile_canvas(app, TASK, 2, [], "low", TARGET)
    assert _plain(canvas)
    assert canvas.task == FINALIZE_TASK
    with pytest.raises(ValueError, match="nothing to compile"):
        compile_canvas(app, TASK, 2, [], "low", TARGET, finalize=False)


def test_a_diamond_is_a_step_then_a_chord_into_the_join(app: Celery) -> None:
    steps = [
        StepSpec("a", "retriever"),
        StepSpec("b", "coder", ("a",)),
        StepSpec("c", "judge", ("a",)),
        StepSpec("d", "judge", ("b", "c")),
    ]
    seq = check(app, steps)
    assert [[s.args[1] for s in stage if s.task == STEP_TASK] for stage in seq] == [
        ["a"],
        ["b", "c"],
        ["d"],
        [],
    ]


def test_fan_out_and_fan_in_of_ten_is_one_chord(app: Celery) -> None:
    steps = [StepSpec("src", "retriever")]
    steps += [StepSpec(f"w{i}", "coder", ("src",)) for i in range(10)]
    steps += [StepSpec("join", "judge", tuple(f"w{i}" for i in range(10)))]
    canvas = compile_canvas(app, TASK, 3, steps, "high", TARGET)
    assert isinstance(canvas, _chain)
    chords = [p for p in canvas.tasks if isinstance(p, _chord)]
    assert len(chords) == 1
    assert len(chords[0].tasks) == 10
    assert chords[0].body.args[1] == "join"
    check(app, steps)


def test_independent_branches_share_levels_and_get_a_barrier_between_groups(app: Celery) -> None:
    steps = [
        StepSpec("x1", "coder"),
        StepSpec("y1", "coder"),
        StepSpec("x2", "judge", ("x1",)),
        StepSpec("y2", "judge", ("y1",)),
    ]
    seq = check(app, steps)
    assert [stage[0].task for stage in seq] == [STEP_TASK, BARRIER_TASK, STEP_TASK, FINALIZE_TASK]
    assert [len(stage) for stage in seq] == [2, 1, 2, 1]


def test_a_group_that_ends_a_plan_without_finalize_stays_a_bare_group(app: Celery) -> None:
    steps = [StepSpec("a", "coder"), StepSpec("b", "coder")]
    seq = check(app, steps, finalize=False)
    assert len(seq) == 1
    assert len(seq[0]) == 2


def test_dependencies_outside_the_list_count_as_done(app: Celery) -> None:
    # a re-drive compiles only the unfinished part of a DAG
    seq = check(app, [StepSpec("c", "coder", ("a", "b")), StepSpec("d", "coder", ("c",))])
    assert [stage[0].args[1] for stage in seq[:2]] == ["c", "d"]


def test_a_cycle_is_refused() -> None:
    with pytest.raises(ValueError, match="cycle"):
        levels([StepSpec("a", "coder", ("b",)), StepSpec("b", "coder", ("a",))])


def random_dag(rng: random.Random, n: int, max_parents: int = 3) -> list[StepSpec]:
    steps = []
    for i in range(n):
        parents = rng.sample(range(i), k=min(i, rng.randint(0, max_parents)))
        steps.append(
            StepSpec(
                f"s{i}", rng.choice(["coder", "judge", "noop"]), tuple(f"s{p}" for p in parents)
            )
        )
    rng.shuffle(steps)
    return steps


def test_sixty_steps_compile_flat_with_small_messages(app: Celery) -> None:
    steps = random_dag(random.Random(60), 60)
    seq = check(app, steps)
    assert sum(len(stage) for stage in seq) >= 60
    canvas = compile_canvas(app, TASK, 3, steps, "high", TARGET)
    size = len(json.dumps(dict(canvas), default=str))
    # ids only: the whole canvas is a few hundred bytes per step, not a payload per step
    assert size < 60 * 1500, size


def test_a_wide_single_level_of_sixty_is_one_chord(app: Celery) -> None:
    steps = [StepSpec(f"p{i}", "coder") for i in range(60)]
    seq = check(app, steps)
    assert [len(stage) for stage in seq] == [60, 1]


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=10_000))
def test_any_dag_compiles_to_a_flat_canvas_that_respects_its_dependencies(
    n: int, seed: int
) -> None:
    check(Celery("compile-prop", set_as_current=False), random_dag(random.Random(seed), n))


def test_the_fire_and_forget_result_backend_keeps_celerys_url_forms() -> None:
    from celery.app.backends import by_url

    from octollm.orchestrator.broker.result_backend import Backend, backend_url

    for url, passed in (
        ("redis://127.0.0.1:6379/3", "redis://127.0.0.1:6379/3"),
        ("redis+socket:///tmp/redis.sock", "socket:///tmp/redis.sock"),
    ):
        cls, given = by_url(backend_url(url))
        assert cls is Backend
        assert given == passed
    assert backend_url("db+postgresql://x/y") == "db+postgresql://x/y"


def test_a_suspect_step_is_published_to_the_quarantine_lane_with_its_own_arm(app: Celery) -> None:
    suspect = StepSpec("b", "coder", ("a",), quarantine=True)
    canvas = compile_canvas(app, TASK, 3, [StepSpec("a", "coder"), suspect], "high", TARGET)
    first, second = (stage[0] for stage in stages(canvas)[:2])
    assert first.options["queue"] == "octollm.coder.high"
    assert second.options["queue"] == "octollm.quarantine.high"
    assert second.args == (TASK, "b", 3)  # the step runs its own arm there
    amqp = Target("octollm", "amqp://guest:guest@127.0.0.1:5672//")
    lone = compile_canvas(app, TASK, 1, [suspect], "high", amqp, finalize=False)
    assert (lone.options["queue"], lone.options["priority"]) == ("octollm.quarantine", 6)


def test_the_default_fleet_has_a_concurrency_one_quarantine_pool() -> None:
    from octollm.orchestrator.broker.fleet import load_fleet

    pool = load_fleet()["quarantine"]
    assert (pool.arms, pool.pool, pool.concurrency, pool.prefetch) == (
        ("quarantine",),
        "prefork",
        1,
        1,
    )
    assert pool.time_limit == max(p.time_limit or 0 for p in load_fleet().values())
