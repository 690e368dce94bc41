"""Functional tests: the real adapters (boto3, PynamoDB, Powertools) against moto, in-process.

Every test that asks for `aws` gets a fresh moto account in which `infra.provision` has created
every table, queue and bucket of template.yaml, and the process environment the functions would
see on AWS (template.yaml's Globals.Function.Environment, resolved). The account is provisioned
once per process and kept; each test gets a deep copy of it (`_Provisioned`).
"""

from __future__ import annotations

import copy
import copyreg
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.backends import get_backend

from infra.provision import PROVISIONED_TYPES, Provisioner
from infra.template import load_template
from taskhook.container import reset_container
from tests.support.targets import TargetServer

REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
# Anything that could point boto3 or PynamoDB somewhere other than moto's in-process mock.
UNSET = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_S3",
         "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "TASKHOOK_STATE_DIR")


@dataclass
class Provisioned:
    """What the fixture provisioned: the functions' environment and a boto3 client factory."""

    env: dict[str, str]

    @staticmethod
    def client(service: str) -> Any:
        return boto3.client(service, region_name=REGION)


def template_env_names() -> list[str]:
    return list(load_template()["Globals"]["Function"]["Environment"]["Variables"])


_CLIENTS: dict[tuple[str, tuple[tuple[str, Any], ...]], Any] = {}
_make_client = boto3.client


def _reused_client(service: str, **kwargs: Any) -> Any:
    """boto3.client, built once per (service, arguments) for the whole run. Building a client
    costs more than provisioning every resource in moto; moto intercepts a reused client the same
    way (its hook is registered on every botocore session), and the credentials never change."""
    key = (service, tuple(sorted(kwargs.items())))
    if key not in _CLIENTS:
        _CLIENTS[key] = _make_client(service, **kwargs)
    return _CLIENTS[key]


# Provisioning a fresh account makes some fifty calls to moto (200 ms of CPU a test, the largest part of
# the functional suite's time); restoring the saved one takes 2-3 ms. moto's queues hold locks and
# conditions: a copy gets new ones, never waited on (a condition's bound methods would otherwise keep
# the old lock: deepcopy leaves built-in methods as they are). Only while copying: pickling a lock
# elsewhere in the process must still fail as it does (infra/emulator.py relies on it).
_NEW_ON_COPY = (type(threading.Lock()), type(threading.RLock()), threading.Condition, threading.Event,
                threading.Semaphore)


def _copied(state: Any) -> Any:
    saved = {kind: copyreg.dispatch_table.get(kind) for kind in _NEW_ON_COPY}
    try:
        for kind in _NEW_ON_COPY:
            copyreg.dispatch_table[kind] = lambda _held, _new=kind: (_new, ())
        return copy.deepcopy(state)
    finally:
        for kind, reducer in saved.items():
            if reducer is None:
                copyreg.dispatch_table.pop(kind, None)
            else:
                copyreg.dispatch_table[kind] = reducer


_SERVICE_OF = {"AWS::DynamoDB::Table": "dynamodb", "AWS::SQS::Queue": "sqs", "AWS::S3::Bucket": "s3",
               "AWS::KMS::Key": "kms", "AWS::KMS::Alias": "kms"}


class _Provisioned:
    """The backends of the services `infra.provision` creates resources in (PROVISIONED_TYPES), as
    they were right after provisioning: saved once, and copied into each test's freshly made
    backends (a new mock_aws() builds new ones). Nothing saved refers to a backend object."""

    SERVICES = tuple(sorted({_SERVICE_OF[kind] for kind in PROVISIONED_TYPES}))  # a new type: a KeyError here

    def __init__(self) -> None:
        self.env: dict[str, str] | None = None
        self._states: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._bucket_accounts: dict[str, Any] = {}

    def _backends(self) -> Iterator[tuple[tuple[str, str, str], Any]]:
        for service in self.SERVICES:
            for account, regions in get_backend(service).items():  # type: ignore[call-overload]
                for region, backend in regions.items():
                    yield (service, account, region), backend

    def provision(self) -> dict[str, str]:
        if self.env is not None:
            for (service, account, region), state in self._states.items():
                backend = get_backend(service)[account][region]  # type: ignore[call-overload]
                backend.__dict__.clear()
                backend.__dict__.update(_copied(state))
            get_backend("s3").bucket_accounts.update(_copied(self._bucket_accounts))  # type: ignore[call-overload]
            return dict(self.env)
        env = Provisioner(None, REGION).provision()
        self._states = {key: _copied(backend.__dict__) for key, backend in self._backends()}
        self._bucket_accounts = _copied(get_backend("s3").bucket_accounts)  # type: ignore[call-overload]
        self.env = env
        return dict(env)


_provisioned = _Provisioned()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provisioned]:
    for name in (*UNSET, *template_env_names()):
        monkeypatch.delenv(name, raising=False)
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(boto3, "client", _reused_client)
    with mock_aws():
        env = _provisioned.provision()
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        reset_container()
        try:
            yield Provisioned(env=env)
        finally:
            # Nothing built against this moto account may leak into the next test.
            reset_container()


@pytest.fixture
def counted_from_rows(aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> None:
    """The list's `pagination.total` counted from the rows (tests/support/index_counts.py) instead of
    the TeamStats counters: those are kept by the tasks stream, which these tests do not run, so they
    stay at 0 here. For the tests of the list's own semantics; the counters' tests are
    test_team_stats.py and the end-to-end ones, where the stream runs."""
    from taskhook.container import Container, container
    from tests.support.index_counts import IndexCounts

    monkeypatch.setattr(Container, "task_counts",
                        property(lambda self: IndexCounts(self.task_model, self.task_repository.pages)))
    reset_container()
    assert isinstance(container().task_counts, IndexCounts)


@pytest.fixture
def atomic_dynamo_writes(aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB applies the writes to one item one at a time, each checking its condition against
    the item as the one before left it; moto checks and writes without a lock, so two threads can
    both pass one condition. Here moto's writes run one at a time, as the local stack's emulator
    runs them (infra/emulator.py AtomicDynamoWrites): what is left to race is the code under test.
    Its reads too: a read that iterates a table while a write changes it fails in moto ("dictionary
    changed size during iteration"), which DynamoDB never does."""
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("update_item", "put_item", "delete_item", "transact_write_items", "get_item", "query", "scan",
                 "batch_get_item"):
        original = getattr(DynamoDBBackend, name)

        def one_at_a_time(self: DynamoDBBackend, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, one_at_a_time)


@pytest.fixture
def target(aws: Provisioned, monkeypatch: pytest.MonkeyPatch) -> Iterator[TargetServer]:
    """The customer's server on loopback, which the outbound policy must be told to allow."""
    monkeypatch.setenv("TASKHOOK_OUTBOUND_ALLOW", "127.0.0.1")
    reset_container()
    with TargetServer() as server:
        yield server
