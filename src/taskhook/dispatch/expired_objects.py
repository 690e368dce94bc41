"""The stream consumer that deletes a removed task's S3 objects: its answer's body (`result.bodyKey`),
its output (`output.key`) and its provider outputs (`outputs[].key`), named by the row's last image,
so no listing is needed and a task without objects costs nothing. A removal is TTL's delete on AWS
(model/retention.py) or the local stack's expiry; either way the objects go with the row, at the
team's own retention. The bucket's lifecycle rule (template.yaml) is the backstop for objects no row
names (a run that crashed between its upload and its write). DeleteObjects: free of request
charges; one call per batch with objects (up to 1000 keys)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskhook.model.change import Change
from taskhook.model.errors import TaskhookError
from taskhook.model.task import Task
from taskhook.ports import OutputStore

DELETE_BATCH = 1000  # keys per DeleteObjects


def _own(task: Task, key: Any) -> bool:
    """Whether `key` is one of the task's own objects (`results/<team>/<task>/body`,
    `outputs/<team>/<task>/<file>`): a polling task's result is the provider's JSON and a function
    task's what the function returned, so a `bodyKey` in it may name anything,
    and only the task's own prefix may be deleted with it."""
    if not isinstance(key, str):
        return False
    own = key == f"results/{task.teamId}/{task.id}/body" or key.startswith(f"outputs/{task.teamId}/{task.id}/")
    return own and ".." not in key.split("/")


def object_keys(task: Task) -> list[str]:
    keys: list[Any] = []
    if isinstance(task.result, dict):
        keys.append(task.result.get("bodyKey"))
    if task.output:
        keys.append(task.output.get("key"))
    keys += [item.get("key") for item in task.outputs or []]
    return [key for key in keys if _own(task, key)]


@dataclass
class ExpiredObjects:
    store: OutputStore

    def consume(self, changes: list[Change]) -> list[int]:
        owned = [(i, key) for i, c in enumerate(changes) if c.removed for key in object_keys(c.new)]
        failed: set[int] = set()
        for start in range(0, len(owned), DELETE_BATCH):
            chunk = owned[start:start + DELETE_BATCH]
            try:
                self.store.delete_many([key for _, key in chunk])
            except TaskhookError:  # S3 unavailable: those removals are retried
                failed.update(i for i, _ in chunk)
        return sorted(failed)
