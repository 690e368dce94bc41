"""Checking a notification Taskhook sent: Standard Webhooks (https://www.standardwebhooks.com), the
scheme and the library the service signs with (notify/signing.py): `webhook-id`,
`webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, one
signature per secret in force during a rotation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook
from standardwebhooks.webhooks import WebhookVerificationError as _LibraryError

from .errors import TaskhookError


class WebhookVerificationError(TaskhookError):
    """The body was not signed with the secret, or its timestamp is more than 5 minutes off."""


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes | str) -> Any:
    """The notification's JSON body, parsed, once its signature checks out with `secret` (the
    team's `whsec_…`, GET /v1/webhooks/secret); WebhookVerificationError otherwise. Read the task's
    id and status from what this returns, never from the URL's query string (not signed)."""
    data = body.decode("utf-8") if isinstance(body, bytes) else body
    try:
        return Webhook(secret).verify(data, dict(headers))
    except _LibraryError as exc:
        raise WebhookVerificationError(str(exc)) from None
    except (ValueError, TypeError, EmptyWebhookSecretError) as exc:  # malformed (binascii.Error is a ValueError)
        raise WebhookVerificationError(f"malformed signature or secret: {exc}") from None
