"""Taskhook's Chalice app: every Lambda entry point, declared once. Nothing else lives here.

Queue names follow template.yaml (`<prefix>-high`, …); the stream ARN is only known once the
table exists, so `chalice deploy` reads it from TASKS_STREAM_ARN.

Every Lambda function's handler is `app.<name>` (both deploy paths), so every cold start imports this
module: it imports Chalice and the routes' blueprints only (their modules import their domain code
when a route first runs), and each event source's function imports its own handler module on its
first event. A function imports only what its work needs (bench/cold_start.py measures it;
tests/unit/test_cold_start_imports.py keeps it so).
"""

import os

from chalice import Chalice, Rate

from functions.admin import admin
from functions.api import api
from functions.callbacks import callbacks
from functions.dashboard import dashboard
from functions.default_route import unrouted_requests
from functions.docs import docs
from functions.function_tasks import function_tasks
from functions.live_tickets import live_tickets
from functions.responses import uniform_errors
from functions.vault import vault
from functions.webhook_secrets import webhook_secrets

PREFIX = os.environ.get("TASKHOOK_PREFIX", "taskhook")
TASKS_STREAM_ARN = os.environ.get(
    "TASKS_STREAM_ARN", f"arn:aws:dynamodb:us-east-1:000000000000:table/{PREFIX}-tasks/stream/set-TASKS_STREAM_ARN"
)

app = Chalice(app_name="taskhook")
app.register_blueprint(api)
app.register_blueprint(admin)
app.register_blueprint(callbacks)
app.register_blueprint(dashboard)
app.register_blueprint(docs)
app.register_blueprint(function_tasks)
app.register_blueprint(live_tickets)
app.register_blueprint(webhook_secrets)
app.register_blueprint(vault)
app.register_middleware(uniform_errors, "http")  # Chalice's own 405/415/500 answer {"error": …} too
app.register_middleware(unrouted_requests, "http")  # the HTTP API's $default route: 404, as REST's gateway
app.experimental_feature_flags.update(["WEBSOCKETS"])


# Three lanes, one executor each: a larger concurrency for the higher lane is how AWS drains it first.
@app.on_sqs_message(queue=f"{PREFIX}-high", batch_size=10, maximum_concurrency=50)
def execute_high(event):
    from functions import executor

    return executor.handle(event.to_dict(), event.context)


@app.on_sqs_message(queue=f"{PREFIX}-normal", batch_size=10, maximum_concurrency=20)
def execute_normal(event):
    from functions import executor

    return executor.handle(event.to_dict(), event.context)


@app.on_sqs_message(queue=f"{PREFIX}-low", batch_size=10, maximum_concurrency=5)
def execute_low(event):
    from functions import executor

    return executor.handle(event.to_dict(), event.context)


@app.on_sqs_message(queue=f"{PREFIX}-dlq", batch_size=10)
def on_dead_letter(event):
    from functions import dead_letter

    return dead_letter.handle(event.to_dict(), event.context)


@app.on_dynamodb_record(stream_arn=TASKS_STREAM_ARN, batch_size=100, starting_position="TRIM_HORIZON")
def on_task_change(event):
    from functions import dispatcher

    return dispatcher.handle(event.to_dict(), event.context)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def sweep(event):
    from functions import sweeper

    return sweeper.handle(event.to_dict(), event.context)


# Notifications: their own FIFO queue, one message per delivery attempt series.
@app.on_sqs_message(queue=f"{PREFIX}-notifications.fifo", batch_size=1, maximum_concurrency=20)
def deliver_notifications(event):
    from functions import deliverer

    return deliverer.handle(event.to_dict(), event.context)


# Live monitoring (WebSocket API).
@app.on_ws_connect()
def ws_connect(event):
    from functions import live

    return live.connect(event.to_dict())


@app.on_ws_message()
def ws_message(event):
    from functions import live

    return live.message(event.to_dict())


@app.on_ws_disconnect()
def ws_disconnect(event):
    from functions import live

    return live.disconnect(event.to_dict())
