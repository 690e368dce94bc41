"""A fake Replicate, a fake fal and a plain status API on 127.0.0.1: the AI providers of the tests,
the benchmark and docs/providers.md. Nothing here talks to a real provider.

    python -m infra.fake_provider --port 9912        # alone, until Ctrl-C (prints its URLs)

    with FakeProviders() as fake:                    # in a test (a thread of the test process)
        fake.replicate_url          # POST here: {"version": "…", "input": {"polls": 2, "outputs": 1}}
        fake.fal_url("fal-ai/flux/dev")   # POST here: {"prompt": "…", "polls": 2}
        fake.plain_url              # POST here: {"polls": 2}  (a plain status API for a custom pollConfig)
        fake.requests(job_id)       # every request about that job: method, path, headers, origin

What each one answers follows the providers' public documentation:

Replicate (`/replicate/v1/…`, as `https://api.replicate.com/v1/…`):
  POST /v1/predictions (or /v1/models/{owner}/{name}/predictions) -> 201, the prediction
    {"id", "model", "version", "input", "status": "starting", "output": null, "error": null, "logs",
     "created_at", "started_at", "completed_at", "urls": {"get", "cancel", "web"}, "metrics"}
  GET  urls.get -> 200, the prediction: "starting", then "processing", then "succeeded" (output: a
    list of file URLs, or one URL) or "failed" (error: the message); "canceled" once cancelled
  POST urls.cancel -> 200, the prediction, status "canceled"
  A bad submit (input {"submitStatus": 422}) -> 422 {"title", "detail", "status"} and no prediction.

fal (`/fal/{model_id}`, as `https://queue.fal.run/{model_id}`):
  POST /{model_id}[/{subpath}] -> 200 {"request_id", "status": "IN_QUEUE", "queue_position",
    "response_url", "status_url", "cancel_url"} (the URLs name the app without its subpath)
  GET  status_url -> 202 {"status": "IN_QUEUE" | "IN_PROGRESS", …} while pending, then
    200 {"status": "COMPLETED", "response_url", "logs", "metrics"}
  GET  response_url -> 200 the result, e.g. {"images": [{"url", "content_type", "file_name",
    "file_size", "width", "height"}], "seed", "prompt"}; a failed job answers 422 {"detail": [{"loc",
    "msg", "type"}]} here (the status still says COMPLETED: fal shows failure only here)
  PUT  cancel_url -> 202 {"status": "CANCELLATION_REQUESTED"} (200 ALREADY_COMPLETED when done)

Plain (`/plain/jobs`): POST -> 202 {"job": {"id", "state": "queued"}}; GET /plain/jobs/{id} ->
  {"job": {"id", "state": "queued" | "running" | "done" | "error", "message", "result": {"files": [url]}}};
  DELETE /plain/jobs/{id} cancels.

Behaviour by the submitted input (Replicate: the body's "input"; fal and plain: the body itself):
  polls: N        status reads that answer pending before the job is done (default 2; -1: never done)
  fail: "msg"     the job fails with this message (Replicate error, fal 422 detail, plain message)
  outputs: k      k output files (default 1 for Replicate and fal, 0 for plain); "single": true makes
                  Replicate's output one URL instead of a list
  statusErrors: [503, 429, "html", …]  the first status reads answer these (a flaky provider;
                              "html": a 200 that is not JSON); retryAfter: n adds Retry-After: n
  submitStatus: 4xx           the submit is refused: no job
  keepOutputs: true           keep the files (by default a file is deleted once the job was read
                              done and the file was downloaded once, as a provider's retention
                              would: the copy must outlive it)
  bytes: n                    each output file's size (default 1024)
  single: true                Replicate's output is one URL, not a list
  nested: true                fal's result names its file as {"video": {url, content_type, …}}
  endStatus: "canceled"       Replicate ends canceled (or "aborted") on its own side, error null
  logBytes: n                 Replicate's final logs are n bytes (a large final JSON)
  fileRedirect: true | "url"  file URLs answer 302 to the file (or to this URL)
  idPrefix: "run 1/"          (plain) the job id starts with this: a placeholder inside a URL
                              template must be percent-encoded

Output files are served from `files_base` (default http://localhost:<port>, another origin than
the API's http://127.0.0.1:<port>, as replicate.delivery or fal.media are): the task's headers must
not reach them. Every request is recorded (origin, method, path, headers, body) for assertions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote

DEFAULT_POLLS = 2
DEFAULT_BYTES = 1024
FAL_PENDING = ("IN_QUEUE", "IN_PROGRESS")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class Request:
    at: float  # time.time() when it arrived
    origin: str  # scheme://host:port as the client addressed it (its Host header)
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    job: str | None = None  # the job it was about (set once answered)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class Job:
    kind: str  # replicate | fal | plain
    id: str
    options: dict[str, Any]
    submitted: dict[str, Any]
    model: str = ""
    reads: int = 0  # status reads so far (scripted error answers not counted)
    errors_served: int = 0
    cancelled: bool = False
    cancel_calls: int = 0
    read_done: bool = False
    files: list[str] = field(default_factory=list)  # file names of this job
    created: float = field(default_factory=time.time)

    @property
    def polls(self) -> int:
        value = self.options.get("polls", DEFAULT_POLLS)
        return int(value) if isinstance(value, int) else DEFAULT_POLLS

    def done(self) -> bool:
        return not self.cancelled and self.polls >= 0 and self.reads > self.polls

    @property
    def failure(self) -> str | None:
        value = self.options.get("fail")
        return None if value is None else str(value)


def _options(body: Any, wrapped: bool) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {}
    inner = body.get("input") if wrapped else body
    if wrapped and not isinstance(inner, dict):
        inner = body
    return dict(inner) if isinstance(inner, dict) else {}


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment % 1 * 1e6):06d}Z"


class FakeProviders:
    """One ThreadingHTTPServer serving the fake Replicate, fal and plain status API."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", api_base: str | None = None,
                 files_base: str | None = None) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._files: dict[str, tuple[str, bytes, str]] = {}  # name -> (job id, bytes, content type)
        self._downloaded: set[str] = set()
        self._file_owner: dict[str, str] = {}  # every file name ever made -> its job (kept after deletion)
        self._requests: list[Request] = []
        self._arrived = threading.Condition()
        self._local = threading.local()  # the job the request being answered is about
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            server_version = "fake-provider/1"

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                origin = f"http://{self.headers.get('host', '')}"
                request = Request(time.time(), origin, self.command, self.path, dict(self.headers), body)
                fake._local.job = None
                status, headers, payload = fake._answer(self.command, self.path.split("?", 1)[0], body)
                request.job = fake._local.job
                fake._record(request)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.api_base = (api_base or f"http://{host}:{self.port}").rstrip("/")
        self.files_base = (files_base or f"http://localhost:{self.port}").rstrip("/")
        self._thread: threading.Thread | None = None
        self.echo = False  # print one line per request (the command line does)

    # ---- the URLs a client submits to -------------------------------------------------------------

    @property
    def replicate_base(self) -> str:
        """Where `https://api.replicate.com` would be."""
        return f"{self.api_base}/replicate"

    @property
    def replicate_url(self) -> str:
        return f"{self.replicate_base}/v1/predictions"

    @property
    def fal_base(self) -> str:
        """Where `https://queue.fal.run` would be."""
        return f"{self.api_base}/fal"

    def fal_url(self, model: str = "fal-ai/flux/dev") -> str:
        return f"{self.fal_base}/{model.strip('/')}"

    @property
    def plain_url(self) -> str:
        return f"{self.api_base}/plain/jobs"

    def plain_poll_config(self, **overrides: Any) -> dict[str, Any]:
        """A custom pollConfig for the plain status API (placeholder inside a larger template)."""
        return {"urlTemplate": self.api_base + "/plain/jobs/{{job.id}}", "statusPath": "job.state",
                "doneValues": ["done"], "failValues": ["error"], "errorPath": "job.message",
                "outputPath": "job.result.files", **overrides}

    # ---- what a test reads -------------------------------------------------------------------------

    def requests(self, job_id: str | None = None, method: str | None = None) -> list[Request]:
        """Every request recorded (about `job_id`: its submit, status, result, cancel and file
        downloads; of `method`), in arrival order."""
        with self._lock:
            out = list(self._requests)
        return [r for r in out if (job_id is None or r.job == job_id) and (method is None or r.method == method)]

    def job(self, job_id: str) -> Job:
        with self._lock:
            return self._jobs[job_id]

    def _job(self, job_id: str, kind: str) -> Job:
        """The job a request names (KeyError: 404), remembered as what the request was about."""
        job = self.job(job_id)
        if job.kind != kind:
            raise KeyError(job_id)
        self._local.job = job.id
        return job

    def jobs(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def status_reads(self, job_id: str) -> int:
        return self.job(job_id).reads

    def cancel_calls(self, job_id: str) -> list[Request]:
        return [r for r in self.requests(job_id) if r.path.split("?")[0].endswith("/cancel")
                or (r.method == "DELETE" and "/plain/jobs/" in r.path)]

    def file_downloads(self, job_id: str) -> list[Request]:
        return [r for r in self.requests(job_id, "GET") if r.path.startswith("/files/")]

    def file_urls(self, job_id: str) -> list[str]:
        """The job's output URLs as its result names them."""
        return self._file_urls(self.job(job_id))

    def _file_urls(self, job: Job) -> list[str]:
        folder = "redirect" if job.options.get("fileRedirect") else "files"
        return [f"{self.files_base}/{folder}/{name}" for name in job.files]

    def file_bytes(self, job_id: str) -> list[bytes]:
        """The bytes each output file of the job had (kept here after the provider "deleted" it)."""
        job = self.job(job_id)
        return [_file_content(job.id, index, int(job.options.get("bytes", DEFAULT_BYTES)))
                for index in range(len(job.files))]

    def file_served(self, name_or_url: str) -> bool:
        """Whether the file is still there (a GET would answer 200)."""
        name = name_or_url.rsplit("/", 1)[-1]
        with self._lock:
            return name in self._files

    def delete_outputs(self, job_id: str | None = None) -> None:
        """The provider's retention ends now: its files (one job's, or all) answer 404."""
        with self._lock:
            for name in [n for n, (owner, _, _) in self._files.items() if job_id in (None, owner)]:
                del self._files[name]

    def wait_for(self, predicate: Any, timeout: float) -> bool:
        """Wait until `predicate(self)` holds (re-checked on each request), or `timeout` passes."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._arrived.wait(min(0.2, remaining))
        return True

    # ---- serving -----------------------------------------------------------------------------------

    def _record(self, request: Request) -> None:
        with self._lock:
            self._requests.append(request)
        if self.echo:  # the command line's log: what came, and whether it carried credentials
            auth = "with Authorization" if request.header("Authorization") else "no Authorization"
            print(f"[fake-provider] {request.method} {request.origin}{request.path} ({auth})", flush=True)
        with self._arrived:
            self._arrived.notify_all()

    def _new_job(self, kind: str, body: bytes, wrapped: bool, model: str = "") -> Job | tuple[int, dict[str, Any]]:
        try:
            submitted = json.loads(body or b"{}")
        except ValueError:
            return 400, {"detail": "request body is not JSON"}
        options = _options(submitted, wrapped)
        refused = options.get("submitStatus")
        if isinstance(refused, int) and 400 <= refused < 600:
            return refused, {"title": "Invalid input", "detail": str(options.get("fail") or "input is invalid"),
                             "status": refused}
        job_id = secrets.token_hex(13) if kind == "replicate" else str(uuid.uuid4())
        if kind == "plain" and isinstance(options.get("idPrefix"), str):
            job_id = options["idPrefix"] + job_id  # characters a URL must encode (" ", "/", "?")
        job = Job(kind, job_id, options, submitted if isinstance(submitted, dict) else {}, model=model)
        default_outputs = 0 if kind == "plain" else 1
        count = options.get("outputs", default_outputs)
        count = max(0, min(int(count), 25)) if isinstance(count, int) else default_outputs
        size = int(options.get("bytes", DEFAULT_BYTES)) if isinstance(options.get("bytes"), int) else DEFAULT_BYTES
        self._local.job = job_id
        with self._lock:
            self._jobs[job_id] = job
            for index in range(count if job.failure is None else 0):
                name = f"{quote(job_id, safe='')}-out-{index}.png".replace("%", "_")
                job.files.append(name)
                self._file_owner[name] = job_id
                self._files[name] = (job_id, _file_content(job_id, index, size), "image/png")
        return job

    def _read_status(self, job: Job) -> tuple[int, Raw] | None:
        """Count one status read; the scripted answer of this read (statusErrors), if any: a status
        code (with `Retry-After: <retryAfter>` when the job's input has one) or "html" (a 200 that
        is not JSON)."""
        with self._lock:
            errors = job.options.get("statusErrors")
            if isinstance(errors, list) and job.errors_served < len(errors):
                job.errors_served += 1
                scripted = errors[job.errors_served - 1]
                if scripted == "html":
                    return 200, Raw({"Content-Type": "text/html"}, b"<html><body>Bad gateway</body></html>")
                if isinstance(scripted, int):
                    headers = {"Content-Type": "application/json"}
                    if isinstance(job.options.get("retryAfter"), int):
                        headers["Retry-After"] = str(job.options["retryAfter"])
                    return scripted, Raw(headers, json.dumps({"detail": f"scripted {scripted}"}).encode())
            job.reads += 1
            if job.done():
                job.read_done = True
        return None

    def _answer(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = [unquote(p) for p in path.split("/") if p]  # an id may hold an encoded "/" or space
        try:
            if parts[:1] == ["files"] and len(parts) == 2 and method in ("GET", "HEAD"):
                return self._file(parts[1], method)
            if parts[:1] == ["redirect"] and len(parts) == 2 and method in ("GET", "HEAD"):
                return self._redirect(parts[1])
            if parts[:2] == ["replicate", "v1"]:
                return _json(*self._replicate(method, parts[2:], body))
            if parts[:1] == ["fal"]:
                return _json(*self._fal(method, parts[1:], body))
            if parts[:2] == ["plain", "jobs"]:
                return _json(*self._plain(method, parts[2:], body))
        except (KeyError, IndexError):
            pass
        return _json(404, {"detail": "Not found."})

    def _file(self, name: str, method: str) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            found = self._files.get(name)
            self._local.job = self._file_owner.get(name)
            if found and method == "GET":
                job = self._jobs.get(found[0])
                self._downloaded.add(name)
                if job and job.read_done and not job.options.get("keepOutputs"):
                    del self._files[name]  # retention over: the provider deletes it
        if not found:
            return _json(404, {"detail": "Not found."})
        return 200, {"Content-Type": found[2]}, found[1]

    def _redirect(self, name: str) -> tuple[int, dict[str, str], bytes]:
        """A file URL that answers 302 to the job's `fileRedirect` (true: the file itself)."""
        with self._lock:
            found = self._files.get(name)
            job = self._jobs.get(found[0]) if found else None
        if not found or job is None:
            return _json(404, {"detail": "Not found."})
        self._local.job = job.id
        target = job.options.get("fileRedirect")
        location = target if isinstance(target, str) else f"{self.files_base}/files/{name}"
        return 302, {"Location": location}, b""

    # Replicate ------------------------------------------------------------------------------------

    def _prediction(self, job: Job) -> dict[str, Any]:
        status = "starting"
        output: Any = None
        error = None
        if job.cancelled:
            status = "canceled"
        elif job.done():
            if job.options.get("endStatus") in ("canceled", "aborted"):
                status = str(job.options["endStatus"])  # ended on the provider's side: no error text
            elif job.failure is not None:
                status, error = "failed", job.failure
            else:
                status = "succeeded"
                urls = self._file_urls(job)
                output = urls[0] if job.options.get("single") and urls else urls
        elif job.reads >= 1:
            status = "processing"
        base = f"{self.replicate_base}/v1/predictions/{job.id}"
        finished = status in ("succeeded", "failed", "canceled")
        return {
            "id": job.id, "model": job.model or "owner/model", "version": str(job.submitted.get("version") or ""),
            "input": job.submitted.get("input", {}), "logs": "" if status == "starting" else _logs(job),
            "output": output, "data_removed": False, "error": error, "status": status, "source": "api",
            "created_at": _iso(job.created), "started_at": _iso(job.created) if status != "starting" else None,
            "completed_at": _iso(time.time()) if finished else None,
            "urls": {"get": base, "cancel": f"{base}/cancel", "web": f"{self.replicate_base}/p/{job.id}"},
            "metrics": {"predict_time": 0.5} if finished else {},
        }

    def _replicate(self, method: str, parts: list[str], body: bytes) -> tuple[int, Any]:
        creating = (parts == ["predictions"] or (len(parts) == 4 and parts[0] == "models"
                                                 and parts[3] == "predictions"))
        if method == "POST" and creating:
            made = self._new_job("replicate", body, wrapped=True,
                                 model="/".join(parts[1:3]) if parts[0] == "models" else "")
            if not isinstance(made, Job):
                return made
            return 201, self._prediction(made)
        if len(parts) >= 2 and parts[0] == "predictions":
            job = self._job(parts[1], "replicate")
            if method == "GET" and len(parts) == 2:
                scripted = self._read_status(job)
                if scripted is not None:
                    return scripted
                return 200, self._prediction(job)
            if method == "POST" and parts[2:] == ["cancel"]:
                with self._lock:
                    job.cancel_calls += 1
                    if not job.done():
                        job.cancelled = True
                return 200, self._prediction(job)
        return 404, {"detail": "Not found."}

    # fal ------------------------------------------------------------------------------------------

    def _fal_urls(self, job: Job) -> dict[str, str]:
        base = f"{self.fal_base}/{job.model}/requests/{job.id}"
        return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}

    def _fal(self, method: str, parts: list[str], body: bytes) -> tuple[int, Any]:
        if "requests" in parts:
            at = parts.index("requests")
            job = self._job(parts[at + 1], "fal")
            rest = parts[at + 2:]
            if method == "GET" and rest == ["status"]:
                scripted = self._read_status(job)
                if scripted is not None:
                    return scripted
                return self._fal_status(job)
            if method == "GET" and rest == []:
                return self._fal_result(job)
            if method == "PUT" and rest == ["cancel"]:
                with self._lock:
                    job.cancel_calls += 1
                    if job.done():
                        return 400, {"status": "ALREADY_COMPLETED"}
                    job.cancelled = True
                return 202, {"status": "CANCELLATION_REQUESTED"}
            return 405, {"detail": "Method Not Allowed"}
        if method != "POST" or len(parts) < 2:
            return 404, {"detail": "Not found."}
        made = self._new_job("fal", body, wrapped=False, model="/".join(parts[:2]))  # the app, no subpath
        if not isinstance(made, Job):
            return made
        return 200, {"request_id": made.id, "gateway_request_id": made.id, "status": "IN_QUEUE",
                     "queue_position": 0, **self._fal_urls(made)}

    def _fal_status(self, job: Job) -> tuple[int, Any]:
        urls = self._fal_urls(job)
        if job.done() or job.cancelled:
            return 200, {"status": "COMPLETED", "request_id": job.id, "response_url": urls["response_url"],
                         "logs": [], "metrics": {"inference_time": 0.5}}
        status = FAL_PENDING[0] if job.reads <= 1 else FAL_PENDING[1]
        answer: dict[str, Any] = {"status": status, "request_id": job.id, "response_url": urls["response_url"],
                                  "status_url": urls["status_url"], "cancel_url": urls["cancel_url"]}
        if status == "IN_QUEUE":
            answer["queue_position"] = 0
        else:
            answer["logs"] = [{"message": "step 1", "level": "INFO", "source": "user", "timestamp": _iso(time.time())}]
        return 202, answer

    def _fal_result(self, job: Job) -> tuple[int, Any]:
        if job.cancelled:
            return 400, {"detail": "Request was cancelled"}
        if not job.done():
            return 400, {"detail": "Request is still in progress"}
        if job.failure is not None:
            return 422, {"detail": [{"loc": ["body", "prompt"], "msg": job.failure, "type": "value_error"}]}
        size = int(job.options.get("bytes", DEFAULT_BYTES)) if isinstance(job.options.get("bytes"), int) \
            else DEFAULT_BYTES
        files = [{"url": url, "content_type": "image/png", "file_name": n, "file_size": size, "width": 8, "height": 8}
                 for url, n in zip(self._file_urls(job), job.files, strict=True)]
        result: dict[str, Any] = {"images": files, "timings": {"inference": 0.5}, "seed": 42,
                                  "has_nsfw_concepts": [False] * len(files), "prompt": job.options.get("prompt", "")}
        if job.options.get("nested") and files:  # a video model's shape: one file object, nested
            result = {"video": files[0], "timings": result["timings"], "seed": 42}
        return 200, result

    # plain ----------------------------------------------------------------------------------------

    def _plain_view(self, job: Job) -> dict[str, Any]:
        view: dict[str, Any] = {"id": job.id, "state": "queued"}
        if job.cancelled:
            view["state"] = "cancelled"
        elif job.done():
            if job.failure is not None:
                view.update(state="error", message=job.failure)
            else:
                view.update(state="done", result={"files": self._file_urls(job), "answer": 42})
        elif job.reads >= 1:
            view["state"] = "running"
        return {"job": view}

    def _plain(self, method: str, parts: list[str], body: bytes) -> tuple[int, Any]:
        if method == "POST" and not parts:
            made = self._new_job("plain", body, wrapped=False)
            if not isinstance(made, Job):
                return made
            return 202, self._plain_view(made)
        job = self._job(parts[0], "plain")
        if len(parts) != 1:
            return 404, {"error": "not found"}
        if method == "GET":
            scripted = self._read_status(job)
            if scripted is not None:
                return scripted
            return 200, self._plain_view(job)
        if method == "DELETE":
            with self._lock:
                job.cancel_calls += 1
                job.cancelled = not job.done()
            return 200, self._plain_view(job)
        return 405, {"error": "method not allowed"}

    # ---- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeProviders:
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-provider", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeProviders:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def _logs(job: Job) -> str:
    """A prediction's logs: a line, or `logBytes` of them (a large final JSON)."""
    size = job.options.get("logBytes")
    if isinstance(size, int) and size > 0 and job.done():
        return ("step done\n" * (size // 10 + 1))[:size]
    return "step 1\n"


@dataclass
class Raw:
    """An answer given as it is (not a JSON document): headers and bytes."""

    headers: dict[str, str]
    body: bytes


def _json(status: int, payload: Any) -> tuple[int, dict[str, str], bytes]:
    if isinstance(payload, Raw):
        return status, payload.headers, payload.body
    return status, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def _file_content(job_id: str, index: int, size: int) -> bytes:
    """Deterministic bytes for one output file (a PNG signature, then a digest stream)."""
    seed = hashlib.sha256(f"{job_id}:{index}".encode()).digest()
    body = (seed * (size // len(seed) + 1))
    return (PNG_MAGIC + body)[:max(size, len(PNG_MAGIC))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="the port on 127.0.0.1 (default: any free one)")
    parser.add_argument("--api-base", help="the base URL the answers name for the API (default http://127.0.0.1:PORT)")
    parser.add_argument("--files-base", help="the base URL of output files (default http://localhost:PORT)")
    parser.add_argument("--quiet", action="store_true", help="do not print a line per request")
    args = parser.parse_args(argv)
    fake = FakeProviders(args.port, api_base=args.api_base, files_base=args.files_base)
    fake.echo = not args.quiet
    print(f"fake providers on {fake.api_base}\n"
          f"  replicate  {fake.replicate_url}\n"
          f"  fal        {fake.fal_url()}\n"
          f"  plain      {fake.plain_url}\n"
          f"  files      {fake.files_base}/files/", flush=True)
    try:
        fake._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake._server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
