"""A team's API rate limit: every authenticated REST request passes here, after its key is checked
and before the route does anything (so a refused request changes nothing, and an Idempotency-Key
it carried is not taken: the retry after Retry-After runs as the first try would have).

The team's plan (PlanBook: cached half a second) says its requests per second and burst; a team
without a limit (the default) is answered without any write. A limited team's answers all carry
`RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` (the IETF httpapi draft's fields,
delta-seconds); a refusal is 429 with seed 002's message and `Retry-After` too.

When DynamoDB throttles the limiter itself (a team hammering its own bucket's item, or the table
scaling up) the request is refused, 429 with Retry-After 1: fail closed. The limit exists to shield
the service from a flood, and what throttles the limiter's writes would throttle the route's own
writes next (as 503s); every other team's bucket is another item, so they are not refused.
"""

from __future__ import annotations

from taskhook.model.errors import Busy, RateLimited
from taskhook.model.gcra import whole_seconds
from taskhook.model.plan import PlanBook
from taskhook.model.rate import RateDecision
from taskhook.ports import RateLimiter

LIMIT = "RateLimit-Limit"
REMAINING = "RateLimit-Remaining"
RESET = "RateLimit-Reset"
RETRY_AFTER = "Retry-After"


def api_bucket(team_id: str) -> str:
    """The Limits table's key of a team's API bucket."""
    return f"api#{team_id}"


class RateGate:
    def __init__(self, plans: PlanBook, limiter: RateLimiter) -> None:
        self._plans = plans
        self._limiter = limiter

    def check(self, team_id: str) -> dict[str, str]:
        """Admit one request of `team_id`: the RateLimit-* headers its answer carries ({} for a
        team without a limit); RateLimited when the team is over its limit."""
        plan = self._plans.plan_of(team_id)
        burst = plan.effective_burst
        if not plan.rps or not burst:
            return {}
        try:
            decision = self._limiter.admit(api_bucket(team_id), plan.rps, burst)
        except Busy:
            decision = RateDecision(allowed=False, limit=burst, remaining=0, reset_after=1.0, retry_after=1.0)
        headers = rate_headers(decision)
        if not decision.allowed:
            raise RateLimited(headers)
        return headers


def rate_headers(decision: RateDecision) -> dict[str, str]:
    headers = {
        LIMIT: str(decision.limit),
        REMAINING: str(decision.remaining),
        RESET: str(whole_seconds(decision.reset_after)),
    }
    if not decision.allowed:
        retry = whole_seconds(decision.retry_after, at_least=1)
        headers[RETRY_AFTER] = str(retry)
        headers[RESET] = str(max(retry, int(headers[RESET])))
    return headers
