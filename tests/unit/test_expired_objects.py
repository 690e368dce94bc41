"""A removed task's S3 objects (dispatch/expired_objects.py): only the task's own objects go."""

from __future__ import annotations

from taskhook.dispatch.expired_objects import ExpiredObjects, object_keys
from taskhook.model.change import Change
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from tests.support.fakes import InMemoryObjectStore


def finished(**fields: object) -> Task:
    return Task(id="t1", teamId="acme", status=TaskStatus.COMPLETED, createdAt="2026-01-01T12:00:00.000Z",
                targetUrl="https://x.test/hook", version=3, **fields)  # type: ignore[arg-type]


def test_a_result_naming_another_teams_object_does_not_delete_it_when_the_task_expires() -> None:
    """A polling task's result is the provider's final JSON verbatim (run/poll.py), and a function
    task's is what the function returned: a `bodyKey` in it (or an output key) that names another
    team's or another task's object must not delete that object when the task expires."""
    objects = InMemoryObjectStore()
    for key in ("results/beta/t9/body", "outputs/beta/t9/result.json", "results/acme/t2/body",
                "outputs/acme/t1/result.json"):
        objects.put(key, b"x", "text/plain")
    gone = finished(result={"bodyKey": "results/beta/t9/body", "other": 1},
                    output={"key": "outputs/acme/t1/result.json", "size": 1},
                    outputs=[{"key": "outputs/beta/t9/result.json"}, {"key": "results/acme/t2/body"},
                             {"key": "outputs/acme/t1/../../beta/t9/result.json"}])
    assert ExpiredObjects(objects).consume([Change("1", gone, gone, removed=True)]) == []
    assert set(objects.objects) == {"results/beta/t9/body", "outputs/beta/t9/result.json", "results/acme/t2/body"}
    assert object_keys(gone) == ["outputs/acme/t1/result.json"]


def test_the_tasks_own_objects_are_named() -> None:
    own = finished(result={"bodyKey": "results/acme/t1/body", "bodySize": 9},
                   outputs=[{"key": "outputs/acme/t1/0-a.png"}, {"source": "s", "error": "e"}])
    assert object_keys(own) == ["results/acme/t1/body", "outputs/acme/t1/0-a.png"]
