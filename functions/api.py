"""The REST API (seed 002's v1 routes): thin views over taskhook's TaskService."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from taskhook.container import container
from taskhook.model.errors import ValidationFailed
from taskhook.model.limits import MAX_LONG_POLL_SECONDS
from taskhook.ports import ApiKey, Idempotency

from .auth import authenticated, reader
from .idempotency import idempotency_key_of
from .responses import BODY_TYPES, endpoint, json_response

if TYPE_CHECKING:
    from taskhook.model.task import Task

api = Blueprint(__name__)



def _request() -> Any:
    return api.current_request


def _authenticate() -> ApiKey:
    return authenticated(_request())


def _view(task: Task, with_attempts: bool = True) -> dict[str, Any]:
    """The v1 task; a function task's output, and each file a provider task's outputs copied, gets
    its presigned download link."""
    from taskhook.intake.views import v1_task

    links = container().download_links
    return v1_task(task, links.url_for(task) if task.output else None, links.urls_for_outputs(task), with_attempts)


def _wait_seconds(params: dict[str, str]) -> float:
    raw = params.get("wait")
    if raw in (None, ""):
        return 0.0
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= MAX_LONG_POLL_SECONDS:
        raise ValidationFailed(f"wait must be a number between 0 and {MAX_LONG_POLL_SECONDS}")
    return value


def _created(make: Callable[[], Task], once: Callable[[str, Idempotency], tuple[Task, bool]]) -> Response:
    """201 with the task `make` creates; with an Idempotency-Key, `once` under it: 201 the first
    time, 200 with the same task for a repeat (create and retry answer alike)."""
    idempotency_key = idempotency_key_of(_request())
    if idempotency_key is None:
        return json_response({"task": make().public()}, 201)
    idempotency = container().idempotency
    idempotency.register_lambda_context(api.lambda_context)
    task, created = once(idempotency_key, idempotency)
    return json_response({"task": task.public()}, 201 if created else 200)


@api.route("/health", methods=["GET"])
@endpoint
def health() -> Response:
    return json_response({"status": "ok"})


@api.route("/v1/tasks", methods=["POST"], content_types=BODY_TYPES)
@endpoint
def create_task() -> Response:
    from taskhook.intake.validation import decode_json_object, parse_create_request

    key = _authenticate()
    request = parse_create_request(decode_json_object(_request().raw_body))
    service = container().task_service
    return _created(lambda: service.create(key.team_id, request),
                    lambda idem, idempotency: service.create_idempotent(key.team_id, idem, request, idempotency))


@api.route("/v1/tasks", methods=["GET"])
@endpoint
def list_tasks() -> Response:
    """An API key's team's tasks, or a client token's client's (functions/auth.py `reader`): its
    client filter is forced to the token's own client, whatever `clientId` the query names."""
    from taskhook.intake.listing import pagination, parse_list_query

    caller = reader(_request())
    params = dict(_request().query_params or {})
    if caller.client_id is not None:  # before the parse: a cursor is read against the filters it was made for
        params["clientId"] = caller.client_id
    query = parse_list_query(params)
    page, total = container().task_service.list(caller.team_id, query)
    rows = [_view(t, with_attempts=False) for t in page.tasks]
    return json_response({"tasks": rows, "pagination": pagination(total, query, page)})


@api.route("/v1/tasks/{task_id}", methods=["GET"])
@endpoint
def get_task(task_id: str) -> Response:
    caller = reader(_request())
    params = _request().query_params or {}
    unknown = sorted(set(params) - {"wait"})
    if unknown:
        raise ValidationFailed(f"Unknown query parameter: {unknown[0]}")
    wait = _wait_seconds(params)
    task = container().task_service.wait_for_change(
        caller.team_id, task_id, wait, container().settings.long_poll_interval, caller.client_id
    )
    if wait > 0:  # a key revoked while the poll waited reads nothing written since: checked again
        container().api_key_service.identify(_request().headers.get("authorization"), consistent=True)
    return json_response({"task": _view(task)})


@api.route("/v1/tasks/{task_id}/cancel", methods=["POST"], content_types=BODY_TYPES)
@endpoint
def cancel_task(task_id: str) -> Response:
    key = _authenticate()
    return json_response({"task": container().task_service.cancel(key.team_id, task_id).public()})


@api.route("/v1/tasks/{task_id}/retry", methods=["POST"], content_types=BODY_TYPES)
@endpoint
def retry_task(task_id: str) -> Response:
    """A failed or timeout task again: a new task with the same request and `retryOf`."""
    key = _authenticate()
    service = container().task_service
    return _created(lambda: service.retry(key.team_id, task_id),
                    lambda idem, idempotency: service.retry_idempotent(key.team_id, idem, task_id, idempotency))


@api.route("/v1/tasks/{task_id}/notifications/{notification_id}/resend", methods=["POST"], content_types=BODY_TYPES)
@endpoint
def resend_notification(task_id: str, notification_id: str) -> Response:
    """A failed delivery of the task's notification, queued again (202)."""
    key = _authenticate()
    view = container().notification_resender.resend(key.team_id, task_id, notification_id)
    return json_response({"notification": view}, 202)


@api.route("/v1/stats", methods=["GET"])
@endpoint
def stats() -> Response:
    """Counts by status, tasks finished per minute (last hour), the lanes' and DLQ's depths."""
    key = _authenticate()
    if _request().query_params:
        raise ValidationFailed(f"Unknown query parameter: {sorted(_request().query_params)[0]}")
    return json_response(container().stats_service.overview(key.team_id))


@api.route("/v1/usage", methods=["GET"])
@endpoint
def usage() -> Response:
    key = _authenticate()
    return json_response(container().usage_service.usage(key.team_id, _request().query_params))
