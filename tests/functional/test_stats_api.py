"""GET /v1/stats on moto through the Chalice app: the counts from TeamStats, the minute items the
counters write (with their TTL) and the queues' depths from SQS."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from bench.capacity import item_size
from taskhook.container import container
from taskhook.model.status import TaskStatus
from taskhook.model.usage import Tally
from tests.support.api_client import ApiClient

from .conftest import Provisioned

TEAM = "team-a"


def test_stats_show_counts_finishes_per_minute_and_queue_depths(aws: Provisioned) -> None:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    minute = (now - timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M")
    old = (now - timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M")
    tally = Tally(counts={TEAM: Counter({TaskStatus.PENDING: 2, TaskStatus.FAILED: 1})},
                  finished={(TEAM, minute): Counter({"completed": 3, "failed": 1}),
                            (TEAM, old): Counter({"completed": 7}), ("team-b", minute): Counter({"completed": 5})})
    container().team_stats.add(tally, "token-1")
    sqs = aws.client("sqs")
    sqs.send_message(QueueUrl=aws.env["QUEUE_LOW_URL"], MessageBody="{}")
    sqs.send_message(QueueUrl=aws.env["DLQ_URL"], MessageBody="{}", DelaySeconds=60)

    code, body = ApiClient(TEAM).call("GET", "/v1/stats")

    assert code == 200, body
    assert body["counts"] == {**{s.value: 0 for s in TaskStatus}, "pending": 2, "failed": 1}
    chart = body["finishedPerMinute"]
    assert len(chart) == 60 and chart[-1]["minute"] == now.strftime("%Y-%m-%dT%H:%M:00Z")
    assert [m for m in chart if m["completed"] or m["failed"]] == [
        {"minute": minute + ":00Z", "completed": 3, "failed": 1}]
    assert body["queues"]["low"] == {"visible": 1, "inFlight": 0, "delayed": 0}
    assert body["queues"]["deadLetter"] == {"visible": 0, "inFlight": 0, "delayed": 1}
    assert set(body["queues"]) == {"high", "normal", "low", "deadLetter"}
    item = aws.client("dynamodb").get_item(TableName=aws.env["TEAM_STATS_TABLE"],
                                           Key={"teamId": {"S": TEAM}, "key": {"S": f"min#{minute}"}})["Item"]
    assert item_size(item) < 100  # a transactional write of under 1 KB: 2 WCU per team and stream batch
    expires = datetime.fromtimestamp(int(item["expiresAt"]["N"]), UTC)
    assert expires == datetime.strptime(minute, "%Y-%m-%dT%H:%M").replace(tzinfo=UTC) + timedelta(hours=3)
    ttl = aws.client("dynamodb").describe_time_to_live(TableName=aws.env["TEAM_STATS_TABLE"])
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expiresAt"
    assert ApiClient(TEAM).call("GET", "/v1/stats?x=1") == (400, {"error": "Unknown query parameter: x"})
