"""One botocore session per process, for boto3's clients and for PynamoDB's.

PynamoDB makes a botocore session of its own for each table connection (and thread), and every
new session reads botocore's endpoint data and the DynamoDB service model again. A create call's
first request (two tables, plus boto3's SQS client) built three sessions: the JSON parsing alone
was a third of its cold start (bench/cold_start.py). Sharing this one, each file is read once per
process. boto3's default session (`boto3.client`) is built on it too."""

from __future__ import annotations

import threading
from typing import Any

_lock = threading.Lock()
_creating = threading.Lock()
_session: Any = None  # botocore.session.Session
_boto3_session: Any = None  # boto3.session.Session on _session


def shared_session() -> Any:
    """The process's botocore session. PynamoDB's connections use it, and boto3's default session is
    the one built on it (set again if something replaced it: moto's mock resets it)."""
    global _session, _boto3_session
    import boto3

    if _session is None:
        with _lock:
            if _session is None:
                import botocore.session
                from pynamodb.connection import base

                session = botocore.session.get_session()
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
