"""Every environment variable Taskhook reads, read once into a frozen settings object."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

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
ENV_LONG_POLL_INTERVAL = "TASKHOOK_LONG_POLL_INTERVAL"
ENV_CLAIM_MARGIN = "TASKHOOK_CLAIM_MARGIN"


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
    endpoint_url: str | None = None
    region: str = "us-east-1"
    # Hosts or CIDR ranges that outbound calls may reach even though they are private.
    outbound_allow: tuple[str, ...] = field(default_factory=tuple)
    long_poll_interval: float = 0.25
    # Seconds past an attempt's timeout before its claim counts as abandoned (a crashed worker)
    # and its message becomes visible again.
    claim_margin: float = 30.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()
        allow = tuple(h.strip() for h in env.get(ENV_OUTBOUND_ALLOW, "").split(",") if h.strip())
        return cls(
            tasks_table=env.get(ENV_TASKS_TABLE, defaults.tasks_table),
            api_keys_table=env.get(ENV_API_KEYS_TABLE, defaults.api_keys_table),
            idempotency_table=env.get(ENV_IDEMPOTENCY_TABLE, defaults.idempotency_table),
            queue_high_url=env.get(ENV_QUEUE_HIGH_URL, ""),
            queue_normal_url=env.get(ENV_QUEUE_NORMAL_URL, ""),
            queue_low_url=env.get(ENV_QUEUE_LOW_URL, ""),
            dlq_url=env.get(ENV_DLQ_URL, ""),
            outputs_bucket=env.get(ENV_OUTPUTS_BUCKET, defaults.outputs_bucket),
            endpoint_url=env.get(ENV_ENDPOINT_URL) or None,
            region=env.get(ENV_REGION) or env.get(ENV_DEFAULT_REGION) or defaults.region,
            outbound_allow=allow,
            long_poll_interval=float(env.get(ENV_LONG_POLL_INTERVAL, defaults.long_poll_interval)),
            claim_margin=float(env.get(ENV_CLAIM_MARGIN, defaults.claim_margin)),
        )


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process-wide settings, read from the environment on first use."""
    return Settings.from_env()
