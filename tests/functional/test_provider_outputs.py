"""A provider task's outputs on the real adapters against moto: the files copied through the
container's guarded session into the outputs bucket (S3), the row that keeps them (DynamoDB), and
GET /v1/tasks/{id} through the API handler, whose presigned downloadUrl serves the bytes after the
provider has deleted its copy."""

from __future__ import annotations

from typing import Any

import requests

from taskhook.adapters.downloads import SessionDownloader
from taskhook.container import container
from taskhook.model.polling import PollSpec
from taskhook.model.status import TaskStatus
from taskhook.model.task import Task
from taskhook.run.provider_outputs import ProviderOutputs
from tests.support.targets import TargetServer

from .conftest import Provisioned
from .test_handlers import TEAM, api_key, create_task, invoke_api, load_event, set_header

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
REPLICATE = PollSpec.from_config("replicate", None)
MB = 1024 * 1024


def png(target: TargetServer, path: str) -> str:
    return target.url(path, [{"body": PNG, "headers": {"Content-Type": "image/png"}}])


def get_task(key: str, task_id: str) -> dict[str, Any]:
    event = load_event("api_gateway_get_task.json")
    event["pathParameters"]["task_id"] = task_id
    event["path"] = f"/v1/tasks/{task_id}"
    event["requestContext"]["path"] = f"/api/v1/tasks/{task_id}"
    set_header(event, "Authorization", f"Bearer {key}")
    status, body = invoke_api(event)
    assert status == 200, body
    return dict(body["task"])


def bucket_keys(aws: Provisioned) -> list[str]:
    listing = aws.client("s3").list_objects_v2(Bucket=aws.env["OUTPUTS_BUCKET"], Prefix="outputs/")
    return [item["Key"] for item in listing.get("Contents", [])]


def multipart_uploads(aws: Provisioned) -> list[Any]:
    return list(aws.client("s3").list_multipart_uploads(Bucket=aws.env["OUTPUTS_BUCKET"]).get("Uploads", []))


def test_the_download_url_serves_a_copied_output_after_the_provider_deleted_it(aws: Provisioned,
                                                                                 target: TargetServer) -> None:
    key = api_key()
    created = create_task(key, targetUrl=target.url("/v1/predictions"), provider="replicate",
                          headers={"Authorization": "Token r8_x"})
    task = container().task_repository.get(created["id"])
    assert task is not None
    first, second = png(target, "/xezq/abc/out-0.png"), target.url("/xezq/abc/gone.png", [404])
    result = {"id": "p1", "status": "succeeded", "output": [first, second]}

    outputs = container().provider_outputs.copy(task, result, REPLICATE)
    done = task.model_copy(update={"id": "tsk_done", "status": TaskStatus.COMPLETED, "result": result,
                                   "outputs": outputs, "completedAt": task.createdAt})
    container().task_repository.put_new(done)
    target.url("/xezq/abc/out-0.png", [404])  # the provider deletes its copy
    assert requests.get(first, timeout=5).status_code == 404

    view = get_task(key, done.id)

    copied, missing = view["outputs"]
    assert {k: copied[k] for k in ("filename", "contentType", "size", "source")} == {
        "filename": "out-0.png", "contentType": "image/png", "size": len(PNG), "source": first}
    assert "key" not in copied
    assert missing == {"source": second, "error": "HTTP 404"}
    download = requests.get(copied["downloadUrl"], timeout=10)
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["Content-Type"] == "image/png"
    assert download.headers["Content-Disposition"] == 'attachment; filename="out-0.png"'
    assert bucket_keys(aws) == [f"outputs/{TEAM}/{task.id}/0-out-0.png"]


def test_a_file_over_the_cap_leaves_nothing_in_the_bucket(aws: Provisioned, target: TargetServer) -> None:
    """Over S3's multipart threshold (8 MB) both: the one within the cap is stored whole, the
    other not at all (no object, no multipart upload left open)."""
    inside = target.url("/big/inside.bin", [{"body": b"a" * (9 * MB), "headers": {"Content-Type": "video/mp4"}}])
    over = target.url("/big/over.bin", [{"body": b"b" * (11 * MB), "headers": {"Content-Type": "video/mp4"}}])
    task = Task(id="tsk_cap", teamId=TEAM, status=TaskStatus.POLLING, targetUrl=target.url("/v1/predictions"),
                provider="replicate", createdAt="2024-01-15T10:30:00.000Z")
    copier = ProviderOutputs(container().object_store, SessionDownloader(container().outbound_sessions, 5),
                             lambda t: {}, max_bytes=10 * MB)

    entries = copier.copy(task, {"output": [over, inside]}, REPLICATE)

    assert entries[0] == {"source": over, "error": "larger than 10 MB"}
    assert entries[1]["size"] == 9 * MB
    assert bucket_keys(aws) == ["outputs/team-a/tsk_cap/1-inside.bin"]
    assert multipart_uploads(aws) == []
    head = aws.client("s3").head_object(Bucket=aws.env["OUTPUTS_BUCKET"], Key="outputs/team-a/tsk_cap/1-inside.bin")
    assert (head["ContentLength"], head["ContentType"]) == (9 * MB, "video/mp4")


def test_the_container_copies_through_the_outbound_guard(aws: Provisioned, target: TargetServer) -> None:
    """The target fixture allows loopback IPv4 only: private addresses and IPv6 loopback stay refused.
    (Not 169.254.169.254 here: moto answers it itself, before any adapter connects; the unit tests
    show it refused.)"""
    port = target.base.rsplit(":", 1)[1]
    refused = [f"http://10.1.2.3:{port}/secret.png", f"http://[::1]:{port}/secret.png",
               f"http://0.0.0.0:{port}/secret.png"]
    task = Task(id="tsk_ssrf", teamId=TEAM, status=TaskStatus.POLLING, targetUrl=target.url("/v1/predictions"),
                provider="replicate", createdAt="2024-01-15T10:30:00.000Z")

    entries = container().provider_outputs.copy(task, {"output": [*refused, png(target, "/fine.png")]}, REPLICATE)

    assert entries[:3] == [{"source": url, "error": "destination not allowed"} for url in refused]
    assert target.calls("/secret.png") == []
    assert bucket_keys(aws) == ["outputs/team-a/tsk_ssrf/3-fine.png"]
