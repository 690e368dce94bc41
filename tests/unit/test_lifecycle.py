"""The task lifecycle: statuses, terminal and cancellable sets, and all 81 transitions."""

from __future__ import annotations

import json
from itertools import product

import pytest

from taskhook.model.lifecycle import TRANSITIONS, can_transition, sources_of
from taskhook.model.status import CANCELLABLE, TERMINAL, TaskStatus

S = TaskStatus

# Seed 002's status list, in the seed's order and spelling.
SEED_STATUSES = [
    "pending",
    "delayed",
    "processing",
    "waiting",
    "polling",
    "completed",
    "failed",
    "timeout",
    "cancelled",
]

# The legal transitions, written out from DESIGN.md §1 and §3 (X = allowed, . = refused):
# - terminal statuses (completed, failed, timeout, cancelled) move nowhere;
# - cancelled is entered only from pending, delayed, waiting, polling (never from processing);
# - pending -> processing is a worker's claim; processing -> pending is a retry; processing ->
#   processing is a stale claim taken over; delayed -> pending is the scheduler's promotion;
# - delayed -> delayed is the sweep's dispatch mark (dispatchedAt), not a status change;
# - delayed -> processing is the executor claiming a delayed task whose time has come (its SQS
#   message carried the remaining delay); delayed -> failed is its message dead-lettered;
# - completed/failed come from a worker's answer (processing), the signal URL (waiting) or the
#   poller (polling); pending -> failed is the DLQ consumer failing a poison message;
# - timeout is the maxWaitTime sweep: every started, non-terminal status (not delayed: the
#   maxWaitTime clock starts when the task first starts);
# - polling -> polling records one more poll; nothing but the sweep's mark re-enters delayed.
MATRIX = """
                 pending  delayed  processing  waiting  polling  completed  failed  timeout  cancelled
    pending         .        .         X          .        .         .        X        X         X
    delayed         X        X         X          .        .         .        X        .         X
    processing      X        .         X          X        X         X        X        X         .
    waiting         .        .         .          .        .         X        X        X         X
    polling         .        .         .          .        X         X        X        X         X
    completed       .        .         .          .        .         .        .        .         .
    failed          .        .         .          .        .         .        .        .         .
    timeout         .        .         .          .        .         .        .        .         .
    cancelled       .        .         .          .        .         .        .        .         .
"""


def _parse(matrix: str) -> dict[tuple[TaskStatus, TaskStatus], bool]:
    header, *rows = [line.split() for line in matrix.strip().splitlines()]
    table = {}
    for row in rows:
        source, marks = row[0], row[1:]
        assert len(marks) == len(header), f"row {source} has {len(marks)} columns"
        for target, mark in zip(header, marks, strict=True):
            assert mark in ("X", "."), mark
            table[(TaskStatus(source), TaskStatus(target))] = mark == "X"
    return table


EXPECTED = _parse(MATRIX)
PAIRS = list(product(TaskStatus, repeat=2))


def test_expected_matrix_covers_all_81_pairs() -> None:
    assert len(PAIRS) == 81
    assert set(EXPECTED) == set(PAIRS)


def test_transition_table_has_a_row_for_every_status() -> None:
    assert set(TRANSITIONS) == set(TaskStatus)


@pytest.mark.parametrize(("current", "new"), PAIRS, ids=[f"{a.value}->{b.value}" for a, b in PAIRS])
def test_can_transition_matches_the_expected_matrix(current: TaskStatus, new: TaskStatus) -> None:
    assert can_transition(current, new) is EXPECTED[(current, new)]


@pytest.mark.parametrize("new", list(TaskStatus), ids=lambda s: s.value)
def test_sources_of_is_the_matrix_column(new: TaskStatus) -> None:
    expected = {source for source in TaskStatus if EXPECTED[(source, new)]}
    assert sources_of(new) == expected


def test_terminal_statuses_are_the_last_four() -> None:
    assert {S.COMPLETED, S.FAILED, S.TIMEOUT, S.CANCELLED} == TERMINAL


def test_cancellable_statuses_are_the_seeds() -> None:
    assert {S.PENDING, S.DELAYED, S.WAITING, S.POLLING} == CANCELLABLE


@pytest.mark.parametrize("status", sorted(TERMINAL), ids=lambda s: s.value)
def test_terminal_status_moves_nowhere(status: TaskStatus) -> None:
    assert TRANSITIONS[status] == frozenset()
    assert not any(can_transition(status, new) for new in TaskStatus)


def test_cancelled_is_entered_exactly_from_the_cancellable_statuses() -> None:
    assert sources_of(S.CANCELLED) == CANCELLABLE


def test_processing_cannot_be_cancelled() -> None:
    assert not can_transition(S.PROCESSING, S.CANCELLED)


@pytest.mark.parametrize("status", sorted(set(TaskStatus) - TERMINAL - {S.DELAYED}), ids=lambda s: s.value)
def test_every_started_live_status_can_time_out(status: TaskStatus) -> None:
    # The maxWaitTime sweep must be able to end a task whatever non-final state it is stuck in.
    assert can_transition(status, S.TIMEOUT)


def test_a_delayed_task_cannot_time_out_before_it_starts() -> None:
    assert not can_transition(S.DELAYED, S.TIMEOUT)


@pytest.mark.parametrize("status", sorted(set(TaskStatus) - TERMINAL), ids=lambda s: s.value)
def test_every_live_status_can_reach_completed(status: TaskStatus) -> None:
    seen, frontier = {status}, [status]
    while frontier:
        for new in TRANSITIONS[frontier.pop()] - seen:
            seen.add(new)
            frontier.append(new)
    assert S.COMPLETED in seen


def test_delayed_is_only_an_initial_status() -> None:
    # Only the sweep's dispatch mark (delayed -> delayed) re-enters it; nothing else goes back.
    assert sources_of(S.DELAYED) == frozenset({S.DELAYED})


# ---------------------------------------------------------------------------------------------
# The str Enum


def test_status_values_are_the_seeds_in_order() -> None:
    assert [status.value for status in TaskStatus] == SEED_STATUSES


@pytest.mark.parametrize("value", SEED_STATUSES)
def test_status_is_its_seed_string(value: str) -> None:
    status = TaskStatus(value)
    assert status == value
    assert str(status) == value
    assert f"{status}" == value
    assert json.dumps({"status": status}) == json.dumps({"status": value})


@pytest.mark.parametrize("value", ["Pending", "PENDING", "canceled", "done", ""])
def test_unknown_status_string_is_not_a_status(value: str) -> None:
    with pytest.raises(ValueError):
        TaskStatus(value)


# ---------------------------------------------------------------------------------------------
# An illegal transition is a programming error, never an answer


def test_an_illegal_transition_reaching_a_route_is_a_bare_500_without_its_text() -> None:
    """If a bug ever built an illegal move inside a request, the client must get the generic
    500, not the lifecycle's wording (field and status names are ours, not the API's)."""
    from functions.responses import endpoint
    from taskhook.model.lifecycle import IllegalTransition, Transition

    @endpoint
    def view() -> None:
        Transition(S.CANCELLED, from_=frozenset({S.PROCESSING})).check()

    with pytest.raises(IllegalTransition):
        Transition(S.CANCELLED, from_=frozenset({S.PROCESSING})).check()
    answer = view()
    assert answer.status_code == 500
    assert json.loads(answer.body) == {"error": "Internal error"}
