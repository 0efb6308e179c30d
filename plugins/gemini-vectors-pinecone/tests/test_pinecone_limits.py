"""Pinecone's limits: requests sized under them, and records that break them refused before sending."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from emulators.pinecone import PineconeEmulator
from gemini_vectors.errors import ArgumentError, ConfigurationError, FilterError, MetadataError
from gemini_vectors.filters import parse_filter
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Record
from gemini_vectors.testing.contract import make_records, unit_vectors

from gemini_vectors_pinecone import limits
from gemini_vectors_pinecone.store import PineconeStore

SPEC_3072 = EmbeddingSpec.for_model("gemini-embedding-2", 3072)
SPEC_128 = EmbeddingSpec.for_model("gemini-embedding-2", 128)


def test_5000_vectors_of_3072_dims_upsert_with_no_request_over_2_mb(
    make_store: Callable[..., PineconeStore], emulator: PineconeEmulator
) -> None:
    store = make_store()
    coll = store.open_collection("big", SPEC_3072)
    records = make_records(5000, dims=3072, seed=1)
    emulator.reset_counters()
    coll.upsert(records)

    upserts = emulator.select("upsert")
    sizes = [r.body_bytes for r in upserts]
    assert all(r.status == 200 for r in upserts)  # the emulator answers 413 above 2 MiB
    assert max(sizes) <= store.max_request_bytes <= 2 * 1024 * 1024
    # far fewer than 1,000 records fit in 2 MB at 3072 dims, so the size limit is what splits the batch
    assert len(upserts) > 5000 / 1000
    # requests are packed: all but the smallest (the remainder) are within one record of the limit
    one_record = max(sizes) // 20
    assert all(size > store.max_request_bytes - one_record for size in sorted(sizes)[1:])
    assert coll.count() == 5000
    stored = emulator.vectors(store.index_name, "big")
    assert len(stored) == 5000
    for i in (0, 2500, 4999):
        np.testing.assert_array_equal(stored[f"r{i}"][0], records[i].vector)


def test_request_size_is_measured_exactly(
    make_store: Callable[..., PineconeStore], emulator: PineconeEmulator
) -> None:
    """With the emulator's limit set to the plugin's, one byte of underestimate would be a 413."""
    limit = 60_000
    store = make_store(max_request_bytes=limit)
    coll = store.open_collection("exact", SPEC_128)
    emulator.max_request_bytes = limit
    try:
        metadata = [{"text": "ü" * (i % 97), "n": i * 0.1, "tags": ["a"] * (i % 5)} for i in range(600)]
        coll.upsert(make_records(600, metadata=metadata, seed=2))
    finally:
        emulator.max_request_bytes = 2 * 1024 * 1024
    sizes = emulator.body_sizes("upsert")
    assert all(r.status == 200 for r in emulator.select("upsert"))
    assert max(sizes) <= limit and min(sorted(sizes)[1:]) > limit - 5_000
    assert coll.count() == 600


def test_at_most_1000_records_per_request(
    make_store: Callable[..., PineconeStore], emulator: PineconeEmulator
) -> None:
    coll = make_store().open_collection("many", EmbeddingSpec.for_model("gemini-embedding-2", 128))
    emulator.reset_counters()
    coll.upsert(make_records(2500, seed=4))
    assert emulator.count("upsert", status=200) >= 3  # 2500 small records: at most 1000 per request
    assert coll.count() == 2500


def _oversized_metadata() -> dict[str, Any]:
    return {"text": "x" * (41 * 1024)}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (Record("big-meta", unit_vectors(1)[0], _oversized_metadata()), r"'big-meta'.*40960 bytes"),
        (Record("null-value", unit_vectors(1)[0], {"ok": 1, "gone": None}), r"'null-value'.*'gone' is null"),
        (Record("a" * 513, unit_vectors(1)[0], {}), r"513 characters.*at most 512"),
        (Record("猫" * 60, unit_vectors(1)[0], {}), r"540 characters after percent-encoding.*512"),
        (Record("nested", unit_vectors(1)[0], {"n": {"a": 1}}), r"'nested'.*'n' is a dict"),
        (Record("list", unit_vectors(1)[0], {"l": ["a", 1]}), r"'list'.*lists may hold strings only"),
        (Record("dollar", unit_vectors(1)[0], {"$x": 1}), r"'dollar'.*'\$x' starts with '\$'"),
        (Record("bigint", unit_vectors(1)[0], {"n": 2**60}), r"'bigint'.*2\*\*53"),
        (Record("reserved", unit_vectors(1)[0], {"__gv_content_hash": "x"}), r"'reserved'.*reserved"),
        (Record("", unit_vectors(1)[0], {}), r"non-empty"),
    ],
    ids=[
        "41KB",
        "null",
        "513-char-id",
        "long-unicode-id",
        "nested",
        "mixed-list",
        "dollar",
        "bigint",
        "reserved",
        "empty-id",
    ],
)
def test_bad_records_are_refused_before_any_request(
    make_store: Callable[..., PineconeStore], emulator: PineconeEmulator, record: Record, message: str
) -> None:
    coll = make_store().open_collection("refuse", SPEC_128)
    good = make_records(5)
    emulator.reset_counters()
    with pytest.raises(MetadataError, match=message):
        coll.upsert([*good, record])
    assert emulator.requests == []  # nothing was sent, not even the good records
    assert coll.count() == 0


def test_the_limits_themselves_are_accepted(make_store: Callable[..., PineconeStore]) -> None:
    coll = make_store().open_collection("edge", SPEC_128)
    at_limit = "x" * (limits.MAX_METADATA_BYTES - len('{"text":"","__gv_content_hash":"h"}'))
    coll.upsert(
        [
            Record("a" * 512, unit_vectors(1)[0], {"text": at_limit}, "h"),
            Record("n", unit_vectors(1)[0], {"n": 2**53}),
        ]
    )
    (got,) = coll.get(["a" * 512])
    assert got.metadata == {"text": at_limit} and got.content_hash == "h"
    assert coll.get(["n"])[0].metadata == {"n": float(2**53)}


def test_content_hash_is_stored_apart_from_user_metadata(
    make_store: Callable[..., PineconeStore], emulator: PineconeEmulator
) -> None:
    store = make_store()
    coll = store.open_collection("hashes", SPEC_128)
    coll.upsert(
        [Record("a", unit_vectors(1)[0], {"k": "v"}, "sha256:abc"), Record("b", unit_vectors(1)[0], {})]
    )
    raw = emulator.vectors(store.index_name, "hashes")
    assert raw["a"][1] == {"k": "v", limits.CONTENT_HASH_KEY: "sha256:abc"}
    assert raw["b"][1] == {}
    got = {r.id: r for r in coll.get(["a", "b"])}
    assert got["a"].metadata == {"k": "v"} and got["a"].content_hash == "sha256:abc"
    assert got["b"].content_hash is None
    (match,) = coll.query(unit_vectors(1)[0], k=1, filter=parse_filter({"k": "v"}))
    assert match.metadata == {"k": "v"}
    with pytest.raises(FilterError, match="reserved"):
        coll.query(unit_vectors(1)[0], k=1, filter=parse_filter({limits.CONTENT_HASH_KEY: "x"}))


def test_ids_and_names_are_sent_as_ascii(
    make_store: Callable[..., PineconeStore], emulator: PineconeEmulator
) -> None:
    store = make_store()
    coll = store.open_collection("名前 100%", SPEC_128)
    ids = ["ключ", "50%", "plain-id", "e\u0301", "tab\there"]
    coll.upsert([Record(i, v) for i, v in zip(ids, unit_vectors(len(ids)), strict=True)])
    namespaces = [r.path for r in emulator.select("create_namespace")]
    assert namespaces  # created explicitly
    stored = emulator.vectors(store.index_name, limits.encode_name("名前 100%"))
    assert set(stored) == {"%D0%BA%D0%BB%D1%8E%D1%87", "50%25", "plain-id", "e%CC%81", "tab%09here"}
    assert all(key.isascii() and key.isprintable() for key in stored)
    assert sorted(coll.iter_ids()) == sorted(ids)
    assert store.list_collections() == ["名前 100%"]


def test_collection_names_pinecone_cannot_hold(make_store: Callable[..., PineconeStore]) -> None:
    store = make_store()
    with pytest.raises(ConfigurationError, match="default namespace"):
        store.open_collection("__default__", SPEC_128)
    with pytest.raises(ArgumentError, match=r"513 long \(characters once percent-encoded\).* at most 512"):
        store.open_collection("n" * 513, SPEC_128)


def test_large_metadata_results_and_large_k(
    make_store: Callable[..., PineconeStore], emulator: PineconeEmulator
) -> None:
    """Beyond what 4 MB of answer can hold with metadata inline, matches are fetched; k up to 10,000."""
    coll = make_store().open_collection("wide", SPEC_128)
    vectors = unit_vectors(1500, seed=9)
    records = [Record(f"m{i}", vectors[i], {"p": "y" * 30_000} if i < 150 else {"i": i}) for i in range(1500)]
    coll.upsert(records)
    probe = vectors[0]
    got = coll.query(probe, k=150, filter=parse_filter({"p": {"$exists": True}}))
    assert len(got) == 150 and all(m.metadata["p"] == "y" * 30_000 for m in got)
    many = coll.query(probe, k=1200, include_vectors=True)
    assert len(many) == 1200
    exact = vectors @ probe
    assert [m.id for m in many[:10]] == [f"m{i}" for i in np.argsort(-exact)[:10]]
    assert all(m.vector is not None and m.vector.shape == (128,) for m in many)
    assert all(r.status == 200 for r in emulator.requests if r.endpoint in ("upsert", "query", "fetch"))
    with pytest.raises(ValueError, match="10000"):
        coll.query(probe, k=10_001)


def test_get_splits_long_id_lists(
    make_store: Callable[..., PineconeStore], emulator: PineconeEmulator
) -> None:
    coll = make_store().open_collection("long-ids", SPEC_128)
    ids = [f"{i:05d}-" + "k" * 200 for i in range(1200)]
    coll.upsert([Record(i, v) for i, v in zip(ids, unit_vectors(len(ids), seed=3), strict=True)])
    emulator.reset_counters()
    got = coll.get([*list(reversed(ids)), "missing"])
    assert [r.id for r in got] == list(reversed(ids))
    fetches = emulator.select("fetch")
    assert len(fetches) >= 1200 * 200 // limits.MAX_FETCH_QUERY_BYTES
    assert all(r.status == 200 and r.url_bytes < limits.MAX_FETCH_QUERY_BYTES + 200 for r in fetches)
    coll.delete(ids=ids[:1100])
    assert coll.count() == 100
    assert all(r.body_bytes < 2_000_000 for r in emulator.select("delete"))
