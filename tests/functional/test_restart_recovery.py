"""The local stack's restart (infra/local_stack.py `_recover`) on moto: it reads the restored
tasks through the TaskRepository port (adapters own every AWS call) and gives every unfinished
one its lane message back (dispatch/recovery.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from infra.local_stack import LocalStack
from taskhook.adapters.sqs import task_message
from taskhook.container import Container, container
from taskhook.model.clock import iso, utcnow
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task

from .conftest import Provisioned

S = TaskStatus


def _task(task_id: str, status: TaskStatus, **fields: Any) -> Task:
    created = iso(utcnow() - timedelta(seconds=30))
    return Task.model_validate({"id": task_id, "teamId": "team", "status": status,
                                "targetUrl": "https://x.example/", "createdAt": created, "updatedAt": created,
                                **fields})


def _messages(aws: Provisioned, env_name: str) -> list[str]:
    answer = aws.client("sqs").receive_message(QueueUrl=aws.env[env_name], MaxNumberOfMessages=10,
                                               WaitTimeSeconds=0)
    return sorted(m["Body"] for m in answer.get("Messages", []))


def test_the_restart_reads_the_tasks_through_the_repository_and_reenqueues_the_unfinished(
        aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> None:
    repository = container().task_repository
    claimed = iso(utcnow() - timedelta(seconds=5))
    for task in [
        _task("new", S.PENDING),
        _task("running", S.PROCESSING, claimToken="old-run", claimedAt=claimed, startedAt=claimed),
        _task("far", S.DELAYED, delayUntil=iso(utcnow() + timedelta(hours=2))),
        _task("done", S.COMPLETED),
    ]:
        repository.put_new(task)
    raw_client = Container.client

    def adapters_only(self: Container, service: str) -> Any:
        assert service != "dynamodb", "the restart must reach the tasks through the TaskRepository port"
        return raw_client(self, service)

    monkeypatch.setattr(Container, "client", adapters_only)

    report = LocalStack(port=0, emulator_url=None, verbose=False)._recover()

    # The far-delayed task is read too: the sweep sends it when it is due, and the report says so.
    assert report == {"released": 1, "dispatched": 2, "leftToSweep": 1, "notSent": 0}
    running = repository.get("running")
    assert running is not None and (running.status, running.claimToken, running.retryCount) == (S.PENDING, None, 0)
    assert _messages(aws, "QUEUE_NORMAL_URL") == [task_message("new"), task_message("running")]
