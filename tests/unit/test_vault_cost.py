"""The bench's cost model counts KMS (the Token Vault's Decrypt and Encrypt) at KMS's price."""

from __future__ import annotations

from bench import cost
from bench.scenarios.vault import kms_figures

CALLS = {"calls": {"|kms|Decrypt": 3, "api|kms|Encrypt": 1, "|dynamodb|GetItem": 300}, "invocations": {}}


def test_kms_requests_are_billed_at_kms_price() -> None:
    assert cost.billed_as("kms", "Decrypt") == cost.billed_as("kms", "Encrypt") == "kms.request"
    price = cost.load_prices()["prices"]["kms.request"]
    assert (price["usd"], price["per"]) == (0.03, 10000)
    line = cost.per_task(CALLS, 100)["cost"]["kms.request"]
    assert line == {"perTask": 0.04, "usdPerMillionTasks": 0.12}


def test_kms_figures_per_task() -> None:
    figures = kms_figures(CALLS, 100)
    assert figures["decryptPerTask"] == 0.03
    assert figures["kmsCallsPerTask"] == {"runner:Decrypt": 0.03, "api:Encrypt": 0.01}
