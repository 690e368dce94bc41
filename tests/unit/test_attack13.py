"""Holes found by attacking issue 13 (Token Vault, rate limits, fairness) on the local stack.

1. `teams set-limits --rps 1e-300` was accepted: DynamoDB numbers go no lower than 1E-130, so on
   AWS the save failed with a traceback, and on the local stack (moto stores it) every later read
   of the team's plan failed: every request of the team answered 500 and `set-limits --rps 0`
   could not repair it (it loads the plan first). The same for a destination's --rps.
2. A `/v1/tokens/{id}` whose id merely started with `tok_` went to DynamoDB as a sort key: on
   DynamoDB a key over 1024 bytes is a ValidationException (a 500), not "Token not found".
3. Token names were unique regardless of case but not of a trailing space: "rep" and "rep " were
   two tokens that look alike in every listing.
4. One task naming one token in 2,000 headers made 2,000 strongly consistent reads of the same
   row at create (4.1 s on the local stack instead of 0.01 s; a 256 KB body allows ~6,000) and
   again at every attempt, all for one request of the team's rate limit: each token is now read
   (and decrypted) once per create or call.
5. Seed 003's `builtin.fetch_url` takes `headers` (docs/vault.md said function tasks have none): a
   `tok_…` reference there was neither checked nor resolved but sent as it is to the URL (and to
   wherever it redirects). It is now refused at create, as a reference that cannot be resolved.
6. A put-back was sent only once every record of its invocation had run: a task put back over its
   share (or a destination's limit) waited for the slowest call of its batch (up to the task
   timeout, 300 s), even one of another team's task, while the slot it waits for may be free. On
   the local stack: share 2, one batch of a 20 s call, a 1 s call and four put-backs; the 1 s call
   ended at 1 s, the four were sent back at 20 s and ran at 22-27 s. (A runner killed meanwhile
   lost them until the lane's visibility timeout, 360 s.) Put-backs now go out as they are decided.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from taskhook.adapters.dynamo.vault import DynamoVaultStore
from taskhook.adapters.http import OutboundPolicy
from taskhook.container import container, reset_container
from taskhook.intake.function_tasks import FunctionTaskService
from taskhook.intake.vault import VaultService
from taskhook.model.errors import NotFound, ValidationFailed
from taskhook.model.outcome import Outcome
from taskhook.model.plan import DestinationLimit, TeamPlan, with_destination, with_limits
from taskhook.model.tokens import check_token_name
from taskhook.run.functions.registry import load_task_modules
from taskhook.run.vault import TokenResolver
from tests.support.fakes import InMemoryCipher, InMemoryTaskRepository, InMemoryVaultStore

# ---- 1. rates DynamoDB cannot store ------------------------------------------------------------

DYNAMODB_SMALLEST_NUMBER = 1e-130


@pytest.mark.parametrize("rps", [1e-300, 1e-131, 1e-9])
def test_a_team_rate_too_small_to_mean_anything_is_refused(rps: float) -> None:
    with pytest.raises(ValidationFailed, match="rps"):
        with_limits(TeamPlan(), rps, None, None)


@pytest.mark.parametrize("rps", [1e-300, 1e-9])
def test_a_destination_rate_too_small_to_mean_anything_is_refused(rps: float) -> None:
    with pytest.raises(ValidationFailed, match="rps"):
        with_destination(TeamPlan(), "api.example.com", DestinationLimit(rps=rps))


@pytest.mark.parametrize("rps", [0.001, 0.5, 100_000])
def test_every_rate_accepted_is_a_number_dynamodb_stores(rps: float) -> None:
    plan = with_limits(TeamPlan(), rps, None, None)
    assert plan.rps == rps
    assert plan.rps >= DYNAMODB_SMALLEST_NUMBER
    assert with_limits(plan, 0, None, None).rps == 0  # and 0 still removes the limit


# ---- 2. malformed ids never reach DynamoDB's key ------------------------------------------------


class KeySizeCheckingClient:
    """DynamoDB's key checks on a key-only call: a sort key over 1024 bytes is a
    ValidationException (moto does not check it on GetItem / UpdateItem)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def _check(self, operation: str, key: dict[str, Any]) -> None:
        self.calls.append(operation)
        if len(key["id"]["S"].encode("utf-8")) > 1024:
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "One or more parameter values "
                               "were invalid: Aggregated size of all range keys has exceeded the size limit of "
                               "1024 bytes"}}, operation)

    def get_item(self, **kwargs: Any) -> dict[str, Any]:
        self._check("GetItem", kwargs["Key"])
        return {}

    def update_item(self, **kwargs: Any) -> dict[str, Any]:
        self._check("UpdateItem", kwargs["Key"])
        raise ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": ""}}, "UpdateItem")


LONG_ID = "tok_" + "a" * 1100


@pytest.mark.parametrize("token_id", [LONG_ID, "tok_ABCDEF0123456789ABCDEF01", "tok_0123456789abcdef01234567 ",
                                      "tok_x"])
def test_an_id_that_is_no_token_id_is_not_found_without_a_call(token_id: str) -> None:
    client = KeySizeCheckingClient()
    store = DynamoVaultStore(client, "vault")
    assert store.get("dev", token_id) is None
    with pytest.raises(NotFound):
        store.replace_value("dev", token_id, b"sealed", "****", "2026-01-01T00:00:00.000Z")
    with pytest.raises(NotFound):
        store.delete("dev", token_id)
    assert client.calls == []


def test_a_well_formed_id_is_still_looked_up() -> None:
    client = KeySizeCheckingClient()
    assert DynamoVaultStore(client, "vault").get("dev", "tok_0123456789abcdef01234567") is None
    assert client.calls == ["GetItem"]


# ---- 3. names that look alike ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rep ", "rep\t", "rep  "])
def test_a_name_ending_in_white_space_is_refused(name: str) -> None:
    with pytest.raises(ValidationFailed, match="name"):
        check_token_name(name)


@pytest.mark.parametrize("name", ["rep", "fal key", "a", "Replicate.prod-2_x"])
def test_ordinary_names_are_still_accepted(name: str) -> None:
    assert check_token_name(name) == name


# ---- 4. one token in many headers: one read --------------------------------------------------


def _vault() -> tuple[InMemoryVaultStore, VaultService, str, str]:
    store = InMemoryVaultStore()
    service = VaultService(store, InMemoryCipher())
    first = service.create("dev", {"name": "one", "value": "first-secret-0123456789"}).id
    second = service.create("dev", {"name": "two", "value": "second-secret-0123456789"}).id
    return store, service, first, second


def test_a_create_reads_each_token_once_however_many_headers_name_it() -> None:
    store, service, first, second = _vault()
    headers = {f"X-H{i}": first for i in range(500)} | {f"X-B{i}": f"Bearer {second}" for i in range(500)}
    store.reads = 0
    service.check_references("dev", headers, "api.example.com")
    assert store.reads == 2


def test_a_call_reads_and_decrypts_each_token_once_however_many_headers_name_it() -> None:
    store, service, first, second = _vault()
    resolver = TokenResolver(store, service.cipher)
    headers = {f"X-H{i}": first for i in range(500)} | {f"X-B{i}": f"Bearer {second}" for i in range(500)}
    store.reads = 0
    resolved = resolver.resolve("dev", headers, "api.example.com")
    assert store.reads == 2
    assert resolver.decryptions() == 2
    assert set(resolved.values()) == {"first-secret-0123456789", "Bearer second-secret-0123456789"}


# ---- 5. fetch_url's headers --------------------------------------------------------------------


def _fetch_url_service() -> tuple[FunctionTaskService, InMemoryTaskRepository]:
    repo = InMemoryTaskRepository()
    public = OutboundPolicy(resolve=lambda host: ["93.184.216.34"])
    return FunctionTaskService(repo, load_task_modules(("builtin",)), outbound=public), repo


@pytest.mark.parametrize("value", ["tok_0123456789abcdef01234567", "Bearer tok_0123456789abcdef01234567", "tok_oops"])
def test_fetch_url_refuses_a_token_reference_it_would_send_as_it_is(value: str) -> None:
    service, repo = _fetch_url_service()
    with pytest.raises(ValidationFailed, match="^Invalid arguments for builtin.fetch_url: headers: .*tok_"):
        service.start("team", "builtin", "fetch_url", {"url": "https://ok.example/", "headers": {"X-Key": value}})
    assert repo.writes == 0


def test_fetch_url_still_takes_plain_headers() -> None:
    service, repo = _fetch_url_service()
    service.start("team", "builtin", "fetch_url", {"url": "https://ok.example/",
                                                  "headers": {"Authorization": "Bearer sk-live", "X-A": "x-tok_1"}})
    assert repo.writes == 1


# ---- 6. a put-back does not wait for its batch's slowest call ----------------------------------


class SlowAndOverShare:
    """The executor: task "slow" makes a long call (until `release`); every other task is over its
    team's share and put back."""

    unclaimed_hold = 31.5

    def __init__(self) -> None:
        self.release = threading.Event()

    def run(self, task_id: str, *_: Any) -> Outcome:
        if task_id == "slow":
            self.release.wait(10)
            return Outcome.done("completed")
        return Outcome.put_back_after(1, "put back: team at its share", "team-b")


class RecordedSends:
    def __init__(self) -> None:
        self.sent = threading.Event()
        self.task_ids: list[str] = []

    def put_back(self, entries: list[Any]) -> list[int]:
        self.task_ids += [entry.task_id for entry in entries]
        self.sent.set()
        return []

    def hold(self, *_: Any) -> None:
        pass

    def hold_all(self, _queue_arn: str, receipt_handles: list[str], _seconds: float) -> int:
        return len(receipt_handles)


@pytest.fixture
def stubbed() -> Iterator[tuple[SlowAndOverShare, RecordedSends]]:
    reset_container()
    executor, messages = SlowAndOverShare(), RecordedSends()
    container().__dict__.update(executor=executor, sqs_messages=messages)  # the cached properties, set
    yield executor, messages
    executor.release.set()
    reset_container()


def _record(task_id: str) -> dict[str, Any]:
    return {"messageId": f"m-{task_id}", "receiptHandle": f"r-{task_id}", "body": json.dumps({"taskId": task_id}),
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:taskhook-normal",
            "awsRegion": "us-east-1"}


def test_a_put_back_is_sent_while_a_slow_call_of_its_batch_still_runs(
        stubbed: tuple[SlowAndOverShare, RecordedSends]) -> None:
    from functions.executor import handle

    executor, messages = stubbed
    answers: list[dict[str, Any]] = []
    event = {"Records": [_record("slow"), _record("b1"), _record("b2")]}
    invocation = threading.Thread(target=lambda: answers.append(handle(event, None)))
    invocation.start()
    try:
        sent_while_slow_ran = messages.sent.wait(5)  # the slow call holds until released below
    finally:
        executor.release.set()
        invocation.join(15)
    assert answers == [{"batchItemFailures": []}]
    assert sorted(messages.task_ids) == ["b1", "b2"]
    assert sent_while_slow_ran
