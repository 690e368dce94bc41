"""Taskhook's Python client: `Taskhook` (sync) and `AsyncTaskhook` (asyncio) for the task API,
`verify_webhook` for the notifications it signs. The `taskhook` command is `taskhook_client.cli`."""

from .aio import AsyncRun, AsyncTaskhook
from .client import Event, Run, Task, Taskhook
from .errors import (
    AccessDenied,
    ApiError,
    BadRequest,
    ConfigError,
    Conflict,
    NoOutput,
    NotFound,
    RateLimited,
    ServerError,
    TaskFailed,
    TaskhookError,
    TransportError,
    Unauthorized,
    WaitTimeout,
)
from .retries import RetryPolicy
from .version import __version__
from .webhooks import WebhookVerificationError, verify_webhook

__all__ = [
    "AccessDenied", "ApiError", "AsyncRun", "AsyncTaskhook", "BadRequest", "ConfigError", "Conflict", "Event",
    "NoOutput", "NotFound", "RateLimited", "RetryPolicy", "Run", "ServerError", "Task", "TaskFailed", "Taskhook",
    "TaskhookError", "TransportError", "Unauthorized", "WaitTimeout", "WebhookVerificationError", "__version__",
    "verify_webhook",
]
