"""``gemini-vectors reembed``: rebuild a synced collection under a new model or size, blue/green.

Examples::

    gemini-vectors reembed --source postgresql://app@db/shop --collection products \\
        --model gemini-embedding-2 --dimensions 3072 --batch-mode
    gemini-vectors reembed ... --dry-run      # rows, tokens and cost of the re-embed
    gemini-vectors reembed --source ... --collection products --drop-old   # after checking the new one

The table, its columns and the store come from the job that ``gemini-vectors sync`` recorded for the
collection (pass ``--store`` when its URL held a password, and the same ``--state-schema`` as the sync).
Run it again after an interruption: it resumes, polling the Batch Mode jobs it already created instead
of paying twice. ``--model`` alone keeps the collection's dimensions, ``--dimensions`` alone its model.
``--offline`` embeds with the built-in emulator (never chosen by itself); a ``memory://`` store is
refused, as for ``sync``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gemini_vectors.arguments import check_count
from gemini_vectors.cli.sync import (
    add_common,
    check_positive_seconds,
    flag,
    job_state,
    open_vectorizer,
    require_sync_extra,
)
from gemini_vectors.errors import ConfigurationError


def register(sub: Any) -> None:
    """Add the ``reembed`` subcommand."""
    p = sub.add_parser(
        "reembed",
        help="re-embed a synced collection under a new model or size, then switch over atomically",
        description="Build the collection again beside the old one (blue/green), switch the alias when "
        "complete, keep the old one until --drop-old.",
    )
    add_common(p, table=False)  # the job, found by --collection (or --name), knows its table
    p.add_argument("--model", help="the new embedding model (default: the collection's)")
    p.add_argument("--dimensions", type=int, help="the new output dimensions (default: the collection's)")
    p.add_argument(
        "--batch-mode", action="store_true", help="send the bulk through Gemini Batch Mode (half price)"
    )
    p.add_argument(
        "--batch-items", type=int, help="with --batch-mode: items per Batch Mode job (default 500)"
    )
    p.add_argument(
        "--poll-interval", type=float, help="with --batch-mode: seconds between polls (default 30)"
    )
    p.add_argument("--dry-run", action="store_true", help="print rows, tokens and cost; change nothing")
    p.add_argument("--drop-old", action="store_true", help="drop the collection the switch left behind")
    p.add_argument(
        "--abort", action="store_true", help="abandon an unfinished re-embed and drop what it built"
    )
    p.set_defaults(func=cmd_reembed)


def check_reembed_options(args: argparse.Namespace) -> None:
    """Refuse options that contradict each other or would be ignored, before anything is read or paid.

    Raises:
        ConfigurationError: names the option and what it needs.
    """
    new_spec = [o for o in ("model", "dimensions") if getattr(args, o) is not None]
    if args.abort:
        # --model/--dimensions may name the re-embed being abandoned; these would do something else
        others = [o for o in ("dry_run", "drop_old") if getattr(args, o)]
        if others:
            raise ConfigurationError(
                f"--abort drops an unfinished re-embed and nothing else: leave {flag(others[0])} out"
            )
    if args.dry_run and args.drop_old:
        raise ConfigurationError("--dry-run changes nothing, --drop-old drops a collection: give one of them")
    if args.dry_run and not new_spec:
        raise ConfigurationError(
            "--dry-run prices a re-embed: say into what, with --model M and/or --dimensions D"
        )
    for option in ("batch_items", "poll_interval"):
        if getattr(args, option) is not None and not args.batch_mode:
            raise ConfigurationError(
                f"{flag(option)} needs --batch-mode (it shapes the Batch Mode jobs): add --batch-mode or "
                f"leave {flag(option)} out"
            )
    if args.batch_items is not None:
        check_count(args.batch_items, "--batch-items", error=ConfigurationError)
    if args.page_size is not None:
        check_count(args.page_size, "--page-size", error=ConfigurationError)
    check_positive_seconds(args.poll_interval, "--poll-interval")


def _job_options(args: argparse.Namespace) -> dict[str, Any]:
    """The table and columns recorded by the collection's sync job."""
    if not args.source:
        raise ConfigurationError("name the source database with --source URL")
    with job_state(args) as state:
        if args.name:
            rec = state.get_job(args.name)
            found = [rec] if rec is not None else []
        elif args.collection:
            found = state.jobs_for_collection(args.collection)
        else:
            raise ConfigurationError("name the collection to re-embed with --collection")
    if not found:
        raise ConfigurationError(
            f"no sync job for collection {args.collection or args.name!r} in the state tables of the source "
            "(run `gemini-vectors sync` first; pass --state-schema if the sync used one)"
        )
    if len(found) > 1:
        raise ConfigurationError(
            f"several jobs write collection {args.collection!r}: "
            f"{', '.join(j.job for j in found)}; pass --name"
        )
    rec = found[0]
    args.name = rec.job
    args.collection = rec.collection
    config = rec.config
    return {
        "record": rec,
        "table": config["table"],
        "id_column": config["id_column"],
        "columns": config["columns"],
        "metadata_columns": config["metadata_columns"],
        "path_root": config.get("path_root"),
        "no_embedder": True,
    }


def cmd_reembed(args: argparse.Namespace) -> int:
    """Run ``gemini-vectors reembed``."""
    from gemini_vectors.spec import EmbeddingSpec
    from gemini_vectors.sync.reembed import Reembedder, abort_reembed, drop_previous

    check_reembed_options(args)
    require_sync_extra("reembed")
    options = _job_options(args)
    with open_vectorizer(args, writes=not args.dry_run, **options) as vec:
        if args.abort:
            dropped = abort_reembed(vec)
            print(f"re-embed aborted; dropped {dropped}" if dropped else "no unfinished re-embed")
            return 0
        if not args.model and not args.dimensions:
            if args.drop_old:
                dropped = drop_previous(vec)
                print(f"dropped {dropped}" if dropped else "no previous collection to drop")
                return 0
            raise ConfigurationError("say what to re-embed into: --model M and/or --dimensions D")
        _, current = vec.resolve()
        # what is not named stays as it is (a new model keeps the size: no silent jump to 3072)
        spec = EmbeddingSpec.for_model(args.model or current.model, args.dimensions or current.dimensions)
        if args.dry_run:
            for line in vec.estimate(spec=spec, batch=args.batch_mode, into_new_collection=True).lines():
                print(line)
            return 0

        def say(line: str) -> None:
            if not args.quiet:
                print(line, file=sys.stderr, flush=True)

        # left out: the Reembedder's own defaults (500 items, 30 s)
        given = {
            o: getattr(args, o) for o in ("batch_items", "poll_interval") if getattr(args, o) is not None
        }
        reembedder = Reembedder(vec, vec.embedder_for(spec), batch_mode=args.batch_mode, say=say, **given)
        summary = reembedder.run(drop_old=args.drop_old)
        print(summary)
        return 1 if summary.after_switch.failed else 0
