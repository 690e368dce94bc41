"""The one place where adapters are built: on first use, once per process, never at import."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

from taskhook.config import Settings, settings
from taskhook.intake.api_keys import ApiKeyService
from taskhook.intake.client_tokens import ClientTokenService
from taskhook.intake.function_tasks import FunctionTaskService
from taskhook.intake.tasks import TaskService
from taskhook.model.outputs import DownloadLinks
from taskhook.run.functions.registry import Registry


def _client_kwargs(cfg: Settings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"region_name": cfg.region}
    if cfg.endpoint_url:
        kwargs["endpoint_url"] = cfg.endpoint_url
    return kwargs


@cache
def boto3_client(service: str) -> Any:
    import boto3

    return boto3.client(service, **_client_kwargs(settings()))  # type: ignore[call-overload]


@lru_cache(maxsize=1)
def task_model() -> Any:
    from taskhook.adapters.dynamo.tables import build_task_model

    cfg = settings()
    return build_task_model(cfg.tasks_table, cfg.region, cfg.endpoint_url)


@lru_cache(maxsize=1)
def api_key_model() -> Any:
    from taskhook.adapters.dynamo.tables import build_api_key_model

    cfg = settings()
    return build_api_key_model(cfg.api_keys_table, cfg.region, cfg.endpoint_url)


@lru_cache(maxsize=1)
def task_repository() -> Any:
    from taskhook.adapters.dynamo.tasks import DynamoTaskRepository

    return DynamoTaskRepository(task_model())


@lru_cache(maxsize=1)
def outbound_policy() -> Any:
    from taskhook.adapters.http import OutboundPolicy

    return OutboundPolicy(allow=settings().outbound_allow)


@lru_cache(maxsize=1)
def task_service() -> TaskService:
    return TaskService(task_repository(), outbound=outbound_policy())


@lru_cache(maxsize=1)
def task_queue() -> Any:
    from taskhook.adapters.sqs import SqsTaskQueue
    from taskhook.dispatch.lanes import Lane

    cfg = settings()
    urls = {Lane.HIGH: cfg.queue_high_url, Lane.NORMAL: cfg.queue_normal_url, Lane.LOW: cfg.queue_low_url}
    return SqsTaskQueue(boto3_client("sqs"), urls)


@lru_cache(maxsize=1)
def sqs_messages() -> Any:
    from taskhook.adapters.sqs import SqsMessages

    cfg = settings()
    known = (cfg.queue_high_url, cfg.queue_normal_url, cfg.queue_low_url, cfg.dlq_url)
    return SqsMessages(boto3_client("sqs"), known)


@lru_cache(maxsize=1)
def object_store() -> Any:
    import boto3
    from botocore.config import Config

    from taskhook.adapters.s3 import S3ObjectStore

    # SigV4: presigned URLs of buckets made since 2020 accept nothing older.
    client = boto3.client("s3", config=Config(signature_version="s3v4"), **_client_kwargs(settings()))
    return S3ObjectStore(client, settings().outputs_bucket)


@lru_cache(maxsize=1)
def download_links() -> DownloadLinks:
    return DownloadLinks(object_store, settings().download_url_ttl)


@lru_cache(maxsize=1)
def outbound_session() -> Any:
    """The requests session for customer URLs: every connection checked by the outbound policy."""
    from taskhook.adapters.http import guarded_session

    return guarded_session(outbound_policy())


@lru_cache(maxsize=1)
def task_registry() -> Registry:
    """The function tasks of the modules TASKHOOK_TASK_MODULES lists, imported on first use."""
    from taskhook.run.functions.registry import load_task_modules

    return load_task_modules(settings().task_modules)


@lru_cache(maxsize=1)
def function_task_service() -> FunctionTaskService:
    return FunctionTaskService(task_repository(), task_registry(), outbound=outbound_policy())


@lru_cache(maxsize=1)
def client_token_service() -> ClientTokenService:
    from taskhook.adapters.dynamo.tasks import DynamoApiKeyRepository

    return ClientTokenService(DynamoApiKeyRepository(api_key_model()))


@lru_cache(maxsize=1)
def executor() -> Any:
    from taskhook.model.attempt import call_target
    from taskhook.run.executor import Executor
    from taskhook.run.functions.runner import FunctionRunner

    session = outbound_session()

    def call(task: Any, timeout: float) -> Any:
        return call_target(session, task.method, task.targetUrl, task.headers, task.body, timeout)

    functions = FunctionRunner(task_registry(), progress=task_repository(), outputs=object_store(),
                               interval=settings().progress_interval)
    return Executor(task_repository(), call, bodies=object_store(), claim_margin=settings().claim_margin,
                    functions=functions)


@lru_cache(maxsize=1)
def scheduler() -> Any:
    from taskhook.dispatch.sweep import Scheduler

    return Scheduler(task_repository(), task_queue())


@lru_cache(maxsize=1)
def api_key_service() -> ApiKeyService:
    from taskhook.adapters.dynamo.tasks import DynamoApiKeyRepository

    return ApiKeyService(DynamoApiKeyRepository(api_key_model()))


@lru_cache(maxsize=1)
def idempotency() -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from taskhook.adapters.dynamo.idempotency import PowertoolsIdempotency

    persistence = DynamoDBPersistenceLayer(
        table_name=settings().idempotency_table, boto3_client=boto3_client("dynamodb")
    )
    return PowertoolsIdempotency(persistence)


@lru_cache(maxsize=1)
def notification_queue() -> Any:
    from taskhook.adapters.sqs_notifications import SqsNotificationQueue

    return SqsNotificationQueue(boto3_client("sqs"), settings().notifications_queue_url)


@lru_cache(maxsize=1)
def team_secrets() -> Any:
    from taskhook.adapters.dynamo.team_secrets import DynamoSecretStore
    from taskhook.notify.secrets import TeamSecretsService

    return TeamSecretsService(DynamoSecretStore(boto3_client("dynamodb"), settings().teams_table))


@lru_cache(maxsize=1)
def deliverer() -> Any:
    from taskhook.adapters.dynamo.notification_log import DynamoNotificationLog
    from taskhook.model.attempt import call_target
    from taskhook.notify.delivery import NotificationDeliverer

    session = outbound_session()

    def post(url: str, headers: dict[str, str], body: str, timeout: float) -> Any:
        return call_target(session, "POST", url, headers, body, timeout)

    ttl = settings().download_url_ttl
    return NotificationDeliverer(
        post=post, secrets_for=team_secrets().signing_keys,
        log=DynamoNotificationLog(boto3_client("dynamodb"), settings().tasks_table),
        presign=lambda key: str(object_store().presigned_url(key, ttl)),
    )


@lru_cache(maxsize=1)
def connections() -> Any:
    from taskhook.adapters.dynamo.connections import DynamoConnectionStore

    return DynamoConnectionStore(boto3_client("dynamodb"), settings().connections_table)


@lru_cache(maxsize=1)
def live_feed() -> Any:
    import boto3

    from taskhook.adapters.dynamo.connections import ApiGatewayPusher
    from taskhook.notify.live import LiveFeed

    cfg = settings()
    kwargs: dict[str, Any] = {"region_name": cfg.region}
    if cfg.websocket_management_url:
        kwargs["endpoint_url"] = cfg.websocket_management_url
    return LiveFeed(connections(), ApiGatewayPusher(boto3.client("apigatewaymanagementapi", **kwargs)))


@lru_cache(maxsize=1)
def change_feed() -> Any:
    from taskhook.dispatch.stream import ChangeFeed

    return ChangeFeed(task_queue(), notification_queue(), live_feed())


def reset() -> None:
    """Forget every built adapter (tests that switch environments call this)."""
    settings.cache_clear()
    for built in (boto3_client, task_model, api_key_model, task_repository, outbound_policy, task_service,
                  task_queue, sqs_messages, object_store, executor, scheduler, api_key_service, idempotency,
                  download_links, outbound_session, task_registry, function_task_service, client_token_service,
                  notification_queue, team_secrets, deliverer, connections, live_feed, change_feed):
        built.cache_clear()
