"""TaskContext: monotonic progress, coalesced conditional writes, a lost claim stopping the run,
and output files."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from taskhook.model.errors import Busy
from taskhook.model.lifecycle import Transition
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.run.functions.context import TaskCancelled, TaskContext
from tests.support.fakes import InMemoryObjectStore, InMemoryTaskRepository

TOKEN = "claim-1"


def running_task(**fields: Any) -> Task:
    data: dict[str, Any] = {"id": "t1", "teamId": "team-a", "kind": "function", "namespace": "ns", "name": "job",
                            "status": TaskStatus.PROCESSING, "claimToken": TOKEN, "progress": 0,
                            "createdAt": "2024-01-01T00:00:00.000Z"}
    data.update(fields)
    return Task.model_validate(data)


@pytest.fixture
def repo() -> InMemoryTaskRepository:
    repository = InMemoryTaskRepository()
    repository.put_new(running_task())
    return repository


def stored(repo: InMemoryTaskRepository) -> Task:
    task = repo.get("t1")
    assert task is not None
    return task


def test_progress_is_clamped_and_never_goes_down(repo: InMemoryTaskRepository) -> None:
    ctx = TaskContext(running_task(), TOKEN, repo)
    ctx.update_sync(progress=40)
    ctx.update_sync(progress=10)
    assert ctx.progress == 40
    ctx.update_sync(progress=250.7)
    assert ctx.progress == 100
    ctx.update_sync(progress=-5)
    assert ctx.progress == 100
    with pytest.raises(TypeError, match="progress must be a number"):
        ctx.update_sync(progress="50")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ctx.update_sync(progress=True)


def test_a_retry_starts_from_the_stored_progress(repo: InMemoryTaskRepository) -> None:
    ctx = TaskContext(running_task(progress=60, message="half way", retryCount=1), TOKEN, repo)
    assert (ctx.progress, ctx.message, ctx.attempt) == (60, "half way", 2)
    ctx.update_sync(progress=30)
    assert ctx.progress == 60


def test_updates_are_coalesced_into_one_write_per_flush(repo: InMemoryTaskRepository) -> None:
    ctx = TaskContext(running_task(), TOKEN, repo)
    before = repo.writes
    for i in range(1000):  # a chatty task
        ctx.update_sync(progress=i / 10, message=f"step {i}")
    assert repo.writes == before  # updating only records
    assert ctx.flush() is True
    assert repo.writes == before + 1
    task = stored(repo)
    assert (task.progress, task.message) == (99, "step 999")
    assert ctx.flush() is False  # nothing new: no write
    assert repo.writes == before + 1


def test_a_write_carries_the_message_only_when_it_changed(repo: InMemoryTaskRepository) -> None:
    calls: list[tuple[int, str | None]] = []

    class Spy:
        def report_progress(self, task_id: str, claim_token: str, progress: int, message: str | None,
                            updated_at: str) -> None:
            calls.append((progress, message))

    ctx = TaskContext(running_task(), TOKEN, Spy())
    ctx.update_sync(progress=10, message="a")
    ctx.flush()
    ctx.update_sync(progress=20, message="a")
    ctx.flush()
    ctx.update_sync(message="b")
    ctx.flush()
    assert calls == [(10, "a"), (20, None), (20, "b")]


def test_update_is_awaitable_and_also_works_without_await(repo: InMemoryTaskRepository) -> None:
    ctx = TaskContext(running_task(), TOKEN, repo)

    async def async_task() -> None:
        await ctx.update(progress=33, status=TaskStatus.PROCESSING)

    asyncio.run(async_task())
    assert ctx.progress == 33
    ctx.update(progress=50)  # in a sync function: recorded all the same, no warning
    assert ctx.progress == 50


@pytest.mark.parametrize("status", [TaskStatus.PROCESSING, "processing", "Processing"])
def test_processing_is_the_status_a_running_task_may_report(status: Any) -> None:
    TaskContext(running_task(), TOKEN).update_sync(status=status)


@pytest.mark.parametrize("status", [TaskStatus.COMPLETED, "failed", "whatever"])
def test_other_statuses_are_refused_with_a_hint(status: Any) -> None:
    with pytest.raises(ValueError, match="return to complete it, raise to fail it"):
        TaskContext(running_task(), TOKEN).update_sync(status=status)


def test_losing_the_claim_stops_the_run(repo: InMemoryTaskRepository) -> None:
    ctx = TaskContext(running_task(), TOKEN, repo)
    task = stored(repo)
    repo.apply(task, Transition(TaskStatus.TIMEOUT, {"claimToken": None},
                                from_=frozenset({TaskStatus.PROCESSING})))  # the sweep
    ctx.update_sync(progress=50)
    assert ctx.flush() is False
    assert ctx.stopped and "no longer this run's" in ctx.stopped
    with pytest.raises(TaskCancelled):
        ctx.update_sync(progress=60)
    with pytest.raises(TaskCancelled):
        ctx.save_output(b"x")
    assert stored(repo).progress == 0


def test_another_runs_claim_refuses_the_write(repo: InMemoryTaskRepository) -> None:
    ctx = TaskContext(running_task(), "someone-else", repo)
    ctx.update_sync(progress=5)
    ctx.flush()
    assert ctx.stopped is not None
    assert stored(repo).progress == 0


def test_a_throttled_write_is_tried_again_later() -> None:
    attempts: list[int] = []

    class Throttled:
        def report_progress(self, task_id: str, claim_token: str, progress: int, message: str | None,
                            updated_at: str) -> None:
            attempts.append(progress)
            if len(attempts) == 1:
                raise Busy()

    ctx = TaskContext(running_task(), TOKEN, Throttled())
    ctx.update_sync(progress=10)
    assert ctx.flush() is False and ctx.stopped is None
    assert ctx.flush() is True
    assert attempts == [10, 10]


def test_the_store_refuses_lower_progress(repo: InMemoryTaskRepository) -> None:
    from taskhook.model.errors import Conflict

    repo.report_progress("t1", TOKEN, 70, None, "2024-01-01T00:00:01.000Z")
    with pytest.raises(Conflict):
        repo.report_progress("t1", TOKEN, 60, None, "2024-01-01T00:00:02.000Z")
    repo.report_progress("t1", TOKEN, 70, "same progress, new message", "2024-01-01T00:00:03.000Z")
    task = stored(repo)
    assert (task.progress, task.message, task.updatedAt) == (70, "same progress, new message",
                                                             "2024-01-01T00:00:03.000Z")


# ---------------------------------------------------------------------------------------------
# outputs


def test_save_output_bytes() -> None:
    store = InMemoryObjectStore()
    ctx = TaskContext(running_task(), TOKEN, outputs=store)
    output = ctx.save_output(b"a,b\n1,2\n", content_type="text/csv", filename="report.csv")
    assert output == {"key": "outputs/team-a/t1/report.csv", "contentType": "text/csv", "size": 8,
                      "filename": "report.csv"}
    assert store.objects["outputs/team-a/t1/report.csv"] == (b"a,b\n1,2\n", "text/csv")
    assert ctx.output == output


def test_save_output_file_guesses_its_type(tmp_path: Path) -> None:
    store = InMemoryObjectStore()
    path = tmp_path / "chart.png"
    path.write_bytes(b"\x89PNG....")
    ctx = TaskContext(running_task(), TOKEN, outputs=store)
    output = ctx.save_output(path)
    assert (output["filename"], output["contentType"], output["size"]) == ("chart.png", "image/png", 8)
    second = ctx.save_output(str(path), filename="../../etc/pass wd")  # a second call replaces the first
    assert second["filename"] == "pass_wd" and second["key"] == "outputs/team-a/t1/pass_wd"
    assert ctx.output == second


def test_save_output_names_bytes_after_their_type() -> None:
    ctx = TaskContext(running_task(), TOKEN, outputs=InMemoryObjectStore())
    assert ctx.save_output(b"{}", content_type="application/json")["filename"] == "output.json"
    assert ctx.save_output(b"??")["filename"] == "output"
    assert ctx.output is not None and ctx.output["contentType"] == "application/octet-stream"


def test_save_output_of_a_missing_file_raises(tmp_path: Path) -> None:
    ctx = TaskContext(running_task(), TOKEN, outputs=InMemoryObjectStore())
    with pytest.raises(FileNotFoundError):
        ctx.save_output(tmp_path / "nope.txt")
