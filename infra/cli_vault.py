"""`taskhook vault …`: a team's token vault from the operator's side (placeholder until built)."""

from __future__ import annotations

import argparse
from typing import Any


def add_vault_parser(groups: Any) -> None:
    groups.add_parser("vault", help="a team's token vault (stored third-party secrets)")


def run_vault(args: argparse.Namespace) -> None:
    raise SystemExit("taskhook: vault commands are not built yet")
