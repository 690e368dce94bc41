"""The provider templates: `provider: "replicate"` or `"fal"` stands for a whole pollConfig, filled
in from the providers' documented async APIs. No provider host appears here: the submit goes to
the task's targetUrl, and every later call uses a URL the submit answer returned (Replicate
`urls.get` / `urls.cancel`, fal `status_url` / `response_url` / `cancel_url`). A task's own
pollConfig fields override the template's (model/polling.py `PollSpec.of`)."""

from __future__ import annotations

from typing import Any

TEMPLATES: dict[str, dict[str, Any]] = {
    # https://replicate.com/docs/topics/predictions/lifecycle: starting / processing pending.
    "replicate": {
        "urlTemplate": "{{urls.get}}",
        "statusPath": "status",
        "doneValues": ["succeeded"],
        "failValues": ["failed", "canceled", "aborted"],
        "errorPath": "error",
        "outputPath": "output",
        "cancelUrlTemplate": "{{urls.cancel}}",
        "cancelMethod": "POST",
    },
    # https://docs.fal.ai/model-apis/model-endpoints/queue: IN_QUEUE / IN_PROGRESS pending; a
    # failure shows only as a non-2xx answer from response_url. Outputs: file objects anywhere.
    "fal": {
        "urlTemplate": "{{status_url}}",
        "statusPath": "status",
        "doneValues": ["COMPLETED"],
        "failValues": [],
        "resultUrlTemplate": "{{response_url}}",
        "cancelUrlTemplate": "{{cancel_url}}",
        "cancelMethod": "PUT",
    },
}

PROVIDERS = tuple(sorted(TEMPLATES))
