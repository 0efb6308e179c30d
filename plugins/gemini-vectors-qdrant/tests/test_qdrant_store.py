"""The Qdrant store around the contract: specs, storage plans, names, write failures, URLs and secrets."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gemini_vectors as gv
import pytest
from gemini_vectors import plugins
from gemini_vectors.errors import (
    CollectionNotFoundError,
    ConfigurationError,
    FilterError,
    MetadataError,
    SpecMismatchError,
    StoreError,
    UnknownStoreError,
    WriteError,
)
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Record
from gemini_vectors.testing.contract import make_records, unit_vectors
from qdrant_client import models

from gemini_vectors_qdrant import QdrantStore
from gemini_vectors_qdrant.connection import parse_url
from gemini_vectors_qdrant.naming import escape_name, point_id
from gemini_vectors_qdrant.storage import plan_for
from gemini_vectors_qdrant.store import METADATA_KEY, QdrantCollection

SPEC_768 = EmbeddingSpec.for_model("gemini-embedding-2", 768)
SPEC_3072 = EmbeddingSpec.for_model("gemini-embedding-2", 3072)
SPEC_128 = EmbeddingSpec.for_model("gemini-embedding-2", 128)
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def name(qdrant_store: QdrantStore) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    yield name
    qdrant_store.drop_collection(name)


# -- the spec ----------------------------------------------------------------------------------------


def test_a_768_collection_opened_with_a_3072_spec_raises_before_any_write(
    qdrant_store: QdrantStore, name: str, gemini_emulator: Any
) -> None:
    coll = qdrant_store.open_collection(name, SPEC_768)
    coll.upsert(make_records(3, dims=768))
    with pytest.raises(SpecMismatchError) as info:
        qdrant_store.open_collection(name, SPEC_3072)
    assert info.value.stored == SPEC_768 and info.value.requested == SPEC_3072
    assert "768" in str(info.value) and "3072" in str(info.value)
    # through the embed-and-store API too: refused before anything is embedded (paid for) or written
    embedder = gv.Embedder(dimensions=3072, client=gemini_emulator.client())
    with pytest.raises(SpecMismatchError):
        qdrant_store.collection(name, embedder)
    assert gemini_emulator.stats.embed_calls == 0
    assert qdrant_store.stored_spec(name) == SPEC_768
    assert qdrant_store.open_collection(name, SPEC_768).count() == 3
    info_after = qdrant_store.client.get_collection(qdrant_store.qdrant_name(name))
    assert info_after.config.params.vectors.size == 768


def test_the_spec_is_checked_again_before_a_write(qdrant_url: str, name: str) -> None:
    """A handle opened for 768 dims must not write into a collection recreated meanwhile for another spec."""
    with gv.connect(qdrant_url) as first, gv.connect(qdrant_url) as second:
        old = first.open_collection(name, SPEC_128)
        second.drop_collection(name)
        other = EmbeddingSpec.for_model("gemini-embedding-001", 128)
        second.open_collection(name, other)
        with pytest.raises(SpecMismatchError):
            old.upsert(make_records(2))
        assert second.open_collection(name, other).count() == 0
        second.drop_collection(name)
        with pytest.raises(CollectionNotFoundError, match="no longer exists"):
            old.upsert(make_records(2))


def test_the_spec_and_plan_are_in_the_collection_metadata(qdrant_store: QdrantStore, name: str) -> None:
    qdrant_store.open_collection(name, SPEC_128)
    info = qdrant_store.client.get_collection(qdrant_store.qdrant_name(name))
    recorded = info.config.metadata[METADATA_KEY]
    assert recorded["name"] == name
    assert EmbeddingSpec.from_dict(recorded["spec"]) == SPEC_128
    assert recorded["storage"] == "float32"
    assert info.config.params.vectors.distance == models.Distance.COSINE


def test_a_foreign_collection_of_the_same_name_is_not_taken_over(
    qdrant_store: QdrantStore, name: str
) -> None:
    qdrant_store.client.create_collection(
        qdrant_store.qdrant_name(name),
        vectors_config=models.VectorParams(size=128, distance=models.Distance.COSINE),
    )
    with pytest.raises(StoreError, match="not a gemini-vectors collection"):
        qdrant_store.open_collection(name, SPEC_128)
    assert name not in qdrant_store.list_collections()
    qdrant_store.client.delete_collection(qdrant_store.qdrant_name(name))


# -- storage plans -------------------------------------------------------------------------------------


def test_storage_is_planned_from_the_spec() -> None:
    assert plan_for(SPEC_768) == "float32"
    assert plan_for(SPEC_3072) == "binary"
    assert plan_for(SPEC_3072, "float16") == "float16"
    with pytest.raises(ConfigurationError, match="storage='pq'"):
        plan_for(SPEC_768, "pq")


def test_a_3072_dim_collection_is_binary_quantized_and_searched_with_rescoring(
    qdrant_store: QdrantStore, name: str
) -> None:
    coll = qdrant_store.open_collection(name, SPEC_3072)
    assert isinstance(coll, QdrantCollection) and coll.plan == "binary"
    info = qdrant_store.client.get_collection(coll.qdrant_name)
    assert info.config.metadata[METADATA_KEY]["storage"] == "binary"
    records = make_records(20, dims=3072, seed=4)
    coll.upsert(records)
    top = coll.query(records[7].vector, k=3, include_vectors=True)
    assert top[0].id == "r7" and top[0].vector is not None
    # the float32 originals are kept (rescoring reads them): a record reads back exactly
    assert (coll.get(["r7"])[0].vector == records[7].vector).all()
    # reopened, the recorded plan is used whatever the store's default
    with gv.connect(qdrant_store.url, storage="float16") as other:
        again = other.open_collection(name)
        assert isinstance(again, QdrantCollection) and again.plan == "binary"


def test_a_bad_storage_option_is_refused_at_connect(qdrant_url: str) -> None:
    with pytest.raises(ConfigurationError, match="storage"):
        gv.connect(qdrant_url, storage="pq")


# -- names and ids -------------------------------------------------------------------------------------


def test_collection_names_are_escaped_reversibly(qdrant_store: QdrantStore) -> None:
    names = ["a/b:c", "ключ", "~x", ".", "docs", "with space"]
    try:
        for i, n in enumerate(names):
            coll = qdrant_store.open_collection(n, SPEC_128)
            coll.upsert(make_records(i + 1))
        listed = set(qdrant_store.list_collections())
        assert set(names) <= listed
        assert qdrant_store.qdrant_name("docs") == "docs"
        assert len({escape_name(n) for n in names}) == len(names)
        for i, n in enumerate(names):
            assert qdrant_store.open_collection(n).count() == i + 1
    finally:
        for n in names:
            qdrant_store.drop_collection(n)


def test_points_are_keyed_by_the_uuid5_of_the_id(qdrant_store: QdrantStore, name: str) -> None:
    coll = qdrant_store.open_collection(name, SPEC_128)
    coll.upsert([Record("42", unit_vectors(1)[0], {"a": 1}, "h")])
    (point,) = qdrant_store.client.retrieve(qdrant_store.qdrant_name(name), ids=[point_id("42")])
    assert str(uuid.UUID(str(point.id))) == point_id("42")
    assert point.payload is not None and point.payload["a"] == 1
    assert [r.id for r in coll.get(["42"])] == ["42"]  # the string id, not the point id


# -- filters on awkward keys ---------------------------------------------------------------------------


def test_filters_on_keys_with_dots_spaces_and_brackets_are_not_paths(
    qdrant_store: QdrantStore, name: str
) -> None:
    coll = qdrant_store.open_collection(name, SPEC_128)
    rows: list[dict[str, Any]] = [{"a.b": 1, "x y": "s", "t[0]": "u"}, {"a": 2}, {"a.b": 2}]
    coll.upsert(make_records(3, metadata=rows))
    probe = unit_vectors(1, seed=9)[0]
    assert {m.id for m in coll.query(probe, k=5, filter={"a.b": 1})} == {"r0"}  # type: ignore[arg-type]
    assert {m.id for m in coll.query(probe, k=5, filter={"x y": "s"})} == {"r0"}  # type: ignore[arg-type]
    assert {m.id for m in coll.query(probe, k=5, filter={"t[0]": "u"})} == {"r0"}  # type: ignore[arg-type]
    assert {m.id for m in coll.query(probe, k=5, filter={"a.b": {"$exists": False}})} == {"r1"}  # type: ignore[arg-type]


def test_a_filter_on_a_key_with_a_double_quote_is_refused_by_name(
    qdrant_store: QdrantStore, name: str
) -> None:
    coll = qdrant_store.open_collection(name, SPEC_128)
    coll.upsert(make_records(2, metadata=[{'say "hi"': "x"}, {}]))
    assert dict(coll.get(["r0"])[0].metadata) == {'say "hi"': "x"}  # stored and read back fine
    with pytest.raises(FilterError, match="double quote"):
        coll.query(unit_vectors(1)[0], k=2, filter={'say "hi"': "x"})  # type: ignore[arg-type]
    with pytest.raises(FilterError, match="double quote"):
        coll.delete(filter={'say "hi"': "x"})  # type: ignore[arg-type]
    assert coll.count() == 2


def test_an_empty_nin_deletes_everything_and_an_empty_in_nothing(
    qdrant_store: QdrantStore, name: str
) -> None:
    coll = qdrant_store.open_collection(name, SPEC_128)
    coll.upsert(make_records(4))
    coll.delete(filter={"i": {"$in": []}})  # type: ignore[arg-type]
    assert coll.count() == 4
    assert coll.query(unit_vectors(1)[0], k=4, filter={"i": {"$in": []}}) == []  # type: ignore[arg-type]
    coll.delete(filter={"i": {"$nin": []}})  # type: ignore[arg-type]
    assert coll.count() == 0


# -- bad input before anything is sent; failures per record ---------------------------------------------


def test_bad_metadata_is_refused_by_name_before_anything_is_sent(qdrant_url: str, name: str) -> None:
    with gv.connect(qdrant_url, max_batch_bytes=64 * 1024) as store:
        coll = store.open_collection(name, SPEC_128)
        good = make_records(3)
        nested = Record("bad", unit_vectors(1)[0], {"n": {"deep": 1}})  # type: ignore[dict-item]
        with pytest.raises(MetadataError, match=r"record 1 \('bad'\).*'n'"):
            coll.upsert([good[0], nested, good[2]])
        huge = Record("huge", unit_vectors(1)[0], {"text": "x" * 100_000})
        with pytest.raises(MetadataError, match=r"record 2 \('huge'\).*65,536"):
            coll.upsert([good[0], good[1], huge])
        assert coll.count() == 0


def test_a_record_the_engine_rejects_is_named_and_the_others_are_written(
    qdrant_store: QdrantStore, name: str
) -> None:
    coll = qdrant_store.open_collection(name, SPEC_128)
    assert isinstance(coll, QdrantCollection)
    records = make_records(9)
    batch = [
        (r.id, models.PointStruct(id=point_id(r.id), vector=r.vector.tolist(), payload={"__gv_id": r.id}))
        for r in records
    ]
    # a point of the wrong size reaches the engine only past upsert()'s checks: here, sent directly
    batch[5] = ("r5", models.PointStruct(id=point_id("r5"), vector=[0.5] * 64, payload={"__gv_id": "r5"}))
    failures = coll._send(batch)
    assert list(failures) == ["r5"] and "dimension" in failures["r5"].lower()
    assert sorted(coll.iter_ids()) == sorted(r.id for r in records if r.id != "r5")
    err = WriteError("Qdrant did not store records", failures)
    assert "'r5'" in str(err)


def test_transient_failures_are_retried_then_reported_without_the_key(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "qk-" + uuid.uuid4().hex
    monkeypatch.setenv("QDRANT_API_KEY", secret)
    # port 1 on the loopback refuses connections: a real transient failure, no server needed
    with gv.connect("qdrants://127.0.0.1:1", max_retries=2, retry_backoff=0.0) as store:
        assert isinstance(store, QdrantStore)
        assert secret not in repr(store) and secret not in store.url
        with (
            caplog.at_level(logging.INFO, logger="gemini_vectors_qdrant.store"),
            pytest.raises(StoreError) as info,
        ):
            store.list_collections()
    assert secret not in str(info.value)
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2
    assert all(secret not in r.getMessage() for r in caplog.records)


# -- URLs, options, secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("qdrant://user:pw@host", "credentials do not go"),
        ("qdrants://host?api_key=sekrit", "API key does not go"),
        ("qdrants://host?key=sekrit", "API key does not go"),
        ("qdrant://host?colour=red", "unknown parameter"),
        ("qdrant://host/some/path", "names a server only"),
        ("qdrant://", "needs a host"),
        ("qdrant://host:99999", "not a Qdrant URL|port"),
        ("qdrant://host?grpc=maybe", "true or false"),
        ("qdrant+local://relative/path", "absolute directory"),
        ("qdrant+memory://x/y", "optional name"),
    ],
)
def test_bad_urls_are_refused_without_echoing_secrets(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        gv.connect(url)
    assert "sekrit" not in str(info.value) and "pw" not in str(info.value).replace("pw@", "")


def test_server_urls() -> None:
    plain = parse_url("qdrant://db.example")
    assert (plain.host, plain.port, plain.grpc, plain.secure) == ("db.example", 6333, False, False)
    grpc = parse_url("qdrant://db.example:7000?grpc=true&grpc_port=7001")
    assert (grpc.port, grpc.grpc, grpc.grpc_port) == (7000, True, 7001)
    cloud = parse_url("qdrants://xyz.cloud.qdrant.io")
    assert cloud.secure and cloud.port == 6333
    assert parse_url("qdrant+local:///var/lib/q/").path == "/var/lib/q"


def test_a_grpc_store_says_so_and_keeps_the_key_out_of_its_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QDRANT_API_KEY", "grpc-sekrit")
    with gv.connect("qdrants://127.0.0.1:1?grpc=true&grpc_port=2") as store:
        assert isinstance(store, QdrantStore)
        assert store.url == "qdrants://127.0.0.1:1?grpc=true&grpc_port=2"
        assert "grpc-sekrit" not in repr(store)
        assert store.client._client._prefer_grpc is True  # the client talks gRPC as asked


def test_unknown_options_are_refused(qdrant_url: str) -> None:
    with pytest.raises(ConfigurationError, match="unknown option"):
        gv.connect(qdrant_url, colour="red")
    with pytest.raises(ConfigurationError, match="batch_size"):
        gv.connect(qdrant_url, batch_size=0)


def test_two_connects_of_one_local_path_share_its_client(tmp_path: Path) -> None:
    url = f"qdrant+local://{tmp_path / 'q'}"
    with gv.connect(url) as a:
        with gv.connect(url) as b:
            a.open_collection("c", SPEC_128).upsert(make_records(2))
            assert b.open_collection("c").count() == 2
        assert a.open_collection("c").count() == 2  # b closing did not close a's client
    with gv.connect(url) as c:  # reopened from disk
        assert c.open_collection("c").count() == 2


# -- the plugin registry -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "dist"),
    [
        ("qdrant://localhost:6333", "gemini-vectors-qdrant"),
        ("qdrants://x.cloud.qdrant.io", "gemini-vectors-qdrant"),
        ("qdrant+local:///tmp/q", "gemini-vectors-qdrant"),
        ("qdrant+memory://", "gemini-vectors-qdrant"),
        ("chroma:///tmp/c", "gemini-vectors-chroma"),
        ("chroma+http://localhost:8000", "gemini-vectors-chroma"),
        ("milvus://localhost:19530", "gemini-vectors-milvus"),
        ("milvus+lite:///tmp/m.db", "gemini-vectors-milvus"),
    ],
)
def test_connect_without_the_plugin_names_the_distribution(
    monkeypatch: pytest.MonkeyPatch, url: str, dist: str
) -> None:
    monkeypatch.setenv(plugins.DISABLE_ENV, "qdrant")
    plugins.reload_plugins()
    try:
        with pytest.raises(UnknownStoreError, match=f"pip install {re.escape(dist)}"):
            gv.connect(url)
    finally:
        monkeypatch.delenv(plugins.DISABLE_ENV)
        plugins.reload_plugins()
    assert "qdrant" in plugins.store_schemes()


# -- the README ------------------------------------------------------------------------------------------


def test_the_readme_quickstart_runs_with_a_qdrant_memory_url(
    gemini_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    quickstart = blocks[0]
    assert 'gv.connect("qdrant+memory://")' in quickstart
    exec(compile(quickstart, str(README), "exec"), {})
    out = capsys.readouterr().out
    assert "t1" in out
