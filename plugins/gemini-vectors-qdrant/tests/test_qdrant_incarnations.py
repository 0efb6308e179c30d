"""A handle on a collection dropped and created again never reaches the new one (guarantee 2).

Each creation of a collection is a Qdrant collection of its own behind an alias of the name; a handle
addresses its own, so its requests fail once that is dropped, with no check per query. Collections made
before (the name itself is the Qdrant collection) keep working, and are checked before each request.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import gemini_vectors as gv
import pytest
from gemini_vectors.errors import CollectionNotFoundError, SpecMismatchError
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.testing.contract import assert_out_of_reach, make_records
from qdrant_client import models

from gemini_vectors_qdrant import QdrantCollection, QdrantStore
from gemini_vectors_qdrant.naming import INCARNATION_SEPARATOR
from gemini_vectors_qdrant.store import METADATA_KEY

SPEC = EmbeddingSpec.for_model("gemini-embedding-2", 128)
OTHER = EmbeddingSpec.for_model("gemini-embedding-001", 128)
REFUSED = (CollectionNotFoundError, SpecMismatchError)


@pytest.fixture
def name(qdrant_store: QdrantStore) -> Iterator[str]:
    name = f"inc-{uuid.uuid4().hex[:10]}"
    yield name
    qdrant_store.drop_collection(name)


def _qdrant(coll: object) -> QdrantCollection:
    assert isinstance(coll, QdrantCollection)
    return coll


def test_each_creation_is_a_qdrant_collection_of_its_own_behind_the_name(
    qdrant_store: QdrantStore, name: str
) -> None:
    first = _qdrant(qdrant_store.open_collection(name, SPEC))
    alias = qdrant_store.qdrant_name(name)
    assert first.qdrant_name.startswith(alias + INCARNATION_SEPARATOR) and first.incarnation
    aliases = {a.alias_name: a.collection_name for a in qdrant_store.client.get_aliases().aliases}
    assert aliases[alias] == first.qdrant_name
    assert _qdrant(qdrant_store.open_collection(name, SPEC)).qdrant_name == first.qdrant_name
    qdrant_store.drop_collection(name)
    assert not qdrant_store.client.collection_exists(first.qdrant_name)
    assert not qdrant_store.client.collection_exists(alias)  # the alias went with its collection
    second = _qdrant(qdrant_store.open_collection(name, SPEC))
    assert second.qdrant_name != first.qdrant_name
    assert qdrant_store.list_collections().count(name) == 1


def test_a_leftover_incarnation_is_neither_listed_nor_opened(qdrant_store: QdrantStore, name: str) -> None:
    """A creation that lost a race leaves a Qdrant collection no alias points at: it is nobody's."""
    coll = _qdrant(qdrant_store.open_collection(name, SPEC))
    leftover = f"{qdrant_store.qdrant_name(name)}{INCARNATION_SEPARATOR}0123456789ab"
    entry = dict(qdrant_store.client.get_collection(coll.qdrant_name).config.metadata[METADATA_KEY])
    entry["incarnation"] = "0123456789ab"
    qdrant_store.client.create_collection(
        leftover,
        vectors_config=models.VectorParams(size=128, distance=models.Distance.COSINE),
        metadata={METADATA_KEY: entry},
    )
    try:
        assert qdrant_store.list_collections().count(name) == 1
        assert _qdrant(qdrant_store.open_collection(name, SPEC)).qdrant_name == coll.qdrant_name
    finally:
        qdrant_store.client.delete_collection(leftover)


def _legacy_collection(store: QdrantStore, name: str) -> None:
    """What the version before incarnations made: the Qdrant collection named as the collection."""
    store.client.create_collection(
        store.qdrant_name(name),
        vectors_config=models.VectorParams(size=128, distance=models.Distance.COSINE),
        metadata={METADATA_KEY: {"format": 1, "name": name, "spec": SPEC.to_dict(), "storage": "float32"}},
    )


def test_a_collection_made_before_incarnations_opens_and_works(qdrant_store: QdrantStore, name: str) -> None:
    _legacy_collection(qdrant_store, name)
    coll = _qdrant(qdrant_store.open_collection(name, SPEC))
    assert coll.incarnation is None and coll.qdrant_name == qdrant_store.qdrant_name(name)
    records = make_records(5)
    coll.upsert(records)
    assert coll.count() == 5
    assert coll.query(records[2].vector, k=1)[0].id == records[2].id
    coll.delete(ids=[records[0].id])
    assert sorted(coll.iter_ids()) == sorted(r.id for r in records[1:])
    assert name in qdrant_store.list_collections()
    coll.drop()
    assert qdrant_store.stored_spec(name) is None


def test_a_stale_handle_on_a_collection_made_before_incarnations_refuses_the_new_one(
    qdrant_url: str, name: str
) -> None:
    """Its Qdrant name is the name, which after a drop and a creation is the alias of the new one."""
    with gv.connect(qdrant_url) as mine:
        assert isinstance(mine, QdrantStore)
        _legacy_collection(mine, name)
        stale = _qdrant(mine.open_collection(name, SPEC))
        stale.upsert(make_records(2))
        with gv.connect(qdrant_url) as theirs:
            theirs.drop_collection(name)
            theirs.open_collection(name, OTHER).upsert(make_records(1, prefix="fresh"))
        assert_out_of_reach(stale)
        assert mine.stored_spec(name) == OTHER
        assert mine.open_collection(name, OTHER).count() == 1


def test_two_stores_creating_one_name_at_once_get_one_collection(qdrant_url: str) -> None:
    """Qdrant moves an alias that exists instead of refusing it: a creation that aliased the name second
    took it from one that had already written through it (its records then unreachable by name)."""
    import threading

    with gv.connect(qdrant_url) as first, gv.connect(qdrant_url) as second:
        for attempt in range(25):
            race = f"race-{uuid.uuid4().hex[:8]}"
            got: dict[int, QdrantCollection] = {}
            start = threading.Barrier(2)

            def create(
                slot: int,
                store: gv.VectorStore,
                race: str = race,
                got: dict[int, QdrantCollection] = got,
                start: threading.Barrier = start,
            ) -> None:
                start.wait()
                got[slot] = _qdrant(store.open_collection(race, SPEC))

            threads = [threading.Thread(target=create, args=(i, s)) for i, s in enumerate((first, second))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            try:
                assert got[0].qdrant_name == got[1].qdrant_name, f"split on attempt {attempt}"
                got[0].upsert(make_records(2))
                assert got[1].count() == 2
            finally:
                first.drop_collection(race)
