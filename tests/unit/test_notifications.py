"""Notifications: which ones a change calls for, how they are delivered, signed and retried."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from taskhook.model.attempt import Attempt
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task, notification_view
from taskhook.notify.delivery import MAX_ATTEMPTS, NotificationDeliverer
from taskhook.notify.live import LiveFeed, Subscription, live_change, live_message, topics_of
from taskhook.notify.rules import CALLBACK, ON_COMPLETE, Notification, notifications_for, with_query
from taskhook.notify.secrets import ROTATION_OVERLAP, TeamSecretsService
from taskhook.notify.signing import new_secret
from tests.support.fakes import InMemoryConnectionStore, InMemoryDeliveryLog, InMemoryPusher, InMemorySecretStore

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def task(status: str = "pending", **fields: Any) -> Task:
    """A task image; without a statusVersion, one of a row written before status versions (the
    rules then compare the two images)."""
    fields.setdefault("statusVersion", None)
    return Task(id="t1", teamId="acme", status=TaskStatus(status), createdAt="2026-01-01T12:00:00.000Z", **fields)


def test_with_query_keeps_the_urls_own_parameters_first() -> None:
    url = with_query("https://x.test/cb?custom=1234&a=", {"task_id": "t 1", "status": "completed"})
    assert url == "https://x.test/cb?custom=1234&a=&task_id=t+1&status=completed"


@pytest.mark.parametrize(("old", "new", "kinds"), [
    (None, "pending", [CALLBACK]),
    ("pending", "processing", [CALLBACK]),
    ("processing", "completed", [CALLBACK, ON_COMPLETE]),
    ("processing", "processing", []),
    ("pending", "cancelled", [CALLBACK, ON_COMPLETE]),
])
def test_status_changes_call_for_callbacks_and_terminal_ones_for_on_complete(
        old: str | None, new: str, kinds: list[str]) -> None:
    fields = {"callbackUrl": "https://x.test/cb", "onCompleteUrl": "https://x.test/done"}
    before = task(old, **fields) if old else None
    found = notifications_for(before, task(new, **fields), "42")
    assert [n.kind for n in found] == kinds
    assert all(n.status == new and n.sequence == "42" for n in found)


def test_a_bookkeeping_write_calls_for_nothing() -> None:
    same = task("processing", callbackUrl="https://x.test/cb", progress=10)
    assert notifications_for(same, same.model_copy(update={"dispatchedAt": "x"}), "7") == []


def test_a_stale_old_image_does_not_call_for_a_second_callback() -> None:
    """Issue 12.4 (seen on LocalStack under concurrent writes; AWS allows at-least-once and
    re-delivered records too): a progress write (version 3) whose record carries the image from
    before the claim (version 1, pending) looked like pending -> processing again. Whether this
    write changed the status is read from the new image: its statusVersion is not its version."""
    url = {"callbackUrl": "https://x.test/cb"}
    stale = task("pending", version=1, statusVersion=1, **url)
    progress = task("processing", version=3, statusVersion=2, progress=40, **url)
    assert notifications_for(stale, progress, "43") == []


def test_the_write_that_changed_the_status_notifies_whatever_the_old_image_says() -> None:
    url = {"callbackUrl": "https://x.test/cb"}
    claimed = task("processing", version=2, statusVersion=2, **url)
    assert [n.status for n in notifications_for(task("pending", version=1, **url), claimed, "42")] == ["processing"]
    stale = task("pending", version=1, statusVersion=1, **url)  # from before an earlier write
    assert [n.status for n in notifications_for(stale, task("completed", version=5, statusVersion=5, **url),
                                                "44")] == ["completed"]


def test_a_write_that_bumps_no_version_after_a_status_change_calls_for_nothing() -> None:
    """The delivery log written into the row after the pending callback (and LocalStack's no-op
    MODIFY records) left statusVersion == version: each such record sent the callback again."""
    url = {"callbackUrl": "https://x.test/cb"}
    created = task("pending", version=1, statusVersion=1, **url)
    logged = created.model_copy(update={"dispatchedAt": "2026-01-01T12:00:01.000Z"})
    assert notifications_for(created, logged, "8") == []
    assert notifications_for(logged, logged, "9") == []


def test_rows_written_before_status_versions_compare_the_images() -> None:
    url = {"callbackUrl": "https://x.test/cb"}
    assert [n.status for n in notifications_for(task("pending", **url), task("processing", **url), "9")] == [
        "processing"]
    assert notifications_for(task("processing", **url), task("processing", progress=5, **url), "9") == []


def test_the_message_round_trips() -> None:
    (n,) = notifications_for(None, task(callbackUrl="https://x.test/cb"), "9")
    assert Notification.from_message(n.to_message()) == n


Sent = list[tuple[str, dict, str]]


def deliverer(answers: list[Attempt], secrets: list[str], log: InMemoryDeliveryLog,
              sent: Sent) -> NotificationDeliverer:
    def post(team: str, url: str, headers: dict[str, str], body: str, timeout: float) -> Attempt:
        sent.append((url, headers, body))
        return answers.pop(0)

    return NotificationDeliverer(post=post, secrets_for=lambda team: secrets, log=log,
                                 presign=lambda key: f"https://s3.test/{key}?sig", clock=lambda: NOW)


def test_a_callback_is_posted_signed_with_download_url() -> None:
    secret = new_secret()
    log, sent = InMemoryDeliveryLog(), []
    n = Notification("ntf_1", "t1", "acme", CALLBACK, "https://x.test/cb?custom=1", "completed", "5",
                     body={"task_id": "t1", "status": "completed"}, output_key="out/t1")
    outcome = deliverer([Attempt(204)], [secret], log, sent).deliver(n, attempt=1)
    assert outcome.delete
    url, headers, body = sent[0]
    assert url == ("https://x.test/cb?custom=1&task_id=t1&status=completed"
                   "&download_url=https%3A%2F%2Fs3.test%2Fout%2Ft1%3Fsig")
    assert json.loads(body)["download_url"] == "https://s3.test/out/t1?sig"
    webhook = Webhook(secret)
    assert webhook.sign(msg_id="ntf_1", timestamp=NOW, data=body) == headers["webhook-signature"]
    assert headers["webhook-id"] == "ntf_1" and headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert log.entries == [(url, "delivered", 1, None)]


def test_every_secret_in_force_signs_during_a_rotation() -> None:
    old, new = new_secret(), new_secret()
    sent: list[tuple[str, dict, str]] = []
    n = Notification("ntf_2", "t1", "acme", ON_COMPLETE, "https://x.test/done", "failed", "6", body={"task": {}})
    deliverer([Attempt(200)], [new, old], InMemoryDeliveryLog(), sent).deliver(n, 1)
    signatures = sent[0][1]["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)


@pytest.mark.parametrize("answer", [Attempt(500, error="HTTP 500"), Attempt(None, error="fetch failed: ECONNREFUSED"),
                                    Attempt(429, error="HTTP 429", retry_after=30)])
def test_retryable_answers_come_back_later_until_the_last_attempt(answer: Attempt) -> None:
    n = Notification("ntf_3", "t1", "acme", ON_COMPLETE, "https://x.test/done", "completed", "6")
    log = InMemoryDeliveryLog()
    first = deliverer([answer], [new_secret()], log, []).deliver(n, 1)
    assert not first.delete and first.redeliver_after >= (30 if answer.retry_after else 1.6)
    last = deliverer([answer], [new_secret()], log, []).deliver(n, MAX_ATTEMPTS)
    assert last.delete
    assert [e[1] for e in log.entries] == ["retrying", "failed"]


def test_a_4xx_ends_the_delivery_without_retry() -> None:
    log = InMemoryDeliveryLog()
    n = Notification("ntf_4", "t1", "acme", ON_COMPLETE, "https://x.test/done", "completed", "6")
    outcome = deliverer([Attempt(404)], [new_secret()], log, []).deliver(n, 1)
    assert outcome.delete and log.entries[0][1:3] == ("failed", 1)


def test_a_team_gets_one_secret_and_rotation_keeps_the_old_one_for_a_while() -> None:
    clock = [NOW]
    service = TeamSecretsService(InMemorySecretStore(), clock=lambda: clock[0])
    (first,) = service.current("acme")
    assert service.current("acme") == [first]  # stable
    new, old = service.rotate("acme")
    assert old.secret == first.secret and new.secret != first.secret
    assert service.signing_keys("acme") == [new.secret, first.secret]
    clock[0] = NOW + ROTATION_OVERLAP + timedelta(seconds=1)
    assert service.signing_keys("acme") == [new.secret]
    assert service.current("other") != service.current("acme")


def test_notification_view_is_a_list_in_sequence_order() -> None:
    entries = {"b": {"url": "u", "kind": "callback", "status": "delivered", "attempts": 1, "sequence": "20"},
               "a": {"url": "u", "kind": "callback", "status": "retrying", "attempts": 2, "sequence": "3",
                     "lastError": "HTTP 500"}}
    assert notification_view(entries) == [
        {"id": "a", "url": "u", "kind": "callback", "status": "retrying", "attempts": 2, "sequence": "3",
         "lastError": "HTTP 500"},
        {"id": "b", "url": "u", "kind": "callback", "status": "delivered", "attempts": 1, "sequence": "20"},
    ]


def test_live_feed_reaches_task_team_and_client_subscribers_and_forgets_gone_ones() -> None:
    connections, pusher = InMemoryConnectionStore(), InMemoryPusher(gone={"c-gone"})
    for cid, topic in [("c-task", "task#t1"), ("c-team", "team#acme"), ("c-client", "client#ct_1"),
                       ("c-other", "task#t2"), ("c-gone", "task#t1")]:
        connections.add(Subscription(cid, "acme", topic))
    running = task("processing", progress=40, clientId="ct_1")
    assert LiveFeed(connections, pusher).publish_many([running]) == (3, [])
    assert {c for c, _ in pusher.sent} == {"c-task", "c-team", "c-client"}
    assert pusher.sent[0][1]["progress"] == 40 and pusher.sent[0][1]["status"] == "processing"
    assert "c-gone" not in [r.connection_id for r in connections.subscriptions_of_team("acme")]
    assert topics_of(running) == ["task#t1", "team#acme", "client#ct_1"]


def test_publishing_a_batch_looks_subscribers_up_once_per_team() -> None:
    connections, pusher = InMemoryConnectionStore(), InMemoryPusher(gone=set())
    connections.add(Subscription("c-acme", "acme", "team#acme"))
    connections.add(Subscription("c-other", "other", "team#other"))
    tasks = [task("processing", progress=p) for p in (10, 20, 30)]
    tasks.append(Task(id="t9", teamId="other", status=TaskStatus.PENDING, createdAt="2026-01-01T12:00:00.000Z"))
    sent, failed = LiveFeed(connections, pusher).publish_many(tasks)
    assert (sent, failed) == (4, [])
    assert connections.lookups == ["acme", "other"]
    assert [(c, p["progress"]) for c, p in pusher.sent] == [("c-acme", 10), ("c-acme", 20), ("c-acme", 30),
                                                             ("c-other", None)]


def test_a_failing_push_is_reported_for_its_task_and_the_connection_s_later_ones() -> None:
    """The stream retries from the earliest failed change: the later messages of that connection
    are held for the retry rather than sent before the failed one (test_live_access.py)."""
    class Flaky(InMemoryPusher):
        def push(self, connection_id: str, payload: dict[str, Any]) -> bool:
            if payload["progress"] == 20:
                raise ConnectionError("management API down")
            return super().push(connection_id, payload)

    connections, pusher = InMemoryConnectionStore(), Flaky(gone=set())
    connections.add(Subscription("c-acme", "acme", "team#acme"))
    sent, failed = LiveFeed(connections, pusher).publish_many([task("processing", progress=p) for p in (10, 20, 30)])
    assert sent == 1 and [index for index, _ in failed] == [1, 2]
    assert [p["progress"] for _, p in pusher.sent] == [10]


def test_live_change_is_status_progress_or_message() -> None:
    base = task("processing", progress=10)
    assert live_change(None, base)
    assert live_change(base, base.model_copy(update={"progress": 20}))
    assert live_change(base, base.model_copy(update={"message": "half way"}))
    assert not live_change(base, base.model_copy(update={"dispatchedAt": "x"}))
    done = task("completed", progress=100, result="<Task1 Result>")
    assert live_message(done)["result"] == "<Task1 Result>"


def test_a_provider_tasks_callback_names_its_first_copied_output() -> None:
    outputs = [{"source": "https://files.test/gone.png", "error": "HTTP 404"},
               {"key": "outputs/acme/t1/1-a.png", "contentType": "image/png", "size": 3, "filename": "a.png",
                "source": "https://files.test/a.png"}]
    old = task("polling", callbackUrl="https://x.test/cb")
    (n,) = notifications_for(old, task("completed", callbackUrl="https://x.test/cb", outputs=outputs,
                                       version=2, statusVersion=2), "9")
    assert n.output_key == "outputs/acme/t1/1-a.png"  # the same file GET's download_url names
