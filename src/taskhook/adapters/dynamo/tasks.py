"""PynamoDB implementations of the repositories; AWS errors become domain errors here."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NoReturn

from pynamodb.exceptions import PutError, QueryError, ScanError, UpdateError
from pynamodb.models import Model

from taskhook.adapters.dynamo.errors import CONDITION_FAILED, code_of, domain_error
from taskhook.adapters.dynamo.packing import pack_fields, unpack_fields
from taskhook.adapters.dynamo.tables import ACTIVE_SHARD, DELAYED_SHARD, fits_partition_key, team_phase
from taskhook.adapters.dynamo.task_pages import TaskPages
from taskhook.model.errors import Conflict, NotFound
from taskhook.model.lifecycle import Transition
from taskhook.model.listing import ListPage, ListQuery
from taskhook.model.retention import DEFAULT_RETENTION_DAYS, expires_at
from taskhook.model.status import TERMINAL, TaskStatus
from taskhook.model.task import Task, deadline_of
from taskhook.ports import ADMIN_SCOPE, API_KEY_KIND, TASKS_SCOPE, ApiKey

_MAPS = ("headers", "pollConfig", "notifications")
SCAN_PAGE_SIZE = 1000  # rows a Scan page examines (up to 1 MB): a page is one request


# Rows written before versions existed have none: they count as version 1 (a new row's).
def _version_is(model: Any, version: int) -> Any:
    return model.version.does_not_exist() | (model.version == 1) if version == 1 else model.version == version


def _next_version(model: Any) -> Any:
    return model.version.set((model.version | 1) + 1)  # SET version = if_not_exists(version, 1) + 1


def _index_attributes(task: Task) -> dict[str, Any]:
    """The attributes that place a row in the GSIs; recomputed on every write from the row (an
    unchanged value writes no index: DynamoDB compares the keys and the projection)."""
    delayed = task.status is TaskStatus.DELAYED and task.delayUntil is not None
    deadline = deadline_of(task)
    return {
        "teamPhase": team_phase(task.teamId, task.status),
        "delayedShard": DELAYED_SHARD if delayed else None,
        "dueAt": task.delayUntil if delayed else None,
        "activeShard": ACTIVE_SHARD if deadline else None,
        "deadlineAt": deadline,
    }


class DynamoTaskRepository:
    def __init__(self, model: type[Model],
                 retention_days: Callable[[str], int] = lambda team_id: DEFAULT_RETENTION_DAYS) -> None:
        self._model = model
        self._retention_days = retention_days  # a team's retention (model/retention.py), for expiresAt
        self.pages = TaskPages(model, self._to_task)

    def _to_task(self, item: Model) -> Task:
        data = item.attribute_values.copy()
        data.setdefault("statusVersion", None)  # a row from before status versions: unknown, not 1
        unpack_fields(data)
        for name in _MAPS:
            value = data.get(name)
            if value is not None and hasattr(value, "as_dict"):
                data[name] = value.as_dict()
        return Task.model_validate(data)

    def put_new(self, task: Task) -> None:
        data = task.model_dump(mode="json", exclude_none=True)
        data.update(_index_attributes(task))
        pack_fields(data)
        item = self._model(**{k: v for k, v in data.items() if v is not None})
        try:
            item.save(condition=self._model.id.does_not_exist())  # type: ignore[attr-defined]
        except PutError as exc:
            raise domain_error(exc, "Task already exists") from exc

    def get(self, task_id: str) -> Task | None:
        if not fits_partition_key(task_id):  # a path parameter's id no row can have
            return None
        try:
            return self._to_task(self._model.get(task_id))
        except self._model.DoesNotExist:
            return None

    def apply(self, task: Task, transition: Transition) -> Task:
        transition.check()
        model: Any = self._model
        after = Task.model_validate({**task.model_dump(), **transition.changes, "status": transition.target})
        fields = {**transition.changes, "status": transition.target.value, **_index_attributes(after)}
        pack_fields(fields)
        if transition.target in TERMINAL and after.completedAt:  # the row's TTL (model/retention.py)
            fields["expiresAt"] = expires_at(after.completedAt, self._retention_days(task.teamId))
        actions = [_next_version(model)]
        if transition.changes_status:  # the same value as the new version: both read the old one
            actions.append(model.statusVersion.set((model.version | 1) + 1))
        for name, value in fields.items():
            attr = getattr(model, name)
            actions.append(attr.remove() if value is None else attr.set(value))
        condition = model.status.is_in(*sorted(s.value for s in transition.sources))
        for name, value in transition.expect.items():
            attr = getattr(model, name)
            condition &= attr.does_not_exist() if value is None else attr == value
        if transition.version is not None:
            condition &= _version_is(model, transition.version)
        item = model(task.id)
        try:
            item.update(actions=actions, condition=condition)
        except UpdateError as exc:
            self._raise_for_failed_update(task.id, exc)
        return self._to_task(item)

    def _raise_for_failed_update(self, task_id: str, exc: UpdateError) -> NoReturn:
        if code_of(exc) == CONDITION_FAILED:
            current = self.get(task_id)
            if current is None:
                raise NotFound() from exc
            raise Conflict(f"Task is {current.status.value}") from exc
        raise domain_error(exc, "Conflict") from exc

    def list_for_team(self, team_id: str, query: ListQuery) -> ListPage:
        """Keys from byTeamPhase, then the page's items (adapters/dynamo/task_pages.py)."""
        return self.pages.page(team_id, query)

    def _query_until(self, index: Any, shard: str, moment: str) -> list[Task]:
        model: Any = self._model
        range_attr = model.dueAt if index is model.delayed_due else model.deadlineAt
        try:
            return [self._to_task(row) for row in index.query(shard, range_attr <= moment)]
        except QueryError as exc:
            raise domain_error(exc, "Conflict") from exc

    def report_progress(self, task_id: str, claim_token: str, progress: int, message: str | None,
                        updated_at: str) -> None:
        model: Any = self._model
        actions = [model.progress.set(progress), model.updatedAt.set(updated_at), _next_version(model)]
        if message is not None:
            actions.append(model.message.set(message))
        condition = (model.status == TaskStatus.PROCESSING.value) & (model.claimToken == claim_token)
        condition &= model.progress.does_not_exist() | (model.progress <= progress)
        try:
            model(task_id).update(actions=actions, condition=condition)
        except UpdateError as exc:
            self._raise_for_failed_update(task_id, exc)

    def delayed_due_before(self, moment: str) -> list[Task]:
        model: Any = self._model
        return self._query_until(model.delayed_due, DELAYED_SHARD, moment)

    def started_past_deadline(self, moment: str) -> list[Task]:
        model: Any = self._model
        return self._query_until(model.active_deadline, ACTIVE_SHARD, moment)

    def unfinished(self) -> Iterator[Task]:
        """One Scan, filtered on the status and paginated (PynamoDB follows LastEvaluatedKey),
        reading whole items: the local stack's restart only (ports.TaskRepository.unfinished)."""
        model: Any = self._model
        open_statuses = sorted(s.value for s in TaskStatus if s not in TERMINAL)
        try:
            for row in model.scan(model.status.is_in(*open_statuses), page_size=SCAN_PAGE_SIZE):
                yield self._to_task(row)
        except ScanError as exc:
            raise domain_error(exc, "Conflict") from exc

    def team_statuses(self) -> Iterator[tuple[str, TaskStatus]]:
        """(team, status) of every row: one Scan of the whole table reading those two attributes (the
        operator's `stats recount --all`, after an upgrade; never a request path)."""
        model: Any = self._model
        try:
            for row in model.scan(page_size=SCAN_PAGE_SIZE, attributes_to_get=["teamId", "status"]):
                yield row.teamId, TaskStatus(row.status)
        except ScanError as exc:
            raise domain_error(exc, "Conflict") from exc

    def statuses_of_team(self, team_id: str) -> Iterator[TaskStatus]:
        """The status of each of the team's rows: a Scan of the whole table, filtered on the team,
        reading the status only (the operator's recount, dispatch/recount.py; never a request path)."""
        model: Any = self._model
        try:
            for row in model.scan(model.teamId == team_id, page_size=SCAN_PAGE_SIZE,
                                  attributes_to_get=["status"]):
                yield TaskStatus(row.status)
        except ScanError as exc:
            raise domain_error(exc, "Conflict") from exc


class DynamoApiKeyRepository:
    def __init__(self, model: type[Model]) -> None:
        self._model = model

    @staticmethod
    def _to_key(row: Any) -> ApiKey:
        return ApiKey(
            key_id=row.keyId, team_id=row.teamId, name=row.name or "",
            created_at=row.createdAt, revoked_at=row.revokedAt, kind=row.kind or API_KEY_KIND,
            # No scope: a key made before scopes (it could do everything); a client token never manages.
            scope=row.scope or (ADMIN_SCOPE if (row.kind or API_KEY_KIND) == API_KEY_KIND else TASKS_SCOPE),
        )

    def put(self, key_hash: str, key: ApiKey) -> None:
        self._model(
            keyHash=key_hash, keyId=key.key_id, teamId=key.team_id, name=key.name or None,
            createdAt=key.created_at, revokedAt=key.revoked_at, kind=key.kind,
            scope=key.scope,
        ).save()

    def find_by_hash(self, key_hash: str, consistent: bool = False) -> ApiKey | None:
        try:
            return self._to_key(self._model.get(key_hash, consistent_read=consistent))
        except self._model.DoesNotExist:
            return None

    def find_by_id(self, key_id: str) -> ApiKey | None:
        """One Query of the keyId index (it projects every attribute): the live feed's re-check."""
        if not fits_partition_key(key_id):
            return None
        model: Any = self._model
        row = next(iter(model.by_key_id.query(key_id, limit=1)), None)
        return self._to_key(row) if row is not None else None

    def revoke(self, key_id: str, revoked_at: str) -> ApiKey:
        model: Any = self._model
        rows = list(model.by_key_id.query(key_id)) if fits_partition_key(key_id) else []
        if not rows:
            raise NotFound("API key not found")
        row = model.get(rows[0].keyHash)
        row.update(actions=[model.revokedAt.set(revoked_at)])
        return self._to_key(row)

    def list_for_team(self, team_id: str) -> list[ApiKey]:
        """The team's keys and client tokens: one Query of the byTeam index (never another team's
        row, nor a ticket's: a ticket has no teamId)."""
        model: Any = self._model
        return [self._to_key(r) for r in model.by_team.query(team_id)]
