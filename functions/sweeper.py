"""Sweep Lambda (EventBridge rate(1 minute); logical id SchedulerFunction, handler app.sweep): sends
delayed tasks that come due within the next window with their exact remaining delay, repairs lost
ones, and times out tasks past maxWaitTime."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from taskhook.container import container

logger = Logger(service="taskhook-sweeper")


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    report = container().scheduler.sweep().as_dict()
    logger.info("sweep", extra=report)
    return report
