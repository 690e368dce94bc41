"""adapters/session.py: boto3's clients and PynamoDB's table connections share one botocore session,
so a cold start reads botocore's endpoint data and each service model once."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.loaders
import pytest

from taskhook.adapters.session import shared_session
from taskhook.container import container, reset_container
from tests.functional.conftest import Provisioned


def test_the_table_models_and_the_clients_use_the_process_session(aws: Provisioned) -> None:
    session = shared_session()
    models = [container().task_model, container().api_key_model]
    assert {m._get_connection().connection.session for m in models} == {session}
    boto3.DEFAULT_SESSION = None  # as moto's mock leaves it
    container().client("sqs")
    assert boto3.DEFAULT_SESSION is not None
    assert boto3.DEFAULT_SESSION._session is session


def test_every_aws_call_sends_taskhook_s_user_agent(aws: Provisioned) -> None:
    """botocore builds its User-Agent for every request from some fifteen parts (0.1 ms of CPU a
    call); the shared session's clients send one fixed string instead, PynamoDB's included."""
    from taskhook.adapters.session import aws_user_agent

    sent: list[str] = []

    def record(request: Any, **_: Any) -> None:
        sent.append(request.headers["User-Agent"].decode() if isinstance(request.headers["User-Agent"], bytes)
                    else request.headers["User-Agent"])

    reset_container()
    table = container().task_model._get_connection().connection.client
    sqs = container().client("sqs")
    for client in (table, sqs):
        client.meta.events.register("before-send", record)
    assert container().task_model.count() == 0
    sqs.list_queues()
    assert len(sent) == 2 and sent[0] == sent[1]
    assert sent[0].startswith(aws_user_agent() + " ") and aws_user_agent().startswith("Taskhook/1.0 Python/3.")
    assert "ua/2.1" not in sent[0]  # botocore's own form: "Boto3/… md/… ua/2.1 os/… lang/python#…"


def test_building_more_table_connections_reads_no_botocore_data_again(aws: Provisioned,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def connect() -> None:
        for model in (container().task_model, container().api_key_model):
            assert model._get_connection().connection.client is not None
        container().client("sqs")

    connect()  # whatever this process had not read yet
    read: list[str] = []
    original = botocore.loaders.JSONFileLoader.load_file

    def counted(self: Any, file_path: str) -> Any:
        read.append(file_path)
        return original(self, file_path)

    monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", counted)
    reset_container()  # a new composition root: new model classes, new connections
    connect()
    assert read == []  # each built a session of its own before: endpoints and the DynamoDB model again


def test_clients_of_the_shared_session_are_made_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # A session builds its parts on first use, and two threads' first clients at once can race there
    # (botocore's ComponentLocator); PynamoDB kept a session per thread for that reason. A review
    # asked for this once PynamoDB's connections and the container's clients shared one session.
    import threading
    import time

    import botocore.session
    from pynamodb.connection import base

    from taskhook.adapters import session as session_module

    for owner, name in [(session_module, "_session"), (session_module, "_boto3_session"), (base, "get_session"),
                        (boto3, "DEFAULT_SESSION")]:
        monkeypatch.setattr(owner, name, getattr(owner, name))  # put back after the test
    monkeypatch.setattr(session_module, "_session", None)
    inside, most = [0], [0]
    original = botocore.session.Session.create_client

    def watched(self: Any, *args: Any, **kwargs: Any) -> Any:
        inside[0] += 1
        most[0] = max(most[0], inside[0])
        time.sleep(0.05)
        try:
            return original(self, *args, **kwargs)
        finally:
            inside[0] -= 1

    monkeypatch.setattr(botocore.session.Session, "create_client", watched)
    session = shared_session()
    threads = [threading.Thread(target=session.create_client, args=("sqs",),
                                kwargs={"region_name": "us-east-1", "aws_access_key_id": "a",
                                        "aws_secret_access_key": "b"}) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert most[0] == 1
