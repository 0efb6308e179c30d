"""What the Weaviate store must show beyond the contract: scale, partial failures, spec storage, names."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import gemini_vectors as gv
import numpy as np
import pytest
import weaviate
from gemini_vectors.errors import (
    CollectionNotFoundError,
    MetadataError,
    SpecMismatchError,
    StoreError,
    WriteError,
)
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Record
from gemini_vectors.testing.contract import make_records, unit_vectors

from gemini_vectors_weaviate import WeaviateCollection, WeaviateStore
from gemini_vectors_weaviate.naming import (
    HASH_PROPERTY,
    ID_PROPERTY,
    KEYS_PROPERTY,
    VECTOR_NAME,
    encoded_property,
    object_uuid,
)
from gemini_vectors_weaviate.store import DESCRIPTION_PREFIX, parse_description

SPEC = EmbeddingSpec.for_model("gemini-embedding-2", 128)


@pytest.fixture
def name(weaviate_store: WeaviateStore) -> Iterator[str]:
    n = f"store-test-{uuid.uuid4().hex[:10]}"
    yield n
    weaviate_store.drop_collection(n)


@pytest.fixture
def coll(weaviate_store: WeaviateStore, name: str) -> WeaviateCollection:
    c = weaviate_store.open_collection(name, SPEC)
    assert isinstance(c, WeaviateCollection)
    return c


def raw(store: WeaviateStore, coll: WeaviateCollection) -> Any:
    """The weaviate-client collection behind ``coll``, to look behind the store's back."""
    return store.client.collections.use(coll.class_name)


# -- scale -----------------------------------------------------------------------------------------


def test_10k_objects_of_3072_dims_upserted_twice_are_10k(weaviate_store: WeaviateStore, name: str) -> None:
    spec = EmbeddingSpec.for_model("gemini-embedding-2", 3072)
    coll = weaviate_store.open_collection(name, spec)
    records = make_records(10_000, dims=3072, seed=5)
    coll.upsert(records)
    coll.upsert(records)
    assert coll.count() == 10_000
    probe = records[1234]
    (top,) = coll.query(probe.vector, k=1)
    assert top.id == probe.id and top.score == pytest.approx(1.0, abs=1e-4)
    (got,) = coll.get([records[9999].id])
    np.testing.assert_allclose(got.vector, records[9999].vector, atol=1e-6)
    assert sum(1 for _ in coll.iter_ids(batch_size=5000)) == 10_000


# -- partial failures ------------------------------------------------------------------------------


@pytest.fixture
def emu_store(weaviate_emulator: Any) -> Iterator[WeaviateStore]:
    store = gv.connect(weaviate_emulator.url, retry_backoff=0.01, batch_size=4)
    assert isinstance(store, WeaviateStore)
    try:
        yield store
    finally:
        weaviate_emulator.clear_faults()
        store.close()


def test_rejected_objects_raise_write_error_naming_them_and_the_rest_is_stored(
    weaviate_emulator: Any, emu_store: WeaviateStore
) -> None:
    name = f"faults-{uuid.uuid4().hex[:8]}"
    coll = emu_store.open_collection(name, SPEC)
    try:
        records = make_records(10, metadata=[{"n": i} for i in range(10)])
        doomed = {"r2", "r7"}
        fault = weaviate_emulator.reject_objects(
            ids=[object_uuid(i) for i in doomed], message="emulated disk failure"
        )
        with pytest.raises(WriteError) as info:
            coll.upsert(records)
        assert set(info.value.failed_ids) == doomed
        assert all("emulated disk failure" in r for r in info.value.failed_ids.values())
        assert "r2" in str(info.value) and "r7" in str(info.value)
        assert fault.hits == len(doomed) * (emu_store.max_retries + 1)  # every rejected object was retried
        assert coll.count() == 8
        assert {r.id for r in coll.get([r.id for r in records])} == {r.id for r in records} - doomed
    finally:
        emu_store.drop_collection(name)


def test_transient_rejections_are_retried_away(weaviate_emulator: Any, emu_store: WeaviateStore) -> None:
    name = f"faults-{uuid.uuid4().hex[:8]}"
    coll = emu_store.open_collection(name, SPEC)
    try:
        fault = weaviate_emulator.reject_objects(where=lambda p: p.get("n", -1) % 3 == 0, times=4)
        records = make_records(12, metadata=[{"n": i} for i in range(12)])
        coll.upsert(records)  # 4 of them fail once, then succeed
        assert fault.hits == 4
        assert coll.count() == 12
    finally:
        emu_store.drop_collection(name)


def test_a_batch_where_every_object_fails(weaviate_emulator: Any, emu_store: WeaviateStore) -> None:
    name = f"faults-{uuid.uuid4().hex[:8]}"
    coll = emu_store.open_collection(name, SPEC)
    try:
        weaviate_emulator.reject_objects(where=lambda p: True, message="read-only shard")
        with pytest.raises(WriteError) as info:
            coll.upsert(make_records(3))
        assert set(info.value.failed_ids) == {"r0", "r1", "r2"}
        assert "read-only shard" in info.value.failed_ids["r0"]
        assert coll.count() == 0
    finally:
        weaviate_emulator.clear_faults()
        emu_store.drop_collection(name)


# -- the spec --------------------------------------------------------------------------------------


def test_spec_lives_in_the_class_description(weaviate_store: WeaviateStore, coll: WeaviateCollection) -> None:
    config = raw(weaviate_store, coll).config.get()
    assert config.description.startswith(DESCRIPTION_PREFIX)
    assert parse_description(config.description) == (coll.name, SPEC)
    payload = json.loads(config.description[len(DESCRIPTION_PREFIX) :])
    assert payload["spec"]["dimensions"] == 128
    vec = config.vector_config[VECTOR_NAME]
    assert vec.vector_index_config.distance_metric.value == "cosine"
    assert type(vec.vector_index_config).__name__ == "_VectorIndexConfigHNSW"
    assert {p.name for p in config.properties} >= {ID_PROPERTY, HASH_PROPERTY, KEYS_PROPERTY}


def test_another_spec_is_refused(weaviate_store: WeaviateStore, coll: WeaviateCollection) -> None:
    coll.upsert(make_records(2))
    other = EmbeddingSpec.for_model("gemini-embedding-2", 256)
    with pytest.raises(SpecMismatchError) as info:
        weaviate_store.open_collection(coll.name, other)
    assert info.value.stored == SPEC and info.value.requested == other
    with pytest.raises(SpecMismatchError):
        weaviate_store.create_collection(coll.name, other)  # a racing creator hits the same check


def test_spec_changed_behind_an_open_handle_is_caught_on_write(
    weaviate_store: WeaviateStore, coll: WeaviateCollection
) -> None:
    coll.upsert(make_records(1))
    other = EmbeddingSpec.for_model("gemini-embedding-001", 128)
    from gemini_vectors_weaviate.store import describe

    raw(weaviate_store, coll).config.update(description=describe(coll.name, other))
    with pytest.raises(SpecMismatchError):
        coll.upsert([Record("new", unit_vectors(1)[0], {"fresh_key": 1})])


def test_foreign_classes_are_not_collections(weaviate_store: WeaviateStore, name: str) -> None:
    class_name = weaviate_store.class_name(name)
    weaviate_store.client.collections.create(class_name)
    try:
        with pytest.raises(StoreError, match="not a gemini-vectors collection"):
            weaviate_store.open_collection(name, SPEC)
        assert name not in weaviate_store.list_collections()
    finally:
        weaviate_store.client.collections.delete(class_name)


def test_dropped_collection_handle(weaviate_store: WeaviateStore, coll: WeaviateCollection) -> None:
    coll.upsert(make_records(2))
    weaviate_store.drop_collection(coll.name)
    with pytest.raises(CollectionNotFoundError):
        coll.upsert([Record("x", unit_vectors(1)[0], {"brand_new": True})])
    with pytest.raises(CollectionNotFoundError):
        coll.upsert(make_records(1))  # known keys only: still no write, so auto-schema recreates nothing
    assert weaviate_store.stored_spec(coll.name) is None
    with pytest.raises(CollectionNotFoundError):
        coll.count()


# -- names and types -------------------------------------------------------------------------------


def test_class_names_are_valid_and_distinct(weaviate_store: WeaviateStore) -> None:
    names = ["docs", "Docs", "DOCS", "my docs/2025", "日本語", "", "x" * 300]
    classes = [weaviate_store.class_name(n) for n in names]
    assert len({c.lower() for c in classes}) == len(names)
    for c in classes:
        assert c[0].isupper() and c.replace("_", "a").isalnum() and c.isascii() and len(c) <= 255


def test_metadata_keys_weaviate_cannot_take_as_they_are(
    weaviate_store: WeaviateStore, coll: WeaviateCollection
) -> None:
    meta: dict[str, Any] = {
        "Title": "upper",
        "id": "reserved",
        "vector": "client-reserved",
        "my-key": 1,
        "ключ": True,
        "gv_id": "ours",
        "userId": "camel",
        "userid": "clash",
    }
    coll.upsert([Record("a", unit_vectors(1)[0], meta, None)])
    (got,) = coll.get(["a"])
    assert dict(got.metadata) == meta
    names = {p.name for p in raw(weaviate_store, coll).config.get().properties}
    assert "userId" in names  # plain keys stay readable
    assert encoded_property("Title") in names and encoded_property("userid") in names
    hits = coll.query(unit_vectors(1)[0], k=5, filter=gv.parse_filter({"Title": "upper", "userid": "clash"}))
    assert [m.id for m in hits] == ["a"]


def test_types_are_inferred_then_enforced(coll: WeaviateCollection, weaviate_store: WeaviateStore) -> None:
    v = unit_vectors(3)
    coll.upsert([Record("a", v[0], {"n": 1, "x": 1.5, "b": True, "t": "s", "l": ["p"]})])
    coll.upsert([Record("b", v[1], {"n": 2.0, "x": 3})])  # an integral float into int, an int into number
    types = {p.name: p.data_type.value for p in raw(weaviate_store, coll).config.get().properties}
    assert types["n"] == "int" and types["x"] == "number" and types["l"] == "text[]"
    (b,) = coll.get(["b"])
    assert b.metadata["n"] == 2 and type(b.metadata["n"]) is int
    assert b.metadata["x"] == 3.0 and type(b.metadata["x"]) is float
    with pytest.raises(MetadataError, match="'n'"):
        coll.upsert([Record("c", v[2], {"n": 1.5})])
    with pytest.raises(MetadataError, match="'b'"):
        coll.upsert([Record("c", v[2], {"b": 1})])
    with pytest.raises(MetadataError, match="'t'"):
        coll.upsert([Record("c", v[2], {"t": ["x"]})])
    with pytest.raises(MetadataError, match="2\\*\\*53"):
        coll.upsert([Record("c", v[2], {"n": 2**60})])
    with pytest.raises(MetadataError, match="different types"):
        coll.upsert([Record("c", v[2], {"new": 1}), Record("d", v[1], {"new": "one"})])
    with pytest.raises(MetadataError, match="'n'"):
        coll.upsert([Record("c", v[2], {"n": "x", "other_new": 1})])
    assert coll.count() == 2  # nothing of a refused batch was written
    names = {p.name for p in raw(weaviate_store, coll).config.get().properties}
    assert "new" not in names and "other_new" not in names  # nor was the schema changed


def test_content_hashes_and_clear(coll: WeaviateCollection) -> None:
    coll.upsert(make_records(5))
    assert coll.content_hashes(["r1", "r4", "nope"]) == {"r1": "h0-1", "r4": "h0-4"}
    coll.clear()
    assert coll.count() == 0


def test_store_given_a_client_leaves_it_open(weaviate_url: str, weaviate_store: WeaviateStore) -> None:
    client = weaviate_store.client
    other = gv.connect(weaviate_url, client=client)
    other.close()
    assert client.is_connected()
    assert isinstance(client, weaviate.WeaviateClient)


def test_deletes_beyond_query_maximum_results(weaviate_emulator: Any) -> None:
    store = gv.connect(weaviate_emulator.url, max_results=7)
    name = f"bigdelete-{uuid.uuid4().hex[:8]}"
    old = weaviate_emulator.db.query_maximum_results
    weaviate_emulator.db.query_maximum_results = 7
    try:
        coll = store.open_collection(name, SPEC)
        coll.upsert(
            make_records(30, metadata=[{"k": i % 3, "s": " x" if i % 5 == 0 else "x"} for i in range(30)])
        )
        coll.delete(filter=gv.parse_filter({"k": {"$ne": 0}}))
        assert coll.count() == 10
        coll.delete(filter=gv.parse_filter({"s": "x"}))  # Weaviate trims " x": the check keeps those
        assert sorted(coll.iter_ids()) == sorted(f"r{i}" for i in range(0, 30, 15))
        coll.clear()
        assert coll.count() == 0
    finally:
        weaviate_emulator.db.query_maximum_results = old
        store.drop_collection(name)
        store.close()
