"""Priority lanes: 8-10 high, 4-7 normal, 1-3 low (DESIGN.md §3 Priority)."""

from __future__ import annotations

import pytest

from taskhook.model.lanes import LANES_BY_URGENCY, Lane, lane_for

EXPECTED = {
    1: Lane.LOW,
    2: Lane.LOW,
    3: Lane.LOW,
    4: Lane.NORMAL,
    5: Lane.NORMAL,
    6: Lane.NORMAL,
    7: Lane.NORMAL,
    8: Lane.HIGH,
    9: Lane.HIGH,
    10: Lane.HIGH,
}


@pytest.mark.parametrize(("priority", "lane"), EXPECTED.items())
def test_lane_for_every_priority(priority: int, lane: Lane) -> None:
    assert lane_for(priority) is lane


def test_lane_values_are_the_queue_names() -> None:
    assert [lane.value for lane in Lane] == ["high", "normal", "low"]
    assert Lane("normal") is Lane.NORMAL


def test_lanes_are_drained_high_first() -> None:
    assert LANES_BY_URGENCY == (Lane.HIGH, Lane.NORMAL, Lane.LOW)


def test_a_higher_priority_never_lands_in_a_less_urgent_lane() -> None:
    rank = {lane: i for i, lane in enumerate(LANES_BY_URGENCY)}
    ranks = [rank[lane_for(p)] for p in range(1, 11)]
    assert ranks == sorted(ranks, reverse=True)
