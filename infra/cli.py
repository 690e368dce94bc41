"""`taskhook` operator command: API keys and client tokens for the running local stack (or for AWS
when no local stack is running and the usual AWS_* variables and table names are set).

    taskhook keys create --team acme [--name ci]
    taskhook keys revoke key_0123456789ab
    taskhook keys list --team acme
    taskhook client-tokens create --team acme --client mobile-app   (alias: tokens)
    taskhook client-tokens revoke cli_0123456789ab
    taskhook client-tokens list --team acme

Revoking a key or token also closes the WebSocket connections it opened (through the WebSocket
management API: the local stack's twin, or WEBSOCKET_MANAGEMENT_URL on AWS).
"""

from __future__ import annotations

import argparse
import json
import sys

from .state import apply_stack_env


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="taskhook", description="Taskhook operator commands")
    groups = parser.add_subparsers(dest="group", required=True)
    keys_parser = groups.add_parser("keys", help="create, revoke and list API keys")
    keys = keys_parser.add_subparsers(dest="action", required=True)
    create = keys.add_parser("create", help="create a key for a team; the key is printed once")
    create.add_argument("--team", required=True)
    create.add_argument("--name", default="")
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
    return parser


def _keys(args: argparse.Namespace) -> None:
    from taskhook.container import container

    service = container().api_key_service
    if args.action == "create":
        secret, key = service.create(args.team, name=args.name)
        print(json.dumps({"apiKey": secret, "keyId": key.key_id, "team": key.team_id}))
    elif args.action == "revoke":
        key = service.revoke(args.key_id)
        print(json.dumps({"keyId": key.key_id, "team": key.team_id, "revokedAt": key.revoked_at}))
    else:
        for key in service.repository.list_for_team(args.team):
            if key.kind == "api":
                print(json.dumps({"keyId": key.key_id, "name": key.name, "createdAt": key.created_at,
                                  "revokedAt": key.revoked_at}))


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


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    apply_stack_env()
    from taskhook.model.errors import TaskhookError

    try:
        if args.group == "keys":
            _keys(args)
        else:
            _client_tokens(args)
    except TaskhookError as exc:
        print(f"taskhook: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
