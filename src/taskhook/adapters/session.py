"""One botocore session per process, for boto3's clients and for PynamoDB's.

PynamoDB makes a botocore session of its own for each table connection (and thread), and every
new session reads botocore's endpoint data and the DynamoDB service model again. A create call's
first request (two tables, plus boto3's SQS client) built three sessions: the JSON parsing alone
was a third of its cold start (bench/cold_start.py). Sharing this one, each file is read once per
process. boto3's default session (`boto3.client`) is built on it too.

Its clients name themselves with one fixed User-Agent (`aws_user_agent()`). botocore's own is built
for every request, twice (once more after the request is made), from some fifteen parts each
cleaned with a regular expression: 0.1 ms of CPU a call, 15 % of a GetItem's cost to the client
(measured on the local emulator), and 8 % of the API's CPU in a burst."""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_creating = threading.Lock()
_session: Any = None  # botocore.session.Session
_boto3_session: Any = None  # boto3.session.Session on _session


def aws_user_agent() -> str:
    """How Taskhook's AWS calls begin their User-Agent (CloudTrail's userAgent shows it); boto3's
    session adds botocore's version after it."""
    import platform

    return f"Taskhook/1.0 Python/{platform.python_version()}"


def shared_session() -> Any:
    """The process's botocore session. PynamoDB's connections use it, and boto3's default session is
    the one built on it (set again if something replaced it: moto's mock resets it)."""
    global _session, _boto3_session
    import boto3

    if _session is None:
        with _lock:
            if _session is None:
                import botocore.session
                from botocore.config import Config
                from pynamodb.connection import base

                session = botocore.session.get_session()
                # Every client's config is merged onto this one (PynamoDB's and the container's alike).
                session.set_default_client_config(Config(user_agent=aws_user_agent()))
                # One client made at a time: a session builds its parts (credential provider, endpoint
                # resolver, ...) on first use, and two threads' first clients at once can race there
                # (PynamoDB keeps a session per thread for that reason). The local stack's API and
                # runner build clients on many threads; Lambda on one.
                create = session.create_client

                def create_client(*args: Any, **kwargs: Any) -> Any:
                    with _creating:
                        return create(*args, **kwargs)

                session.create_client = create_client
                setattr(base, "get_session", lambda: session)  # noqa: B010 - PynamoDB calls it per connection
                _boto3_session = boto3.session.Session(botocore_session=session)
                _session = session
    if boto3.DEFAULT_SESSION is not _boto3_session:
        boto3.DEFAULT_SESSION = _boto3_session
    return _session
