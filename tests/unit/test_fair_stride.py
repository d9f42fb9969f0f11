"""The fair dispatcher's choice of tenants (stride scheduling), without a broker."""

from __future__ import annotations

from octollm.orchestrator.fairness.dispatcher import stride_order


def test_equal_weights_alternate() -> None:
    order, _, _ = stride_order({"a": 100, "b": 100}, {}, {}, 0.0, 6)
    assert order == ["a", "b", "a", "b", "a", "b"]


def test_weights_three_to_one_share_three_to_one() -> None:
    order, _, _ = stride_order({"a": 1000, "b": 1000}, {"a": 3.0}, {}, 0.0, 400)
    assert order.count("a") == 300
    assert order.count("b") == 100


def test_turns_carry_over_between_passes() -> None:
    """Many small passes (one free slot each) add up to the same shares as one large one."""
    passes: dict[str, float] = {}
    clock = 0.0
    order: list[str] = []
    for _ in range(40):
        picked, after, clock = stride_order({"a": 100, "b": 100}, {"a": 3.0}, passes, clock, 1)
        passes.update(after)
        order += picked
    assert order.count("a") == 30
    assert order.count("b") == 10


def test_a_newcomer_starts_at_the_clock_neither_behind_nor_ahead() -> None:
    passes = {"a": 500.0, "b": 3.0}  # b was busy long ago; c never was
    order, _, _ = stride_order({"a": 100, "b": 100, "c": 100}, {}, passes, 500.0, 9)
    assert order.count("a") == 3
    assert order.count("b") == 3
    assert order.count("c") == 3


def test_a_tenant_with_few_canvases_leaves_the_rest_to_others() -> None:
    order, _, _ = stride_order({"a": 100, "b": 2}, {}, {}, 0.0, 10)
    assert order.count("b") == 2
    assert order.count("a") == 8
