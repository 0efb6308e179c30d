"""A handle on a collection dropped and created again never reaches the new one (guarantee 2).

Each creation of a collection is a Milvus collection of its own behind an alias of the name; a handle
addresses its own, so its requests fail once that is dropped, with no check per query. Collections made
before (the name itself is the Milvus collection) keep working, and are checked before each request.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import gemini_vectors as gv
import pytest
from gemini_vectors.errors import CollectionNotFoundError, SpecMismatchError
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.testing.contract import assert_out_of_reach, make_records

from gemini_vectors_milvus import MilvusCollection, MilvusStore

SPEC = EmbeddingSpec.for_model("gemini-embedding-2", 128)
OTHER = EmbeddingSpec.for_model("gemini-embedding-001", 128)
REFUSED = (CollectionNotFoundError, SpecMismatchError)


@pytest.fixture
def name(milvus_store: MilvusStore) -> Iterator[str]:
    name = f"inc{uuid.uuid4().hex[:10]}"
    yield name
    milvus_store.drop_collection(name)


def _milvus(coll: object) -> MilvusCollection:
    assert isinstance(coll, MilvusCollection)
    return coll


def test_each_creation_is_a_milvus_collection_of_its_own_behind_the_name(
    milvus_store: MilvusStore, name: str
) -> None:
    first = _milvus(milvus_store.open_collection(name, SPEC))
    alias = milvus_store.milvus_name(name)
    assert first.incarnated and first.milvus_name.startswith(alias + "_x")
    assert milvus_store.client.list_aliases(first.milvus_name)["aliases"] == [alias]
    assert _milvus(milvus_store.open_collection(name, SPEC)).milvus_name == first.milvus_name
    milvus_store.drop_collection(name)
    assert not milvus_store.client.has_collection(first.milvus_name)
    assert not milvus_store.client.has_collection(alias)
    second = _milvus(milvus_store.open_collection(name, SPEC))
    assert second.milvus_name != first.milvus_name
    assert milvus_store.list_collections().count(name) == 1


def _legacy_collection(store: MilvusStore, name: str) -> None:
    """What the version before incarnations made: the Milvus collection named as the collection."""
    from gemini_vectors_milvus.store import (
        FORMAT_PROPERTY,
        METADATA_FORMAT,
        NAME_PROPERTY,
        SPEC_PROPERTY,
        VECTOR_TYPE_PROPERTY,
    )

    schema, index = store._schema(SPEC, "float32")
    store.client.create_collection(
        store.milvus_name(name),
        schema=schema,
        index_params=index,
        consistency_level="Strong",
        properties={
            FORMAT_PROPERTY: METADATA_FORMAT,
            NAME_PROPERTY: name,
            SPEC_PROPERTY: SPEC.to_json(),
            VECTOR_TYPE_PROPERTY: "float32",
        },
    )


def test_a_collection_made_before_incarnations_opens_and_works(milvus_store: MilvusStore, name: str) -> None:
    _legacy_collection(milvus_store, name)
    coll = _milvus(milvus_store.open_collection(name, SPEC))
    assert not coll.incarnated and coll.milvus_name == milvus_store.milvus_name(name)
    records = make_records(5)
    coll.upsert(records)
    assert coll.count() == 5
    assert coll.query(records[2].vector, k=1)[0].id == records[2].id
    coll.delete(ids=[records[0].id])
    assert sorted(coll.iter_ids()) == sorted(r.id for r in records[1:])
    assert name in milvus_store.list_collections()
    coll.drop()
    assert milvus_store.stored_spec(name) is None


def test_a_stale_handle_on_a_collection_made_before_incarnations_refuses_the_new_one(
    milvus_url: str, name: str
) -> None:
    """Its Milvus name is the name, which after a drop and a creation is the alias of the new one (and
    Milvus resolves an alias even in drop_collection)."""
    with gv.connect(milvus_url) as mine:
        assert isinstance(mine, MilvusStore)
        _legacy_collection(mine, name)
        stale = _milvus(mine.open_collection(name, SPEC))
        stale.upsert(make_records(2))
        with gv.connect(milvus_url) as theirs:
            theirs.drop_collection(name)
            theirs.open_collection(name, OTHER).upsert(make_records(1, prefix="fresh"))
        assert_out_of_reach(stale)
        assert mine.stored_spec(name) == OTHER
        assert mine.open_collection(name, OTHER).count() == 1


def test_a_stale_drop_racing_a_drop_and_a_creation_leaves_the_new_collection_its_name(
    milvus_url: str, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """drop() lists its collection's aliases, then drops them: another process's drop and creation in
    between moved the name to the new collection, and dropping it by name left acknowledged records
    in a collection nothing could list or open."""
    with gv.connect(milvus_url) as mine, gv.connect(milvus_url) as theirs:
        assert isinstance(mine, MilvusStore)
        stale = _milvus(mine.open_collection(name, SPEC))
        stale.upsert(make_records(2))
        listed = mine._aliases_of

        def then_theirs_drop_and_create(milvus_name: str) -> list[str]:
            aliases = listed(milvus_name)
            theirs.drop_collection(name)
            theirs.open_collection(name, SPEC).upsert(make_records(5, prefix="new"))
            return aliases

        monkeypatch.setattr(mine, "_aliases_of", then_theirs_drop_and_create)
        with contextlib.suppress(*REFUSED):
            stale.drop()
        assert theirs.stored_spec(name) == SPEC
        assert theirs.open_collection(name, SPEC).count() == 5
