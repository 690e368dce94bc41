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
def task_service() -> TaskService:
    from .adapters.dynamo_repositories import DynamoTaskRepository

    return TaskService(DynamoTaskRepository(task_model()))


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
    for built in (boto3_client, task_model, api_key_model, task_service, api_key_service, idempotency):
        built.cache_clear()
