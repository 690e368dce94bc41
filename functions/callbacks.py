"""Finishing a `waiting` task (docs/waiting.md): thin views over intake/callbacks.py.

`POST /v1/callbacks/{task_id}/{secret}` takes no API key: the one-time URL is the credential
(sent to the target in `Taskhook-Callback-Url`). Its answers never tell an unknown task from a
wrong secret, and it never reaches the team's rate limit (no key to name the team before the
secret is checked). `POST /v1/tasks/{task_id}/complete` is the team's own way, with its API key.
"""

from __future__ import annotations

from chalice import Blueprint, Response

from taskhook.container import container

from .auth import authenticated
from .responses import BODY_TYPES, endpoint, json_response

callbacks = Blueprint(__name__)


@callbacks.route("/v1/callbacks/{task_id}/{secret}", methods=["POST"], content_types=BODY_TYPES)
@endpoint
def task_callback(task_id: str, secret: str) -> Response:
    from taskhook.intake.callbacks import callback_view, parse_completion
    from taskhook.intake.validation import decode_json_object

    completion = parse_completion(decode_json_object(callbacks.current_request.raw_body))
    task = container().callback_service.complete_by_token(task_id, secret, completion)
    return json_response({"task": callback_view(task)})


@callbacks.route("/v1/tasks/{task_id}/complete", methods=["POST"], content_types=BODY_TYPES)
@endpoint
def complete_task(task_id: str) -> Response:
    from taskhook.intake.callbacks import parse_completion
    from taskhook.intake.validation import decode_json_object

    key = authenticated(callbacks.current_request)
    completion = parse_completion(decode_json_object(callbacks.current_request.raw_body))
    task = container().callback_service.complete_by_key(key.team_id, task_id, completion)
    return json_response({"task": task.public()})
