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
# GET /v1/tasks?offset=: an offset reads and skips what comes before it (index keys, 1,000 a page; with
# an open status, the rows themselves); further than this, `cursor` goes on from the last page
# without reading what came before.
MAX_OFFSET = 100_000
MAX_IDEMPOTENCY_KEY = 255  # characters of an Idempotency-Key header
MAX_CLIENT_NAME = 64  # a client token's client name
MAX_DELAY_DAYS = 30  # delayUntil at most this far ahead (Cloud Tasks' ceiling; QStash's is 7 days)
MAX_DELAY_SECONDS = MAX_DELAY_DAYS * 24 * 3600
MAX_TOKENS_PER_TEAM = 100  # Token Vault tokens one team may store
# Live-feed WebSocket connections one team may hold open at once: the stream's dispatcher reads all
# of a team's connection rows for every batch of its changes, so they must stay bounded.
MAX_LIVE_CONNECTIONS_PER_TEAM = 1000
# API Gateway closes a WebSocket connection after 2 hours: a connection row untouched for longer is
# one whose $disconnect never came (API Gateway sends it best-effort).
LONGEST_LIVE_CONNECTION_SECONDS = 2 * 3600
MAX_TOKEN_VALUE_BYTES = 4096  # a vault token's value (UTF-8): KMS Encrypt takes at most 4096 bytes
MAX_TOKEN_NAME = 64  # a vault token's name
MAX_TOKEN_HOSTS = 20  # the hosts a vault token may be bound to
MAX_HOST_LENGTH = 253  # a DNS name (model/urls.py canonical_host)
# pollConfig (model/polling.py): the first poll comes intervalSeconds after the submit's answer, each
# next one intervalGrowth times later, at most maxIntervalSeconds apart (an SQS delay: at most 900).
POLL_INTERVAL_DEFAULT, POLL_INTERVAL_MIN, POLL_INTERVAL_MAX = 5, 1, 300
POLL_GROWTH_DEFAULT, POLL_GROWTH_MIN, POLL_GROWTH_MAX = 1.5, 1, 4
POLL_MAX_INTERVAL_DEFAULT, POLL_MAX_INTERVAL_MIN, POLL_MAX_INTERVAL_MAX = 60, 1, 900
POLL_TIMEOUT = 30  # one status / result / cancel call: at most this (and at most the task's timeout)
PROVIDER_MAX_WAIT_TIME = 3600  # maxWaitTime of a polling task whose client gave none

# ---- what Taskhook keeps and reads ---------------------------------------------------------
INLINE_BODY_LIMIT = 64 * 1024  # a target's answer above this goes to S3 (the row stays under 400 KB)
INLINE_RESULT_LIMIT = 64 * 1024  # a function's result above this is stored as its output result.json
# A result or provider answer nested deeper than this is refused (model/json_depth.py): a task
# holding one could not be serialized again, and every read of it would fail.
MAX_JSON_DEPTH = 100
MAX_RESPONSE_BYTES = 10 * 1024 * 1024  # read no more of a target's answer than this
MAX_MESSAGE_LENGTH = 1000  # a function task's progress message
MAX_ERROR_LENGTH = 1000  # a function task's error text
MAX_FILENAME = 128  # an output file's name
# A provider task's output files, copied into S3 when it completes (run/provider_outputs.py): each
# is streamed to /tmp and stored only if it ends within the cap (Lambda's /tmp is 512 MB); at most
# this many per task; each download gets this long and follows at most this many redirects.
MAX_OUTPUT_FILE_BYTES = 100 * 1024 * 1024
MAX_OUTPUT_FILES = 20
OUTPUT_DOWNLOAD_TIMEOUT = 120  # seconds per file (also cut to what the invocation has left)
MAX_OUTPUT_REDIRECTS = 5
# Of Lambda's 512 MB /tmp: the files one process downloads at once (an executor runs its batch's
# records in threads) fit in this, so at most OUTPUT_SCRATCH_BYTES // MAX_OUTPUT_FILE_BYTES at a time.
OUTPUT_SCRATCH_BYTES = 400 * 1024 * 1024

# ---- AWS ceilings -----------------------------------------------------------------------------
SQS_MAX_DELAY = 900  # SQS's longest DelaySeconds: also the retry backoff's ceiling
SQS_MAX_VISIBILITY = 12 * 3600  # SQS's longest visibility timeout
LAMBDA_MAX_TIMEOUT = 900  # a function task's timeout (each attempt is also cut to the invocation's time)
MAX_DOWNLOAD_URL_TTL = 7 * 24 * 3600  # SigV4 presigned URLs live at most a week
