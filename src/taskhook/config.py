"""Every environment variable Taskhook reads, read once into a frozen settings object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from taskhook.model.limits import MAX_DOWNLOAD_URL_TTL
from taskhook.model.retention import DEFAULT_RETENTION_DAYS, MAX_RETENTION_DAYS, MIN_RETENTION_DAYS

# The names below are the contract with template.yaml (Globals.Function.Environment)
# and with the local stack, which resolves that same block against the emulator.
ENV_TASKS_TABLE = "TASKS_TABLE"
ENV_API_KEYS_TABLE = "API_KEYS_TABLE"
ENV_IDEMPOTENCY_TABLE = "IDEMPOTENCY_TABLE"
ENV_QUEUE_HIGH_URL = "QUEUE_HIGH_URL"
ENV_QUEUE_NORMAL_URL = "QUEUE_NORMAL_URL"
ENV_QUEUE_LOW_URL = "QUEUE_LOW_URL"
ENV_DLQ_URL = "DLQ_URL"
ENV_OUTPUTS_BUCKET = "OUTPUTS_BUCKET"
ENV_ENDPOINT_URL = "AWS_ENDPOINT_URL"
ENV_REGION = "AWS_REGION"
ENV_DEFAULT_REGION = "AWS_DEFAULT_REGION"
ENV_OUTBOUND_ALLOW = "TASKHOOK_OUTBOUND_ALLOW"
ENV_OUTBOUND_DENY_PORTS = "TASKHOOK_OUTBOUND_DENY_PORTS"
ENV_LONG_POLL_INTERVAL = "TASKHOOK_LONG_POLL_INTERVAL"
ENV_CLAIM_MARGIN = "TASKHOOK_CLAIM_MARGIN"
ENV_TASK_MODULES = "TASKHOOK_TASK_MODULES"
ENV_DOWNLOAD_URL_TTL = "TASKHOOK_DOWNLOAD_URL_TTL"
ENV_PROGRESS_INTERVAL = "TASKHOOK_PROGRESS_INTERVAL"
ENV_NOTIFICATIONS_QUEUE_URL = "NOTIFICATIONS_QUEUE_URL"
ENV_TEAMS_TABLE = "TEAMS_TABLE"
ENV_CONNECTIONS_TABLE = "CONNECTIONS_TABLE"
ENV_WEBSOCKET_MANAGEMENT_URL = "WEBSOCKET_MANAGEMENT_URL"
# Where clients open the live feed (GET /v1/live, a ticket's answer): template.yaml gives the WebSocket
# API's wss:// URL; the local stack its own ws:// one.
ENV_WEBSOCKET_URL = "TASKHOOK_WEBSOCKET_URL"
ENV_SECRETS_KEY_ID = "SECRETS_KEY_ID"
ENV_VAULT_TABLE = "VAULT_TABLE"
ENV_LIMITS_TABLE = "LIMITS_TABLE"
# Per team: its tasks' counts by status and its usage per UTC day (dispatch/counters.py).
ENV_TEAM_STATS_TABLE = "TEAM_STATS_TABLE"
# Days a finished task is kept unless its team's plan says otherwise (template.yaml's RetentionDays).
ENV_TASK_RETENTION_DAYS = "TASK_RETENTION_DAYS"
# The default plan (model/plan.py): template.yaml's RateLimitRps, RateLimitBurst, TeamConcurrency.
ENV_DEFAULT_RPS = "TASKHOOK_DEFAULT_RPS"
ENV_DEFAULT_BURST = "TASKHOOK_DEFAULT_BURST"
ENV_DEFAULT_CONCURRENCY = "TASKHOOK_DEFAULT_CONCURRENCY"
# The API's public base URL, for a waiting task's callback URL (template.yaml's PublicApiUrl, else
# the API's own URL; executors only). Empty: waitForCallback tasks fail with a clear error.
ENV_PUBLIC_URL = "TASKHOOK_PUBLIC_URL"

# Connections each AWS client (boto3's, PynamoDB's) keeps for reuse: the local API server and an
# executor's records run in threads of one process, and botocore's default, 10, makes every further
# thread open and drop a connection per call.
CLIENT_POOL_SIZE = 64

# `builtin` in TASKHOOK_TASK_MODULES stands for the function tasks Taskhook ships.
BUILTIN_TASK_MODULES = "builtin"


@dataclass(frozen=True)
class Settings:
    tasks_table: str = "taskhook-tasks"
    api_keys_table: str = "taskhook-api-keys"
    idempotency_table: str = "taskhook-idempotency"
    queue_high_url: str = ""
    queue_normal_url: str = ""
    queue_low_url: str = ""
    dlq_url: str = ""
    outputs_bucket: str = "taskhook-outputs"
    notifications_queue_url: str = ""
    teams_table: str = "taskhook-teams"
    connections_table: str = "taskhook-connections"
    vault_table: str = "taskhook-vault"
    limits_table: str = "taskhook-limits"
    team_stats_table: str = "taskhook-team-stats"
    retention_days: int = DEFAULT_RETENTION_DAYS
    # The default plan: API requests per second and burst per team, executor share (0: none).
    default_rps: float = 0.0
    default_burst: int = 0
    default_concurrency: int = 0
    # API Gateway's management endpoint for the WebSocket API (the local stack runs a twin).
    websocket_management_url: str = ""
    # The WebSocket API's URL, for clients ("" when not configured).
    websocket_url: str = ""
    # The KMS key that encrypts secrets at rest (template.yaml's SecretsKey): a key id or ARN, or
    # an alias name; the default is the template's alias under the default prefix.
    secrets_key_id: str = "alias/taskhook-secrets"
    endpoint_url: str | None = None
    region: str = "us-east-1"
    # Hosts or CIDR ranges that outbound calls may reach even though they are private.
    outbound_allow: tuple[str, ...] = field(default_factory=tuple)
    # Ports refused even on addresses outbound_allow opens (the local stack's own services).
    outbound_deny_ports: tuple[int, ...] = field(default_factory=tuple)
    long_poll_interval: float = 0.25
    # Seconds past an attempt's timeout before its claim counts as abandoned (a crashed worker)
    # and its message becomes visible again.
    claim_margin: float = 30.0
    # Dotted modules whose decorated functions become function tasks (`builtin`: the shipped ones).
    task_modules: tuple[str, ...] = (BUILTIN_TASK_MODULES,)
    # Lifetime of a presigned `download_url`, seconds.
    download_url_ttl: int = 3600
    # A running function's progress is written at most once per this many seconds.
    progress_interval: float = 0.5
    # The API's public base URL (no trailing slash needed): waiting tasks' callback URLs start with it.
    public_url: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()
        allow = _csv(env.get(ENV_OUTBOUND_ALLOW, ""))
        ttl = int(env.get(ENV_DOWNLOAD_URL_TTL, defaults.download_url_ttl))
        return cls(
            tasks_table=env.get(ENV_TASKS_TABLE, defaults.tasks_table),
            api_keys_table=env.get(ENV_API_KEYS_TABLE, defaults.api_keys_table),
            idempotency_table=env.get(ENV_IDEMPOTENCY_TABLE, defaults.idempotency_table),
            queue_high_url=env.get(ENV_QUEUE_HIGH_URL, ""),
            queue_normal_url=env.get(ENV_QUEUE_NORMAL_URL, ""),
            queue_low_url=env.get(ENV_QUEUE_LOW_URL, ""),
            dlq_url=env.get(ENV_DLQ_URL, ""),
            outputs_bucket=env.get(ENV_OUTPUTS_BUCKET, defaults.outputs_bucket),
            notifications_queue_url=env.get(ENV_NOTIFICATIONS_QUEUE_URL, ""),
            teams_table=env.get(ENV_TEAMS_TABLE, defaults.teams_table),
            connections_table=env.get(ENV_CONNECTIONS_TABLE, defaults.connections_table),
            vault_table=env.get(ENV_VAULT_TABLE, defaults.vault_table),
            limits_table=env.get(ENV_LIMITS_TABLE, defaults.limits_table),
            team_stats_table=env.get(ENV_TEAM_STATS_TABLE, defaults.team_stats_table),
            retention_days=max(MIN_RETENTION_DAYS, min(MAX_RETENTION_DAYS, int(
                env.get(ENV_TASK_RETENTION_DAYS) or defaults.retention_days))),
            default_rps=max(0.0, float(env.get(ENV_DEFAULT_RPS) or 0)),
            default_burst=max(0, int(env.get(ENV_DEFAULT_BURST) or 0)),
            default_concurrency=max(0, int(env.get(ENV_DEFAULT_CONCURRENCY) or 0)),
            websocket_management_url=env.get(ENV_WEBSOCKET_MANAGEMENT_URL, ""),
            websocket_url=env.get(ENV_WEBSOCKET_URL, "").strip(),
            secrets_key_id=env.get(ENV_SECRETS_KEY_ID) or defaults.secrets_key_id,
            endpoint_url=env.get(ENV_ENDPOINT_URL) or None,
            region=env.get(ENV_REGION) or env.get(ENV_DEFAULT_REGION) or defaults.region,
            outbound_allow=allow,
            outbound_deny_ports=tuple(int(p) for p in _csv(env.get(ENV_OUTBOUND_DENY_PORTS, ""))
                                      if p.isdigit() and 0 < int(p) < 65536),
            long_poll_interval=float(env.get(ENV_LONG_POLL_INTERVAL, defaults.long_poll_interval)),
            claim_margin=float(env.get(ENV_CLAIM_MARGIN, defaults.claim_margin)),
            task_modules=_csv(env.get(ENV_TASK_MODULES, "")) or defaults.task_modules,
            download_url_ttl=max(1, min(ttl, MAX_DOWNLOAD_URL_TTL)),
            progress_interval=max(0.05, float(env.get(ENV_PROGRESS_INTERVAL, defaults.progress_interval))),
            public_url=env.get(ENV_PUBLIC_URL, "").strip(),
        )


def _csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())

