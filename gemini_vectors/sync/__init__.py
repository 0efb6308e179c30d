"""The drop-in vectorizer for existing databases: sync a table into any store, keep it in sync, re-embed.

* :class:`Vectorizer` reads a table in keyset pages, embeds new and changed rows (by content hash),
  deletes the vectors of deleted rows, and resumes an interrupted run from its checkpoint.
* :mod:`~gemini_vectors.sync.watch`: triggers, a queue and ``FOR UPDATE SKIP LOCKED`` workers for
  continuous sync from PostgreSQL.
* :mod:`~gemini_vectors.sync.reembed`: blue/green re-embedding under a new model or size, optionally
  through Gemini Batch Mode, switched over atomically through an alias.
* :mod:`~gemini_vectors.sync.pricing`: the price table and cost estimates for ``--dry-run``.

Importing this package does not import SQLAlchemy; the Vectorizer does when it is built.
"""

from __future__ import annotations

from gemini_vectors.sync.vectorizer import SyncEstimate, SyncSummary, Vectorizer

__all__ = ["SyncEstimate", "SyncSummary", "Vectorizer"]
