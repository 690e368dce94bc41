"""`Idempotency-Key` support on top of Powertools' idempotency utility (DynamoDB persistence).

Powertools stores the first call's result for 24 h, keyed on (team, key), and refuses a second
call whose payload fingerprint differs. We add a per-call nonce to the stored result so the caller
can tell a first call (201) from a replay (200).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer

from taskhook.model.errors import Conflict

IDEMPOTENCY_TTL_SECONDS = 24 * 3600


class PowertoolsIdempotency:
    def __init__(self, persistence: BasePersistenceLayer, ttl_seconds: int = IDEMPOTENCY_TTL_SECONDS) -> None:
        self._config = IdempotencyConfig(
            event_key_jmespath="[scope, key]",
            payload_validation_jmespath="fingerprint",
            expires_after_seconds=ttl_seconds,
            raise_on_no_idempotency_key=True,
        )
        self._persistence = persistence

    def register_lambda_context(self, context: Any) -> None:
        """With the invocation's deadline known, a request that dies mid-create frees its key when
        the invocation would have ended, instead of answering "in progress" for 24 hours."""
        if context is not None and hasattr(context, "get_remaining_time_in_millis"):
            self._config.register_lambda_context(context)

    def run_once(
        self, scope: str, key: str, fingerprint: Any, action: Callable[[], str]
    ) -> tuple[str, bool]:
        """Run `action` once per (scope, key); later calls get its result back and `replayed=True`.
        The same key with another fingerprint is a Conflict."""
        nonce = uuid.uuid4().hex

        @idempotent_function(
            data_keyword_argument="request",
            persistence_store=self._persistence,
            config=self._config,
            key_prefix="taskhook-create",
        )
        def once(request: dict[str, Any]) -> dict[str, str]:
            return {"value": action(), "nonce": nonce}

        try:
            stored = once(request={"scope": scope, "key": key, "fingerprint": fingerprint})
        except IdempotencyValidationError:
            raise Conflict("Idempotency-Key was already used with a different request body") from None
        except IdempotencyAlreadyInProgressError:
            raise Conflict("A request with this Idempotency-Key is still in progress") from None
        return stored["value"], stored["nonce"] != nonce

