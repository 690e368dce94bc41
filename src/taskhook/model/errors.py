"""Domain errors. Handlers map each to one HTTP status; adapters raise them for AWS errors."""

from __future__ import annotations

from collections.abc import Mapping


class TaskhookError(Exception):
    status_code = 500
    public_message = "Internal error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.public_message)
        self.message = message or self.public_message

    @property
    def headers(self) -> Mapping[str, str]:
        """HTTP headers the answer carries besides the status and `{"error": …}`."""
        return {}


class BlockedTarget(Exception):
    """A URL that may not be called (the outbound guard): a validation error at create time, a
    final failure later."""


class ValidationFailed(TaskhookError):
    status_code = 400


# What a key or client token that is unknown or revoked is told, wherever it is checked.
REVOKED_API_KEY = "Invalid or revoked API key"
REVOKED_CLIENT_TOKEN = "Invalid or revoked client token"  # noqa: S105 - a message, not a secret
# A client token sent as the Bearer credential of a route other than the two task reads.
CLIENT_TOKEN_READS_ONLY = "A client token can only read its client's tasks"  # noqa: S105


def not_an_admin(scope: str) -> str:
    """What a key without the admin scope is told by an admin route."""
    return f"This key is not allowed to manage the team (scope: {scope})"


class Unauthorized(TaskhookError):
    status_code = 401
    public_message = "API key required"


class AccessDenied(TaskhookError):
    status_code = 403
    public_message = "Access denied"


class NotFound(TaskhookError):
    status_code = 404
    public_message = "Task not found"


class Conflict(TaskhookError):
    """A conditional write lost: the row is not in the state the caller expected."""

    status_code = 409
    public_message = "Conflict"


class PayloadTooLarge(TaskhookError):
    status_code = 413
    public_message = "Request body exceeds 256 KB"


# Seed 002's words for a 429.
RATE_LIMIT_EXCEEDED = "Rate limit exceeded. Upgrade your plan for higher limits."


class RateLimited(TaskhookError):
    """The team's API rate limit refused the request before it did anything; `headers` say when to
    come back (Retry-After) and how the bucket stands (RateLimit-*)."""

    status_code = 429
    public_message = RATE_LIMIT_EXCEEDED

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__()
        self._headers = dict(headers)

    @property
    def headers(self) -> Mapping[str, str]:
        return self._headers


class TooManyConnections(TaskhookError):
    """A team at its cap of live-feed connections (model/limits.py MAX_LIVE_CONNECTIONS_PER_TEAM)."""

    status_code = 429


class Busy(TaskhookError):
    """The store throttled us; the caller may retry."""

    status_code = 503
    public_message = "Service busy, retry shortly"


class Undecryptable(TaskhookError):
    """A ciphertext that does not decrypt under the context it is read with: copied from another
    row, altered, or made with another key. A server-side integrity failure, never bad input."""
