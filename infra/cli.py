"""`taskhook` operator command: API keys for the running local stack (or for AWS when no local
stack is running and the usual AWS_* variables and table names are set).

    taskhook keys create --team acme [--name ci]
    taskhook keys revoke key_0123456789ab
    taskhook keys list --team acme
"""

from __future__ import annotations

import argparse
import json
import sys

from .state import apply_stack_env


def main(argv: list[str] | None = None) -> int:
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
    args = parser.parse_args(argv)

    apply_stack_env()
    from taskhook import composition
    from taskhook.errors import TaskhookError

    service = composition.api_key_service()
    try:
        if args.action == "create":
            secret, key = service.create(args.team, name=args.name)
            print(json.dumps({"apiKey": secret, "keyId": key.key_id, "team": key.team_id}))
        elif args.action == "revoke":
            key = service.revoke(args.key_id)
            print(json.dumps({"keyId": key.key_id, "team": key.team_id, "revokedAt": key.revoked_at}))
        else:
            for key in service.repository.list_for_team(args.team):
                print(json.dumps({"keyId": key.key_id, "name": key.name, "createdAt": key.created_at,
                                  "revokedAt": key.revoked_at}))
    except TaskhookError as exc:
        print(f"taskhook: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
