"""The ``gemini-vectors`` command.

Each subcommand lives in a module of this package that offers ``register(subparsers)``; the list below
is the one place that says which commands exist.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from gemini_vectors.cli import demo, emulator, index, plugins, reembed, search, sync
from gemini_vectors.cli.extras import EXTRA_OF_MODULE, missing_extra_message
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
    """Entry point of the ``gemini-vectors`` console script.

    Args:
        argv: The arguments; None (the console script, ``python -m gemini_vectors.cli``): ``sys.argv``.
            Only then does the process end with the command, which is why a ``memory://`` store (its
            vectors die with the process) is refused for ``sync`` and ``reembed`` there, and allowed to
            a Python caller that passes ``argv`` and keeps the store alive across calls.
    """
    args = build_parser().parse_args(argv)
    args.process_ends_with_command = argv is None
    func: Command = args.func
    try:
        return func(args)
    except GeminiVectorsError as exc:
        print(f"gemini-vectors: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except ModuleNotFoundError as exc:
        module = (exc.name or "").partition(".")[0]
        if module not in EXTRA_OF_MODULE:
            raise
        # an optional dependency a command's own check did not foresee: still one line, not a traceback
        print(
            f"gemini-vectors: error: {missing_extra_message(f'gemini-vectors {args.command}', module)}",
            file=sys.stderr,
        )
        return 2
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
