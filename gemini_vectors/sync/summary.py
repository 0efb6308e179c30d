"""What a unit of sync work did: the counters every write path returns, and how workers are named.

This is the bottom of the sync package: it imports nothing from it, so the write path
(:mod:`~gemini_vectors.sync.writer`), the passes, the watch workers and the re-embed all share it.
"""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass, field, fields, replace


@dataclass(frozen=True)
class SyncSummary:
    """What a sync did.

    Attributes:
        embedded: Rows embedded and stored (new or changed content).
        unchanged: Rows whose stored vector was already up to date (no API call).
        deleted: Vectors removed: their rows are gone, or have no content any more.
        failed: Rows that could not be embedded (see the errors table for why).
        skipped: Rows with no content in any content column (no vector is kept for them).
        rows: Rows read.
        seconds: Wall time.
        resumed: Whether the run continued an interrupted pass from its checkpoint.
        collection: The physical collection written.
        unkeyed: Rows skipped because their id column is NULL (they cannot be keyed).
        moved: Rows that changed again while their vector was being computed, more often than the
            write path re-embeds in one go; their queue entry (or the next pass) embeds them.
    """

    embedded: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    skipped: int = 0
    rows: int = 0
    seconds: float = 0.0
    resumed: bool = False
    collection: str = ""
    unkeyed: int = 0
    moved: int = 0

    def __add__(self, other: SyncSummary) -> SyncSummary:
        counts = {
            f.name: getattr(self, f.name) + getattr(other, f.name)
            for f in fields(self)
            if f.name not in ("resumed", "collection")
        }
        return SyncSummary(
            **counts, resumed=self.resumed or other.resumed, collection=other.collection or self.collection
        )

    def with_seconds(self, seconds: float) -> SyncSummary:
        """The same counts with the wall time set."""
        return replace(self, seconds=seconds)

    def __str__(self) -> str:
        extra = f", skipped {self.skipped}" if self.skipped else ""
        if self.unkeyed:
            extra += f", {self.unkeyed} rows with a NULL id left out"
        if self.moved:
            extra += f", {self.moved} rows changed while being embedded (left for the next pass)"
        resumed = ", resumed from a checkpoint" if self.resumed else ""
        return (
            f"embedded {self.embedded}, unchanged {self.unchanged}, deleted {self.deleted}, "
            f"failed {self.failed}{extra} ({self.rows} rows in {self.seconds:.1f} s{resumed})"
        )


@dataclass
class PageResult:
    """The outcome of writing some rows: counters, failures, and the rows confirmed in the store.

    Attributes:
        failures: Row id mapped to (content hash or None, reason): the rows to record as failed.
        held: Rows not sent because their unchanged content failed ``max_attempts`` times already.
        stored_ok: Rows whose vector is now the vector of their current content (their errors clear).
        hashes: Content hash of each row that had content.
        moved: Rows whose content changed again while they were being embedded, past the rounds the
            write path spends on them; nothing was written for them.
    """

    embedded: int = 0
    unchanged: int = 0
    deleted: int = 0
    failed: int = 0
    skipped: int = 0
    failures: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)
    stored_ok: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    moved: set[str] = field(default_factory=set)

    def summary(self, rows: int) -> SyncSummary:
        """These counters as a :class:`SyncSummary` of ``rows`` rows read."""
        return SyncSummary(
            self.embedded,
            self.unchanged,
            self.deleted,
            self.failed,
            self.skipped,
            rows,
            moved=len(self.moved),
        )


def show_progress(progress: bool | None) -> bool:
    """Whether to draw progress bars: as asked, else when stderr is a terminal."""
    return progress if progress is not None else sys.stderr.isatty()


def worker_name(suffix: str = "") -> str:
    """``host:pid[:suffix]``, how a worker is named in the log."""
    base = f"{socket.gethostname()}:{os.getpid()}"
    return f"{base}:{suffix}" if suffix else base
