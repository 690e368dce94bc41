"""`taskhook vault …`: a team's Token Vault from the operator's side (the same service as /v1/tokens).

    taskhook vault create --team acme --name replicate      (the value is read from stdin)
    taskhook vault list --team acme
    taskhook vault rotate --team acme tok_0123…             (the new value from stdin)
    taskhook vault delete --team acme tok_0123…

A value is never taken on the command line (it would stay in the shell's history and show in `ps`):
it is read from standard input, without its trailing newline, or asked for without echo at a
terminal. Nothing printed ever holds it: each command prints the token's id, name and preview.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any


def add_vault_parser(groups: Any) -> None:
    parser = groups.add_parser("vault", help="a team's token vault (stored third-party secrets)")
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="store a secret (read from stdin); prints its tok_ id")
    create.add_argument("--team", required=True)
    create.add_argument("--name", required=True, help="unique in the team, e.g. replicate")
    create.add_argument("--host", action="append", dest="hosts", metavar="HOST",
                        help="a host it may be sent to (repeat for several; none: any host)")
    listing = actions.add_parser("list", help="the team's tokens (never their values)")
    listing.add_argument("--team", required=True)
    rotate = actions.add_parser("rotate", help="replace a token's value (read from stdin)")
    rotate.add_argument("--team", required=True)
    rotate.add_argument("token_id")
    delete = actions.add_parser("delete", help="delete a token: tasks that use it fail without a call")
    delete.add_argument("--team", required=True)
    delete.add_argument("token_id")


def _value() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("value: ")
    return sys.stdin.read().removesuffix("\n").removesuffix("\r")


def run_vault(args: argparse.Namespace) -> None:
    from taskhook.container import container
    from taskhook.intake.api_keys import check_team_id

    check_team_id(args.team)
    service = container().vault_service
    if args.action == "create":
        data: dict[str, Any] = {"name": args.name, "value": _value()}
        if args.hosts:
            data["hosts"] = args.hosts
        out: Any = service.create(args.team, data).public()
    elif args.action == "list":
        out = [t.public() for t in service.list(args.team)]
    elif args.action == "rotate":
        out = service.rotate(args.team, args.token_id, {"value": _value()}).public()
    else:
        out = {**service.delete(args.team, args.token_id).public(), "deleted": True}
    print(json.dumps({"team": args.team, "tokens" if args.action == "list" else "token": out}))
