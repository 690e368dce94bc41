"""The ConnectionStore contract (live feed subscriptions), run against the in-memory fake and
against the DynamoDB adapter on moto.

The same test body must pass for both: the fake is only worth having if it behaves like the
real adapter.
"""

from __future__ import annotations

from typing import Any

import pytest

from taskhook.container import container
from taskhook.notify.live import Opener, Subscription
from tests.support.fakes import InMemoryConnectionStore

TEAM, OTHER_TEAM = "team-a", "team-b"


@pytest.fixture(params=["memory", "dynamo"])
def connections(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return InMemoryConnectionStore()
    request.getfixturevalue("aws")
    return container().connections


def sub(connection_id: str, topic: str, team: str = TEAM) -> Subscription:
    return Subscription(connection_id, team, topic)


def of_team(connections: Any, team: str) -> list[Subscription]:
    """The team's subscriptions, in a fixed order (the port promises none)."""
    return sorted(connections.subscriptions_of_team(team), key=lambda s: (s.connection_id, s.topic))


def test_a_team_with_no_connection_has_no_subscription(connections: Any) -> None:
    assert connections.subscriptions_of_team(TEAM) == []


def test_add_then_subscriptions_of_team_lists_every_topic_of_every_connection(connections: Any) -> None:
    added = [sub("conn-1", "team#team-a"), sub("conn-1", "task#t-1"), sub("conn-2", "client#key-1"),
             sub("conn-2", "task#t-1")]
    for subscription in added:
        connections.add(subscription)

    assert of_team(connections, TEAM) == sorted(added, key=lambda s: (s.connection_id, s.topic))


def test_subscriptions_of_team_only_lists_that_teams_connections(connections: Any) -> None:
    mine = sub("conn-a", "team#team-a")
    theirs = [sub("conn-b", "team#team-b", OTHER_TEAM), sub("conn-b", "task#t-9", OTHER_TEAM)]
    for subscription in (mine, *theirs):
        connections.add(subscription)

    assert of_team(connections, TEAM) == [mine]
    assert of_team(connections, OTHER_TEAM) == sorted(theirs, key=lambda s: s.topic)
    assert connections.subscriptions_of_team("team-nobody") == []


def test_adding_the_same_connection_and_topic_again_keeps_one_subscription(connections: Any) -> None:
    connections.add(sub("conn-1", "task#t-1"))
    connections.add(sub("conn-1", "task#t-1"))

    assert of_team(connections, TEAM) == [sub("conn-1", "task#t-1")]

    # (connection, topic) is the row's key: adding it under another team moves it there.
    connections.add(sub("conn-1", "task#t-1", OTHER_TEAM))
    assert of_team(connections, TEAM) == []
    assert of_team(connections, OTHER_TEAM) == [sub("conn-1", "task#t-1", OTHER_TEAM)]


def test_team_of_is_the_connections_team(connections: Any) -> None:
    connections.add(sub("conn-1", "team#team-a"))
    connections.add(sub("conn-1", "task#t-1"))
    connections.add(sub("conn-2", "team#team-b", OTHER_TEAM))

    assert connections.team_of("conn-1") == TEAM
    assert connections.team_of("conn-2") == OTHER_TEAM


def test_team_of_an_unknown_connection_is_none(connections: Any) -> None:
    connections.add(sub("conn-1", "team#team-a"))
    assert connections.team_of("conn-nobody") is None


def test_remove_drops_every_topic_of_the_connection_and_nothing_else(connections: Any) -> None:
    for subscription in (sub("conn-1", "team#team-a"), sub("conn-1", "task#t-1"), sub("conn-1", "task#t-2"),
                         sub("conn-2", "task#t-1"), sub("conn-3", "team#team-b", OTHER_TEAM)):
        connections.add(subscription)

    connections.remove("conn-1")

    assert of_team(connections, TEAM) == [sub("conn-2", "task#t-1")]
    assert connections.team_of("conn-1") is None
    assert connections.team_of("conn-2") == TEAM
    assert of_team(connections, OTHER_TEAM) == [sub("conn-3", "team#team-b", OTHER_TEAM)]


def test_remove_of_an_unknown_connection_is_no_error(connections: Any) -> None:
    connections.add(sub("conn-1", "task#t-1"))

    connections.remove("conn-nobody")
    connections.remove("conn-1")
    connections.remove("conn-1")  # removing twice, as $disconnect after a failed push does

    assert connections.subscriptions_of_team(TEAM) == []


def test_a_removed_connection_can_subscribe_again(connections: Any) -> None:
    connections.add(sub("conn-1", "task#t-1"))
    connections.remove("conn-1")

    connections.add(sub("conn-1", "task#t-2"))

    assert of_team(connections, TEAM) == [sub("conn-1", "task#t-2")]
    assert connections.team_of("conn-1") == TEAM


# ---- the credential that opened a connection (revocation, issue 11) -------------------------------

KEY = Opener(TEAM, "key_aaaaaaaaaaaa")
TOKEN = Opener(TEAM, "cli_bbbbbbbbbbbb", client_id="cli_bbbbbbbbbbbb")
THEIR_KEY = Opener(OTHER_TEAM, "key_cccccccccccc")


def test_each_subscription_carries_the_credential_that_opened_its_connection(connections: Any) -> None:
    added = [KEY.subscription("conn-1", "team#team-a"), KEY.subscription("conn-1", "task#t-1"),
             TOKEN.subscription("conn-2", "client#cli_bbbbbbbbbbbb"), TOKEN.subscription("conn-2", "task#t-2")]
    for subscription in added:
        connections.add(subscription)

    assert of_team(connections, TEAM) == sorted(added, key=lambda s: (s.connection_id, s.topic))
    assert connections.opened_by("conn-1") == KEY
    assert connections.opened_by("conn-2") == TOKEN
    assert connections.opened_by("conn-nobody") is None
    assert connections.team_of("conn-2") == TEAM


def test_a_later_subscription_keeps_the_connections_credential(connections: Any) -> None:
    connections.add(KEY.subscription("conn-1", "team#team-a"))
    connections.add(sub("conn-1", "task#t-1"))  # a row that names no credential of its own

    assert {s.opener for s in of_team(connections, TEAM)} == {KEY}


def test_a_connection_with_no_recorded_credential_has_none(connections: Any) -> None:
    connections.add(sub("conn-1", "team#team-a"))

    assert connections.opened_by("conn-1") is None
    assert [s.credential_id for s in of_team(connections, TEAM)] == [""]


def test_opened_with_finds_the_connections_of_one_credential_in_its_team(connections: Any) -> None:
    for subscription in (KEY.subscription("conn-1", "team#team-a"), KEY.subscription("conn-1", "task#t-1"),
                         KEY.subscription("conn-2", "task#t-2"), TOKEN.subscription("conn-3", "task#t-1"),
                         THEIR_KEY.subscription("conn-4", "team#team-b")):
        connections.add(subscription)

    assert sorted(connections.opened_with(TEAM, KEY.credential_id)) == ["conn-1", "conn-2"]
    assert connections.opened_with(TEAM, TOKEN.credential_id) == ["conn-3"]
    assert connections.opened_with(OTHER_TEAM, KEY.credential_id) == []
    assert connections.opened_with(TEAM, "key_nobody") == []
    # A credential id that is a prefix of another's finds only its own.
    assert connections.opened_with(TEAM, "key_aaaaaa") == []


def test_remove_forgets_the_connections_credential_too(connections: Any) -> None:
    connections.add(KEY.subscription("conn-1", "team#team-a"))
    connections.add(KEY.subscription("conn-2", "team#team-a"))

    connections.remove("conn-1")

    assert connections.opened_by("conn-1") is None
    assert connections.opened_with(TEAM, KEY.credential_id) == ["conn-2"]
    assert [s.connection_id for s in of_team(connections, TEAM)] == ["conn-2"]


def test_a_connection_takes_a_bounded_number_of_subscriptions(connections: Any) -> None:
    """Each subscribe message is counted on the connection's opener row: past the limit nothing is
    written (an attacker's 300 messages on one connection wrote 600 rows)."""
    opener = Opener(TEAM, "key_aaaaaaaaaaaa")
    connections.add(opener.subscription("c1", "team#" + TEAM))
    taken = [connections.subscribe(opener.subscription("c1", f"task#{n}"), 3) for n in range(5)]
    assert taken == [True, True, True, False, False]
    assert sorted(s.topic for s in of_team(connections, TEAM)) == ["task#0", "task#1", "task#2", "team#" + TEAM]
    other = Opener(TEAM, "key_aaaaaaaaaaaa")
    connections.add(other.subscription("c2", "team#" + TEAM))
    assert connections.subscribe(other.subscription("c2", "task#9"), 3)  # another connection: its own count


def test_open_count_counts_a_teams_open_connections(connections: Any) -> None:
    for subscription in (KEY.subscription("conn-1", "team#team-a"), KEY.subscription("conn-1", "task#t-1"),
                         TOKEN.subscription("conn-2", "task#t-2"), THEIR_KEY.subscription("conn-3", "team#team-b")):
        connections.add(subscription)

    assert connections.open_count(TEAM, 10) == 2  # connections, not rows
    assert connections.open_count(TEAM, 2) == 2  # at the cap: both written just now, both counted
    assert connections.open_count(OTHER_TEAM, 10) == 1
    connections.remove("conn-1")
    assert connections.open_count(TEAM, 10) == 1
    assert connections.open_count("team-nobody", 10) == 0


def test_at_the_cap_a_connection_whose_disconnect_was_lost_is_forgotten(aws: Any) -> None:
    """API Gateway closes a connection after 2 hours and sends $disconnect best-effort: an opener row
    not written for longer is a closed connection. At the cap it is removed and not counted, so lost
    disconnects cannot lock a team out of the live feed."""
    import time

    from taskhook.adapters.dynamo.connections import CONNECTION_TTL_SECONDS
    from taskhook.model.limits import LONGEST_LIVE_CONNECTION_SECONDS

    connections = container().connections
    for connection in ("conn-old", "conn-new"):
        connections.add(KEY.subscription(connection, "team#team-a"))
    written = time.time() - LONGEST_LIVE_CONNECTION_SECONDS - 60  # the old one: last written 2 h 1 min ago
    aws.client("dynamodb").update_item(
        TableName=aws.env["CONNECTIONS_TABLE"],
        Key={"connectionId": {"S": "conn-old"}, "topic": {"S": f"opener#{KEY.credential_id}#"}},
        UpdateExpression="SET expiresAt = :e",
        ExpressionAttributeValues={":e": {"N": str(int(written) + CONNECTION_TTL_SECONDS)}})

    assert connections.open_count(TEAM, 3) == 2  # under the cap: rows counted as they are, nothing read
    assert connections.team_of("conn-old") == TEAM
    assert connections.open_count(TEAM, 2) == 1
    assert connections.team_of("conn-old") is None  # its rows are gone
    assert connections.opened_by("conn-new") == KEY


def _age(aws: Any, connection: str, opener: Opener, seconds: float) -> None:
    """Make the connection's opener row look last written `seconds` ago."""
    import time

    from taskhook.adapters.dynamo.connections import CONNECTION_TTL_SECONDS

    aws.client("dynamodb").update_item(
        TableName=aws.env["CONNECTIONS_TABLE"],
        Key={"connectionId": {"S": connection}, "topic": {"S": f"opener#{opener.credential_id}#"}},
        UpdateExpression="SET expiresAt = :e",
        ExpressionAttributeValues={":e": {"N": str(int(time.time() - seconds) + CONNECTION_TTL_SECONDS)}})


def test_at_the_cap_rows_are_read_in_batches_and_stale_ones_removed_fifty_at_a_time(aws: Any) -> None:
    from taskhook.model.limits import LONGEST_LIVE_CONNECTION_SECONDS

    connections = container().connections
    names = [f"conn-{n:03}" for n in range(150)]  # two BatchGetItem calls: 100 keys, then 50
    for name in names:
        connections.add(KEY.subscription(name, "team#team-a"))
    for name in names[:120]:
        _age(aws, name, KEY, LONGEST_LIVE_CONNECTION_SECONDS + 60)

    assert connections.open_count(TEAM, 150) == 30
    assert len(connections.opened_with(TEAM, KEY.credential_id)) == 100  # 50 of the 120 stale removed
    assert connections.open_count(TEAM, 100) == 30  # the cap found among the 100 left: read again
    assert len(connections.opened_with(TEAM, KEY.credential_id)) == 50
    assert connections.open_count(TEAM, 50) == 30
    assert sorted(connections.opened_with(TEAM, KEY.credential_id)) == names[120:]


class UnprocessedTwice:
    """A DynamoDB client whose BatchGetItem leaves the keys it names unprocessed every time, and
    the others unprocessed on the first try only."""

    def __init__(self, client: Any, never: set[str]) -> None:
        self._client, self._never, self.calls = client, never, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls += 1
        ((table, request),) = RequestItems.items()
        keys = request["Keys"]
        left = keys if self.calls == 1 else [k for k in keys if k["connectionId"]["S"] in self._never]
        read = [k for k in keys if k not in left]
        answer = self._client.batch_get_item(RequestItems={table: {**request, "Keys": read}}) if read else {}
        return {"Responses": answer.get("Responses", {table: []}),
                "UnprocessedKeys": {table: {"Keys": left}} if left else {}}


def test_rows_the_table_leaves_unprocessed_are_tried_again_and_then_counted_as_open(aws: Any) -> None:
    from taskhook.adapters.dynamo.connections import DynamoConnectionStore
    from taskhook.model.limits import LONGEST_LIVE_CONNECTION_SECONDS

    for name in ("conn-a", "conn-b", "conn-c"):
        container().connections.add(KEY.subscription(name, "team#team-a"))
        _age(aws, name, KEY, LONGEST_LIVE_CONNECTION_SECONDS + 60)  # all three stale
    client = UnprocessedTwice(aws.client("dynamodb"), never={"conn-c"})
    store = DynamoConnectionStore(client, aws.env["CONNECTIONS_TABLE"])

    assert store.open_count(TEAM, 3) == 1  # conn-c never read: counted as open, not removed
    assert client.calls == 3  # the first try, then two more
    assert container().connections.opened_with(TEAM, KEY.credential_id) == ["conn-c"]
