"""Every limit Taskhook enforces or lives within, in one place: the API's documented ranges (seed
002's and ours) and the AWS ceilings the design rests on. The modules that enforce a limit import
it from here; the README and the OpenAPI document state the same numbers."""

from __future__ import annotations

# ---- the v1 API's ranges (errors name them: "maxRetries must be a number between 0 and 10") ----
MAX_BODY_BYTES = 256 * 1024  # a request body; larger is 413
MAX_URL_LENGTH = 2048  # targetUrl, onCompleteUrl, callback_url
MAX_WAIT_TIME_LIMIT = 86_400  # maxWaitTime, seconds
TIMEOUT_LIMIT = 300  # timeout of one attempt, seconds
MAX_RETRIES_LIMIT = 10
PRIORITY_MIN, PRIORITY_MAX = 1, 10
MAX_LONG_POLL_SECONDS = 25  # GET /v1/tasks/{id}?wait=
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 100  # GET /v1/tasks?limit=
MAX_IDEMPOTENCY_KEY = 255  # characters of an Idempotency-Key header
MAX_CLIENT_NAME = 64  # a client token's client name
MAX_DELAY_DAYS = 30  # delayUntil at most this far ahead (Cloud Tasks' ceiling; QStash's is 7 days)
MAX_DELAY_SECONDS = MAX_DELAY_DAYS * 24 * 3600
MAX_TOKENS_PER_TEAM = 100  # Token Vault tokens one team may store
MAX_TOKEN_VALUE_BYTES = 4096  # a vault token's value (UTF-8): KMS Encrypt takes at most 4096 bytes
MAX_TOKEN_NAME = 64  # a vault token's name

# ---- what Taskhook keeps and reads ---------------------------------------------------------
INLINE_BODY_LIMIT = 64 * 1024  # a target's answer above this goes to S3 (the row stays under 400 KB)
INLINE_RESULT_LIMIT = 64 * 1024  # a function's result above this is stored as its output result.json
MAX_RESPONSE_BYTES = 10 * 1024 * 1024  # read no more of a target's answer than this
MAX_MESSAGE_LENGTH = 1000  # a function task's progress message
MAX_ERROR_LENGTH = 1000  # a function task's error text
MAX_FILENAME = 128  # an output file's name

# ---- AWS ceilings -----------------------------------------------------------------------------
SQS_MAX_DELAY = 900  # SQS's longest DelaySeconds: also the retry backoff's ceiling
SQS_MAX_VISIBILITY = 12 * 3600  # SQS's longest visibility timeout
LAMBDA_MAX_TIMEOUT = 900  # a function task's timeout (each attempt is also cut to the invocation's time)
MAX_DOWNLOAD_URL_TTL = 7 * 24 * 3600  # SigV4 presigned URLs live at most a week
