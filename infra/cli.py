"""`taskhook` operator command: API keys and client tokens for the running local stack (or for AWS
when no local stack is running and the usual AWS_* variables and table names are set).

    taskhook keys create --team acme [--name ci] [--scope tasks|admin]   (default: tasks)
    taskhook keys revoke key_0123456789ab
    taskhook keys list --team acme
    taskhook client-tokens create --team acme --client mobile-app   (alias: tokens)
    taskhook client-tokens revoke cli_0123456789ab
    taskhook client-tokens list --team acme
    taskhook teams set-limits --team acme --rps 10 --burst 20 [--concurrency 8]   (--rps 0: no limit)
    taskhook teams set-retention --team acme --days 90   (finished tasks kept 90 days; 0: the default)
    taskhook teams set-destination-limit --team acme --host api.replicate.com --concurrency 2 [--rps 5]
    taskhook teams show --team acme
    taskhook stats show --team acme        (the team's task counts by status, from TeamStats)
    taskhook stats recount --team acme     (rebuild them from the tasks table: a Scan; operators only)
    taskhook stats recount --all           (every team's, in one Scan: after an upgrade)
    taskhook retention expire-local [--team acme] [--as-of 2027-01-01T00:00:00Z]   (the local stack's TTL, now)
    taskhook vault …   (the team's token vault; see `taskhook vault --help`)
    taskhook upgrade-tasks [--resume '<key>']   (one-off: tasks items to the byTeamPhase layout, docs/upgrading.md)
    eval "$(taskhook env)"   (in another shell: URL, KEY and WS of the running make run)

Revoking a key or token also closes the WebSocket connections it opened (through the WebSocket
management API: the local stack's twin, or WEBSOCKET_MANAGEMENT_URL on AWS).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from .cli_vault import add_vault_parser, run_vault
from .state import apply_stack_env


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskhook", description="Taskhook operator commands")
    groups = parser.add_subparsers(dest="group", required=True)
    keys_parser = groups.add_parser("keys", help="create, revoke and list API keys")
    keys = keys_parser.add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="create a key for a team; the key is printed once")
    create.add_argument("--team", required=True)
    create.add_argument("--name", default="")
    create.add_argument("--scope", choices=["tasks", "admin"], default="tasks",
                        help="tasks (default): the task routes only; admin: also manage the team "
                             "(keys, client tokens, webhook secret, vault, limits)")
    revoke = keys.add_parser("revoke", help="revoke a key by its id (key_…)")
    revoke.add_argument("key_id")
    listing = keys.add_parser("list", help="list a team's keys (ids only, never secrets)")
    listing.add_argument("--team", required=True)

    tokens_parser = groups.add_parser("client-tokens", aliases=["tokens"],
                                      help="create, revoke and list client tokens (seed 003's CLIENT_TOKEN)")
    tokens = tokens_parser.add_subparsers(dest="action", required=True)
    create = tokens.add_parser("create", help="create a token for one client of a team; printed once")
    create.add_argument("--team", required=True)
    create.add_argument("--client", required=True, help="who the token is for, e.g. mobile-app")
    revoke = tokens.add_parser("revoke", help="revoke a token by its id (cli_…)")
    revoke.add_argument("token_id")
    listing = tokens.add_parser("list", help="list a team's client tokens (ids only, never secrets)")
    listing.add_argument("--team", required=True)

    teams_parser = groups.add_parser("teams", help="a team's plan: API rate limit, executor share, destination limits")
    teams = teams_parser.add_subparsers(dest="action", required=True)
    limits = teams.add_parser("set-limits", help="change a team's limits (applies within a second)")
    limits.add_argument("--team", required=True)
    limits.add_argument("--rps", type=float, help="API requests per second (0: no limit for this team)")
    limits.add_argument("--burst", type=int, help="requests at once (0 or unset: one second's worth)")
    limits.add_argument("--concurrency", type=int, help="the team's tasks running at once (0: no share)")
    retention = teams.add_parser("set-retention", help="days the team's finished tasks are kept (docs/retention.md)")
    retention.add_argument("--team", required=True)
    retention.add_argument("--days", type=int, required=True, help="1-3650 (0: the deployment's default)")
    destination = teams.add_parser("set-destination-limit",
                                   help="limit a team's calls to one host (0 or unset everywhere: removed)")
    destination.add_argument("--team", required=True)
    destination.add_argument("--host", required=True, help="a host name, e.g. api.replicate.com")
    destination.add_argument("--concurrency", type=int, help="calls in flight at once")
    destination.add_argument("--rps", type=float, help="calls per second")
    destination.add_argument("--burst", type=int, help="calls at once under --rps (unset: one second's worth)")
    show = teams.add_parser("show", help="a team's plan as set and as in force")
    show.add_argument("--team", required=True)
    stats_parser = groups.add_parser("stats", help="a team's task counts by status (TeamStats)")
    stats = stats_parser.add_subparsers(dest="action", required=True)
    stats.add_parser("show", help="the counts as kept from the stream").add_argument("--team", required=True)
    recount_parser = stats.add_parser("recount", help="rebuild the counts from the tasks table (a Scan of the "
                                                      "whole table: run it while the team is quiet)")
    recount_parser.add_argument("--team")
    recount_parser.add_argument("--all", action="store_true",
                                help="every team's, in one Scan (after an upgrade, docs/upgrading.md)")
    retention_parser = groups.add_parser("retention", help="the local stack's expiry of finished tasks")
    retention_actions = retention_parser.add_subparsers(dest="action", required=True)
    expire = retention_actions.add_parser("expire-local", help="delete the expired tasks now (local stack only; "
                                                               "AWS's TTL does it there)")
    expire.add_argument("--team", help="only this team's tasks")
    expire.add_argument("--as-of", help="expire as if it were this moment (ISO 8601), e.g. to try a retention")
    add_vault_parser(groups)
    upgrade = groups.add_parser("upgrade-tasks", help="one-off, idempotent: give every task item its teamPhase "
                                                       "and drop teamStatus (docs/upgrading.md)")
    upgrade.add_argument("--resume", help="the last \"resume\" value printed, to go on from there")
    upgrade.add_argument("--page-size", type=int, default=500, help="items per Scan page (500)")
    groups.add_parser("env", help="shell lines that set URL, KEY (the dev key) and WS for the running local stack")
    return parser


def _keys(args: argparse.Namespace) -> None:
    from taskhook.container import container

    service = container().api_key_service
    if args.action == "create":
        secret, key = service.create(args.team, name=args.name, scope=args.scope)
        print(json.dumps({"apiKey": secret, "keyId": key.key_id, "team": key.team_id, "scope": key.scope}))
    elif args.action == "revoke":
        key = service.revoke(args.key_id)
        print(json.dumps({"keyId": key.key_id, "team": key.team_id, "revokedAt": key.revoked_at}))
    else:
        for key in service.repository.list_for_team(args.team):
            if key.kind == "api":
                print(json.dumps({"keyId": key.key_id, "name": key.name, "scope": key.scope,
                                  "createdAt": key.created_at, "revokedAt": key.revoked_at}))


def _client_tokens(args: argparse.Namespace) -> None:
    from taskhook.container import container

    service = container().client_token_service
    if args.action == "create":
        secret, token = service.create(args.team, args.client)
        print(json.dumps({"clientToken": secret, "tokenId": token.key_id, "team": token.team_id,
                          "client": token.name}))
    elif args.action == "revoke":
        token = service.revoke(args.token_id)
        print(json.dumps({"tokenId": token.key_id, "team": token.team_id, "revokedAt": token.revoked_at}))
    else:
        for token in service.list(args.team):
            print(json.dumps({"tokenId": token.key_id, "client": token.name, "createdAt": token.created_at,
                              "revokedAt": token.revoked_at}))


def _teams(args: argparse.Namespace) -> None:
    from taskhook.container import container
    from taskhook.intake.api_keys import check_team_id
    from taskhook.model.errors import ValidationFailed
    from taskhook.model.plan import DestinationLimit, TeamPlan, with_destination, with_limits, with_retention

    check_team_id(args.team)
    store = container().plan_store
    stored = store.load(args.team) or TeamPlan()
    if args.action == "set-limits":
        if args.rps is None and args.burst is None and args.concurrency is None:
            raise ValidationFailed("give at least one of --rps, --burst, --concurrency")
        stored = with_limits(stored, args.rps, args.burst, args.concurrency)
        store.save(args.team, stored)
    elif args.action == "set-retention":
        stored = with_retention(stored, args.days)
        store.save(args.team, stored)
    elif args.action == "set-destination-limit":
        limit = DestinationLimit(args.concurrency, args.rps, args.burst)
        stored = with_destination(stored, args.host, limit)
        store.save(args.team, stored)
    in_force = container().plan_book.plan_of(args.team)
    print(json.dumps({"team": args.team, "plan": _stored_view(stored), "inForce": in_force.public()}))


def _stats(args: argparse.Namespace) -> None:
    from taskhook.container import container
    from taskhook.dispatch.recount import recount, recount_all
    from taskhook.intake.api_keys import check_team_id
    from taskhook.model.errors import ValidationFailed

    stats = container().team_stats
    if args.action == "recount" and getattr(args, "all", False):
        if args.team:
            raise ValidationFailed("give --team or --all, not both")
        teams = recount_all(container().task_repository.team_statuses(), stats)
        print(json.dumps({"teams": len(teams), "tasks": sum(sum(c.values()) for c in teams.values())}))
        return
    if not args.team:
        raise ValidationFailed("--team is required (or --all with recount)")
    check_team_id(args.team)
    if args.action == "recount":
        counts = recount(container().task_repository.statuses_of_team(args.team), args.team, stats)
    else:
        counts = stats.counts(args.team)
    print(json.dumps({"team": args.team, "counts": {s.value: n for s, n in sorted(counts.items())},
                      "total": container().task_counts.total(args.team, None)}))


def _retention(args: argparse.Namespace, state: dict[str, object] | None) -> int:
    import time

    from taskhook.container import container
    from taskhook.model.clock import parse_iso

    if not state:
        print("taskhook: no local stack is running (on AWS, DynamoDB's TTL expires tasks)", file=sys.stderr)
        return 2
    try:
        now = parse_iso(args.as_of).timestamp() if args.as_of else time.time()
    except ValueError:
        print("taskhook: --as-of must be an ISO 8601 moment, e.g. 2027-01-01T00:00:00Z", file=sys.stderr)
        return 2
    print(json.dumps({"expired": container().local_expiry.expire(now, args.team)}))
    return 0


def _stored_view(plan: object) -> dict[str, object]:
    from dataclasses import asdict

    return {k: v for k, v in asdict(plan).items() if v not in (None, {})}  # type: ignore[call-overload]


def _upgrade_tasks(args: argparse.Namespace) -> None:
    """One JSON line per Scan page (its `resume` goes back in as --resume), then the totals."""
    from taskhook.container import container
    from taskhook.model.errors import ValidationFailed

    try:
        start = json.loads(args.resume) if args.resume else None
    except ValueError:
        raise ValidationFailed("--resume takes the \"resume\" value a page printed") from None
    if args.page_size < 1:
        raise ValidationFailed("--page-size must be at least 1")
    totals = {"scanned": 0, "updated": 0, "skipped": 0}
    for page in container().team_phase_backfill.pages(start, page_size=args.page_size):
        for name in totals:
            totals[name] += getattr(page, name)
        resume = json.dumps(page.resume, separators=(",", ":")) if page.resume else None
        print(json.dumps({"scanned": page.scanned, "updated": page.updated, "skipped": page.skipped,
                          "resume": resume}), flush=True)
    print(json.dumps({"done": True, **totals}))


def _env(state: dict[str, object] | None) -> int:
    """`eval "$(bin/taskhook env)"`: the running stack's API URL, dev key and WebSocket URL, as the
    README's examples use them (and as TASKHOOK_URL / TASKHOOK_API_KEY, the client's names)."""
    if not state:
        print("taskhook: no local stack is running (start one with make run)", file=sys.stderr)
        return 2
    values = {"URL": state["url"], "KEY": state["devKey"], "WS": state["websocket"]}
    values |= {"TASKHOOK_URL": values["URL"], "TASKHOOK_API_KEY": values["KEY"]}
    print("export " + " ".join(f"{name}={shlex.quote(str(value))}" for name, value in values.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    state = apply_stack_env()
    if args.group == "env":
        return _env(state)
    from taskhook.model.errors import TaskhookError

    try:
        if args.group == "keys":
            _keys(args)
        elif args.group == "teams":
            _teams(args)
        elif args.group == "vault":
            run_vault(args)
        elif args.group == "stats":
            _stats(args)
        elif args.group == "retention":
            return _retention(args, state)
        elif args.group == "upgrade-tasks":
            _upgrade_tasks(args)
        else:
            _client_tokens(args)
    except TaskhookError as exc:
        print(f"taskhook: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
