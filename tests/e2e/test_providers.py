"""AI provider tasks through the local stack (issue 14): `provider: "replicate"`, `provider: "fal"` and a
custom `pollConfig`, against the fake providers of infra/fake_provider.py on 127.0.0.1 (the local
stack allows loopback targets). The templates are pointed at the fakes by `targetUrl` alone: every
later URL (status, result, cancel, files) comes from the fake's answers.

Each job's behaviour is chosen by what the task submits (`polls`, `fail`, `outputs`, ...: see
infra/fake_provider.py). Polls every second (`pollConfig.intervalSeconds: 1`), a few polls each.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from websockets.asyncio.client import connect

from infra.fake_provider import FakeProviders, Job
from tests.e2e.conftest import Client, Stack
from tests.e2e.test_execution import wait_terminal
from tests.support.targets import TargetServer

FAST = {"intervalSeconds": 1, "intervalGrowth": 1, "maxIntervalSeconds": 2}
REPLICATE_KEY = "r8_fake_provider_key_0123456789"
FAL_KEY = "fal_fake_key_0123456789"
SETTLE = 3.0  # seconds without a poll that show the polls stopped (3 intervals)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProviders]:
    with FakeProviders() as providers:
        yield providers


def marker() -> str:
    return uuid.uuid4().hex


def job_of(fake: FakeProviders, mark: str, timeout: float = 30.0) -> Job:
    """The fake's job whose submitted input carries `mark`."""
    found: list[Job] = []

    def submitted(f: FakeProviders) -> bool:
        found[:] = [j for j in f.jobs() if j.options.get("marker") == mark]
        return bool(found)

    assert fake.wait_for(submitted, timeout), f"no job was submitted with marker {mark}"
    return found[0]


def replicate_task(fake: FakeProviders, mark: str, headers: dict[str, str] | None = None,
                   poll: dict[str, Any] | None = None, **input_: Any) -> dict[str, Any]:
    body = {"version": "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa",
            "input": {"prompt": "an astronaut riding a horse", "marker": mark, **input_}}
    return {"targetUrl": fake.replicate_url, "method": "POST",
            "headers": headers or {"Authorization": f"Bearer {REPLICATE_KEY}", "Content-Type": "application/json"},
            "body": json.dumps(body), "provider": "replicate", "pollConfig": {**FAST, **(poll or {})}}


def fal_task(fake: FakeProviders, mark: str, poll: dict[str, Any] | None = None, **input_: Any) -> dict[str, Any]:
    body = {"prompt": "a cat in a hat", "marker": mark, **input_}
    return {"targetUrl": fake.fal_url("fal-ai/flux/dev"), "method": "POST",
            "headers": {"Authorization": f"Key {FAL_KEY}", "Content-Type": "application/json"},
            "body": json.dumps(body), "provider": "fal", "pollConfig": {**FAST, **(poll or {})}}


def plain_task(fake: FakeProviders, mark: str, poll: dict[str, Any] | None = None, **input_: Any) -> dict[str, Any]:
    return {"targetUrl": fake.plain_url, "method": "POST",
            "headers": {"X-Api-Key": "plain-secret", "Content-Type": "application/json"},
            "body": json.dumps({"marker": mark, **input_}),
            "pollConfig": fake.plain_poll_config(**{**FAST, **(poll or {})})}


def is_file(request: Any) -> bool:
    return bool(request.path.startswith(("/files/", "/redirect/")))


def status_reads(fake: FakeProviders, job: Job) -> list[Any]:
    """The status GETs the fake answered for the job (its `/status` for fal)."""
    gets = [r for r in fake.requests(job.id, "GET") if not is_file(r)]
    if job.kind == "fal":
        gets = [r for r in gets if r.path.endswith("/status")]
    return gets


def assert_polls_stopped(fake: FakeProviders, job: Job) -> None:
    before = len(fake.requests(job.id))
    time.sleep(SETTLE)
    after = fake.requests(job.id)
    assert len(after) == before, f"the fake was still called after the task ended: {after[before:]}"


def assert_outputs_outlive_the_provider(fake: FakeProviders, job: Job, task: dict[str, Any]) -> None:
    """The task's outputs are the job's files, copied: the fake no longer has them, the presigned
    downloadUrl serves their bytes, and no file download carried the task's headers."""
    sources = fake.file_urls(job.id)
    outputs = task.get("outputs")
    assert outputs and len(outputs) == len(sources), task
    assert [o["source"] for o in outputs] == sources
    downloads = [r for r in fake.requests(job.id, "GET") if is_file(r)]
    assert downloads, "the executor never downloaded the outputs"
    for request in downloads:
        assert request.header("Authorization") is None and request.header("X-Api-Key") is None, request
    for url in sources:  # the provider's retention is over: its copy is gone
        assert not fake.file_served(url)
        assert requests.get(url, timeout=10).status_code == 404
    for output, content in zip(outputs, fake.file_bytes(job.id), strict=True):
        assert output["contentType"] == "image/png" and output["size"] == len(content), output
        assert output["filename"] and "error" not in output, output
        got = requests.get(output["downloadUrl"], timeout=30)  # plain GET: the presigned URL is the credential
        assert got.status_code == 200, got.text[:300]
        assert got.content == content


# ---- Replicate ------------------------------------------------------------------------------------


def test_a_replicate_task_polls_until_succeeded_and_keeps_its_output(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    created = team.create_ok(replicate_task(fake, mark, polls=2, outputs=2))
    assert created["maxWaitTime"] == 3600, created  # a provider task's default (PROVIDER_MAX_WAIT_TIME)
    job = job_of(fake, mark)

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "completed", done
    assert done["result"]["id"] == job.id and done["result"]["status"] == "succeeded", done["result"]
    assert done["result"]["output"] == fake.file_urls(job.id)  # the provider's final JSON
    assert len(status_reads(fake, job)) == 3  # starting -> processing, processing, succeeded
    for request in fake.requests(job.id):
        if request.path.startswith("/replicate/"):  # the submit's origin: the task's auth goes along
            assert request.header("Authorization") == f"Bearer {REPLICATE_KEY}", request
    assert_outputs_outlive_the_provider(fake, job, done)
    assert_polls_stopped(fake, job)


@pytest.mark.parametrize(("make_task", "message"), [
    (replicate_task, "CUDA out of memory (job 17)"),  # Replicate: status failed, its `error`
    (fal_task, "prompt must not contain forbidden words"),  # fal: the result call's 422 `detail`
], ids=["replicate", "fal-422"])
def test_a_failing_job_fails_the_task_with_the_providers_message(
        team: Client, fake: FakeProviders, make_task: Any, message: str) -> None:
    mark = marker()
    created = team.create_ok(make_task(fake, mark, polls=1, fail=message))
    job = job_of(fake, mark)

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "failed", done
    assert message in done["error"], done
    assert not done.get("outputs"), done
    assert_polls_stopped(fake, job)


def test_one_output_url_behind_a_redirect_is_kept(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    created = team.create_ok(replicate_task(fake, mark, polls=0, single=True, fileRedirect=True))
    job = job_of(fake, mark)

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "completed", done
    assert done["result"]["output"] == fake.file_urls(job.id)[0]  # a string, not a list
    assert_outputs_outlive_the_provider(fake, job, done)


def test_an_output_redirecting_to_a_refused_address_is_not_copied(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    created = team.create_ok(replicate_task(fake, mark, polls=0,
                                            fileRedirect="http://169.254.169.254/latest/meta-data/iam"))
    job = job_of(fake, mark)

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "completed", done  # the job is done; a file not copied is no failure
    (output,) = done["outputs"]
    assert output["source"] == fake.file_urls(job.id)[0]
    assert output.get("error") and "downloadUrl" not in output, output


def test_a_job_canceled_on_the_providers_side_fails_with_its_status(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    created = team.create_ok(replicate_task(fake, mark, polls=1, endStatus="canceled"))

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "failed", done
    assert done["error"] == "provider reported canceled", done  # Replicate's error is null then


def test_a_final_json_too_large_for_the_row_is_kept_in_s3(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    created = team.create_ok(replicate_task(fake, mark, polls=0, outputs=0, logBytes=500_000))
    job = job_of(fake, mark)

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "completed", {k: v for k, v in done.items() if k != "result"}
    assert done.get("result") is None and done["output"]["filename"] == "result.json", done.get("output")
    final = requests.get(done["output"]["downloadUrl"], timeout=30).json()
    assert final["id"] == job.id and final["status"] == "succeeded" and len(final["logs"]) == 500_000


def test_on_complete_url_gets_the_finished_provider_task(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    with TargetServer() as receiver:
        done_url = receiver.url("/provider-done", [200])
        created = team.create_ok({**replicate_task(fake, mark, polls=1), "onCompleteUrl": done_url})
        done = wait_terminal(team, created["id"], timeout=60)
        (call,) = receiver.wait_for_calls("/provider-done", 1, timeout=30)
    assert done["status"] == "completed"
    notified = json.loads(call.body)["task"]
    assert notified["id"] == created["id"] and notified["status"] == "completed"
    assert notified["result"]["status"] == "succeeded"


def test_a_submit_the_provider_refuses_fails_the_task_without_polling(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    created = team.create_ok(replicate_task(fake, mark, submitStatus=422, fail="Invalid version or not permitted"))

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "failed", done
    assert "Invalid version or not permitted" in done["error"], done
    assert fake.wait_for(lambda f: any(mark.encode() in r.body for r in f.requests(method="POST")), 5)
    assert not [j for j in fake.jobs() if j.options.get("marker") == mark]  # no job, nothing to poll


def test_the_polls_send_vault_secrets_to_the_submit_origin_only(team: Client, fake: FakeProviders) -> None:
    stored = team.request("POST", "/v1/tokens", json={"name": f"replicate-{marker()[:8]}", "value": REPLICATE_KEY})
    assert stored.status_code == 201, stored.text
    token = stored.json()["token"]["id"]
    mark = marker()
    task = replicate_task(fake, mark, polls=1, headers={"Authorization": f"Bearer {token}",
                                                       "Content-Type": "application/json"})
    created = team.create_ok(task)
    job = job_of(fake, mark)

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "completed", done
    assert done["headers"]["Authorization"] == f"Bearer {token}"  # the task keeps the reference
    api_calls = [r for r in fake.requests(job.id) if r.path.startswith("/replicate/")]
    assert len(api_calls) >= 3  # the submit and two status reads
    assert all(r.header("Authorization") == f"Bearer {REPLICATE_KEY}" for r in api_calls), api_calls
    assert fake.file_downloads(job.id)
    assert all(r.header("Authorization") is None for r in fake.file_downloads(job.id))
    assert REPLICATE_KEY not in json.dumps(done)


def test_a_status_url_of_another_origin_gets_no_task_headers(team: Client) -> None:
    """The submit goes to 127.0.0.1; this provider names its status URL on localhost: another origin."""
    with FakeProviders() as other:
        other.api_base = f"http://localhost:{other.port}"  # what its answers name
        mark = marker()
        task = replicate_task(other, mark, polls=1, outputs=0)
        task["targetUrl"] = f"http://127.0.0.1:{other.port}/replicate/v1/predictions"
        created = team.create_ok(task)
        job = job_of(other, mark)

        done = wait_terminal(team, created["id"], timeout=60)

        assert done["status"] == "completed", done
        submit, *polls = [r for r in other.requests(job.id) if r.path.startswith("/replicate/")]
        assert submit.method == "POST" and submit.header("Authorization") == f"Bearer {REPLICATE_KEY}"
        assert len(polls) == 2 and all(r.origin == f"http://localhost:{other.port}" for r in polls), polls
        assert all(r.header("Authorization") is None for r in polls), polls


# ---- fal ------------------------------------------------------------------------------------------


def test_a_fal_task_polls_until_completed_reads_its_result_and_keeps_its_output(
        team: Client, fake: FakeProviders) -> None:
    mark = marker()
    created = team.create_ok(fal_task(fake, mark, polls=2, outputs=1))
    job = job_of(fake, mark)

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "completed", done
    result = done["result"]  # the response_url's JSON
    assert [image["url"] for image in result["images"]] == fake.file_urls(job.id), result
    assert result["seed"] == 42
    assert len(status_reads(fake, job)) == 3  # IN_QUEUE, IN_PROGRESS, COMPLETED
    results = [r for r in fake.requests(job.id, "GET") if r.path.endswith(job.id)]
    assert len(results) == 1, results  # the response_url, once
    for request in fake.requests(job.id):
        if request.path.startswith("/fal/"):
            assert request.header("Authorization") == f"Key {FAL_KEY}", request
    assert_outputs_outlive_the_provider(fake, job, done)
    assert_polls_stopped(fake, job)


def test_a_fal_file_object_nested_anywhere_in_the_result_is_kept(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    created = team.create_ok(fal_task(fake, mark, polls=0, nested=True))
    job = job_of(fake, mark)

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "completed", done
    assert done["result"]["video"]["url"] == fake.file_urls(job.id)[0]
    assert_outputs_outlive_the_provider(fake, job, done)


# ---- maxWaitTime and cancel -----------------------------------------------------------------------


def test_max_wait_time_ends_a_polling_task_as_timeout(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    created = team.create_ok({**replicate_task(fake, mark, polls=-1), "maxWaitTime": 5})
    job = job_of(fake, mark)

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "timeout", done
    assert len(status_reads(fake, job)) >= 2, "it timed out without polling"
    # the provider's job is cancelled too (within one interval: the next poll message does it)
    assert fake.wait_for(lambda f: bool(f.cancel_calls(job.id)), 10), "the job was left running"
    assert_polls_stopped(fake, job)


@pytest.mark.parametrize("provider", ["replicate", "fal"])
def test_cancel_while_polling_stops_the_polls_and_calls_the_providers_cancel(
        team: Client, fake: FakeProviders, provider: str) -> None:
    mark = marker()
    body = replicate_task(fake, mark, polls=-1) if provider == "replicate" else fal_task(fake, mark, polls=-1)
    created = team.create_ok(body)
    job = job_of(fake, mark)
    team.wait_until(created["id"], lambda t: t["status"] == "polling", timeout=30)
    assert fake.wait_for(lambda f: len(status_reads(f, job)) >= 1, 15), "no poll came"
    listed = team.list(status="polling")
    assert listed.status_code == 200 and [t["id"] for t in listed.json()["tasks"]] == [created["id"]], listed.text

    cancelled = team.cancel(created["id"])

    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["task"]["status"] == "cancelled"
    assert fake.wait_for(lambda f: bool(f.cancel_calls(job.id)), 20), "the provider's cancel was never called"
    (call,) = fake.cancel_calls(job.id)
    assert call.method == ("POST" if provider == "replicate" else "PUT")
    expected = f"Bearer {REPLICATE_KEY}" if provider == "replicate" else f"Key {FAL_KEY}"
    assert call.header("Authorization") == expected  # the cancel URL has the submit's origin
    assert_polls_stopped(fake, job)
    assert team.task(created["id"])["status"] == "cancelled"


# ---- a custom pollConfig --------------------------------------------------------------------------


def test_a_custom_poll_config_against_a_plain_status_api(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    created = team.create_ok(plain_task(fake, mark, polls=2, outputs=1))
    job = job_of(fake, mark)

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "completed", done
    assert done["result"]["job"]["state"] == "done" and done["result"]["job"]["result"]["answer"] == 42
    reads = status_reads(fake, job)
    assert len(reads) == 3 and all(r.path == f"/plain/jobs/{job.id}" for r in reads), reads
    assert all(r.header("X-Api-Key") == "plain-secret" for r in reads)
    assert_outputs_outlive_the_provider(fake, job, done)
    assert_polls_stopped(fake, job)


def test_a_placeholder_inside_a_template_is_percent_encoded(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    created = team.create_ok(plain_task(fake, mark, polls=0, idPrefix="run 1/?"))
    job = job_of(fake, mark)

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "completed", done
    (read,) = status_reads(fake, job)
    assert read.path.startswith("/plain/jobs/run%201%2F%3F"), read.path


def test_max_wait_time_before_the_first_poll_ends_the_task_and_no_poll_follows(
        team: Client, fake: FakeProviders) -> None:
    mark = marker()
    # With a cancel URL (the plain API's DELETE), the first poll message shows when it comes back (5 s
    # after the submit, 3 s past maxWaitTime): it finds the task ended and cancels the job, no status read.
    cancel = {"intervalSeconds": 5, "cancelUrlTemplate": fake.api_base + "/plain/jobs/{{job.id}}",
              "cancelMethod": "DELETE"}
    created = team.create_ok({**plain_task(fake, mark, poll=cancel, polls=-1), "maxWaitTime": 2})
    job = job_of(fake, mark)

    done = wait_terminal(team, created["id"], timeout=30)

    assert done["status"] == "timeout", done
    assert fake.wait_for(lambda f: bool(f.cancel_calls(job.id)), 60), "the first poll message never came back"
    assert status_reads(fake, job) == [], "a poll came after the task timed out"
    assert team.task(created["id"])["status"] == "timeout"


def test_a_custom_poll_config_reads_the_error_at_its_error_path(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    created = team.create_ok(plain_task(fake, mark, polls=1, fail="disk quota exceeded"))

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "failed", done
    assert done["error"] == "disk quota exceeded", done


def test_poll_errors_are_retried_and_do_not_fail_the_task(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    created = team.create_ok(plain_task(fake, mark, polls=1, statusErrors=[503, "html", 429, 500]))
    job = job_of(fake, mark)

    done = wait_terminal(team, created["id"], timeout=90)

    assert done["status"] == "completed", done
    gets = [r for r in fake.requests(job.id, "GET") if not is_file(r)]
    assert len(gets) == 6, gets  # four bad answers (one a 200 that is not JSON), then running, then done
    assert done["retryCount"] == 0, done


def test_a_polls_retry_after_is_honoured(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    created = team.create_ok(plain_task(fake, mark, polls=0, statusErrors=[429], retryAfter=4))
    job = job_of(fake, mark)

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "completed", done
    limited, answered = [r for r in fake.requests(job.id, "GET") if not is_file(r)]
    assert answered.at - limited.at >= 3.5, answered.at - limited.at  # not the 1 s interval


def test_a_status_poll_answered_404_fails_the_task(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    created = team.create_ok(plain_task(fake, mark, statusErrors=[404]))

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "failed", done
    assert done["error"].startswith("status poll answered 404"), done


def test_a_placeholder_the_submit_answer_lacks_fails_the_task(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    body = plain_task(fake, mark, poll={"urlTemplate": fake.api_base + "/plain/jobs/{{job.ticket}}"})
    created = team.create_ok(body)

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "failed", done
    assert done["error"] == "pollConfig.urlTemplate: submit answer has no job.ticket", done


def test_a_status_url_the_outbound_guard_refuses_fails_the_task(team: Client, fake: FakeProviders) -> None:
    mark = marker()
    body = plain_task(fake, mark, poll={"urlTemplate": "http://169.254.169.254/latest/meta-data/{{job.id}}"})
    created = team.create_ok(body)

    done = wait_terminal(team, created["id"], timeout=60)

    assert done["status"] == "failed", done
    assert "destination not allowed" in done["error"], done


def test_a_poll_config_without_a_provider_needs_the_four_fields(team: Client, fake: FakeProviders) -> None:
    body = plain_task(fake, marker())
    del body["pollConfig"]["statusPath"]

    response = team.create(body)

    assert response.status_code == 400, response.text
    assert response.json() == {"error": "pollConfig.statusPath is required"}
    assert team.total() == 0


# ---- what a watcher sees --------------------------------------------------------------------------


def test_a_websocket_watcher_sees_pending_processing_polling_completed_in_order(
        team: Client, stack: Stack, fake: FakeProviders) -> None:
    ws_url = f"{stack.state['websocket']}/ws?api_key={team.key}"
    mark = marker()

    async def watch() -> list[str]:
        seen: list[str] = []
        async with connect(ws_url) as ws:
            created = await asyncio.to_thread(team.create_ok, replicate_task(fake, mark, polls=2))
            async with asyncio.timeout(60):
                async for raw in ws:
                    message = json.loads(raw)
                    if message.get("task_id") == created["id"]:
                        seen.append(message["status"])
                        if message["status"] in ("completed", "failed", "timeout", "cancelled"):
                            return seen
        return seen

    statuses = asyncio.run(watch())
    firsts = list(dict.fromkeys(statuses))  # each status where it was first seen
    assert firsts == ["pending", "processing", "polling", "completed"], statuses
