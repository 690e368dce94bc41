"""The banner's Data line after a restart counts what it restored in words that agree with the
number ("1 message", not "1 messages": a newcomer's note)."""

from __future__ import annotations

from types import SimpleNamespace

from infra.local_stack import _data_line


def test_one_of_a_kind_is_singular_and_the_rest_plural() -> None:
    stack = SimpleNamespace(embedded=True, fresh=False, restored={"items": 1, "objects": 0, "messages": 1,
                                                                   "kmsKeys": 2}, recovered={"dispatched": 1})
    line = _data_line(stack)  # type: ignore[arg-type]
    assert line.endswith("(restored 1 item, 0 objects, 1 message, 2 KMS keys; re-enqueued 1 task)")


def test_a_stack_that_restored_nothing_says_it_started_empty() -> None:
    stack = SimpleNamespace(embedded=True, fresh=False, restored={}, recovered={})
    assert "started empty" in _data_line(stack)  # type: ignore[arg-type]
