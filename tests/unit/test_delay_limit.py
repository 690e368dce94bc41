"""delayUntil is at most MAX_DELAY_DAYS ahead (issue 11: year 9999 was accepted and the task stayed
delayed for ever); the limit is model/limits.py's, the message names it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from taskhook.intake.validation import parse_create_request
from taskhook.model.errors import ValidationFailed
from taskhook.model.limits import MAX_DELAY_DAYS

URL = "https://api.example.com/webhook"


def ahead(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


# Relative moments are given as offsets and made in the test: the ids must be the same in every
# pytest-xdist worker's collection.
@pytest.mark.parametrize("delay_until", ["9999-12-31T23:59:59Z", "2200-01-01T00:00:00+05:00",
                                         timedelta(days=MAX_DELAY_DAYS, minutes=5)])
def test_a_delay_beyond_the_maximum_is_refused(delay_until: str | timedelta) -> None:
    if isinstance(delay_until, timedelta):
        delay_until = ahead(delay_until)
    with pytest.raises(ValidationFailed) as refused:
        parse_create_request({"targetUrl": URL, "delayUntil": delay_until})
    assert refused.value.message == f"delayUntil must be at most {MAX_DELAY_DAYS} days in the future"


@pytest.mark.parametrize("delay_until", [timedelta(days=MAX_DELAY_DAYS, minutes=-5), timedelta(seconds=1),
                                         "2020-01-01T00:00:00Z"])
def test_a_delay_within_the_maximum_or_in_the_past_is_accepted(delay_until: str | timedelta) -> None:
    if isinstance(delay_until, timedelta):
        delay_until = ahead(delay_until)
    assert parse_create_request({"targetUrl": URL, "delayUntil": delay_until}).delayUntil is not None


def test_the_maximum_is_thirty_days() -> None:
    assert MAX_DELAY_DAYS == 30
