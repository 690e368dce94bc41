"""infra/runner.py: how the lane workers receive. Short polls in the lanes' order while there is
work; a lane found empty is watched by a long poll from then on; when every lane is empty, the
first answer of those polls wakes the receiver (an idle stack neither spins on short polls nor
waits a back-off step for a new task)."""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from infra import runner as runner_module
from infra.runner import Runner


class FakeLane:
    """A lane: messages queued now; a long poll waits for one (as SQS does) or its wait."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.messages: list[dict[str, Any]] = []
        self.calls: list[int] = []
        self._arrived = threading.Condition()
        self.source = type("Source", (), {"resource": name})()
        self.visibility: int | None = None  # the queue's own

    def send(self, body: str) -> None:
        with self._arrived:
            self.messages.append({"Body": body})
            self._arrived.notify_all()

    def receive(self, wait_seconds: int = 0) -> list[dict[str, Any]]:
        self.calls.append(wait_seconds)
        with self._arrived:
            if wait_seconds:
                self._arrived.wait_for(lambda: self.messages, timeout=wait_seconds)
            taken, self.messages = self.messages[:10], self.messages[10:]
            return taken


def make_runner(lanes: list[FakeLane]) -> Runner:
    runner = Runner.__new__(Runner)
    runner.lanes = lanes  # type: ignore[assignment]
    runner.stopping = threading.Event()
    runner._receiving = threading.Lock()
    runner._polls = {}
    runner._found = []
    runner._pollers = ThreadPoolExecutor(max_workers=len(lanes))
    return runner


@pytest.fixture
def lanes(monkeypatch: pytest.MonkeyPatch) -> list[FakeLane]:
    monkeypatch.setattr(runner_module, "LANE_WAIT", 5)
    return [FakeLane("high"), FakeLane("normal"), FakeLane("low")]


def _end(runner: Runner, lanes: list[FakeLane]) -> None:
    runner.stopping.set()
    for lane in lanes:  # end the polls still out
        lane.send("unblock")
    runner._pollers.shutdown(wait=True)


def test_work_is_taken_most_urgent_lane_first_with_short_polls(lanes: list[FakeLane]) -> None:
    high, normal, low = lanes
    runner = make_runner(lanes)
    low.send("l")
    normal.send("n")
    lane, batch = runner._receive_by_priority()
    assert (lane, [m["Body"] for m in batch]) == (normal, ["n"])
    lane, batch = runner._receive_by_priority()
    assert (lane, [m["Body"] for m in batch]) == (low, ["l"])
    # no waiting while there is work: a lane found empty is watched by a long poll from then on
    assert (high.calls, normal.calls, low.calls) == ([0, 5], [0, 0, 5], [0])
    _end(runner, lanes)


def test_an_empty_lane_above_a_busy_one_costs_one_long_poll_not_a_receive_per_batch(lanes: list[FakeLane]) -> None:
    high, normal, _ = lanes
    runner = make_runner(lanes)
    for i in range(30):
        normal.send(f"n{i}")
    taken = [runner._receive_by_priority() for _ in range(3)]
    assert [(lane, len(batch)) for lane, batch in taken] == [(normal, 10)] * 3
    assert high.calls == [0, 5] and normal.calls == [0, 0, 0]
    high.send("urgent")  # found by the poll that watches the high lane: taken before the normal lane's next
    for _ in range(300):
        if runner._polls[0].done():
            break
        threading.Event().wait(0.01)
    normal.send("n30")
    lane, batch = runner._receive_by_priority()
    assert (lane, [m["Body"] for m in batch]) == (high, ["urgent"])
    _end(runner, lanes)


def test_an_idle_stack_waits_on_every_lane_at_once_and_wakes_for_the_first_message(lanes: list[FakeLane]) -> None:
    high, normal, low = lanes
    runner = make_runner(lanes)
    got: list[Any] = []
    receiver = threading.Thread(target=lambda: got.append(runner._receive_by_priority()))
    receiver.start()
    for _ in range(300):  # each lane: one short poll, then one long poll
        if all(5 in lane.calls for lane in lanes):
            break
        threading.Event().wait(0.01)
    assert all(5 in lane.calls for lane in lanes), [lane.calls[:5] for lane in lanes]
    low.send("late")
    receiver.join(timeout=4)  # woken by the message, well before the long polls' 5 s end
    assert not receiver.is_alive()
    lane, batch = got[0]
    assert (lane, [m["Body"] for m in batch]) == (low, ["late"])
    assert [c for c in high.calls if c] == [5] and [c for c in low.calls if c] == [5]

    # The other lanes' polls are still out: what they find is not lost, and is taken next.
    normal.send("found by the outstanding poll")
    lane, batch = runner._receive_by_priority()
    assert (lane, [m["Body"] for m in batch]) == (normal, ["found by the outstanding poll"])
    assert [c for c in normal.calls if c] == [5]  # no second long poll of a lane whose poll is out
    _end(runner, lanes)


def test_the_local_processes_import_every_handler_before_serving() -> None:
    """infra/warm.py: the runner, the API server and the WebSocket gateway import the whole service
    before their threads run handlers (two first imports of one package at once failed in the runner
    after a restart). A fresh interpreter: this test process has imported everything already."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = ("import json, sys\nfrom infra.warm import import_everything\nimport_everything()\n"
            "print(json.dumps(sorted(sys.modules)))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), str(root / "src")])}
    done = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    loaded = set(json.loads(done.stdout))
    for module in ("functions.executor", "functions.dispatcher", "functions.deliverer", "functions.live",
                   "aws_lambda_powertools.utilities.data_classes.sqs_event", "taskhook.run.executor"):
        assert module in loaded, module
    for source in ("infra/runner.py", "infra/api_server.py", "infra/ws_server.py"):
        assert "import_everything()" in (root / source).read_text(), source


class RecordingSqs:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"Messages": []}


def test_lanes_are_received_with_the_handlers_unclaimed_hold_and_other_queues_with_their_own(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A runner killed between a receive and the handler's first step (or with its long poll out)
    # left the batch hidden for the lane's 360 s: test_crash_recovery saw a task sit pending.
    from taskhook.container import container, reset_container

    monkeypatch.setenv("TASKHOOK_CLAIM_MARGIN", "2")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    reset_container()
    try:
        assert runner_module.lane_visibility() == 4 == math.ceil(container().executor.unclaimed_hold)  # 2 + 1.5
    finally:
        reset_container()
    source = type("Source", (), {"batch_size": 10})()
    sqs = RecordingSqs()
    runner_module.QueueSource(source, "url", "arn", sqs, visibility=4).receive(1)  # type: ignore[arg-type]
    runner_module.QueueSource(source, "url", "arn", sqs).receive(1)  # type: ignore[arg-type]
    assert [c.get("VisibilityTimeout") for c in sqs.calls] == [4, None]
    assert [c["WaitTimeSeconds"] for c in sqs.calls] == [1, 1]


def test_a_found_batch_that_waited_past_its_visibility_is_left_for_redelivery(lanes: list[FakeLane]) -> None:
    # Its messages are receivable again (another receive may already hold them): running it could
    # run them twice. A review found the case once lanes were received with a short visibility.
    runner = make_runner(lanes)
    lanes[0].visibility = 4
    now = time.monotonic()
    runner._found = [(0, [{"Body": "stale"}], now - 10), (1, [{"Body": "fresh"}], now)]
    lane, batch = runner._receive_by_priority()
    assert lane is lanes[1] and batch == [{"Body": "fresh"}]
    assert runner._found == []
