"""Standard Webhooks signing (https://www.standardwebhooks.com) with the team's `whsec_` secrets.

Every notification carries `webhook-id`, `webhook-timestamp` and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`); during a rotation it is signed with every
valid secret, space-separated, so a receiver holding either secret verifies it.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signature_headers(secrets_in_force: list[str], msg_id: str, moment: datetime, body: str) -> dict[str, str]:
    signatures = [Webhook(secret).sign(msg_id=msg_id, timestamp=moment, data=body) for secret in secrets_in_force]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
