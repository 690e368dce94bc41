"""`taskhook`: the task API from the command line, over HTTP with an API key (the operator tool
that needs AWS access is `bin/taskhook`, a different program).

    taskhook tasks create --url https://example.com/hook --delay 5m --priority 8
    taskhook tasks watch ID                  # a progress bar until it ends
    taskhook run example_task2.task2_with_args --arg name=Matt --arg age=25 --wait
    taskhook tail                            # every task of the team, live

Configuration: --url / --api-key, --profile NAME (the config file, settings.py), or TASKHOOK_URL /
TASKHOOK_API_KEY. `--json` on any command prints JSON (live events: one JSON object per line).

Exit codes: 0 done (the task completed), 1 an error (the API's, the network's, the configuration's),
2 a usage error, 3 the task failed, 4 it timed out (status timeout), 5 it was cancelled, 124 it was
still running when --timeout passed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from .calls import TERMINAL
from .client import Taskhook
from .errors import TaskhookError, WaitTimeout
from .terminal import Out
from .version import __version__

EXIT_ERROR = 1
EXIT_BY_STATUS = {"completed": 0, "failed": 3, "timeout": 4, "cancelled": 5}
EXIT_STILL_RUNNING = 124

F = TypeVar("F", bound=Callable[..., Any])


class App:
    """What every command shares: the options of `taskhook` itself and the client they make."""

    def __init__(self, url: str | None, api_key: str | None, profile: str | None, as_json: bool) -> None:
        self.url, self.api_key, self.profile = url, api_key, profile
        self.out = Out(as_json)
        self._client: Taskhook | None = None

    @property
    def client(self) -> Taskhook:
        if self._client is None:
            self._client = Taskhook(self.url, self.api_key, profile=self.profile)
        return self._client


class Failure(click.ClickException):
    """An error, reported on one line (no traceback, never the API key); exit code 1."""

    exit_code = EXIT_ERROR


class Root(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TaskhookError as exc:
            raise Failure(str(exc)) from None
        except OSError as exc:  # a file that cannot be written (--output, download), a closed pipe
            raise Failure(f"{exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}") from None
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None


def _set_json(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    found = ctx.find_object(App)
    if value and found is not None:
        found.out.as_json = True


def json_option(command: F) -> F:
    """`--json` on every command, as well as on `taskhook` itself."""
    return click.option("--json", "as_json", is_flag=True, expose_value=False, is_eager=False, callback=_set_json,
                        help="Print JSON (live events: one object per line).")(command)


def app() -> App:
    found = click.get_current_context().find_object(App)
    assert found is not None  # cli() makes it before any command runs
    return found


@click.group(cls=Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", metavar="URL", help="The API (default: the profile's, else TASKHOOK_URL).")
@click.option("--api-key", metavar="KEY", help="An API key (default: the profile's, else TASKHOOK_API_KEY).")
@click.option("--profile", envvar="TASKHOOK_PROFILE", metavar="NAME",
              help="A profile of the config file (TASKHOOK_CONFIG, else ~/.config/taskhook/config.toml).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (live events: one object per line).")
@click.version_option(__version__, prog_name="taskhook")
@click.pass_context
def cli(ctx: click.Context, url: str | None, api_key: str | None, profile: str | None, as_json: bool) -> None:
    """Taskhook's task API: create and watch tasks, run function tasks, manage the team."""
    ctx.obj = App(url, api_key, profile, as_json)


# ---- tasks ------------------------------------------------------------------------------------


@cli.group()
def tasks() -> None:
    """HTTP tasks: create, get, list, cancel, retry, wait, watch, download."""


def _header(value: str) -> tuple[str, str]:
    name, sep, rest = value.partition(":")
    if not sep or not name.strip():
        raise click.BadParameter(f"{value!r}: expected 'Name: value'", param_hint="--header")
    return name.strip(), rest.strip()


def _read_body(value: str | None) -> str | None:
    """--body TEXT, @FILE, or @- (standard input)."""
    if value is None or not value.startswith("@"):
        return value
    if value == "@-":
        return sys.stdin.read()
    try:
        return Path(value[1:]).read_text(encoding="utf-8")
    except OSError as exc:
        raise click.BadParameter(f"cannot read {value[1:]}: {exc.strerror}", param_hint="--body") from None


@tasks.command("create")
@click.option("--url", "target_url", required=True, help="targetUrl: the URL the task calls.")
@click.option("--method", type=click.Choice(["GET", "POST", "PUT", "DELETE"], case_sensitive=False))
@click.option("--header", "headers", multiple=True, metavar="'NAME: VALUE'", help="A header of the call (repeat).")
@click.option("--body", metavar="TEXT|@FILE|@-", help="The request body: text, a file's, or standard input's.")
@click.option("--delay", metavar="DURATION", help="Run after 90s, 5m, 2h, 1d (delayUntil from now).")
@click.option("--at", "delay_until", metavar="ISO", help="Run at this ISO 8601 time (delayUntil).")
@click.option("--retries", "max_retries", type=int, help="maxRetries (0-10).")
@click.option("--backoff", "retry_backoff", type=click.Choice(["linear", "exponential"]), help="retryBackoff.")
@click.option("--priority", type=int, help="1-10, higher first.")
@click.option("--on-complete", "on_complete_url", metavar="URL", help="onCompleteUrl: notified when it ends.")
@click.option("--timeout", type=float, help="timeout: seconds per attempt.")
@click.option("--max-wait", "max_wait_time", type=float, help="maxWaitTime: seconds in all.")
@click.option("--provider", type=click.Choice(["fal", "replicate"]), help="An AI provider template.")
@click.option("--poll-config", metavar="JSON", help="pollConfig, as JSON.")
@click.option("--wait-for-callback", is_flag=True, default=None, help="waitForCallback (docs/waiting.md).")
@click.option("--idempotency-key", metavar="KEY", help="Default: one made for this command.")
@json_option
def tasks_create(target_url: str, method: str | None, headers: tuple[str, ...], body: str | None, delay: str | None,
                 delay_until: str | None, poll_config: str | None, idempotency_key: str | None,
                 **fields: Any) -> None:
    """Create an HTTP task (POST /v1/tasks)."""
    if delay and delay_until:
        raise click.UsageError("give --delay or --at, not both")
    try:
        poll = json.loads(poll_config) if poll_config is not None else None
    except ValueError:
        raise click.BadParameter("not valid JSON", param_hint="--poll-config") from None
    try:
        task = app().client.tasks.create(
            target_url, method=method.upper() if method else None, headers=dict(map(_header, headers)) or None,
            body=_read_body(body), delay=delay, delay_until=delay_until, poll_config=poll,
            idempotency_key=idempotency_key, **fields)
    except ValueError as exc:  # a malformed --delay
        raise click.BadParameter(str(exc), param_hint="--delay") from None
    app().out.task(task)


@tasks.command("get")
@click.argument("task_id")
@click.option("--wait", type=click.FloatRange(0, 25), help="Long poll: answer when the status changes (at most 25 s).")
@json_option
def tasks_get(task_id: str, wait: float | None) -> None:
    """Show a task."""
    app().out.task(app().client.tasks.get(task_id, wait=wait))


@tasks.command("list")
@click.option("--status", help="Only tasks in this status.")
@click.option("--kind", type=click.Choice(["http", "provider", "function"]),
              help="provider: the HTTP tasks that poll a provider (their kind is http)")
@click.option("--sort", "sort_order", type=click.Choice(["asc", "desc"]), help="By creation time (default desc).")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True, help="At most this many.")
@click.option("--all", "every", is_flag=True, help="Every task (all pages).")
@json_option
def tasks_list(status: str | None, kind: str | None, sort_order: str | None, limit: int, every: bool) -> None:
    """List the team's tasks, newest first."""
    found = app().client.tasks.list(status=status, kind=kind, sort_order=sort_order, page_size=min(limit, 100))
    app().out.tasks(list(found if every else islice(found, limit)))


@tasks.command("cancel")
@click.argument("task_id")
@json_option
def tasks_cancel(task_id: str) -> None:
    """Cancel a task that has not run yet (pending, delayed, waiting, polling)."""
    app().out.task(app().client.tasks.cancel(task_id))


@tasks.command("retry")
@click.argument("task_id")
@json_option
def tasks_retry(task_id: str) -> None:
    """Run a failed or timed-out task again, as a new task."""
    app().out.task(app().client.tasks.retry(task_id))


@tasks.command("wait")
@click.argument("task_id")
@click.option("--timeout", type=click.FloatRange(min=0), default=300, show_default=True, help="Seconds.")
@json_option
def tasks_wait(task_id: str, timeout: float) -> None:
    """Wait for a task to end (long polls); the exit code says how it ended."""
    try:
        task = app().client.tasks.wait(task_id, timeout)
    except WaitTimeout as exc:
        _exit_still_running(exc)
    app().out.task(task)
    _exit_for(task)


@tasks.command("watch")
@click.argument("task_id")
@click.option("--timeout", type=click.FloatRange(min=0), help="Give up after this many seconds (exit 124).")
@json_option
def tasks_watch(task_id: str, timeout: float | None) -> None:
    """A live progress bar and status until the task ends; the exit code says how it ended."""
    _exit_for(_watch(task_id, task_id, timeout))


@tasks.command("download")
@click.argument("task_id")
@click.argument("path", type=click.Path(dir_okay=True, writable=True), default=".")
@json_option
def tasks_download(task_id: str, path: str) -> None:
    """Download a task's output file (into PATH, a file or a directory)."""
    _download(task_id, path)


# ---- function tasks ---------------------------------------------------------------------------


def _argument(value: str) -> tuple[str, Any]:
    """k=v; v is read as JSON when it is JSON (25, true, [1,2], {"a":1}, "quoted"), else as text."""
    name, sep, raw = value.partition("=")
    if not sep or not name:
        raise click.BadParameter(f"{value!r}: expected NAME=VALUE", param_hint="--arg")
    try:
        return name, json.loads(raw)
    except ValueError:
        return name, raw


@cli.command("run")
@click.argument("task_name")
@click.option("--arg", "args", multiple=True, metavar="NAME=VALUE", help="An argument (repeat); JSON values as JSON.")
@click.option("--wait", is_flag=True, help="Show its progress until it ends, then its result.")
@click.option("--output", type=click.Path(dir_okay=True, writable=True), help="Download its output file here.")
@click.option("--timeout", type=click.FloatRange(min=0), help="With --wait: give up after this many seconds (124).")
@json_option
def run(task_name: str, args: tuple[str, ...], wait: bool, output: str | None, timeout: float | None) -> None:
    """Start the function task TASK_NAME (namespace.name, see `taskhook functions`)."""
    arguments = dict(map(_argument, args))
    started = app().client.functions.start(task_name, arguments)
    if not wait and output is None:
        if app().out.as_json:
            app().out.json({"task_id": started.id})
        else:
            app().out.stdout.print(started.id)
        return
    task = _watch(started.id, task_name, timeout, events=False)  # --json: the final task alone
    if app().out.as_json:
        app().out.task(task)
    elif task.get("status") == "completed":
        app().out.value(task.get("result"))
    if output is not None and task.get("status") == "completed":
        _download(started.id, output)
    _exit_for(task)


@cli.command("functions")
@json_option
def functions() -> None:
    """The function tasks this deployment runs."""
    rows = [{**f, "task_name": f"{f['namespace']}.{f['name']}"} for f in app().client.functions.list()]
    app().out.rows("functions", rows, ("task_name", "displayName", "description"))


@cli.command("tail")
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many events.")
@click.option("--timeout", type=click.FloatRange(min=0), help="Stop after this many seconds.")
@json_option
def tail(count: int | None, timeout: float | None) -> None:
    """Every change of every task of the team, live, until Ctrl-C."""
    for event in islice(app().client.tasks.stream(timeout=timeout), count):
        app().out.event(event)


# ---- the team's administration (an admin-scoped key) ------------------------------------------


@cli.group()
def keys() -> None:
    """The team's API keys (admin key)."""


@keys.command("list")
@json_option
def keys_list() -> None:
    app().out.rows("keys", app().client.keys.list(), ("id", "name", "scope", "createdAt", "revokedAt"))


@keys.command("create")
@click.option("--name", help="What it is for.")
@click.option("--scope", type=click.Choice(["tasks", "admin"]), help="tasks (the default) or admin.")
@json_option
def keys_create(name: str | None, scope: str | None) -> None:
    """A new API key; its secret is shown this once."""
    created = app().client.keys.create(name, scope)
    if app().out.as_json:
        app().out.json(created)
        return
    app().out.rows("keys", [created["key"]], ("id", "name", "scope", "createdAt"))
    app().out.stdout.print(created["apiKey"])
    app().out.note("The key is shown only now: keep it somewhere safe.")


@keys.command("revoke")
@click.argument("key_id")
@json_option
def keys_revoke(key_id: str) -> None:
    revoked = app().client.keys.revoke(key_id)
    app().out.rows("keys", [revoked], ("id", "name", "scope", "revokedAt"))


@cli.group("client-tokens")
def client_tokens() -> None:
    """The team's client tokens (admin key)."""


@client_tokens.command("list")
@json_option
def client_tokens_list() -> None:
    app().out.rows("clientTokens", app().client.client_tokens.list(), ("id", "client", "createdAt", "revokedAt"))


@client_tokens.command("create")
@click.argument("client")
@json_option
def client_tokens_create(client: str) -> None:
    """A new client token for CLIENT; its secret is shown this once."""
    created = app().client.client_tokens.create(client)
    if app().out.as_json:
        app().out.json(created)
        return
    app().out.rows("clientTokens", [created["clientToken"]], ("id", "client", "createdAt"))
    app().out.stdout.print(created["token"])


@client_tokens.command("revoke")
@click.argument("token_id")
@json_option
def client_tokens_revoke(token_id: str) -> None:
    revoked = app().client.client_tokens.revoke(token_id)
    app().out.rows("clientTokens", [revoked], ("id", "client", "revokedAt"))


@cli.group("webhook-secret")
def webhook_secret() -> None:
    """The team's webhook signing secrets (admin key)."""


@webhook_secret.command("show")
@json_option
def webhook_secret_show() -> None:
    app().out.rows("secrets", app().client.webhooks.secrets(), ("secret", "createdAt", "expiresAt"))


@webhook_secret.command("rotate")
@click.option("--expire-previous", is_flag=True,
              help="End every previous secret now (one leaked): the new one alone is valid.")
@json_option
def webhook_secret_rotate(expire_previous: bool) -> None:
    """A new secret; the previous ones stay valid for 24 hours (unless --expire-previous)."""
    app().out.rows("secrets", app().client.webhooks.rotate(expire_previous=expire_previous),
                   ("secret", "createdAt", "expiresAt"))


@cli.group()
def vault() -> None:
    """The Token Vault (admin key). Values are read from standard input, never from the command line."""


def _secret_value() -> str:
    if sys.stdin.isatty():
        value: str = click.prompt("Value", hide_input=True)
        return value
    return sys.stdin.read().rstrip("\n")


@vault.command("list")
@json_option
def vault_list() -> None:
    tokens, out = app().client.vault.list(), app().out
    if out.as_json:
        out.json({"tokens": tokens})
        return
    out.rows("tokens", [_shown(t) for t in tokens], ("id", "name", "preview", "hosts", "updatedAt"))


@vault.command("get")
@click.argument("token_id")
@json_option
def vault_get(token_id: str) -> None:
    _token(app().client.vault.get(token_id))


@vault.command("create")
@click.argument("name")
@click.option("--host", "hosts", multiple=True, help="A host it may be sent to (repeat; none: any host)")
@json_option
def vault_create(name: str, hosts: tuple[str, ...]) -> None:
    """Store a value (from standard input) under NAME; tasks use its tok_ id."""
    _token(app().client.vault.create(name, _secret_value(), list(hosts) or None))


@vault.command("bind")
@click.argument("token_id")
@click.option("--host", "hosts", multiple=True, help="A host it may be sent to (repeat)")
@click.option("--any-host", is_flag=True, help="Unbind: any host a task names")
@json_option
def vault_bind(token_id: str, hosts: tuple[str, ...], any_host: bool) -> None:
    """The only hosts the token may be sent to from now on (--host, repeated), or --any-host."""
    if bool(hosts) == any_host:
        raise click.UsageError("give --host (one or more) or --any-host")
    _token(app().client.vault.bind(token_id, None if any_host else list(hosts)))


@vault.command("rotate")
@click.argument("token_id")
@json_option
def vault_rotate(token_id: str) -> None:
    """Replace a token's value (from standard input)."""
    _token(app().client.vault.rotate(token_id, _secret_value()))


@vault.command("delete")
@click.argument("token_id")
@json_option
def vault_delete(token_id: str) -> None:
    _token(app().client.vault.delete(token_id))
    app().out.note(f"Deleted {token_id}: tasks that name it fail without a request.")


def _shown(token: dict[str, Any]) -> dict[str, Any]:
    hosts = token.get("hosts")
    return {**token, "hosts": "any" if hosts is None else ", ".join(hosts)}


def _token(token: dict[str, Any]) -> None:
    if app().out.as_json:
        app().out.json({"token": token})
    else:
        app().out.rows("tokens", [_shown(token)], ("id", "name", "preview", "hosts", "createdAt", "updatedAt"))


@cli.command("limits")
@json_option
def limits() -> None:
    """The team's plan in force (admin key)."""
    answer, out = app().client.limits(), app().out
    if out.as_json:
        out.json(answer)
        return
    rows = [{"limit": "team", "value": answer.get("team")}]
    rows += [{"limit": name, "value": "none" if value is None or value == {} else value}
             for name, value in (answer.get("limits") or {}).items()]
    out.rows("limits", rows, ("limit", "value"))


# ---- shared ---------------------------------------------------------------------------------


def _watch(task_id: str, label: str, timeout: float | None, events: bool = True) -> dict[str, Any]:
    """Follow the task until it ends: a progress bar, or (--json) one event per line (`events`);
    its final state."""
    client, out = app().client, app().out
    try:
        if out.as_json:
            for event in client.tasks.watch(task_id, timeout):
                if events:
                    out.event(event)
        else:
            with out.task_bar(label) as bar:
                for event in client.tasks.watch(task_id, timeout):
                    bar.update(event)
    except WaitTimeout as exc:
        _exit_still_running(exc)
    task = client.tasks.get(task_id)
    if not out.as_json:
        line = f"{task_id} {task.get('status')}"
        if task.get("error"):
            line += f": {task['error']}"
        out.note(line)
    return task


def _download(task_id: str, path: str) -> None:
    client, out = app().client, app().out
    if out.as_json:
        written = client.tasks.download(task_id, path)
        out.json({"task_id": task_id, "path": str(written)})
        return
    with out.download_bar("output") as bar:
        written = client.tasks.download(task_id, path, on_progress=bar)
    out.note(f"saved {written}")


def _exit_for(task: dict[str, Any]) -> None:
    status = str(task.get("status"))
    code = EXIT_BY_STATUS.get(status, EXIT_STILL_RUNNING if status not in TERMINAL else EXIT_ERROR)
    if code:
        raise click.exceptions.Exit(code)


def _exit_still_running(exc: WaitTimeout) -> NoReturn:
    app().out.task(exc.task)
    app().out.note(f"still {exc.task.get('status')} after {exc.timeout:g} s")
    raise click.exceptions.Exit(EXIT_STILL_RUNNING)


def main() -> None:
    cli(prog_name="taskhook")


if __name__ == "__main__":
    main()
