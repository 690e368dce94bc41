"""Issue 11, item 6: the local stack's banner tells what its outbound policy really allows."""

from __future__ import annotations

import pytest

from infra.local_stack import LOCAL_OUTBOUND_ALLOW, outbound_summary


@pytest.mark.parametrize(("allow", "loopback", "private"), [
    (LOCAL_OUTBOUND_ALLOW, "ALLOWED", "refused"),
    ("", "refused", "refused"),  # set but empty: nothing beyond public addresses
    (" , ", "refused", "refused"),
    ("10.0.0.0/8", "refused", "ALLOWED"),
    ("127.0.0.2/32", "ALLOWED", "refused"),
    ("localhost", "ALLOWED", "refused"),
    ("::/0", "ALLOWED", "ALLOWED"),
    ("api.example.com,93.184.216.0/24", "refused", "refused"),
])
def test_the_banner_is_derived_from_the_policy(allow: str, loopback: str, private: str) -> None:
    assert outbound_summary(allow) == (f"loopback targets {loopback}, private/link-local targets {private} "
                                       f"(TASKHOOK_OUTBOUND_ALLOW={allow!r})")
