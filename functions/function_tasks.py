"""Function task routes (seeds 000 and 003): thin views over taskhook's FunctionTaskService.

Every route takes the v1 Bearer key and sees only its team's tasks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalice import Blueprint, Response

from taskhook.container import container
from taskhook.ports import ApiKey

from .auth import authenticated
from .idempotency import started_once
from .responses import BODY_TYPES, endpoint, json_response

if TYPE_CHECKING:
    from taskhook.model.task import Task

function_tasks = Blueprint(__name__)



def _request() -> Any:
    return function_tasks.current_request


def _authenticate() -> ApiKey:
    return authenticated(_request())


def _arguments() -> dict[str, Any]:
    """Seed 003 posts the function's arguments as the body; no body at all means none."""
    from taskhook.intake.validation import decode_json_object

    raw = _request().raw_body
    if raw is None or not raw.strip():
        return {}
    return decode_json_object(raw)


def _download_url(task: Task) -> str | None:
    return container().download_links.url_for(task)


@function_tasks.route("/v1/functions", methods=["GET"])
@endpoint
def list_functions() -> Response:
    """The task catalogue: every registered function task, its display name and argument schema."""
    _authenticate()
    return json_response({"functions": container().function_task_service.catalogue()})


@function_tasks.route("/tasks/create", methods=["POST"], content_types=BODY_TYPES)
@endpoint
def create_named_task() -> Response:
    from taskhook.intake.function_tasks import parse_named_task_request
    from taskhook.intake.validation import decode_json_object

    key = _authenticate()
    request = parse_named_task_request(decode_json_object(_request().raw_body))
    task, created = started_once(_request(), function_tasks.lambda_context, key.team_id,
                                 {"route": "tasks/create", **request.model_dump(mode="json")},
                                 lambda: container().function_task_service.start_named(key.team_id, request))
    return json_response({"task_id": task.id, "status": task.status.value}, 201 if created else 200)


@function_tasks.route("/tasks/{task_id}", methods=["GET"])
@endpoint
def get_named_task(task_id: str) -> Response:
    from taskhook.intake.views import seed000_task

    key = _authenticate()
    task = container().function_task_service.get(key.team_id, task_id)
    return json_response(seed000_task(task, _download_url(task)))


@function_tasks.route("/api/{namespace}/task/start/{task_name}", methods=["POST"], content_types=BODY_TYPES)
@endpoint
def start_task(namespace: str, task_name: str) -> Response:
    key = _authenticate()
    arguments = _arguments()
    task, _ = started_once(_request(), function_tasks.lambda_context, key.team_id,
                           {"route": "start", "namespace": namespace, "name": task_name, "arguments": arguments},
                           lambda: container().function_task_service.start(key.team_id, namespace, task_name,
                                                                            arguments))
    return json_response({"task_id": task.id})


@function_tasks.route("/api/{namespace}/task/result/{task_id}", methods=["GET"])
@endpoint
def task_result(namespace: str, task_id: str) -> Response:
    from taskhook.intake.views import seed003_result

    key = _authenticate()
    task = container().function_task_service.get_in_namespace(key.team_id, namespace, task_id)
    return json_response(seed003_result(task, _download_url(task)))


@function_tasks.route("/api/{namespace}/tasks/{client_token}/start/{task_name}", methods=["POST"],
                      content_types=BODY_TYPES)
@endpoint
def start_client_task(namespace: str, client_token: str, task_name: str) -> Response:
    key = _authenticate()
    token = container().client_token_service.authenticate(key.team_id, client_token)
    arguments = _arguments()
    task, _ = started_once(_request(), function_tasks.lambda_context, key.team_id,
                           {"route": "start", "namespace": namespace, "name": task_name, "arguments": arguments,
                            "clientId": token.key_id},
                           lambda: container().function_task_service.start(key.team_id, namespace, task_name,
                                                                            arguments, client_id=token.key_id))
    return json_response({"task_id": task.id})
