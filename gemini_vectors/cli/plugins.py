"""``gemini-vectors plugins``: what is installed and which URL schemes it serves."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the ``plugins`` subcommand."""
    parser = sub.add_parser("plugins", help="list installed plugins and the URL schemes they serve")
    parser.set_defaults(func=cmd_plugins)


def cmd_plugins(args: argparse.Namespace) -> int:
    """List installed plugins, their versions and the URL schemes they serve."""
    from gemini_vectors.plugins import broken_plugins, list_plugins

    rows = [("plugin", "version", "distribution", "schemes", "hooks")]
    for p in list_plugins():
        rows.append(
            (p.name, p.version or "-", p.distribution or "-", ", ".join(p.schemes) or "-", ", ".join(p.hooks))
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for b in broken_plugins():
        print(f"BROKEN {b.name} ({b.distribution or 'unknown distribution'}): {b.error}")
    return 0
