"""The store around the index: URL and key handling, the spec in the index tags, readiness, retries."""

from __future__ import annotations

from collections.abc import Callable

import gemini_vectors as gv
import pytest
from emulators.pinecone import PineconeEmulator
from gemini_vectors.errors import ConfigurationError, SpecMismatchError, StoreError, WriteError
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.testing.contract import make_records, unit_vectors
from gv_pinecone_target import PineconeTarget
from pinecone import Pinecone
from pinecone.models.indexes.deployment import ManagedDeployment

from gemini_vectors_pinecone.store import PineconeStore, spec_from_tags, spec_to_tags

SPEC_768 = EmbeddingSpec.for_model("gemini-embedding-2", 768)
SPEC_3072 = EmbeddingSpec.for_model("gemini-embedding-2", 3072)
SPEC_128 = EmbeddingSpec.for_model("gemini-embedding-2", 128)


# -- URL, key, repr --------------------------------------------------------------------------------


def test_connect_by_url_through_the_entry_point(pinecone_target: PineconeTarget) -> None:
    name = pinecone_target.index_name()
    with gv.connect(pinecone_target.url(name), **pinecone_target.options()) as store:
        assert isinstance(store, PineconeStore)
        assert store.index_name == name
        coll = store.open_collection("docs", SPEC_128)
        coll.upsert(make_records(3))
        assert coll.count() == 3


def test_api_key_from_environment_and_never_shown(
    pinecone_target: PineconeTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINECONE_API_KEY", pinecone_target.api_key)
    store = PineconeStore(pinecone_target.url(pinecone_target.index_name()))
    try:
        assert pinecone_target.api_key not in repr(store)
        assert pinecone_target.api_key not in store.url
        coll = store.open_collection("c", SPEC_128)
        assert pinecone_target.api_key not in repr(coll)
    finally:
        store.close()
    monkeypatch.delenv("PINECONE_API_KEY")
    with pytest.raises(ConfigurationError, match="PINECONE_API_KEY"):
        PineconeStore("pinecone://some-index")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("pinecone://Bad_Name", "not a Pinecone index name"),
        ("pinecone://" + "a" * 46, "not a Pinecone index name"),
        ("pinecone://-lead", "not a Pinecone index name"),
        ("pinecone://key@idx", "credentials"),
        ("pinecone://idx?api_key=secret", "API key in the URL"),
        ("pinecone://idx?colour=red", "unknown pinecone:// URL options"),
        ("pinecone://idx/extra/path", "names an index only"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        PineconeStore(url, api_key="k")
    assert "secret" not in str(info.value)


def test_credentials_in_the_host_are_not_shown() -> None:
    store = PineconeStore("pinecone://idx?host=https://user:pw@proxy.example:8443", api_key="k")
    try:
        assert "pw" not in repr(store) and store.url == "pinecone://idx?host=https://user:***@proxy.example:8443"
    finally:
        store.close()


def test_errors_do_not_carry_the_key(emulator: PineconeEmulator, pinecone_target: PineconeTarget) -> None:
    secret = "pc-very-secret-key"
    store = PineconeStore(pinecone_target.url(pinecone_target.index_name()), api_key=secret)
    try:
        with pytest.raises(StoreError) as info:
            store.open_collection("c", SPEC_128)
        assert "401" in str(info.value)
        text = str(info.value) + repr(info.value) + str(info.value.__cause__)
        assert secret not in text
    finally:
        store.close()


# -- the spec in the index tags --------------------------------------------------------------------


def test_index_is_created_with_the_spec_in_its_tags(
    make_store: Callable[..., PineconeStore], pinecone_target: PineconeTarget
) -> None:
    store = make_store()
    assert store.list_collections() == [] and store.stored_spec("docs") is None
    store.open_collection("docs", SPEC_768)
    pc = Pinecone(api_key=pinecone_target.api_key, host=pinecone_target.host)
    model = pc.indexes.describe(store.index_name)
    assert (model.dimension, model.metric) == (768, "cosine")
    assert isinstance(model.deployment, ManagedDeployment)
    assert spec_from_tags(model.tags) == SPEC_768
    assert store.stored_spec("docs") == SPEC_768
    assert store.list_collections() == ["docs"]
    pc.close()


def test_768_index_opened_with_3072_spec_refuses_before_any_write(
    make_store: Callable[..., PineconeStore], emulator: PineconeEmulator
) -> None:
    first = make_store()
    first.open_collection("docs", SPEC_768).upsert(make_records(4, dims=768))
    second = make_store(first.index_name)
    emulator.reset_counters()
    with pytest.raises(SpecMismatchError) as info:
        second.open_collection("docs", SPEC_3072)
    assert info.value.stored == SPEC_768 and info.value.requested == SPEC_3072
    with pytest.raises(SpecMismatchError):
        second.open_collection("other-collection", SPEC_3072)  # one index holds one spec
    writes = {"upsert", "create_namespace", "create_index", "configure_index", "delete", "update"}
    assert [r.endpoint for r in emulator.requests if r.endpoint in writes] == []
    assert second.open_collection("docs", SPEC_768).count() == 4


def test_a_second_spec_in_the_same_store_is_refused(make_store: Callable[..., PineconeStore]) -> None:
    store = make_store()
    store.open_collection("a", SPEC_128)
    other = EmbeddingSpec.for_model("gemini-embedding-001", 128)  # same dimension, other model
    with pytest.raises(SpecMismatchError):
        store.open_collection("b", other)
    assert store.list_collections() == ["a"]


def test_index_made_outside_gemini_vectors(
    make_store: Callable[..., PineconeStore], pinecone_target: PineconeTarget
) -> None:
    pc = Pinecone(api_key=pinecone_target.api_key, host=pinecone_target.host)
    schema = {"fields": {"_values": {"type": "dense_vector", "dimension": 128, "metric": "cosine"}}}
    matching, wrong_dims = pinecone_target.index_name("ext"), pinecone_target.index_name("ext")
    pc.indexes.create(name=matching, schema=schema, timeout=300)
    schema["fields"]["_values"]["dimension"] = 256
    pc.indexes.create(name=wrong_dims, schema=schema, timeout=300)

    with pytest.raises(SpecMismatchError, match="256"):
        make_store(wrong_dims).open_collection("c", SPEC_128)
    store = make_store(matching)
    assert store.stored_spec("c") is None and store.list_collections() == []
    store.open_collection("c", SPEC_128)  # adopted: the spec is recorded in its tags
    assert spec_from_tags(pc.indexes.describe(matching).tags) == SPEC_128
    pc.close()


def test_spec_tags_round_trip_and_fit_pinecone_rules() -> None:
    for spec in (SPEC_768, EmbeddingSpec.for_model("gemini-embedding-001", 3072)):
        tags = spec_to_tags(spec)
        assert all(len(v) <= 120 and v.isascii() for v in tags.values())
        assert spec_from_tags(tags) == spec
    assert spec_from_tags({"env": "prod"}) is None
    with pytest.raises(ConfigurationError, match="incomplete"):
        spec_from_tags({"gv_model": "gemini-embedding-2"})


def test_waits_for_the_index_to_be_ready(
    make_store: Callable[..., PineconeStore], emulator: PineconeEmulator
) -> None:
    emulator.ready_delay = 0.4
    store = make_store()
    coll = store.open_collection("docs", SPEC_128)
    coll.upsert(make_records(2))  # the data plane answers 503 until the index is ready
    assert emulator.count("describe_index") >= 3
    assert emulator.count("upsert", status=503) == 0


def test_ready_timeout(make_store: Callable[..., PineconeStore], emulator: PineconeEmulator) -> None:
    emulator.ready_delay = 30
    store = make_store(ready_timeout=0.3)
    with pytest.raises(StoreError, match=r"not ready after 0\.3s"):
        store.open_collection("docs", SPEC_128)


# -- collections -----------------------------------------------------------------------------------


def test_collections_are_namespaces(make_store: Callable[..., PineconeStore]) -> None:
    store = make_store()
    a, b = store.open_collection("a", SPEC_128), store.open_collection("b", SPEC_128)
    a.upsert(make_records(3))
    assert sorted(store.list_collections()) == ["a", "b"]  # b is empty and listed all the same
    assert (a.count(), b.count()) == (3, 0)
    assert b.query(unit_vectors(1)[0], k=3) == []
    a.clear()
    assert a.count() == 0 and store.stored_spec("a") == SPEC_128
    store.drop_collection("a")
    b.drop()
    b.drop()  # dropping twice is harmless
    assert store.list_collections() == []
    b.delete(ids=["r1"])  # nothing there, nothing to do


def test_many_collections_are_listed_across_pages(make_store: Callable[..., PineconeStore]) -> None:
    store = make_store()
    names = [f"c{i:03d}" for i in range(130)]
    for name in names:
        store.open_collection(name, SPEC_128)
    assert sorted(store.list_collections()) == names


def test_closed_store_refuses_work(make_store: Callable[..., PineconeStore]) -> None:
    store = make_store()
    coll = store.open_collection("c", SPEC_128)
    store.close()
    with pytest.raises(StoreError, match="closed"):
        coll.count()


# -- retries ---------------------------------------------------------------------------------------


def test_rate_limits_are_retried_past_the_sdk(
    make_store: Callable[..., PineconeStore], emulator: PineconeEmulator
) -> None:
    coll = make_store().open_collection("retry", SPEC_128)
    emulator.set_faults(0.0, retry_after=0.0)  # a 429 with Retry-After: 0 keeps the SDK's own retries quick
    emulator.fail_next(7, status=429, endpoints=("upsert",))
    coll.upsert(make_records(10))
    assert emulator.count("upsert", status=429) == 7  # more than the SDK's 4 attempts: the plugin retried
    assert emulator.count("upsert", status=200) == 1
    assert coll.count() == 10


def test_random_faults_lose_nothing(
    make_store: Callable[..., PineconeStore], emulator: PineconeEmulator
) -> None:
    coll = make_store(max_request_bytes=20_000).open_collection("flaky", SPEC_128)
    emulator.set_faults(0.25, statuses=(429,), endpoints=("upsert", "fetch", "query"), retry_after=0.0)
    records = make_records(600, seed=8)
    coll.upsert(records)
    got = coll.get([r.id for r in records])
    top = coll.query(records[5].vector, k=3)
    emulator.set_faults(0.0)
    assert emulator.count("upsert", status=429) > 5
    assert coll.count() == 600 and len(got) == 600 and top[0].id == "r5"


def test_server_errors_are_retried(
    make_store: Callable[..., PineconeStore], emulator: PineconeEmulator
) -> None:
    coll = make_store().open_collection("five-hundred", SPEC_128)
    coll.upsert(make_records(3))
    emulator.fail_next(2, status=500, endpoints=("query",))
    assert len(coll.query(unit_vectors(1)[0], k=3)) == 3
    assert emulator.count("query", status=500) == 2


def test_retries_are_bounded(make_store: Callable[..., PineconeStore], emulator: PineconeEmulator) -> None:
    coll = make_store(max_retries=2).open_collection("bounded", SPEC_128)
    emulator.set_faults(1.0, statuses=(429,), endpoints=("upsert",), retry_after=0.0)
    with pytest.raises(WriteError) as info:
        coll.upsert(make_records(5))
    emulator.set_faults(0.0)
    assert sorted(info.value.failed_ids) == [f"r{i}" for i in range(5)]
    assert "429" in str(info.value.__cause__)
    attempts = emulator.count("upsert", status=429)
    assert 3 <= attempts <= 3 * 4  # (1 + 2 plugin retries) x (at most 4 SDK attempts)
    assert coll.count() == 0
