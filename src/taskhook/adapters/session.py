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
_session: Any = None


def shared_session() -> Any:
    """The process's botocore session; on the first call PynamoDB and boto3 are set to use it."""
    global _session
    if _session is None:
        with _lock:
            if _session is None:
                import boto3
                import botocore.session
                from pynamodb.connection import base

                session = botocore.session.get_session()
                boto3.setup_default_session(botocore_session=session)
                setattr(base, "get_session", lambda: session)  # noqa: B010 - PynamoDB calls it per connection
                _session = session
    return _session
