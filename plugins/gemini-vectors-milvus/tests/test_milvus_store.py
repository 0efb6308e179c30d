"""The Milvus store around the contract: specs, vector types, names, filters, failures, URLs, secrets."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gemini_vectors as gv
import pytest
from gemini_vectors import plugins
from gemini_vectors.errors import (
    ConfigurationError,
    MetadataError,
    SpecMismatchError,
    StoreError,
    UnknownStoreError,
    WriteError,
)
from gemini_vectors.filters import matches, parse_filter
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Record
from gemini_vectors.testing.contract import make_records, unit_vectors
from pymilvus import DataType, MilvusClient
from pymilvus.exceptions import MilvusException

from gemini_vectors_milvus import MilvusStore
from gemini_vectors_milvus.connection import parse_url
from gemini_vectors_milvus.filters import translate
from gemini_vectors_milvus.naming import escape_name, quote
from gemini_vectors_milvus.store import (
    NAME_PROPERTY,
    SPEC_PROPERTY,
    VECTOR_TYPE_PROPERTY,
    MilvusCollection,
    is_transient,
)

SPEC_768 = EmbeddingSpec.for_model("gemini-embedding-2", 768)
SPEC_3072 = EmbeddingSpec.for_model("gemini-embedding-2", 3072)
SPEC_128 = EmbeddingSpec.for_model("gemini-embedding-2", 128)
README = Path(__file__).resolve().parents[1] / "README.md"
#: The server's rule for collection names (Milvus Lite is more lenient; the plugin keeps to the server's).
SERVER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")


@pytest.fixture
def name(milvus_store: MilvusStore) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:10]}"
    yield name
    milvus_store.drop_collection(name)


def _vector_field(store: MilvusStore, coll: MilvusCollection) -> dict[str, Any]:
    described = store.client.describe_collection(coll.milvus_name)
    (field,) = [f for f in described["fields"] if f["name"] == "vector"]
    return dict(field)


# -- the spec ----------------------------------------------------------------------------------------


def test_a_768_collection_opened_with_a_3072_spec_raises_before_any_write(
    milvus_store: MilvusStore, name: str, gemini_emulator: Any
) -> None:
    coll = milvus_store.open_collection(name, SPEC_768)
    coll.upsert(make_records(3, dims=768))
    with pytest.raises(SpecMismatchError) as info:
        milvus_store.open_collection(name, SPEC_3072)
    assert info.value.stored == SPEC_768 and info.value.requested == SPEC_3072
    assert "768" in str(info.value) and "3072" in str(info.value)
    # through the embed-and-store API too: refused before anything is embedded (paid for) or written
    embedder = gv.Embedder(dimensions=3072, client=gemini_emulator.client())
    with pytest.raises(SpecMismatchError):
        milvus_store.collection(name, embedder)
    assert gemini_emulator.stats.embed_calls == 0
    assert milvus_store.stored_spec(name) == SPEC_768
    again = milvus_store.open_collection(name, SPEC_768)
    assert again.count() == 3
    assert isinstance(again, MilvusCollection)
    assert _vector_field(milvus_store, again)["params"]["dim"] == 768


def test_the_spec_is_checked_again_before_a_write(milvus_url: str, name: str) -> None:
    """A handle opened for one spec must not write into a collection recreated meanwhile for another."""
    with gv.connect(milvus_url) as first, gv.connect(milvus_url) as second:
        old = first.open_collection(name, SPEC_128)
        second.drop_collection(name)
        other = EmbeddingSpec.for_model("gemini-embedding-001", 128)
        second.open_collection(name, other)
        with pytest.raises(SpecMismatchError):
            old.upsert(make_records(2))
        assert second.open_collection(name).count() == 0


def test_the_spec_and_name_are_in_the_collection_properties(milvus_store: MilvusStore, name: str) -> None:
    coll = milvus_store.open_collection(name, SPEC_128)
    assert isinstance(coll, MilvusCollection)
    described = milvus_store.client.describe_collection(coll.milvus_name)
    props = described["properties"]
    assert props[NAME_PROPERTY] == name
    assert EmbeddingSpec.from_json(props[SPEC_PROPERTY]) == SPEC_128
    assert props[VECTOR_TYPE_PROPERTY] == "float32"
    types = {f["name"]: f["type"] for f in described["fields"]}
    assert types == {
        "id": DataType.VARCHAR,
        "vector": DataType.FLOAT_VECTOR,
        "metadata": DataType.JSON,
        "content_hash": DataType.VARCHAR,
        "gv_filter": DataType.JSON,
    }
    (id_field,) = [f for f in described["fields"] if f["name"] == "id"]
    assert id_field.get("is_primary") and id_field["params"]["max_length"] == coll.max_id_length == 65_535


def test_a_foreign_collection_of_the_same_name_is_not_taken_over(
    milvus_store: MilvusStore, name: str
) -> None:
    milvus_store.client.create_collection(milvus_store.milvus_name(name), dimension=128)
    try:
        with pytest.raises(StoreError, match="not a gemini-vectors collection"):
            milvus_store.open_collection(name, SPEC_128)
        assert name not in milvus_store.list_collections()
    finally:
        milvus_store.client.drop_collection(milvus_store.milvus_name(name))


# -- vector types ------------------------------------------------------------------------------------


def test_a_3072_dim_collection_is_float16_on_a_server_and_float32_on_milvus_lite(
    milvus_store: MilvusStore, name: str, on_lite: None
) -> None:
    server = MilvusStore(object(), lite=False)  # planning only: no call reaches the client
    assert server.vector_type_for(SPEC_3072) == "float16"
    assert server.vector_type_for(SPEC_768) == "float32"
    assert MilvusStore(object(), vector_type="float32").vector_type_for(SPEC_3072) == "float32"
    # Milvus Lite has no FLOAT16_VECTOR (it refuses the schema): 3,072 dims are stored as float32
    assert milvus_store.vector_type_for(SPEC_3072) == "float32"
    coll = milvus_store.open_collection(name, SPEC_3072)
    assert isinstance(coll, MilvusCollection) and coll.vector_type == "float32"
    assert _vector_field(milvus_store, coll)["type"] == DataType.FLOAT_VECTOR
    records = make_records(5, dims=3072, seed=4)
    coll.upsert(records)
    (top,) = coll.query(records[3].vector, k=1, include_vectors=True)
    assert top.id == "r3" and top.vector is not None and (top.vector == records[3].vector).all()
    with pytest.raises(ConfigurationError, match="no FLOAT16_VECTOR"):
        gv.connect(milvus_store.url, vector_type="float16")
    with pytest.raises(ConfigurationError, match="vector_type"):
        gv.connect(milvus_store.url, vector_type="int8")


# -- names, ids and literals ---------------------------------------------------------------------------


def test_collection_names_are_escaped_reversibly_into_the_servers_alphabet(milvus_store: MilvusStore) -> None:
    names = ["a/b:c", "ключ", "_x", "x_", "x__", "x_5F", "1st", "docs", "with space", "a-b", "é"]
    escaped = [escape_name(n) for n in names]
    assert len(set(escaped)) == len(names)  # injective
    assert all(SERVER_NAME.fullmatch(e) for e in escaped), escaped
    assert escape_name("docs") == "docs"
    try:
        for n in names:
            milvus_store.open_collection(n, SPEC_128).upsert(make_records(1))
        assert set(names) <= set(milvus_store.list_collections())
        assert all(milvus_store.open_collection(n).count() == 1 for n in names)
    finally:
        for n in names:
            milvus_store.drop_collection(n)


def test_ids_with_backslashes_quotes_and_newlines_round_trip(milvus_store: MilvusStore, name: str) -> None:
    # pymilvus's own get(ids=...)/delete(ids=...) put ids into an expression without escaping a backslash
    ids = ["back\\slash", 'q"uote', "nl\nx", "cr\rx", "tab\tx", 'bs\\"q', "ends\\"]
    coll = milvus_store.open_collection(name, SPEC_128)
    vectors = unit_vectors(len(ids))
    coll.upsert([Record(i, vectors[n], {"i": n}) for n, i in enumerate(ids)])
    assert [r.id for r in coll.get(ids, include_vectors=False)] == ids
    assert coll.content_hashes(ids) == dict.fromkeys(ids)
    assert sorted(coll.iter_ids()) == sorted(ids)
    coll.delete(ids=ids[:4])
    assert sorted(coll.iter_ids()) == sorted(ids[4:])


def test_quote_escapes_what_the_milvus_parser_reads() -> None:
    assert quote('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'


# -- filters -------------------------------------------------------------------------------------------


#: Values Milvus's own JSON comparisons confuse: true == 1, and a missing key under not().
TRICKY_ROWS: list[dict[str, Any]] = [
    {"x": True},
    {"x": 1},
    {"x": 1.0},
    {"x": "1"},
    {"x": ["1", "a"]},
    {"x": []},
    {},
    {"x": False, "y": 0},
    {"x": 0},
]
TRICKY_FILTERS: list[dict[str, Any]] = [
    {"x": True},
    {"x": 1},
    {"x": 1.0},
    {"x": "1"},
    {"x": {"$ne": 1}},
    {"x": {"$ne": True}},
    {"x": {"$nin": [1, "a"]}},
    {"x": {"$in": [False, "a"]}},
    {"x": {"$gt": 0}},
    {"x": {"$gte": 0}},
    {"x": {"$lt": float("inf")}},
    {"x": {"$gt": float("-inf")}},
    {"x": {"$gt": float("inf")}},
    {"x": {"$exists": True}},
    {"x": {"$exists": False}},
    {"$or": [{"x": {"$exists": False}}, {"y": {"$lte": 0}}]},
    {"$and": [{"x": {"$nin": []}}, {"x": {"$ne": "1"}}]},
    {"$or": [{"x": {"$in": []}}, {"x": 0}]},
]


@pytest.mark.parametrize("raw", TRICKY_FILTERS, ids=[repr(f) for f in TRICKY_FILTERS])
def test_filters_keep_the_portable_semantics_where_milvus_json_would_not(
    milvus_store: MilvusStore, name: str, raw: dict[str, Any]
) -> None:
    coll = milvus_store.open_collection(name, SPEC_128)
    records = make_records(len(TRICKY_ROWS), metadata=TRICKY_ROWS)
    coll.upsert(records)
    flt = parse_filter(raw)
    want = {r.id for r in records if matches(flt, r.metadata)}
    got = {m.id for m in coll.query(unit_vectors(1, seed=5)[0], k=len(records), filter=flt)}
    assert got == want
    coll.delete(filter=flt)
    assert set(coll.iter_ids()) == {r.id for r in records} - want


def test_no_filter_value_or_key_reaches_the_expression() -> None:
    hostile = 'x" or true or "'
    expr = translate(parse_filter({hostile: {"$in": [hostile, "a\\"]}, "k": {"$ne": hostile}}))
    assert isinstance(expr, str)
    assert hostile not in expr and "\\" not in expr and "or true" not in expr


def test_an_empty_nin_deletes_everything_and_an_empty_in_nothing(
    milvus_store: MilvusStore, name: str
) -> None:
    coll = milvus_store.open_collection(name, SPEC_128)
    coll.upsert(make_records(4))
    coll.delete(filter={"i": {"$in": []}})  # type: ignore[arg-type]
    assert coll.count() == 4
    assert coll.query(unit_vectors(1)[0], k=4, filter={"i": {"$in": []}}) == []  # type: ignore[arg-type]
    coll.delete(filter={"i": {"$nin": []}})  # type: ignore[arg-type]
    assert coll.count() == 0


def test_k_over_the_milvus_top_k_limit_is_refused_by_name(milvus_store: MilvusStore, name: str) -> None:
    coll = milvus_store.open_collection(name, SPEC_128)
    with pytest.raises(ValueError, match="16,384"):
        coll.query(unit_vectors(1)[0], k=16_385)


# -- bad input before anything is sent; failures per record ---------------------------------------------


def test_bad_metadata_is_refused_by_name_before_anything_is_sent(milvus_url: str, name: str) -> None:
    with gv.connect(milvus_url, max_batch_bytes=64 * 1024) as store:
        coll = store.open_collection(name, SPEC_128)
        good = make_records(3)
        nested = Record("bad", unit_vectors(1)[0], {"n": {"deep": 1}})  # type: ignore[dict-item]
        with pytest.raises(MetadataError, match=r"record 1 \('bad'\).*'n'"):
            coll.upsert([good[0], nested, good[2]])
        huge = Record("huge", unit_vectors(1)[0], {"text": "x" * 70_000})
        with pytest.raises(MetadataError, match=r"record 2 \('huge'\).*65,536"):
            coll.upsert([good[0], good[1], huge])
        big = Record("big", unit_vectors(1)[0], {"text": "x" * 60_000, "more": "y" * 10_000})
        with pytest.raises(MetadataError, match=r"record 0 \('big'\).*65,536"):
            coll.upsert([big])
        reserved = Record("res", unit_vectors(1)[0], {"__gv_x": 1})
        with pytest.raises(MetadataError, match=r"record 0 \('res'\).*reserved"):
            coll.upsert([reserved])
        assert coll.count() == 0


def test_an_id_over_the_declared_length_is_refused_by_name(milvus_url: str, name: str) -> None:
    with gv.connect(milvus_url, max_id_length=16) as store:
        coll = store.open_collection(name, SPEC_128)
        assert coll.max_id_length == 16
        with pytest.raises(MetadataError, match=r"record 1: its id 'x{17}' is 17 long.* 16"):
            coll.upsert([Record("ok", unit_vectors(1)[0]), Record("x" * 17, unit_vectors(1)[0])])
        assert coll.count() == 0
    with gv.connect(milvus_url) as store:  # the limit is the collection's schema, whatever the default
        assert store.open_collection(name).max_id_length == 16


def test_a_record_the_engine_rejects_is_named_and_the_others_are_written(milvus_url: str, name: str) -> None:
    with gv.connect(milvus_url, max_id_length=16) as store:
        coll = store.open_collection(name, SPEC_128)
        assert isinstance(coll, MilvusCollection)
        records = make_records(9)
        records[5] = Record("r5-" + "x" * 20, records[5].vector)
        # the id check of upsert() is lifted so that the engine itself sees the over-long id and refuses
        # the whole request; the plugin finds the one record and writes the others
        coll.max_id_length = None
        with pytest.raises(WriteError) as info:
            coll.upsert(records)
        assert list(info.value.failed_ids) == [records[5].id]
        assert "max_length" in info.value.failed_ids[records[5].id]
        assert sorted(coll.iter_ids()) == sorted(r.id for i, r in enumerate(records) if i != 5)


def test_transient_errors_are_told_apart_and_retried_then_reported_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert is_transient(MilvusException(code=8, message="rate limit exceeded"))
    assert not is_transient(MilvusException(code=1100, message="invalid parameter"))
    secret = "mt-" + uuid.uuid4().hex
    store = MilvusStore(object(), url="milvuss://db.example:19530", token=secret, retry_backoff=0.0)
    assert secret not in repr(store) and secret not in store.url
    calls: list[int] = []

    def limited() -> str:
        calls.append(1)
        raise MilvusException(code=8, message=f"rate limited (token {secret})")

    with caplog.at_level(logging.INFO, logger="gemini_vectors_milvus.store"), pytest.raises(MilvusException):
        store._call(limited)
    assert len(calls) == store.max_retries + 1
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == store.max_retries
    assert all(secret not in r.getMessage() for r in caplog.records)
    assert secret not in store._said(MilvusException(code=8, message=f"token {secret}"))


def test_an_unreachable_server_is_a_store_error_without_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "mt-" + uuid.uuid4().hex
    monkeypatch.setenv("MILVUS_TOKEN", secret)
    # port 1 on the loopback refuses connections: a real failure, no server needed
    with pytest.raises(
        StoreError, match=re.escape("could not connect to Milvus at milvuss://127.0.0.1:1")
    ) as info:
        gv.connect("milvuss://127.0.0.1:1", timeout=2)
    assert secret not in str(info.value)


# -- URLs, options, sharing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("milvus://user:pw@host", "credentials do not go"),
        ("milvuss://host?token=sekrit", "token does not go"),
        ("milvuss://host?password=sekrit", "token does not go"),
        ("milvus://host?colour=red", "unknown parameter"),
        ("milvus://host/some/path", "names a server only"),
        ("milvus://", "needs a host"),
        ("milvus://host:99999", "not a Milvus URL|port"),
        ("milvus+lite://relative/x.db", "absolute path"),
        ("milvus+lite:///abs/no-suffix", "ending in .db"),
    ],
)
def test_bad_urls_are_refused_without_echoing_secrets(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        gv.connect(url)
    assert "sekrit" not in str(info.value) and "pw" not in str(info.value).replace("pw@", "")


def test_server_urls() -> None:
    plain = parse_url("milvus://db.example")
    assert (plain.host, plain.port, plain.secure, plain.uri) == (
        "db.example",
        19530,
        False,
        "http://db.example:19530",
    )
    cloud = parse_url("milvuss://in01-x.zillizcloud.com:443?db=prod")
    assert cloud.secure and cloud.uri == "https://in01-x.zillizcloud.com:443" and cloud.db == "prod"
    assert cloud.safe_url == "milvuss://in01-x.zillizcloud.com:443?db=prod"
    assert parse_url("milvus+lite:///var/lib/m/../m/v.db").path == "/var/lib/m/v.db"


def test_unknown_options_are_refused(milvus_url: str) -> None:
    with pytest.raises(ConfigurationError, match="unknown option"):
        gv.connect(milvus_url, colour="red")
    with pytest.raises(ConfigurationError, match="batch_size"):
        gv.connect(milvus_url, batch_size=0)
    with pytest.raises(ConfigurationError, match="max_id_length"):
        gv.connect(milvus_url, max_id_length=70_000)


def test_two_connects_of_one_lite_file_share_its_client(tmp_path: Path) -> None:
    url = f"milvus+lite://{tmp_path / 'm.db'}"
    with gv.connect(url) as a:
        with gv.connect(url) as b:
            a.open_collection("c", SPEC_128).upsert(make_records(2))
            assert b.open_collection("c").count() == 2
        assert a.open_collection("c").count() == 2  # b closing did not close a's client
    with gv.connect(url) as c:  # reopened from the file
        assert c.open_collection("c").count() == 2


def test_a_client_of_ones_own_is_used_and_left_open(tmp_path: Path) -> None:
    client = MilvusClient(str(tmp_path / "own.db"))
    try:
        with gv.connect(f"milvus+lite://{tmp_path / 'own.db'}", client=client) as store:
            store.open_collection("c", SPEC_128).upsert(make_records(1))
        assert client.has_collection("c")  # still open after the store closed (an alias of the Lite file)
    finally:
        client.close()


# -- the plugin registry -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["milvus://localhost:19530", "milvuss://localhost:19530", "milvus+lite:///tmp/m.db"]
)
def test_connect_without_the_plugin_names_the_distribution(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv(plugins.DISABLE_ENV, "milvus")
    plugins.reload_plugins()
    try:
        with pytest.raises(UnknownStoreError, match="pip install gemini-vectors-milvus"):
            gv.connect(url)
    finally:
        monkeypatch.delenv(plugins.DISABLE_ENV)
        plugins.reload_plugins()
    assert "milvus+lite" in plugins.store_schemes()


# -- the README ------------------------------------------------------------------------------------------


def test_the_readme_quickstart_runs_with_a_milvus_lite_url(gemini_env: Any) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    quickstart = blocks[0]
    path = Path("/tmp/gv-milvus-quickstart.db")
    assert f'gv.connect("milvus+lite://{path}")' in quickstart

    def clean() -> None:
        for leftover in path.parent.glob(path.name + "*"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)

    clean()
    try:
        # unchanged, in an interpreter of its own (the emulator's URL and key are in the environment):
        # Milvus Lite writes its files until its process ends, so the files are removed after that
        done = subprocess.run(
            [sys.executable, "-c", quickstart], capture_output=True, text=True, timeout=300, check=False
        )
    finally:
        clean()
    assert done.returncode == 0, done.stderr[-2000:]
    assert "t1" in done.stdout
