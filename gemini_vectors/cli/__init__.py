"""The ``gemini-vectors`` command.

Each subcommand lives in a module of this package that offers ``register(subparsers)``; the list below
is the one place that says which commands exist.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from gemini_vectors.cli import demo, emulator, index, plugins, reembed, search, sync
from gemini_vectors.errors import GeminiVectorsError

Command = Callable[[argparse.Namespace], int]

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = (demo, index, search, sync, reembed, plugins, emulator)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gemini-vectors`` command."""
    parser = argparse.ArgumentParser(
        prog="gemini-vectors", description="Gemini Embedding 2 for the vector database you already run."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gemini-vectors`` console script."""
    args = build_parser().parse_args(argv)
    func: Command = args.func
    try:
        return func(args)
    except GeminiVectorsError as exc:
        print(f"gemini-vectors: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not _is_database_error(exc):
            raise
        # the source or state database failed (unreachable, locked, missing): a message, not a traceback
        print(f"gemini-vectors: error: the database failed: {exc}", file=sys.stderr)
        return 2


def _is_database_error(exc: BaseException) -> bool:
    try:
        import sqlalchemy.exc
    except ImportError:  # SQLAlchemy is an optional dependency of the core
        return False
    return isinstance(exc, sqlalchemy.exc.SQLAlchemyError)
