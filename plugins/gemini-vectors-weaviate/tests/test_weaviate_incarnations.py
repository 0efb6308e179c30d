"""A class per creation behind an alias: a handle never reads or writes a collection created after it opened.

Guarantee 2 (two specs never meet in one collection) across processes: another process (here a store
connected on its own) drops the collection and creates it again for another model with vectors of the
same length. The old handle's requests name the class it opened, which is gone, so they fail; nothing is
checked per query. Collections made before incarnations (a class of the base name) still open and work.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import gemini_vectors as gv
import pytest
from gemini_vectors.errors import CollectionNotFoundError, SpecMismatchError
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.testing.contract import make_records, unit_vectors

from gemini_vectors_weaviate import WeaviateCollection, WeaviateStore

SPEC = EmbeddingSpec.for_model("gemini-embedding-2", 128)
OTHER = EmbeddingSpec.for_model("gemini-embedding-001", 128)  # same length: only the spec tells them apart


@pytest.fixture
def name(weaviate_store: WeaviateStore) -> Iterator[str]:
    n = f"incarnation-{uuid.uuid4().hex[:10]}"
    yield n
    weaviate_store.drop_collection(n)


@pytest.fixture
def other_process(weaviate_url: str) -> Iterator[WeaviateStore]:
    """A second store with a client and connections of its own, as another process would have."""
    store = gv.connect(weaviate_url)
    assert isinstance(store, WeaviateStore)
    try:
        yield store
    finally:
        store.close()


def classes_of(store: WeaviateStore, name: str) -> list[str]:
    """The classes on the server that belong to collection ``name`` (its base name and incarnations)."""
    base = store.class_name(name)
    return sorted(c for c in store.client.collections.list_all(simple=True) if c.startswith(base))


def open_plain(store: WeaviateStore, name: str, spec: EmbeddingSpec) -> WeaviateCollection:
    coll = store.open_collection(name, spec)
    assert isinstance(coll, WeaviateCollection)
    return coll


def test_a_handle_refuses_a_collection_another_process_dropped_and_created_again(
    weaviate_store: WeaviateStore, other_process: WeaviateStore, name: str
) -> None:
    stale = open_plain(weaviate_store, name, SPEC)
    stale.upsert(make_records(2))
    other_process.drop_collection(name)
    fresh = open_plain(other_process, name, OTHER)
    fresh.upsert(make_records(1, prefix="fresh"))
    probe = unit_vectors(1, seed=3)[0]
    with pytest.raises(CollectionNotFoundError, match="dropped since this handle opened it"):
        stale.query(probe, k=1)
    with pytest.raises(CollectionNotFoundError, match="open it again"):
        stale.delete(ids=["fresh0"])
    with pytest.raises(CollectionNotFoundError):
        stale.upsert(make_records(1, prefix="stale"))
    with pytest.raises(CollectionNotFoundError):
        stale.count()
    stale.drop()  # its class is gone already: the collection created since stays
    assert weaviate_store.stored_spec(name) == OTHER
    assert [r.id for r in fresh.get(["fresh0", "stale0"])] == ["fresh0"]
    assert classes_of(weaviate_store, name) == [fresh.class_name]
    again = open_plain(weaviate_store, name, OTHER)  # opening again reaches the new one
    assert [m.id for m in again.query(probe, k=5)] == ["fresh0"]
    with pytest.raises(SpecMismatchError):
        weaviate_store.open_collection(name, SPEC)


def test_each_creation_is_a_class_of_its_own_behind_the_alias(
    weaviate_store: WeaviateStore, name: str
) -> None:
    first = open_plain(weaviate_store, name, SPEC)
    base = weaviate_store.class_name(name)
    assert first.class_name.startswith(base + "_") and len(first.class_name) == len(base) + 13
    alias = weaviate_store.client.alias.get(alias_name=weaviate_store.alias_name(name))
    assert alias is not None and alias.collection == first.class_name
    assert name in weaviate_store.list_collections()
    weaviate_store.drop_collection(name)
    assert weaviate_store.client.alias.get(alias_name=weaviate_store.alias_name(name)) is None
    assert classes_of(weaviate_store, name) == [] and name not in weaviate_store.list_collections()
    second = open_plain(weaviate_store, name, SPEC)
    assert second.class_name != first.class_name


def test_a_creation_that_loses_the_alias_race_opens_the_winner_and_leaves_no_class_behind(
    weaviate_store: WeaviateStore, other_process: WeaviateStore, name: str
) -> None:
    winner = open_plain(other_process, name, SPEC)
    winner.upsert(make_records(1))
    # as if both had seen no collection and created at once: the alias already points to the winner
    loser = weaviate_store.create_collection(name, SPEC)
    assert isinstance(loser, WeaviateCollection) and loser.class_name == winner.class_name
    assert loser.count() == 1
    with pytest.raises(SpecMismatchError):
        weaviate_store.create_collection(name, OTHER)
    assert classes_of(weaviate_store, name) == [winner.class_name]


def legacy_store(url: str) -> WeaviateStore:
    """A store that creates collections as before incarnations: one class of the base name, no alias."""
    store = gv.connect(url)
    assert isinstance(store, WeaviateStore)
    store._has_aliases = False  # what it decides on a server before 1.32
    return store


def test_a_collection_from_before_incarnations_opens_and_works(
    weaviate_url: str, weaviate_store: WeaviateStore, name: str
) -> None:
    old = legacy_store(weaviate_url)
    try:
        made = open_plain(old, name, SPEC)
        made.upsert(make_records(3))
    finally:
        old.close()
    assert made.class_name == weaviate_store.class_name(name)
    coll = open_plain(weaviate_store, name, SPEC)
    assert coll.class_name == made.class_name and coll.count() == 3
    coll.upsert(make_records(1, prefix="new"))
    assert [m.id for m in coll.query(make_records(3)[1].vector, k=1)] == ["r1"]
    assert name in weaviate_store.list_collections()
    # dropped and created again (by this version): the new creation is an incarnation, the old handle refused
    weaviate_store.drop_collection(name)
    fresh = open_plain(weaviate_store, name, OTHER)
    assert fresh.class_name != coll.class_name
    with pytest.raises(CollectionNotFoundError):
        coll.query(make_records(1)[0].vector, k=1)
    coll.drop()
    assert weaviate_store.stored_spec(name) == OTHER and classes_of(weaviate_store, name) == [
        fresh.class_name
    ]
