"""The one place where adapters are built: on first use, once per process, never at import."""

from __future__ import annotations

from functools import cache, lru_cache
from typing import Any

from .api_keys import ApiKeyService
from .config import Settings, settings
from .tasks import TaskService


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
    from .adapters.dynamo_tables import build_task_model

    cfg = settings()
    return build_task_model(cfg.tasks_table, cfg.region, cfg.endpoint_url)


@lru_cache(maxsize=1)
def api_key_model() -> Any:
    from .adapters.dynamo_tables import build_api_key_model

    cfg = settings()
    return build_api_key_model(cfg.api_keys_table, cfg.region, cfg.endpoint_url)


@lru_cache(maxsize=1)
def task_repository() -> Any:
    from .adapters.dynamo_repositories import DynamoTaskRepository

    return DynamoTaskRepository(task_model())


@lru_cache(maxsize=1)
def outbound_policy() -> Any:
    from .outbound import OutboundPolicy

    return OutboundPolicy(allow=settings().outbound_allow)


@lru_cache(maxsize=1)
def task_service() -> TaskService:
    return TaskService(task_repository(), outbound=outbound_policy())


@lru_cache(maxsize=1)
def task_queue() -> Any:
    from .adapters.sqs_queue import SqsTaskQueue
    from .lanes import Lane

    cfg = settings()
    urls = {Lane.HIGH: cfg.queue_high_url, Lane.NORMAL: cfg.queue_normal_url, Lane.LOW: cfg.queue_low_url}
    return SqsTaskQueue(boto3_client("sqs"), urls)


@lru_cache(maxsize=1)
def sqs_messages() -> Any:
    from .adapters.sqs_queue import SqsMessages

    cfg = settings()
    known = (cfg.queue_high_url, cfg.queue_normal_url, cfg.queue_low_url, cfg.dlq_url)
    return SqsMessages(boto3_client("sqs"), known)


@lru_cache(maxsize=1)
def object_store() -> Any:
    from .adapters.s3_store import S3ObjectStore

    return S3ObjectStore(boto3_client("s3"), settings().outputs_bucket)


@lru_cache(maxsize=1)
def executor() -> Any:
    from .delivery import call_target
    from .execution import Executor
    from .outbound import guarded_session

    session = guarded_session(outbound_policy())

    def call(task: Any, timeout: float) -> Any:
        return call_target(session, task.method, task.targetUrl, task.headers, task.body, timeout)

    return Executor(task_repository(), call, bodies=object_store(), claim_margin=settings().claim_margin)


@lru_cache(maxsize=1)
def scheduler() -> Any:
    from .scheduling import Scheduler

    return Scheduler(task_repository(), task_queue())


@lru_cache(maxsize=1)
def api_key_service() -> ApiKeyService:
    from .adapters.dynamo_repositories import DynamoApiKeyRepository

    return ApiKeyService(DynamoApiKeyRepository(api_key_model()))


@lru_cache(maxsize=1)
def idempotency() -> Any:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from .adapters.idempotency import PowertoolsIdempotency

    persistence = DynamoDBPersistenceLayer(
        table_name=settings().idempotency_table, boto3_client=boto3_client("dynamodb")
    )
    return PowertoolsIdempotency(persistence)


def reset() -> None:
    """Forget every built adapter (tests that switch environments call this)."""
    settings.cache_clear()
    for built in (boto3_client, task_model, api_key_model, task_repository, outbound_policy, task_service,
                  task_queue, sqs_messages, object_store, executor, scheduler, api_key_service, idempotency):
        built.cache_clear()
