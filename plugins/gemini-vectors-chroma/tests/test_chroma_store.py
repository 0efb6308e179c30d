"""The Chroma store around the contract: specs, names, stray list values, write failures, URLs, secrets."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gemini_vectors as gv
import numpy as np
import pytest
from gemini_vectors.errors import ConfigurationError, MetadataError, SpecMismatchError, StoreError, WriteError
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Record
from gemini_vectors.testing.contract import make_records, unit_vectors

from gemini_vectors_chroma import ChromaStore
from gemini_vectors_chroma.naming import chroma_name, unescape_name
from gemini_vectors_chroma.store import METADATA_KEY, ChromaCollection

SPEC_768 = EmbeddingSpec.for_model("gemini-embedding-2", 768)
SPEC_3072 = EmbeddingSpec.for_model("gemini-embedding-2", 3072)
SPEC_128 = EmbeddingSpec.for_model("gemini-embedding-2", 128)
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.fixture
def name(chroma_store: ChromaStore) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    yield name
    chroma_store.drop_collection(name)


def test_a_768_collection_opened_with_a_3072_spec_raises_before_any_write(
    chroma_store: ChromaStore, name: str, gemini_emulator: Any
) -> None:
    coll = chroma_store.open_collection(name, SPEC_768)
    coll.upsert(make_records(3, dims=768))
    with pytest.raises(SpecMismatchError) as info:
        chroma_store.open_collection(name, SPEC_3072)
    assert info.value.stored == SPEC_768 and info.value.requested == SPEC_3072
    embedder = gv.Embedder(dimensions=3072, client=gemini_emulator.client())
    with pytest.raises(SpecMismatchError):
        chroma_store.collection(name, embedder)
    assert gemini_emulator.stats.embed_calls == 0  # nothing embedded (paid for)
    assert chroma_store.stored_spec(name) == SPEC_768
    assert chroma_store.open_collection(name, SPEC_768).count() == 3  # nothing written


def test_the_spec_is_checked_again_before_a_write(chroma_url: str, name: str) -> None:
    with gv.connect(chroma_url) as first, gv.connect(chroma_url) as second:
        old = first.open_collection(name, SPEC_128)
        second.drop_collection(name)
        other = EmbeddingSpec.for_model("gemini-embedding-001", 128)
        second.open_collection(name, other)
        with pytest.raises(SpecMismatchError):
            old.upsert(make_records(2))
        assert second.open_collection(name, other).count() == 0


def test_the_spec_is_in_the_collection_metadata_and_the_space_is_cosine(
    chroma_store: ChromaStore, name: str
) -> None:
    coll = chroma_store.open_collection(name, SPEC_128)
    assert isinstance(coll, ChromaCollection)
    handle = chroma_store.client.get_collection(coll.chroma_name)
    assert METADATA_KEY in handle.metadata
    assert handle.configuration_json["hnsw"]["space"] == "cosine"


def test_a_foreign_collection_of_the_same_name_is_not_taken_over(chroma_store: ChromaStore) -> None:
    chroma_store.client.create_collection("foreign-one", embedding_function=None)
    try:
        with pytest.raises(StoreError, match="not a gemini-vectors collection"):
            chroma_store.open_collection("foreign-one", SPEC_128)
        assert "foreign-one" not in chroma_store.list_collections()
    finally:
        chroma_store.client.delete_collection("foreign-one")


def test_collection_names_are_mapped_to_chromas_rules_reversibly(chroma_store: ChromaStore) -> None:
    names = ["a", "ab", "-x-", "a_b.c", "ключ", "1.2.3.4", "a/b:c", "docs", "_p"]
    rule = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]")
    mapped = [chroma_name("", n) for n in names]
    assert all(rule.fullmatch(m) for m in mapped), mapped
    assert [unescape_name(m) for m in mapped] == names
    assert len(set(mapped)) == len(names) and chroma_name("", "docs") == "docs"
    try:
        for i, n in enumerate(names):
            chroma_store.open_collection(n, SPEC_128).upsert(make_records(i + 1))
        assert set(names) <= set(chroma_store.list_collections())
        assert [chroma_store.open_collection(n).count() for n in names] == list(range(1, len(names) + 1))
    finally:
        for n in names:
            chroma_store.drop_collection(n)


def test_list_values_of_a_dropped_collection_do_not_reach_a_new_one(chroma_store: ChromaStore) -> None:
    """chromadb 1.5 leaves a dropped collection's list values behind; a new record must not inherit them."""
    first, second = f"d-{uuid.uuid4().hex[:8]}", f"d-{uuid.uuid4().hex[:8]}"
    records = make_records(3, metadata=[{"tags": ["a", "b"], "n": i} for i in range(3)])
    chroma_store.open_collection(first, SPEC_128).upsert(records)
    chroma_store.client.delete_collection(chroma_store.chroma_name(first))  # dropped by another client
    try:
        coll = chroma_store.open_collection(second, SPEC_128)
        coll.upsert(make_records(3, metadata=[{"n": i} for i in range(3)]))
        assert [dict(r.metadata) for r in coll.get(["r0", "r1", "r2"])] == [{"n": i} for i in range(3)]
        probe = unit_vectors(1)[0]
        assert coll.query(probe, k=3, filter={"tags": "a"}) == []  # type: ignore[arg-type]
        assert len(coll.query(probe, k=3, filter={"tags": {"$ne": "a"}})) == 3  # type: ignore[arg-type]
    finally:
        chroma_store.drop_collection(second)


def test_an_upsert_replaces_the_metadata_instead_of_merging_it(chroma_store: ChromaStore, name: str) -> None:
    coll = chroma_store.open_collection(name, SPEC_128)
    vec = unit_vectors(1)[0]
    coll.upsert([Record("r", vec, {"a": 1, "tags": ["x"], "f": 0.5}, "h1")])
    coll.upsert([Record("r", vec, {"b": "new"}, None)])
    (got,) = coll.get(["r"])
    assert dict(got.metadata) == {"b": "new"} and got.content_hash is None
    assert coll.query(vec, k=1, filter={"tags": "x"}) == []  # type: ignore[arg-type]


def test_bad_metadata_is_refused_by_name_before_anything_is_sent(
    chroma_store: ChromaStore, name: str
) -> None:
    coll = chroma_store.open_collection(name, SPEC_128)
    good = make_records(3)
    for pos, bad in ((1, {"#document": "x"}), (2, {"chroma:document": "x"}), (1, {"n": {"deep": 1}})):
        records = list(good)
        records[pos] = Record("bad", unit_vectors(1)[0], bad)  # type: ignore[arg-type]
        with pytest.raises(MetadataError, match=rf"record {pos} \('bad'\).*'{re.escape(next(iter(bad)))}'"):
            coll.upsert(records)
    assert coll.count() == 0


def test_a_record_the_engine_rejects_is_named_and_the_others_are_written(
    chroma_store: ChromaStore, name: str
) -> None:
    coll = chroma_store.open_collection(name, SPEC_128)
    assert isinstance(coll, ChromaCollection)
    records = make_records(9)
    batch: list[tuple[str, tuple[Any, dict[str, Any]]]] = [
        (r.id, (r.vector, {"__gv_keys": [""]})) for r in records
    ]
    # a vector of the wrong size reaches the engine only past upsert()'s checks: here, sent directly
    batch[5] = ("r5", (np.full(64, 0.5, dtype=np.float32), {"__gv_keys": [""]}))
    failures = coll._send(batch)
    assert list(failures) == ["r5"] and "dimension" in failures["r5"].lower()
    assert sorted(coll.iter_ids()) == sorted(r.id for r in records if r.id != "r5")
    assert "'r5'" in str(WriteError("Chroma did not store records", failures))


def test_batches_follow_the_clients_max_batch_size(chroma_url: str, name: str) -> None:
    with gv.connect(chroma_url, batch_size=7) as store:
        assert isinstance(store, ChromaStore)
        assert store.effective_batch_size() == 7
        coll = store.open_collection(name, SPEC_128)
        coll.upsert(make_records(30))
        assert coll.count() == 30
        store.drop_collection(name)
    with gv.connect(chroma_url, batch_size=10**9) as store:
        assert isinstance(store, ChromaStore)
        assert store.effective_batch_size() == store.client.get_max_batch_size()


def test_transient_failures_are_retried_then_reported_without_the_token(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "ck-" + uuid.uuid4().hex
    monkeypatch.setenv("CHROMA_API_KEY", secret)
    # port 1 on the loopback refuses connections: a real transient failure, no server needed
    with (
        caplog.at_level(logging.INFO, logger="gemini_vectors_chroma.store"),
        pytest.raises(StoreError) as info,
    ):
        gv.connect("chroma+http://127.0.0.1:1", max_retries=2, retry_backoff=0.0)
    assert secret not in str(info.value) and "127.0.0.1:1" in str(info.value)
    assert len([r for r in caplog.records if "retry" in r.getMessage()]) == 2
    assert all(secret not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("chroma+http://user:pw@host", "credentials do not go"),
        ("chroma+https://host?token=sekrit", "token does not go"),
        ("chroma+http://host?colour=red", "unknown parameter"),
        ("chroma+http://host/some/path", "names a server only"),
        ("chroma+http://", "needs a host"),
        ("chroma://relative/path", "absolute directory"),
    ],
)
def test_bad_urls_are_refused_without_echoing_secrets(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        gv.connect(url)
    assert "sekrit" not in str(info.value) and ":pw" not in str(info.value)


def test_unknown_options_are_refused(chroma_url: str) -> None:
    with pytest.raises(ConfigurationError, match="unknown option"):
        gv.connect(chroma_url, colour="red")
    with pytest.raises(ConfigurationError, match="batch_size"):
        gv.connect(chroma_url, batch_size=0)


def test_the_readme_quickstart_runs_with_a_chroma_url(
    gemini_env: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    quickstart = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)[0]
    assert 'gv.connect(f"chroma://' in quickstart
    exec(compile(quickstart, str(README), "exec"), {})
    assert "t1" in capsys.readouterr().out


def test_two_connects_of_one_path_share_its_engine_and_close_separately(tmp_path: Path) -> None:
    url = f"chroma://{tmp_path / 'c'}"
    with gv.connect(url) as a:
        with gv.connect(url) as b:
            a.open_collection("c", SPEC_128).upsert(make_records(2))
            assert b.open_collection("c").count() == 2
        assert a.open_collection("c").count() == 2  # b closing did not stop a's engine
    with gv.connect(url) as c:  # reopened from disk
        assert c.open_collection("c").count() == 2
    with pytest.raises(StoreError, match="closed"):
        a.list_collections()


def test_filters_on_keys_with_dots_spaces_and_brackets(chroma_store: ChromaStore, name: str) -> None:
    coll = chroma_store.open_collection(name, SPEC_128)
    rows: list[dict[str, Any]] = [{"a.b": 1, "x y": "s", "t[0]": ["u"]}, {"a": 2}, {"a.b": 2, "t[0]": []}]
    coll.upsert(make_records(3, metadata=rows))
    probe = unit_vectors(1, seed=9)[0]

    def ids(flt: dict[str, Any]) -> set[str]:
        return {m.id for m in coll.query(probe, k=5, filter=flt)}  # type: ignore[arg-type]

    assert ids({"a.b": 1}) == {"r0"} and ids({"x y": "s"}) == {"r0"} and ids({"t[0]": "u"}) == {"r0"}
    assert ids({"a.b": {"$exists": False}}) == {"r1"}
    assert ids({"t[0]": {"$exists": True}}) == {"r0", "r2"}  # an empty list is present
    assert ids({"t[0]": {"$ne": "u"}}) == {"r1", "r2"}
    assert dict(coll.get(["r2"])[0].metadata) == {"a.b": 2, "t[0]": []}
    assert ids({"#document": {"$exists": False}}) == {"r0", "r1", "r2"}  # a key Chroma keeps: never set


@pytest.mark.parametrize(
    "url", ["chroma:///tmp/c", "chroma+http://localhost:8000", "chroma+https://x.example"]
)
def test_connect_without_the_plugin_names_the_distribution(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    from gemini_vectors import plugins
    from gemini_vectors.errors import UnknownStoreError

    monkeypatch.setenv(plugins.DISABLE_ENV, "chroma")
    plugins.reload_plugins()
    try:
        with pytest.raises(UnknownStoreError, match=r"pip install gemini-vectors-chroma"):
            gv.connect(url)
    finally:
        monkeypatch.delenv(plugins.DISABLE_ENV)
        plugins.reload_plugins()
    assert {"chroma", "chroma+http", "chroma+https"} <= set(plugins.store_schemes())


def test_a_key_outside_the_key_list_is_missing_to_reads_and_filters(
    chroma_store: ChromaStore, name: str
) -> None:
    """Whatever else chromadb holds for a record (a merged-in key, another client's write), its key list
    rules."""
    coll = chroma_store.open_collection(name, SPEC_128)
    assert isinstance(coll, ChromaCollection)
    coll.upsert(make_records(2))  # metadata {"i": 0}, {"i": 1}
    handle = chroma_store.client.get_collection(coll.chroma_name)
    handle.update(ids=["r0"], metadatas=[{"ghost": 1, "gtags": ["x"]}])  # Chroma merges these in
    probe = unit_vectors(1)[0]

    def ids(flt: dict[str, Any]) -> set[str]:
        return {m.id for m in coll.query(probe, k=5, filter=flt)}  # type: ignore[arg-type]

    assert (
        ids({"ghost": 1}) == set() and ids({"ghost": {"$gte": 0}}) == set() and ids({"gtags": "x"}) == set()
    )
    assert ids({"ghost": {"$ne": 1}}) == {"r0", "r1"} and ids({"ghost": {"$exists": False}}) == {"r0", "r1"}
    assert dict(coll.get(["r0"])[0].metadata) == {"i": 0}
