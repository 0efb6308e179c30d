"""``gemini-vectors emulator``: the offline Gemini API server, for tests and demos."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the ``emulator`` subcommand."""
    parser = sub.add_parser("emulator", help="run the offline Gemini API emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.set_defaults(func=cmd_emulator)


def cmd_emulator(args: argparse.Namespace) -> int:
    """Run the offline Gemini API emulator until interrupted."""
    import sys

    from gemini_vectors.testing import serve

    try:
        serve(host=args.host, port=args.port)
    except (OSError, OverflowError) as exc:  # the port is taken, out of range, or not ours to bind
        print(f"gemini-vectors: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    return 0
