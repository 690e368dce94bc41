"""Serves the Chalice app over real HTTP with Chalice's own local API Gateway emulation."""

from __future__ import annotations

import argparse
import sys

from chalice.config import Config
from chalice.local import LocalDevServer

from .children import exit_with_parent
from .state import ROOT


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    exit_with_parent()
    sys.path.insert(0, str(ROOT))
    from app import app  # noqa: PLC0415 - the app reads its settings on first request

    config = Config.create(chalice_stage="dev", app_name="taskhook", project_dir=str(ROOT))
    server = LocalDevServer(app, config, args.host, args.port)
    server.server.serve_forever()


if __name__ == "__main__":
    main()
