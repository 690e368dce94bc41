"""`make run`: the whole Taskhook stack on one machine, no Docker, no AWS account.

1. the embedded emulator (moto's server on 127.0.0.1), unless AWS_ENDPOINT_URL names another
   (LocalStack, for instance);
2. every table, queue and bucket of template.yaml, provisioned in it;
3. the REST API (the Chalice app) on http://127.0.0.1:$PORT;
4. the event-source runner, which does what Lambda's triggers do on AWS.
SIGINT / SIGTERM stop the whole process tree: the runner and the servers first (the runner lets
the batches in hand finish), the emulator last, so that its final snapshot holds their writes.

What persists (the embedded emulator only): the emulator snapshots its DynamoDB items, KMS keys,
S3 objects and queue messages to the data directory (`data/` in the state directory;
infra/snapshot.py). At start it puts the keys back before provisioning, the rest after it (items
outside the table's stream; the task lanes' messages not at all), and this supervisor re-enqueues
every unfinished task before the runner starts (taskhook.dispatch.recovery). `--fresh`
(make run FRESH=1) starts empty. An external emulator (AWS_ENDPOINT_URL) keeps whatever it keeps;
nothing is snapshotted or re-enqueued then.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from taskhook import config

from . import aws_calls
from .state import ROOT, clear_state, data_dir, forget_data, state_dir, write_state

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
# The local credentials' value (key id, secret, session token), unless AWS_* already name them:
# `testing` with the embedded moto (which accepts anything); `test` with an external emulator,
# since LocalStack checks presigned S3 URLs against the secret `test`
# (S3_SKIP_SIGNATURE_VALIDATION=0). TASKHOOK_LOCAL_CREDENTIALS overrides both.
ENV_LOCAL_CREDENTIALS = "TASKHOOK_LOCAL_CREDENTIALS"
EMBEDDED_CREDENTIAL, EXTERNAL_CREDENTIAL = "testing", "test"
# The resources' name prefix (the template's Prefix parameter). The embedded emulator is the
# stack's own: the template's default. An external one may serve several stacks (tests in
# parallel, a bench next to `make run`): each state directory gets its own prefix.
ENV_PREFIX = "TASKHOOK_PREFIX"
# The local stack calls targets on this machine; on AWS loopback stays refused. Only an unset
# TASKHOOK_OUTBOUND_ALLOW means this; set but empty, it means "nothing beyond public addresses".
LOCAL_OUTBOUND_ALLOW = "127.0.0.0/8,::1,localhost"
DEV_TEAM = "dev"
DEV_KEY_FILE = "dev-key"
LANE_URLS = (config.ENV_QUEUE_HIGH_URL, config.ENV_QUEUE_NORMAL_URL, config.ENV_QUEUE_LOW_URL)
# How long a stop waits for the runner to finish the batches in hand (it stops taking new ones).
DRAIN_SECONDS = 10.0


def outbound_summary(allow: str) -> str:
    """The banner's Outbound line, read from the policy the stack's processes apply to `allow`."""
    from taskhook.adapters.outbound import OutboundPolicy
    from taskhook.config import ENV_OUTBOUND_ALLOW, Settings

    policy = OutboundPolicy(allow=Settings.from_env({ENV_OUTBOUND_ALLOW: allow}).outbound_allow)
    loopback = policy.opens_any("127.0.0.0/8", "::1/128", "localhost")
    private = policy.opens_any("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "100.64.0.0/10",
                               "fc00::/7", "fe80::/10")
    verdict = ", ".join([f"loopback targets {'ALLOWED' if loopback else 'refused'}",
                         f"private/link-local targets {'ALLOWED' if private else 'refused'}"])
    return f"{verdict} (TASKHOOK_OUTBOUND_ALLOW={allow!r})"


def local_credentials(env: dict[str, str], external: bool) -> dict[str, str]:
    """LOCAL_CREDENTIALS with the key id, secret and token this stack uses (see above)."""
    value = env.get(ENV_LOCAL_CREDENTIALS) or (EXTERNAL_CREDENTIAL if external else EMBEDDED_CREDENTIAL)
    return {k: value if k.startswith(("AWS_ACCESS", "AWS_SECRET", "AWS_SESSION")) else v
            for k, v in LOCAL_CREDENTIALS.items()}


def resource_prefix(env: dict[str, str], external: bool, directory: Path) -> str | None:
    """TASKHOOK_PREFIX if set; else, on an external emulator, `th-` and a hash of the state
    directory (stable across restarts of one stack, distinct between stacks); else None (the
    template's default)."""
    if env.get(ENV_PREFIX):
        return env[ENV_PREFIX]
    if not external:
        return None
    return "th-" + hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:10]


def parameter_backed(template: dict[str, Any]) -> set[str]:
    """The functions' variables that are a template parameter (`!Ref <Parameter>`): the caller's own
    value of one wins over the parameter's default, as a stack parameter would on AWS."""
    parameters = set(template.get("Parameters", {}))
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    return {name for name, value in variables.items() if isinstance(value, dict) and value.get("Ref") in parameters}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {host}:{port} after {timeout}s")


class LocalStack:
    def __init__(self, port: int, emulator_url: str | None, verbose: bool, fresh: bool = False) -> None:
        self.port = port
        self.emulator_url = emulator_url
        self.embedded = emulator_url is None
        self.verbose = verbose
        self.fresh = fresh
        self.restored: dict[str, Any] = {}
        self.recovered: dict[str, int] = {}
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.env: dict[str, str] = {}
        self.stopping = False

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        if self.verbose:
            output: Any = None
        else:  # keep the terminal for the banner; each child's output goes to its own log
            log_dir = Path(os.environ.get("TASKHOOK_STATE_DIR") or ROOT / ".taskhook")
            log_dir.mkdir(parents=True, exist_ok=True)
            output = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the child
        process = subprocess.Popen(
            [sys.executable, *args], env=self.env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT if output else None
        )
        self.children[name] = process
        return process

    def start(self) -> dict[str, Any]:
        env = dict(os.environ)
        env.pop("TASKHOOK_EMULATOR_CONTROL", None)  # set below for the stack's own emulator only
        credentials = local_credentials(env, external=not self.embedded)
        for name, value in credentials.items():
            env.setdefault(name, value)
        prefix = resource_prefix(env, external=not self.embedded, directory=state_dir())
        if prefix:
            env[ENV_PREFIX] = prefix  # the runner and the CLI provision (look up) the same names
        outbound_allow = env.setdefault("TASKHOOK_OUTBOUND_ALLOW", LOCAL_OUTBOUND_ALLOW)
        # A waiting task's callback URL starts with the API's URL (template.yaml's PublicApiUrl; on AWS
        # the API's own URL). A caller's value (a tunnel, say) is kept.
        env["TASKHOOK_PUBLIC_URL"] = env.get("TASKHOOK_PUBLIC_URL") or f"http://127.0.0.1:{self.port}"
        env["PYTHONUNBUFFERED"] = "1"
        self.env = env

        if self.emulator_url is None:
            # A new emulator has a new stream, which the restored items are not in: an old
            # checkpoint would point into nothing, and the new stream is read from its start.
            (Path(os.environ.get("TASKHOOK_STATE_DIR") or ROOT / ".taskhook") / "stream-checkpoint.json").unlink(
                missing_ok=True)
            if self.fresh:
                forget_data()
            data_dir().mkdir(mode=0o700, parents=True, exist_ok=True)  # key material: its owner's only
            data_dir().chmod(0o700)  # (the emulator makes what is in it private: snapshot.make_private)
            moto_port = int(env.get("TASKHOOK_EMULATOR_PORT") or free_port())
            snapshot_args = ["--snapshot-seconds", env["TASKHOOK_SNAPSHOT_SECONDS"]] \
                if env.get("TASKHOOK_SNAPSHOT_SECONDS") else []
            moto = self._spawn("emulator", ["-m", "infra.emulator", "-H", "127.0.0.1", "-p", str(moto_port),
                                            "--data-dir", str(data_dir()), *snapshot_args])
            wait_for_port("127.0.0.1", moto_port, 30, moto)
            self.emulator_url = f"http://127.0.0.1:{moto_port}"
        env["AWS_ENDPOINT_URL"] = self.emulator_url
        os.environ.update({k: env[k] for k in LOCAL_CREDENTIALS})
        os.environ["AWS_ENDPOINT_URL"] = self.emulator_url

        from .provision import Provisioner

        provisioner = Provisioner(self.emulator_url, env["AWS_REGION"], prefix)
        resources = provisioner.provision()
        if not self.embedded:
            # A long-lived emulator may hold this table and its stream from an earlier run of
            # a state directory with the same prefix: the runner starts after what is there now,
            # before this stack writes anything, so nothing of this run is skipped either.
            from .runner import start_streams_at_tip

            start_streams_at_tip(provisioner)
        # A template parameter's default (a tuning knob: TASKHOOK_DEFAULT_RPS = RateLimitRps's 0, …)
        # and an empty value do not hide the caller's own value.
        knobs = parameter_backed(provisioner.template)
        resources = {k: v for k, v in resources.items() if not env.get(k) or (v and k not in knobs)}
        env.update(resources)
        env["TASKHOOK_OUTBOUND_ALLOW"] = outbound_allow  # "" stays "": the template's default does not widen it
        os.environ.update(resources)
        if self.embedded:  # the saved items and objects go back into what provisioning made
            # The lanes' messages are not put back: every unfinished task is re-enqueued below.
            lanes = [env[name].rstrip("/").rsplit("/", 1)[-1] for name in LANE_URLS if env.get(name)]
            answer = requests.post(f"{self.emulator_url}/_taskhook/restore", params={"skipQueue": lanes},
                                   timeout=120)
            answer.raise_for_status()
            self.restored = answer.json()
            from .runner import EMULATOR_CONTROL

            env[EMULATOR_CONTROL] = f"{self.emulator_url}/_taskhook/"  # the runner's expiry: runner.expire_tasks

        dev_key = self._dev_key(env.get("TASKHOOK_DEV_API_KEY") or (self._saved_dev_key() if self.embedded else None))
        if self.embedded:
            self._save_dev_key(dev_key)
            if self.restored.get("items"):
                upgrade_restored_tasks()
                self.recovered = self._recover()

        # The WebSocket endpoint and its management-API twin; the stream dispatcher pushes through the latter.
        ws_port = int(env.get("TASKHOOK_WS_PORT") or free_port())
        management_port = free_port()
        # Loopback is open to the users' targets, and the stack's own services listen there: the
        # emulator answers anyone (every team's rows, keys and KMS), the management API posts to any
        # connection. A task may not call them (adapters/outbound.py deny_ports).
        own_ports = [str(port) for port in (urlsplit(self.emulator_url).port, ws_port, management_port) if port]
        env[config.ENV_OUTBOUND_DENY_PORTS] = ",".join(
            [*filter(None, env.get(config.ENV_OUTBOUND_DENY_PORTS, "").split(",")), *own_ports])
        env["WEBSOCKET_MANAGEMENT_URL"] = f"http://127.0.0.1:{management_port}"
        resources["WEBSOCKET_MANAGEMENT_URL"] = env["WEBSOCKET_MANAGEMENT_URL"]
        # Where clients connect (GET /v1/live, a ticket's answer): the template's is the WebSocket API's.
        env[config.ENV_WEBSOCKET_URL] = f"ws://127.0.0.1:{ws_port}/ws"
        resources[config.ENV_WEBSOCKET_URL] = env[config.ENV_WEBSOCKET_URL]
        ws = self._spawn("websocket", ["-m", "infra.ws_server", "--port", str(ws_port),
                                       "--management-port", str(management_port)])
        api = self._spawn("api", ["-m", "infra.api_server", "--port", str(self.port)])
        wait_for_port("127.0.0.1", ws_port, 30, ws)
        wait_for_port("127.0.0.1", self.port, 30, api)
        self._start_runner()

        state = {
            "url": f"http://127.0.0.1:{self.port}",
            "websocket": f"ws://127.0.0.1:{ws_port}",
            "emulator": self.emulator_url,
            "devKey": dev_key,
            "pid": os.getpid(),
            "pids": {name: p.pid for name, p in self.children.items()},
            "env": {k: env[k] for k in [*resources, *LOCAL_CREDENTIALS, "AWS_ENDPOINT_URL", "TASKHOOK_OUTBOUND_ALLOW",
                                        config.ENV_OUTBOUND_DENY_PORTS,
                                        *([ENV_PREFIX] if prefix else [])]},
        }
        return state  # main() writes it once the banner is out: the state file means "up and announced"

    def _recover(self) -> dict[str, int]:
        """Every unfinished task of the restored table gets its lane message back (the queues
        were not kept); a claim of the runner that stopped is released (dispatch/recovery.py).
        The tasks are read through the repository (one paginated Scan, whole items)."""
        from taskhook.container import container
        from taskhook.dispatch.recovery import Recovery

        c = container()
        return Recovery(c.task_repository, c.task_queue).recover(c.task_repository.unfinished()).as_dict()

    @staticmethod
    def _saved_dev_key() -> str | None:
        try:
            return (data_dir() / DEV_KEY_FILE).read_text().strip() or None
        except OSError:
            return None

    @staticmethod
    def _save_dev_key(key: str) -> None:
        path = data_dir() / DEV_KEY_FILE
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)  # touch leaves an existing file's mode alone
        path.write_text(key)

    def _start_runner(self) -> None:
        self._spawn("runner", ["-m", "infra.runner"])

    def _dev_key(self, wanted: str | None) -> str:
        from taskhook.container import container, reset_container
        from taskhook.model.errors import Unauthorized
        from taskhook.ports import ADMIN_SCOPE

        reset_container()
        service = container().api_key_service
        if wanted:
            try:
                service.authenticate(f"Bearer {wanted}")
                return wanted  # an external emulator may already hold it
            except Unauthorized:
                pass
        # The dev key manages the team too (the README's vault and webhook-secret examples use it).
        secret, _ = service.create(DEV_TEAM, name="dev key (make run)", secret=wanted or None, scope=ADMIN_SCOPE)
        return secret

    def supervise(self) -> int:
        """Wait until asked to stop; restart the runner if it dies (Lambda would retry too)."""
        while not self.stopping:
            for name, process in list(self.children.items()):
                code = process.poll()
                if code is None:
                    continue
                if name == "runner" and not self.stopping:
                    print(f"[taskhook] runner exited ({code}); restarting it", flush=True)
                    self._start_runner()
                    state = _read_state_or_empty()
                    if state:
                        state["pids"] = {n: p.pid for n, p in self.children.items()}
                        write_state(state)
                    continue
                print(f"[taskhook] {name} exited with {code}; stopping", flush=True)
                return 1
            time.sleep(0.2)
        return 0

    def stop(self) -> None:
        """The runner and the servers first, the emulator last: its final snapshot holds every
        write they made."""
        self.stopping = True
        first = [p for name, p in self.children.items() if name != "emulator"]
        last = [p for name, p in self.children.items() if name == "emulator"]
        self._terminate(first, float(self.env.get("TASKHOOK_DRAIN_SECONDS") or DRAIN_SECONDS) + 3)
        self._terminate(last, 10)
        clear_state()

    @staticmethod
    def _terminate(processes: list[subprocess.Popen[bytes]], grace: float) -> None:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + grace
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()


def upgrade_restored_tasks() -> int:
    """Items saved by an older version (no `teamPhase`, a `teamStatus`) brought to this version's
    layout, as `taskhook upgrade-tasks` does on AWS (docs/upgrading.md): else the lists would not
    show them. One Scan of what needs it; nothing to do after the first start. Items updated."""
    from taskhook.container import container

    return sum(page.updated for page in container().team_phase_backfill.pages())


def _data_line(stack: LocalStack) -> str:
    if not stack.embedded:
        return "kept by the external emulator (nothing snapshotted here)"
    if stack.fresh or not stack.restored.get("items"):
        return f"{data_dir()}  (started empty; kept across restarts, FRESH=1 forgets it)"
    recovered = stack.recovered
    restored = stack.restored
    counts = ", ".join(_counted(restored.get(name, 0), noun) for name, noun in
                       (("items", "item"), ("objects", "object"), ("messages", "message"), ("kmsKeys", "KMS key")))
    return f"{data_dir()}  (restored {counts}; re-enqueued {_counted(recovered.get('dispatched', 0), 'task')})"


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _read_state_or_empty() -> dict[str, Any] | None:
    from .state import read_state

    return read_state()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--verbose", action="store_true", help="show the emulator's and the API's request logs")
    parser.add_argument("--fresh", action="store_true", help="start empty: forget what the last run kept")
    args = parser.parse_args(argv)
    aws_calls.install_from_env("supervisor")  # counts AWS calls when TASKHOOK_AWS_CALL_LOG is set (bench)

    external = os.environ.get("AWS_ENDPOINT_URL") or None
    stack = LocalStack(args.port, external, args.verbose, fresh=args.fresh)

    def on_signal(signum: int, _frame: Any) -> None:
        stack.stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        state = stack.start()
    except Exception as exc:  # noqa: BLE001 - report and clean up whatever started
        print(f"[taskhook] failed to start: {exc}", file=sys.stderr, flush=True)
        stack.stop()
        return 1
    emulator = "external, from AWS_ENDPOINT_URL" if external else "moto server, embedded"
    print(
        "\n".join([
            "Taskhook local stack is up",
            f"  API        {state['url']}",
            f"  Docs       {state['url']}/docs",
            f"  Dashboard  {state['url']}/admins/tasks/   (sign in with the dev key)",
            f"  WebSocket  {state['websocket']}/ws?ticket=<POST /v1/live/tickets>[&task_id=<id>]",
            f"  Dev key    {state['devKey']}   (team '{DEV_TEAM}')",
            f"  Emulator   {state['emulator']}  [{emulator}]",
            f"  Outbound   {outbound_summary(stack.env['TASKHOOK_OUTBOUND_ALLOW'])}; never the ports "
            f"{stack.env[config.ENV_OUTBOUND_DENY_PORTS].replace(',', ', ')} (the stack's own)",
            f"  State      {Path(os.environ.get('TASKHOOK_STATE_DIR') or ROOT / '.taskhook') / 'stack.json'}",
            f"  Data       {_data_line(stack)}",
            f"  Try        curl -H 'Authorization: Bearer {state['devKey']}' {state['url']}/v1/tasks",
            "  Shell      eval \"$(bin/taskhook env)\"   # sets URL, KEY and WS in another shell",
            f"  Client     export TASKHOOK_URL={state['url']} TASKHOOK_API_KEY={state['devKey']}"
            "   # for .venv/bin/taskhook and taskhook_client",
            "Ctrl-C stops everything.",
        ]),
        flush=True,
    )
    write_state(state)  # after the banner: whoever waits for the state file finds the banner written
    code = stack.supervise()
    stack.stop()
    print("[taskhook] stopped", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
