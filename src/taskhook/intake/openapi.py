"""The OpenAPI 3.1 document, with every schema generated from the pydantic models."""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from taskhook.intake.callbacks import CALLBACK_NOT_FOUND, CompleteTaskRequest
from taskhook.intake.function_tasks import NamedTaskRequest
from taskhook.intake.usage import MAX_USAGE_DAYS
from taskhook.intake.validation import CreateTaskRequest
from taskhook.model.errors import RATE_LIMIT_EXCEEDED
from taskhook.model.limits import (
    DEFAULT_PAGE_SIZE,
    MAX_BODY_BYTES,
    MAX_CLIENT_NAME,
    MAX_DELAY_DAYS,
    MAX_HOST_LENGTH,
    MAX_IDEMPOTENCY_KEY,
    MAX_LONG_POLL_SECONDS,
    MAX_OFFSET,
    MAX_OUTPUT_FILE_BYTES,
    MAX_OUTPUT_FILES,
    MAX_PAGE_SIZE,
    MAX_RETRIES_LIMIT,
    MAX_TOKEN_HOSTS,
    MAX_TOKEN_NAME,
    MAX_TOKEN_VALUE_BYTES,
    MAX_URL_LENGTH,
    MAX_WAIT_TIME_LIMIT,
    POLL_GROWTH_DEFAULT,
    POLL_GROWTH_MAX,
    POLL_GROWTH_MIN,
    POLL_INTERVAL_DEFAULT,
    POLL_INTERVAL_MAX,
    POLL_INTERVAL_MIN,
    POLL_MAX_INTERVAL_DEFAULT,
    POLL_MAX_INTERVAL_MAX,
    POLL_MAX_INTERVAL_MIN,
    PRIORITY_MAX,
    PRIORITY_MIN,
    PROVIDER_MAX_WAIT_TIME,
    TIMEOUT_LIMIT,
)
from taskhook.model.polling import CANCEL_METHODS
from taskhook.model.providers import PROVIDERS
from taskhook.model.status import TaskStatus
from taskhook.model.task import PUBLIC_FIELDS, Task
from taskhook.run.functions.arguments import model_name
from taskhook.run.functions.registry import Registry, TaskDefinition

REF = "#/components/schemas/"


class TaskEnvelope(BaseModel):
    task: Task


class Pagination(BaseModel):
    total: int | None = Field(description=(
        "Tasks matching status (the team's counters); null under kind, namespace, name or clientId, "
        "and for a client token's list, which the counters do not count"))
    limit: int
    offset: int
    hasMore: bool
    nextCursor: str | None = Field(default=None, description=(
        "Present when hasMore: pass it as `cursor` to get the next page (same status and sortOrder, no offset)"))


class TaskList(BaseModel):
    tasks: list[Task]
    pagination: Pagination


class Error(BaseModel):
    error: str


class NamedTaskCreated(BaseModel):
    """seed 000: `POST /tasks/create`."""

    task_id: str
    status: TaskStatus


class NamedTaskDetails(BaseModel):
    """seed 000: `GET /tasks/{task_id}`. `download_url` is a presigned S3 URL of the output."""

    task_id: str
    task_name: str | None
    kind: str
    status: TaskStatus
    progress: int | None
    message: str | None
    result: Any
    error: str | None
    download_url: str | None
    callback_url: str | None
    created_at: str
    started_at: str | None
    completed_at: str | None
    updated_at: str | None


class TaskStarted(BaseModel):
    """seed 003: `POST /api/{namespace}/task/start/{task_name}`."""

    task_id: str


class TaskResult(BaseModel):
    """seed 003: `GET /api/{namespace}/task/result/{task_id}`."""

    task_id: str
    status: TaskStatus
    progress: int = Field(ge=0, le=100)
    result: Any
    timestamp: str
    message: str | None = None
    error: str | None = None
    download_url: str | None = None


class SigningSecret(BaseModel):
    """A `whsec_` secret that signs the team's webhook deliveries; `expiresAt` once rotated out."""

    secret: str
    createdAt: str
    expiresAt: str | None = None


class SigningSecrets(BaseModel):
    """`GET /v1/webhooks/secret` and its rotation: every secret that currently signs, newest first."""

    secrets: list[SigningSecret]


# What intake/vault.py's check_value accepts (but the byte count): printable ISO-8859-1, tabs inside.
_EDGE = r"[\u0021-\u007e\u00a1-\u00ff]"
TOKEN_VALUE_PATTERN = "^" + _EDGE + r"(?:[\t\u0020-\u007e\u00a0-\u00ff]*" + _EDGE + ")?$"

TokenValue = Annotated[str, Field(
    min_length=1, max_length=MAX_TOKEN_VALUE_BYTES, pattern=TOKEN_VALUE_PATTERN,
    description=f"The secret: at most {MAX_TOKEN_VALUE_BYTES} bytes (UTF-8) of ISO-8859-1 characters, no control "
                "character but tab, no leading or trailing white space")]


TokenHosts = Annotated[list[Annotated[str, Field(min_length=1, max_length=MAX_HOST_LENGTH)]] | None, Field(
    min_length=1, max_length=MAX_TOKEN_HOSTS,
    description="The only hosts (api.replicate.com: no scheme, port or path) a task may send the token to; a "
                "task whose targetUrl has another host is refused at create (400) and, if the token was bound "
                "since, fails without a request. null or absent: any host the task names.")]


class CreateTokenRequest(BaseModel):
    """`POST /v1/tokens`: a secret to keep in the Token Vault (docs/vault.md). Never returned again."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=MAX_TOKEN_NAME,
                      pattern=r"^[A-Za-z0-9]([A-Za-z0-9 ._-]*[A-Za-z0-9._-])?$",
                      description="Unique in the team, regardless of case (409 otherwise)")
    value: TokenValue
    hosts: TokenHosts = None


class RotateTokenRequest(BaseModel):
    """`PUT /v1/tokens/{token_id}`: a new value, new `hosts` (null: any host), or both; tasks use
    them from their next attempt. Without `hosts`, `value` is required."""

    model_config = ConfigDict(extra="forbid")

    value: TokenValue | None = None
    hosts: TokenHosts = None


class VaultTokenView(BaseModel):
    """A stored token as every answer shows it: never its value; `preview` shows at most its last 4
    characters (fewer, or none, for a short value)."""

    id: str = Field(pattern=r"^tok_[0-9a-f]{24}$")
    name: str
    createdAt: str
    updatedAt: str
    preview: str
    hosts: list[str] | None = Field(description="The hosts it may be sent to; null: any")


class TokenEnvelope(BaseModel):
    token: VaultTokenView


class TokenList(BaseModel):
    tokens: list[VaultTokenView]


class DeletedToken(BaseModel):
    token: VaultTokenView
    deleted: bool


class UsageFigures(BaseModel):
    """What a team used (docs/retention.md#usage says exactly what each figure counts)."""

    tasksCreated: int = Field(ge=0, description="Tasks created")
    attempts: int = Field(ge=0, description="Executor runs (one per claim: first runs, retries, takeovers)")
    polls: int = Field(ge=0, description="A provider job's status polls")
    bytesStored: int = Field(ge=0, description="Bytes the tasks stored: request bodies at creation, results "
                                               "and output files when they finished")


class UsageDay(UsageFigures):
    date: str = Field(description="The UTC day, YYYY-MM-DD")


class EstimatedCost(BaseModel):
    """The period's tasks times what one task costs as `make bench` measured it (bench/report.md)."""

    onDemandUsd: float = Field(ge=0, description="On demand (DynamoDB on-demand capacity)")
    provisionedUsd: float = Field(ge=0, description="With DynamoDB provisioned capacity at 70 % utilisation")
    usdPerMillionTasks: float = Field(ge=0, description="The measured cost of a million tasks, on demand")
    basis: str = Field(description="Which measurement and which prices; what the estimate leaves out")


class UsagePeriod(BaseModel):
    from_: str = Field(alias="from", description="The first UTC day, YYYY-MM-DD")
    to: str = Field(description="The last UTC day, YYYY-MM-DD")
    days: list[UsageDay] = Field(description="Every day of the period, oldest first (zeros where nothing was used)")
    totals: UsageFigures
    estimatedCost: EstimatedCost


class UsageEnvelope(BaseModel):
    usage: UsagePeriod


class FunctionEntry(BaseModel):
    namespace: str
    name: str
    displayName: str = Field(description="What people call it; also a valid task_name for POST /tasks/create")
    description: str
    argsSchema: dict[str, Any] | None = Field(description="JSON Schema of its arguments, or null")


class FunctionCatalogue(BaseModel):
    functions: list[FunctionEntry]


class MinuteFinishes(BaseModel):
    minute: str = Field(description="The UTC minute, YYYY-MM-DDTHH:MM:00Z")
    completed: int = Field(ge=0)
    failed: int = Field(ge=0, description="failed and timeout")


class QueueDepth(BaseModel):
    visible: int = Field(ge=0, description="Messages waiting to be received (SQS's approximate count)")
    inFlight: int = Field(ge=0, description="Received, not yet deleted")
    delayed: int = Field(ge=0, description="Not visible yet (DelaySeconds)")


class Stats(BaseModel):
    """GET /v1/stats. Counts and the chart are the team's; the queues are the deployment's."""

    counts: dict[str, int] = Field(description="The team's tasks in each status (every status, 0 included)")
    finishedPerMinute: list[MinuteFinishes] = Field(
        description="The last 60 minutes, oldest first (zeros included), by the minute of completedAt")
    queues: dict[str, QueueDepth] = Field(description="high, normal, low and deadLetter")


class CreateKeyRequest(BaseModel):
    """`POST /v1/keys` (admin scope): a new API key of the team."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=100, description="What the key is for, e.g. ci")
    scope: Literal["tasks", "admin"] = Field(default="tasks", description=(
        "tasks: the task routes only (the default); admin: also the team's keys, client tokens, webhook "
        "secret, vault and limits"))


class ApiKeyView(BaseModel):
    """An API key as the API shows it: never its secret nor its hash."""

    id: str = Field(pattern=r"^key_[0-9a-f]{12}$")
    name: str
    scope: Literal["tasks", "admin"]
    createdAt: str
    revokedAt: str | None


class ApiKeyList(BaseModel):
    keys: list[ApiKeyView]


class ApiKeyEnvelope(BaseModel):
    key: ApiKeyView


class CreatedApiKey(BaseModel):
    key: ApiKeyView
    apiKey: str = Field(description="The key itself (th_…): shown this once, never stored")


class CreateClientTokenRequest(BaseModel):
    """`POST /v1/client-tokens` (admin scope): a token for one client of the team (seed 003's CLIENT_TOKEN)."""

    model_config = ConfigDict(extra="forbid")

    client: str = Field(min_length=1, max_length=MAX_CLIENT_NAME, description="Who the token is for, e.g. mobile-app")


class ClientTokenView(BaseModel):
    id: str = Field(pattern=r"^cli_[0-9a-f]{12}$")
    client: str
    createdAt: str
    revokedAt: str | None


class ClientTokenList(BaseModel):
    clientTokens: list[ClientTokenView]


class ClientTokenEnvelope(BaseModel):
    clientToken: ClientTokenView


class CreatedClientToken(BaseModel):
    clientToken: ClientTokenView
    token: str = Field(description="The token itself (ct_…): shown this once, never stored")


class LimitsEnvelope(BaseModel):
    """The team's plan in force: its own values, else the deployment's defaults (null: no limit)."""

    team: str
    limits: dict[str, Any] = Field(description="rps, burst, concurrency, destinations (by host), retentionDays")


class LiveTicket(BaseModel):
    ticket: str = Field(pattern=r"^wst_", description="Open the WebSocket with ?ticket=…: once, within expiresIn")
    expiresIn: int = Field(description="Seconds the ticket is good for (30)")
    websocketUrl: str


class LiveEndpoint(BaseModel):
    websocketUrl: str = Field(description="The WebSocket URL (ws:// locally, wss:// on AWS)")


MODELS: tuple[type[BaseModel], ...] = (
    CreateTaskRequest, TaskEnvelope, TaskList, Error, NamedTaskRequest, NamedTaskCreated, NamedTaskDetails,
    TaskStarted, TaskResult, SigningSecrets, CreateTokenRequest, RotateTokenRequest, TokenEnvelope, TokenList,
    DeletedToken, CompleteTaskRequest, UsageEnvelope, Stats, FunctionCatalogue, CreateKeyRequest, ApiKeyList,
    ApiKeyEnvelope, CreatedApiKey, CreateClientTokenRequest, ClientTokenList, ClientTokenEnvelope, CreatedClientToken,
    LimitsEnvelope, LiveTicket, LiveEndpoint,
)

# What the validators of CreateTaskRequest and NamedTaskRequest enforce (intake/validation.py,
# model/urls.py) and pydantic cannot read from their `mode="before"` checks: the schema states
# the same ranges, from model/limits.py.
_HOST_PART = r"[^\s\\/@%?#\u0000-\u001f\u007f]+"  # no user info, no percent-encoding, no backslash
_REST = r"(?:[/?#][^\s\\\u0000-\u001f\u007f]*)?"
URL_SCHEMA: dict[str, Any] = {
    "type": "string", "format": "uri", "minLength": 1, "maxLength": MAX_URL_LENGTH,
    "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://" + _HOST_PART + _REST + "$",
    "description": "An http(s) URL with a host name or a dotted-quad IPv4 address; no user info, no "
                   "white space, backslash or control character.",
}
HEADER_NAME = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
_CREATE_FIELDS: dict[str, dict[str, Any]] = {
    "targetUrl": URL_SCHEMA,
    "onCompleteUrl": {"anyOf": [URL_SCHEMA, {"type": "null"}]},
    "headers": {"type": "object", "propertyNames": {"pattern": HEADER_NAME},
                "additionalProperties": {"type": "string", "pattern": r"^[^\r\n\u0000]*$"},
                "description": "Sent with each call. A value `tok_<id>` or `<Scheme> tok_<id>` (e.g. `Bearer tok_…`) "
                               "names a Token Vault token: the executor sends its secret in its place; the task "
                               "keeps the reference. Any other value starting with `tok_` (or whose second word "
                               "does) must name one of the team's tokens: 400 `Unknown token …` otherwise. "
                               "Framing headers (Host, Content-Length, Transfer-Encoding, TE, Trailer, Connection, "
                               "Keep-Alive, Proxy-Connection, Upgrade, Expect) are refused: 400 `headers must not "
                               "set …`."},
    "maxWaitTime": {"type": "number", "minimum": 1, "maximum": MAX_WAIT_TIME_LIMIT,
                    "description": f"Seconds from the first attempt to the end, polling included (default 30; "
                                   f"{PROVIDER_MAX_WAIT_TIME} for a task with provider or pollConfig)."},
    "provider": {"anyOf": [{"type": "string", "enum": list(PROVIDERS)}, {"type": "null"}],
                 "description": "A provider template: `replicate` or `fal`. The call to targetUrl submits the "
                                "job; Taskhook then polls the URLs its answer returns (`polling`) until the "
                                "job ends, and copies its output files. pollConfig may override the template."},
    "pollConfig": {"anyOf": [{"$ref": REF + "PollConfig"}, {"type": "null"}],
                   "description": "Poll the job the first (2xx) answer started (status `polling`). The task's "
                                  "headers are sent only to URLs of targetUrl's origin."},
    "timeout": {"type": "number", "minimum": 1, "maximum": TIMEOUT_LIMIT},
    "maxRetries": {"type": "integer", "minimum": 0, "maximum": MAX_RETRIES_LIMIT},
    "priority": {"type": "integer", "minimum": PRIORITY_MIN, "maximum": PRIORITY_MAX},
    "delayUntil": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}],
                   "description": f"ISO 8601; at most {MAX_DELAY_DAYS} days in the future (400 beyond). "
                                 "Without an offset, UTC."},
}
_TEMPLATE = {"type": "string", "minLength": 1}
_PATH = {"type": "string", "minLength": 1}
_POLL_FIELDS: dict[str, dict[str, Any]] = {
    "urlTemplate": {**_TEMPLATE, "description": "The status URL: an http(s) URL with placeholders, or one "
                    "placeholder that is the whole URL (`{{urls.get}}`, inserted as is; inside a longer URL a "
                    "value is percent-encoded). Required without provider."},
    "statusPath": {**_PATH, "description": "Dotted path of the job's status in the status answer. Required "
                   "without provider."},
    "doneValues": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                   "description": "Statuses that mean done: the task completes with the final JSON. Required "
                                  "without provider."},
    "failValues": {"type": "array", "items": {"type": "string"},
                   "description": "Statuses that mean failed: the task fails with the value at errorPath. "
                                  "Required without provider (may be empty)."},
    "intervalSeconds": {"type": "number", "minimum": POLL_INTERVAL_MIN, "maximum": POLL_INTERVAL_MAX,
                        "description": f"Seconds before the first poll (default {POLL_INTERVAL_DEFAULT})."},
    "intervalGrowth": {"type": "number", "minimum": POLL_GROWTH_MIN, "maximum": POLL_GROWTH_MAX,
                       "description": f"Each next interval is this many times the last (default "
                                      f"{POLL_GROWTH_DEFAULT}); a poll error (no answer, 5xx, 429) also waits "
                                      "at least its Retry-After."},
    "maxIntervalSeconds": {"type": "number", "minimum": POLL_MAX_INTERVAL_MIN, "maximum": POLL_MAX_INTERVAL_MAX,
                           "description": f"The longest interval (default {POLL_MAX_INTERVAL_DEFAULT})."},
    "resultUrlTemplate": {**_TEMPLATE, "description": "When done, the task's result is this URL's JSON (fal's "
                          "`{{response_url}}`); a non-2xx answer fails the task with the provider's message. "
                          "Without it, the result is the final status answer."},
    "errorPath": {**_PATH, "description": "Dotted path of the provider's error in a failed status answer."},
    "outputPath": {**_PATH, "description": "Dotted path of the output file URL(s) in the result: copied into "
                   "Taskhook's bucket (`outputs`)."},
    "cancelUrlTemplate": {**_TEMPLATE, "description": "Called (cancelMethod) at the next poll after the task "
                          "is cancelled."},
    "cancelMethod": {"type": "string", "enum": list(CANCEL_METHODS), "description": "Default POST."},
}
_NAMED_FIELDS: dict[str, dict[str, Any]] = {"callback_url": {"anyOf": [URL_SCHEMA, {"type": "null"}]}}


_NOTIFICATION: dict[str, Any] = {
    "type": "object",
    "description": "One notification of the task (callback_url or onCompleteUrl) and its delivery.",
    "properties": {
        "id": {"type": "string", "description": "POST /v1/tasks/{task_id}/notifications/{id}/resend"},
        "url": {"type": "string"}, "kind": {"type": "string"},
        "status": {"type": "string", "enum": ["retrying", "delivered", "failed", "queued"]},
        "taskStatus": {"type": "string"}, "sequence": {"type": "string"},
        "attempts": {"type": "integer", "minimum": 0}, "lastError": {"type": "string"},
    },
    "required": ["id", "attempts"],
}
_NOTIFICATION_ENVELOPE: dict[str, Any] = {
    "type": "object", "properties": {"notification": _NOTIFICATION}, "required": ["notification"]}
_OUTPUT: dict[str, Any] = {
    "type": "object",
    "description": "A function task's output file; downloadUrl is a presigned link.",
    "properties": {"filename": {"type": "string"}, "contentType": {"type": "string"},
                   "size": {"type": "integer", "minimum": 0}, "downloadUrl": {"type": "string"}},
}
_COPIED_OUTPUT: dict[str, Any] = {
    "type": "object",
    "description": f"A provider task's output file, copied into Taskhook's bucket when the task completed "
                   f"(at most {MAX_OUTPUT_FILES} files, each at most {MAX_OUTPUT_FILE_BYTES // (1024 * 1024)} MB); "
                   "downloadUrl is a presigned link. A file that was not copied has only source and error.",
    "properties": {"filename": {"type": "string"}, "contentType": {"type": "string"},
                   "size": {"type": "integer", "minimum": 0}, "source": {"type": "string"},
                   "error": {"type": "string"}, "downloadUrl": {"type": "string"}},
    "required": ["source"],
}


_ATTEMPT: dict[str, Any] = {
    "type": "object",
    "description": "One ended attempt, oldest first (at most the last 20; attemptsTotal counts all). outcome "
                   "retry: nextRetryAt is when the next one may start; crashed: the run stopped answering.",
    "properties": {
        "attempt": {"type": "integer", "minimum": 1}, "startedAt": {"type": "string", "format": "date-time"},
        "finishedAt": {"type": "string", "format": "date-time"}, "durationMs": {"type": "integer", "minimum": 0},
        "outcome": {"type": "string", "enum": ["completed", "retry", "failed", "timeout", "crashed"]},
        "statusCode": {"type": "integer"}, "error": {"type": "string"},
        "nextRetryAt": {"type": "string", "format": "date-time"},
    },
    "required": ["attempt", "startedAt", "finishedAt", "durationMs", "outcome"],
}


def _public_task(schema: dict[str, Any]) -> None:
    """The task as `Task.public()` shows it, not as it is stored: only the public fields (an empty
    one is left out), the output's public part, the notifications as a list."""
    properties = schema["properties"]
    schema["properties"] = {name: properties[name] for name in PUBLIC_FIELDS if name in properties}
    schema["properties"]["output"] = _OUTPUT
    schema["properties"]["outputs"] = {"type": "array", "items": _COPIED_OUTPUT}
    schema["properties"]["notifications"] = {"type": "array", "items": _NOTIFICATION}
    schema["properties"]["attempts"] = {"type": "array", "items": _ATTEMPT, "description": (
        "The attempt history (GET /v1/tasks/{task_id} only; a list row has attemptsTotal).")}
    schema["required"] = [name for name in schema.get("required", []) if name in schema["properties"]]


def _tighten(schema: dict[str, Any], fields: dict[str, dict[str, Any]]) -> None:
    for name, rule in fields.items():
        kept = {k: v for k, v in schema["properties"][name].items() if k in ("default", "title", "description")}
        schema["properties"][name] = {**kept, **rule}


def _schemas(registry: Registry | None) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    models = [(model.__name__, model) for model in MODELS]
    models += [(model_name(d.namespace, d.name), d.binding.model) for d in _tasks(registry)]
    for name, model in models:
        schema = model.model_json_schema(ref_template=REF + "{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[name] = schema
    _tighten(schemas["CreateTaskRequest"], _CREATE_FIELDS)
    _tighten(schemas["PollConfig"], {name: {"anyOf": [{k: v for k, v in rule.items() if k != "description"},
                                                      {"type": "null"}], "description": rule["description"]}
                                      for name, rule in _POLL_FIELDS.items()})
    _public_task(schemas["Task"])
    _tighten(schemas["NamedTaskRequest"], _NAMED_FIELDS)
    return schemas


def _tasks(registry: Registry | None) -> list[TaskDefinition]:
    return registry.definitions() if registry is not None else []


def _function_task_paths(registry: Registry | None) -> dict[str, Any]:
    """Seed 000 and 003 routes, and one start route per registered task with its arguments' schema."""
    namespace = _param("namespace", "path", {"type": "string"}, "The task's namespace")
    task_name = _param("task_name", "path", {"type": "string"}, "The task's name")
    task_id = _param("task_id", "path", {"type": "string"}, "The task's id")
    client_token = _param("client_token", "path", {"type": "string"}, "A client token (ct_…) of the same team")
    arguments = {"required": False, "description": "The function's arguments (a JSON object)",
                 "content": {"application/json": {"schema": {"type": "object"}}}}
    once = _param("Idempotency-Key", "header", {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
                  "A repeat of the same request under the same key within 24 h gets the first one's task; "
                  "another request under the key is 409")
    started = {"200": {"description": "Started (or the task this Idempotency-Key started)", **_json("TaskStarted")},
               **_errors(400, 401, 404, 409, 413, 415)}
    paths: dict[str, Any] = {
        "/tasks/create": {"post": {
            "summary": "Start a function task by task_name (seed 000)", "parameters": [once],
            "requestBody": {"required": True, **_json("NamedTaskRequest")},
            "responses": {"201": {"description": "Created", **_json("NamedTaskCreated")},
                          "200": {"description": "The task this Idempotency-Key started", **_json("NamedTaskCreated")},
                          **_errors(400, 401, 404, 409, 413, 415)},
        }},
        "/tasks/{task_id}": {"get": {
            "summary": "A task's details (seed 000)", "parameters": [task_id],
            "responses": {"200": {"description": "The task", **_json("NamedTaskDetails")},
                          **_errors(401, 403, 404)},
        }},
        "/api/{namespace}/task/start/{task_name}": {"post": {
            "summary": "Start a function task with its arguments as the body (seed 003)",
            "parameters": [namespace, task_name, once], "requestBody": arguments, "responses": started,
        }},
        "/api/{namespace}/task/result/{task_id}": {"get": {
            "summary": "A function task's status, progress and result (seed 003)",
            "parameters": [namespace, task_id],
            "responses": {"200": {"description": "The task", **_json("TaskResult")}, **_errors(401, 403, 404)},
        }},
        "/api/{namespace}/tasks/{client_token}/start/{task_name}": {"post": {
            "summary": "Start a function task for a client token's client (seed 003)",
            "parameters": [namespace, client_token, task_name, once], "requestBody": arguments,
            "responses": {**started, **_errors(400, 401, 403, 404, 413)},
        }},
    }
    for definition in _tasks(registry):
        paths[f"/api/{definition.namespace}/task/start/{definition.name}"] = {"post": {
            "summary": f"Start {definition.qualified_name}",
            "description": definition.description, "parameters": [once],
            "requestBody": {"required": False, **_json(model_name(definition.namespace, definition.name))},
            "responses": started,
        }}
    return paths


def _json(schema: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": REF + schema}}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"description": "Error", **_json("Error")} for c in codes}


def _param(name: str, where: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema, "description": description}


_RATE_HEADERS: dict[str, Any] = {
    "RateLimit-Limit": {"description": "The team's burst: requests it may make at once (a limited team only)",
                        "schema": {"type": "integer", "minimum": 1}},
    "RateLimit-Remaining": {"description": "Requests the team may still make right now",
                            "schema": {"type": "integer", "minimum": 0}},
    "RateLimit-Reset": {"description": "Seconds until the team's burst is whole again",
                        "schema": {"type": "integer", "minimum": 0}},
}
_RATE_LIMITED: dict[str, Any] = {
    "description": f"Rate limit exceeded: {{\"error\": \"{RATE_LIMIT_EXCEEDED}\"}}. The team's requests per "
                   "second and burst come from its plan (docs/limits.md).",
    "headers": {"Retry-After": {"description": "Seconds to wait before the next request is admitted",
                                "schema": {"type": "integer", "minimum": 1}}, **_RATE_HEADERS},
    **_json("Error"),
}


def _rate_limited(paths: dict[str, Any]) -> dict[str, Any]:
    """Every authenticated operation (any without `security: []`, including those added later)
    may answer 429, and every answer of a limited team carries the RateLimit-* headers."""
    for operations in paths.values():
        for operation in operations.values():
            if operation.get("security") == []:
                continue
            for status, response in operation["responses"].items():
                if status != "401":  # no team known yet: no bucket
                    response.setdefault("headers", {}).update(_RATE_HEADERS)
            operation["responses"]["429"] = copy.deepcopy(_RATE_LIMITED)
    return paths


def _vault_paths() -> dict[str, Any]:
    token_id = _param("token_id", "path", {"type": "string"}, "The token's id, tok_…")
    paths: dict[str, dict[str, Any]] = {
        "/v1/tokens": {
            "post": {
                "summary": "Store a secret in the Token Vault; use its tok_ id in a task's headers",
                "requestBody": {"required": True, **_json("CreateTokenRequest")},
                "responses": {"201": {"description": "Stored (the value is never shown again)",
                                      **_json("TokenEnvelope")},
                              **_errors(400, 401, 409, 413, 415)},
            },
            "get": {
                "summary": "The team's tokens (never their values)",
                "responses": {"200": {"description": "The tokens, oldest first", **_json("TokenList")},
                              **_errors(401)},
            },
        },
        "/v1/tokens/{token_id}": {
            "get": {"summary": "One token (never its value)", "parameters": [token_id],
                    "responses": {"200": {"description": "The token", **_json("TokenEnvelope")},
                                  **_errors(401, 404)}},
            "put": {"summary": "Rotate: a new value, used from the next task attempt on", "parameters": [token_id],
                    "requestBody": {"required": True, **_json("RotateTokenRequest")},
                    "responses": {"200": {"description": "The token", **_json("TokenEnvelope")},
                                  **_errors(400, 401, 404, 413, 415)}},
            "delete": {"summary": "Delete: a task that still uses it fails without a call", "parameters": [token_id],
                       "responses": {"200": {"description": "Deleted", **_json("DeletedToken")},
                                     **_errors(401, 404)}},
        },
    }
    for operations in paths.values():  # the vault is the team's: admin keys only
        for operation in operations.values():
            operation["description"] = ADMIN_ONLY
            operation["responses"].update(_errors(403))
    return paths


ADMIN_ONLY = ("Admin scope: a tasks-scoped key gets 403 `{\"error\": \"This key is not allowed to manage the "
              "team (scope: tasks)\"}`, a client token 403 too.")


def _admin_paths() -> dict[str, Any]:
    key_id = _param("key_id", "path", {"type": "string"}, "The key's id, key_…")
    token_id = _param("token_id", "path", {"type": "string"}, "The client token's id, cli_…")
    return {
        "/v1/keys": {
            "get": {"summary": "The team's API keys (never their secrets)", "description": ADMIN_ONLY,
                    "responses": {"200": {"description": "The keys, oldest first", **_json("ApiKeyList")},
                                  **_errors(401, 403)}},
            "post": {"summary": "Create an API key; its secret is shown once", "description": ADMIN_ONLY,
                     "requestBody": {"required": True, **_json("CreateKeyRequest")},
                     "responses": {"201": {"description": "Created", **_json("CreatedApiKey")},
                                   **_errors(400, 401, 403, 413, 415)}},
        },
        "/v1/keys/{key_id}": {"delete": {
            "summary": "Revoke an API key (the caller's own too); its WebSocket connections close",
            "description": ADMIN_ONLY, "parameters": [key_id],
            "responses": {"200": {"description": "Revoked", **_json("ApiKeyEnvelope")}, **_errors(401, 403, 404)}}},
        "/v1/client-tokens": {
            "get": {"summary": "The team's client tokens (never their secrets)", "description": ADMIN_ONLY,
                    "responses": {"200": {"description": "The tokens, oldest first", **_json("ClientTokenList")},
                                  **_errors(401, 403)}},
            "post": {"summary": "Create a client token (seed 003's CLIENT_TOKEN); shown once",
                     "description": ADMIN_ONLY, "requestBody": {"required": True, **_json("CreateClientTokenRequest")},
                     "responses": {"201": {"description": "Created", **_json("CreatedClientToken")},
                                   **_errors(400, 401, 403, 413, 415)}},
        },
        "/v1/client-tokens/{token_id}": {"delete": {
            "summary": "Revoke a client token; its WebSocket connections close", "description": ADMIN_ONLY,
            "parameters": [token_id],
            "responses": {"200": {"description": "Revoked", **_json("ClientTokenEnvelope")},
                          **_errors(401, 403, 404)}}},
        "/v1/limits": {"get": {
            "summary": "The team's plan in force: rate limit, executor share, destination limits, retention",
            "description": ADMIN_ONLY,
            "responses": {"200": {"description": "The limits", **_json("LimitsEnvelope")}, **_errors(401, 403)}}},
        "/v1/live/tickets": {"post": {
            "summary": "A single-use WebSocket ticket (30 s): connect with ?ticket=… instead of a key in the URL",
            "description": "Any API key, or a client token (the ticket then sees that client's tasks only).",
            "responses": {"201": {"description": "The ticket", **_json("LiveTicket")}, **_errors(401, 415)}}},
        "/v1/live": {"get": {
            "summary": "The WebSocket URL of the live feed",
            "responses": {"200": {"description": "The URL", **_json("LiveEndpoint")}, **_errors(401)}}},
    }


def _waiting_paths(task_id: dict[str, Any]) -> dict[str, Any]:
    """Finishing a `waiting` task (a task created with waitForCallback: true; docs/waiting.md)."""
    secret = _param("secret", "path", {"type": "string"}, "The one-time secret of the task's callback URL")
    body = {"required": True, **_json("CompleteTaskRequest")}
    return {
        "/v1/tasks/{task_id}/complete": {"post": {
            "summary": "Finish a waiting task with the team's API key (409 unless it is waiting)",
            "parameters": [task_id], "requestBody": body,
            "responses": {"200": {"description": "The finished task", **_json("TaskEnvelope")},
                          **_errors(400, 401, 403, 404, 409, 413, 415)},
        }},
        "/v1/callbacks/{task_id}/{secret}": {"post": {
            "summary": "A waiting task's one-time callback URL (no API key: the URL is the credential)",
            "description": (
                "The URL the target got in the `Taskhook-Callback-Url` header of the task's call. "
                f"404 `{CALLBACK_NOT_FOUND}` for an unknown task or a wrong secret alike; 409 once the "
                "URL was used or the task is no longer waiting (timeout, cancelled), and before the "
                "target's 2xx answer is recorded (retry shortly). The task in the answer has its outcome "
                "fields only (id, teamId, status, waitForCallback, result, error and its times)."),
            "security": [], "parameters": [task_id, secret], "requestBody": body,
            "responses": {"200": {"description": "The finished task", **_json("TaskEnvelope")},
                          **_errors(400, 404, 409, 413, 415)},
        }},
    }


def build_openapi(registry: Registry | None = None) -> dict[str, Any]:
    """The document; with a registry, each registered function task's start route and arguments."""
    document = _document(registry)
    _rate_limited(document["paths"])
    return document


def _document(registry: Registry | None) -> dict[str, Any]:
    task_id = _param("task_id", "path", {"type": "string"}, "The task's id")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Taskhook", "version": "1.0.0", "description": (
            f"Asynchronous task API. Request bodies up to {MAX_BODY_BYTES // 1024} KB (413 beyond), JSON "
            "without NaN or Infinity; every error is {\"error\": \"<message>\"}.")},
        "components": {
            "schemas": _schemas(registry),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/v1/tasks": {
                "post": {
                    "summary": "Create a task",
                    "parameters": [
                        _param("Idempotency-Key", "header",
                               {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
                               "Same key and body within 24 h returns the first task (200)."),
                    ],
                    "requestBody": {"required": True, **_json("CreateTaskRequest")},
                    "responses": {
                        "201": {"description": "Created", **_json("TaskEnvelope")},
                        "200": {"description": "Replay of an Idempotency-Key", **_json("TaskEnvelope")},
                        **_errors(400, 401, 409, 413, 415, 429),
                    },
                },
                "get": {
                    "summary": "List tasks",
                    "description": ("Any API key; or a client token (Bearer ct_…): that client's tasks only, "
                                    "pagination.total null, at most 1000 tasks examined per call (a short page "
                                    "and nextCursor past that)."),
                    "parameters": [
                        _param("status", "query", {"type": "string", "enum": [s.value for s in TaskStatus]},
                               "Filter by status"),
                        _param("limit", "query",
                               {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE,
                                "default": DEFAULT_PAGE_SIZE},
                               "Number of results"),
                        _param("offset", "query", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET,
                                                                 "default": 0}, "Offset (beyond it, `cursor`)"),
                        _param("sortOrder", "query", {"type": "string", "enum": ["asc", "desc"], "default": "desc"},
                               "Sort by creation time"),
                        _param("cursor", "query", {"type": "string", "maxLength": 512},
                               "A page's pagination.nextCursor: the page after it, read from there (not with offset; "
                               "the same status, filters and sortOrder, else 400)"),
                        _param("kind", "query", {"type": "string", "enum": ["http", "provider", "function"]},
                               "provider: an HTTP task with provider or pollConfig. Filters kind, namespace, name "
                               "and clientId are applied to the tasks read, at most 500 per request: a page may "
                               "come back short with hasMore and nextCursor; pagination.total is null"),
                        _param("namespace", "query", {"type": "string", "maxLength": 200},
                               "A function task's namespace"),
                        _param("name", "query", {"type": "string", "maxLength": 200}, "A function task's name"),
                        _param("clientId", "query", {"type": "string", "maxLength": 200},
                               "Tasks started with this client token (its id, cli_…)"),
                        _param("q", "query", {"type": "string", "maxLength": 200},
                               "Search by id: the task with exactly this id (with the other filters), or none"),
                    ],
                    "responses": {"200": {"description": "A page", **_json("TaskList")}, **_errors(400, 401, 429)},
                },
            },
            "/v1/tasks/{task_id}": {
                "get": {
                    "summary": "Get a task",
                    "description": "Any API key; or a client token: a task of its client only (404 otherwise).",
                    "parameters": [
                        task_id,
                        _param("wait", "query",
                               {"type": "number", "minimum": 0, "maximum": MAX_LONG_POLL_SECONDS, "default": 0},
                               "Long poll: return when the status changes or after this many seconds"),
                    ],
                    "responses": {"200": {"description": "The task", **_json("TaskEnvelope")},
                                  **_errors(400, 401, 403, 404)},
                },
            },
            "/v1/tasks/{task_id}/cancel": {
                "post": {
                    "summary": "Cancel a task (pending, delayed, waiting or polling)",
                    "parameters": [task_id],
                    "responses": {"200": {"description": "The cancelled task", **_json("TaskEnvelope")},
                                  **_errors(401, 403, 404, 409, 415)},
                },
            },
            "/v1/tasks/{task_id}/retry": {
                "post": {
                    "summary": "Retry a failed or timeout task: a new task with the same request and retryOf",
                    "description": "The original stays as it ended. Idempotency-Key is honoured as on create "
                                   "(the same key again answers 200 with the same new task).",
                    "parameters": [task_id, _param("Idempotency-Key", "header", {"type": "string"},
                                                   "Retry once per key (1 to 255 characters)")],
                    "responses": {"201": {"description": "The new task", **_json("TaskEnvelope")},
                                  "200": {"description": "The task this Idempotency-Key created",
                                          **_json("TaskEnvelope")},
                                  **_errors(400, 401, 403, 404, 409, 415)},
                },
            },
            **_waiting_paths(task_id),
            "/v1/webhooks/secret": {
                "get": {
                    "summary": "The team's webhook signing secrets (Standard Webhooks, whsec_…)",
                    "description": ADMIN_ONLY,
                    "responses": {"200": {"description": "The secrets", **_json("SigningSecrets")},
                                  **_errors(401, 403)},
                },
            },
            "/v1/webhooks/secret/rotate": {
                "post": {
                    "summary": "Rotate the signing secret; the previous one keeps signing until its expiresAt",
                    "description": ADMIN_ONLY + " With `{\"expirePrevious\": true}` (a secret leaked), every "
                                   "previous secret ends now and the new one alone is valid, past the cap too.",
                    "requestBody": {"required": False, "content": {"application/json": {"schema": {
                        "type": "object", "additionalProperties": False,
                        "properties": {"expirePrevious": {"type": "boolean", "default": False}}}}}},
                    "responses": {"200": {"description": "The secrets", **_json("SigningSecrets")},
                                  **_errors(400, 401, 403, 409, 415)},
                },
            },
            **_vault_paths(),
            **_admin_paths(),
            "/v1/usage": {"get": {
                "summary": "The team's usage per UTC day: tasks created, attempts, polls, bytes stored",
                "parameters": [
                    _param("from", "query", {"type": "string", "format": "date"},
                           "The first UTC day, YYYY-MM-DD (default: the first of this month)"),
                    _param("to", "query", {"type": "string", "format": "date"},
                           f"The last UTC day, YYYY-MM-DD (default: today); at most {MAX_USAGE_DAYS} days in all"),
                ],
                "responses": {"200": {"description": "The period's days and totals", **_json("UsageEnvelope")},
                              **_errors(400, 401)},
            }},
            "/v1/functions": {"get": {
                "summary": "The task catalogue: every registered function task",
                "description": "displayName is a valid task_name for POST /tasks/create; argsSchema is the "
                               "JSON Schema of its arguments (null: it takes none).",
                "responses": {"200": {"description": "The functions", **_json("FunctionCatalogue")},
                              **_errors(401)},
            }},
            "/v1/tasks/{task_id}/notifications/{notification_id}/resend": {
                "post": {
                    "summary": "Resend a notification whose delivery failed (signed, retried and logged as usual)",
                    "parameters": [task_id, _param("notification_id", "path", {"type": "string"},
                                                   "The delivery's id (the task's notifications[].id)")],
                    "responses": {"202": {"description": "Queued", "content": {
                        "application/json": {"schema": _NOTIFICATION_ENVELOPE}}},
                                  **_errors(401, 403, 404, 409, 415, 503)},
                },
            },
            "/v1/stats": {"get": {
                "summary": "Overview: counts by status, tasks finished per minute (last hour), queue depths",
                "responses": {"200": {"description": "The overview", **_json("Stats")}, **_errors(400, 401)},
            }},
            "/health": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "OK"}}}},
            "/openapi.json": {"get": {"summary": "This document", "security": [],
                                      "responses": {"200": {"description": "OpenAPI 3.1",
                                                            "content": {"application/json": {}}}}}},
            **_function_task_paths(registry),
        },
    }
