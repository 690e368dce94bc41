"""Stops a deploy early, with a clear message, when no AWS credentials can be found.

Usage: python -m infra.aws_credentials "make deploy-sam". Uses botocore's own resolution chain
(environment, shared files, SSO, container and instance roles), so it finds what sam and chalice would.
"""

from __future__ import annotations

import sys

import botocore.session
from botocore.exceptions import BotoCoreError

MESSAGE = (
    "{what}: no AWS credentials found. Deploying needs them: set AWS_PROFILE (after `aws configure` or "
    "`aws sso login`), or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. Building needs none: `make package`."
)


def has_credentials() -> bool:
    try:
        return botocore.session.get_session().get_credentials() is not None
    except BotoCoreError:  # e.g. AWS_PROFILE names a profile that does not exist
        return False


def main(argv: list[str]) -> int:
    if has_credentials():
        return 0
    print(MESSAGE.format(what=argv[0] if argv else "deploy"), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
