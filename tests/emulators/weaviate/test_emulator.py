"""The Weaviate emulator, driven by the unmodified official client (``weaviate-client`` v4) only."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
import weaviate
from weaviate.classes.aggregate import GroupByAggregate
from weaviate.classes.config import Configure, DataType, Property, Reconfigure, Tokenization
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter, MetadataQuery, Sort, TargetVectors
from weaviate.collections import Collection
from weaviate.exceptions import (
    UnexpectedStatusCodeError,
    WeaviateInsertManyAllFailedError,
    WeaviateQueryError,
)

from . import WeaviateEmulator


@pytest.fixture(scope="module")
def emulator() -> Iterator[WeaviateEmulator]:
    with WeaviateEmulator() as emu:
        yield emu


@pytest.fixture(scope="module")
def client(emulator: WeaviateEmulator) -> Iterator[weaviate.WeaviateClient]:
    c = weaviate.connect_to_local(port=emulator.http_port, grpc_port=emulator.grpc_port)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def name(client: weaviate.WeaviateClient, emulator: WeaviateEmulator) -> Iterator[str]:
    n = f"Emu{uuid.uuid4().hex[:10]}"
    yield n
    client.collections.delete(n)
    emulator.clear_faults()


def rows(n: int, dims: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, dims)).astype(np.float32)
    return np.asarray(m / np.linalg.norm(m, axis=1, keepdims=True))


def idx(obj: Any) -> int:
    """The ``i`` property the tests give every object (auto-schema makes it a number)."""
    return int(obj.properties["i"])


def make(client: weaviate.WeaviateClient, name: str, **kwargs: Any) -> Collection:
    kwargs.setdefault("vector_config", Configure.Vectors.self_provided())
    return client.collections.create(name, **kwargs)


# -- connecting ------------------------------------------------------------------------------------


def test_connect_reports_version_and_health(
    client: weaviate.WeaviateClient, emulator: WeaviateEmulator
) -> None:
    assert client.is_ready() and client.is_live()
    meta = client.get_meta()
    assert meta["version"] == emulator.version
    assert client._connection._weaviate_version.is_lower_than(1, 36, 0)  # the client keeps BatchObjects
    assert httpx.get(f"{emulator.http_url}/v1/.well-known/openid-configuration").status_code == 404
    nodes = client.cluster.nodes(output="verbose")
    assert nodes[0].status == "HEALTHY" and nodes[0].version == emulator.version


# -- schema ----------------------------------------------------------------------------------------


def test_create_returns_complete_config_the_client_parses(client: weaviate.WeaviateClient, name: str) -> None:
    coll = client.collections.create(
        name.lower(),
        description="docs",
        properties=[
            Property(name="Title", data_type=DataType.TEXT),
            Property(name="tags", data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD),
            Property(name="year", data_type=DataType.INT, index_range_filters=True),
        ],
        vector_config=[
            Configure.Vectors.self_provided(name="a"),
            Configure.Vectors.self_provided(name="b", vector_index_config=Configure.VectorIndex.flat()),
        ],
        inverted_index_config=Configure.inverted_index(index_null_state=True),
    )
    assert coll.name == name  # the server capitalises the first letter
    config = coll.config.get()
    assert config.description == "docs"
    props = {p.name: p for p in config.properties}
    assert set(props) == {"title", "tags", "year"}  # and lowers the first letter of properties
    assert props["title"].tokenization == Tokenization.WORD and props["title"].index_searchable
    assert props["tags"].tokenization == Tokenization.FIELD
    assert not props["year"].index_searchable and props["year"].index_range_filters
    assert config.inverted_index_config.index_null_state
    assert config.inverted_index_config.bm25.b == 0.75
    assert config.vector_config is not None
    assert config.vector_config["a"].vector_index_config.distance_metric.value == "cosine"  # type: ignore[union-attr]
    assert type(config.vector_config["b"].vector_index_config).__name__ == "_VectorIndexConfigFlat"
    assert config.sharding_config is not None and config.sharding_config.desired_count == 1
    assert name in client.collections.list_all(simple=False)
    assert client.collections.export_config(name).name == name
    assert client.collections.exists(name.lower())


def test_schema_rules_are_enforced(client: weaviate.WeaviateClient, name: str) -> None:
    make(client, name)
    with pytest.raises(UnexpectedStatusCodeError, match="already exists"):
        make(client, name.upper())  # class names are unique regardless of case
    with pytest.raises(UnexpectedStatusCodeError, match="reserved property name"):
        make(client, name + "B", properties=[Property(name="_id", data_type=DataType.TEXT)])
    with pytest.raises(UnexpectedStatusCodeError, match="not a valid property name"):
        client.collections.create_from_dict(
            {"class": name + "C", "properties": [{"name": "a-b", "dataType": ["text"]}]}
        )
    with pytest.raises(UnexpectedStatusCodeError, match="not a valid class name"):
        client.collections.create_from_dict({"class": "9lives"})
    with pytest.raises(UnexpectedStatusCodeError, match="tokenization is not allowed"):
        client.collections.create_from_dict(
            {"class": name + "D", "properties": [{"name": "n", "dataType": ["int"], "tokenization": "word"}]}
        )


def test_add_property_and_update(client: weaviate.WeaviateClient, name: str) -> None:
    coll = make(client, name, properties=[Property(name="a", data_type=DataType.TEXT)])
    coll.config.add_property(Property(name="B", data_type=DataType.NUMBER))
    assert [p.name for p in coll.config.get().properties] == ["a", "b"]
    with pytest.raises(UnexpectedStatusCodeError, match="conflict for property"):
        coll.config.add_property(
            Property(name="A", data_type=DataType.TEXT)
        )  # names clash regardless of case
    coll.config.update(description="changed")
    assert coll.config.get().description == "changed"


# -- objects ---------------------------------------------------------------------------------------


def test_insert_fetch_update_replace_delete(client: weaviate.WeaviateClient, name: str) -> None:
    coll = make(client, name, properties=[Property(name="title", data_type=DataType.TEXT)])
    vec = rows(1)[0]
    uid = coll.data.insert({"title": "one", "n": 5}, vector=vec.tolist())
    got = coll.query.fetch_object_by_id(uid, include_vector=True)
    assert got is not None and got.properties == {"title": "one", "n": 5.0}
    np.testing.assert_allclose(got.vector["default"], vec, rtol=1e-6)
    assert got.metadata.creation_time is not None and got.metadata.last_update_time is not None
    assert coll.data.exists(uid)
    coll.data.update(uid, properties={"n": 6})
    updated = coll.query.fetch_object_by_id(uid)
    assert updated is not None and updated.properties == {"title": "one", "n": 6.0}
    coll.data.replace(uid, properties={"title": "two"})
    after = coll.query.fetch_object_by_id(uid, include_vector=True)
    assert after is not None and after.properties == {"title": "two", "n": None}
    assert after.vector == {}  # a replace without vector drops it
    with pytest.raises(UnexpectedStatusCodeError, match="already exists"):
        coll.data.insert({"title": "dup"}, uuid=uid)
    assert coll.data.delete_by_id(uid)
    assert not coll.data.exists(uid)
    assert coll.query.fetch_object_by_id(uid) is None


def test_auto_schema_infers_types(client: weaviate.WeaviateClient, name: str) -> None:
    coll = make(client, name)
    coll.data.insert_many(
        [
            DataObject(
                properties={
                    "text": "x",
                    "num": 3,
                    "flag": True,
                    "when": dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
                    "ids": [1, 2],
                    "words": ["a"],
                    "nothing": [],
                }
            )
        ]
    )
    types = {p.name: p.data_type.value for p in coll.config.get().properties}
    assert types == {
        "text": "text",
        "num": "number",  # gRPC sends numbers as doubles; auto-schema makes them numbers
        "flag": "boolean",
        "when": "date",
        "ids": "int[]",
        "words": "text[]",
        "nothing": "text[]",
    }
    (obj,) = coll.query.fetch_objects().objects
    assert obj.properties["when"] == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    assert obj.properties["ids"] == [1, 2]


def test_insert_many_reports_errors_per_object(client: weaviate.WeaviateClient, name: str) -> None:
    coll = make(client, name, properties=[Property(name="n", data_type=DataType.INT)])
    vecs = rows(4)
    res = coll.data.insert_many(
        [
            DataObject({"n": 1}, vector=vecs[0].tolist()),
            DataObject({"n": 1.5}, vector=vecs[1].tolist()),
            DataObject({"n": 3}, vector=[1.0, 2.0]),
            DataObject({"n": 4}, vector=vecs[3].tolist()),
        ]
    )
    assert set(res.errors) == {1, 2}
    assert "invalid integer property 'n'" in res.errors[1].message
    assert "vector dimensions do not match" in res.errors[2].message
    assert len(coll) == 2
    with pytest.raises(WeaviateInsertManyAllFailedError):
        coll.data.insert_many([DataObject({"n": "x"})])


def test_faults_reject_some_objects_of_a_batch(
    client: weaviate.WeaviateClient, emulator: WeaviateEmulator, name: str
) -> None:
    coll = make(client, name)
    ids = [uuid.uuid4() for _ in range(6)]
    emulator.reject_objects(ids=ids[1:3], message="disk full")
    fault = emulator.reject_objects(where=lambda p: p.get("k") == 5, times=1)
    res = coll.data.insert_many([DataObject({"k": i}, uuid=u) for i, u in enumerate(ids)])
    assert {i: e.message for i, e in res.errors.items()} == {1: "disk full", 2: "disk full", 5: fault.message}
    assert len(coll) == 3
    again = coll.data.insert_many([DataObject({"k": 5}, uuid=ids[5])])  # transient: gone on retry
    assert not again.errors and fault.hits == 1
    with pytest.raises(UnexpectedStatusCodeError, match="disk full"):
        coll.data.insert({"k": 1}, uuid=ids[1])


def test_batch_context_manager(client: weaviate.WeaviateClient, name: str) -> None:
    coll = make(client, name)
    vecs = rows(250)
    with coll.batch.fixed_size(batch_size=100) as batch:
        for i, v in enumerate(vecs):
            batch.add_object({"i": i}, vector=v.tolist())
    assert not coll.batch.failed_objects
    assert len(coll) == 250


# -- search ----------------------------------------------------------------------------------------


def test_near_vector_matches_exact_cosine(client: weaviate.WeaviateClient, name: str) -> None:
    coll = make(client, name)
    vecs = rows(40, dims=16, seed=3)
    res = coll.data.insert_many([DataObject({"i": i}, vector=v.tolist()) for i, v in enumerate(vecs)])
    assert not res.errors
    q = vecs[7]
    out = coll.query.near_vector(
        q.tolist(), limit=5, return_metadata=MetadataQuery(distance=True, certainty=True), include_vector=True
    )
    sims = vecs @ q
    assert [idx(o) for o in out.objects] == list(np.argsort(-sims)[:5])
    for o in out.objects:
        i = idx(o)
        assert o.metadata.distance == pytest.approx(1 - sims[i], abs=1e-5)
        assert o.metadata.certainty == pytest.approx(1 - (1 - sims[i]) / 2, abs=1e-5)
        np.testing.assert_allclose(o.vector["default"], vecs[i], rtol=1e-6)
    near = coll.query.near_vector(
        q.tolist(), distance=0.5, limit=100, return_metadata=MetadataQuery(distance=True)
    )
    assert all(o.metadata.distance is not None and o.metadata.distance <= 0.5 for o in near.objects)
    page = coll.query.near_vector(q.tolist(), limit=2, offset=3)
    assert [idx(o) for o in page.objects] == list(np.argsort(-sims)[3:5])
    by_obj = coll.query.near_object(out.objects[0].uuid, limit=1)
    assert by_obj.objects[0].uuid == out.objects[0].uuid
    with pytest.raises(WeaviateQueryError, match="vector lengths don't match"):
        coll.query.near_vector([1.0, 2.0])


def test_named_vectors_and_targets(client: weaviate.WeaviateClient, name: str) -> None:
    coll = make(client, name, vector_config=[Configure.Vectors.self_provided(name=n) for n in ("a", "b")])
    va, vb = rows(5, seed=1), rows(5, dims=4, seed=2)
    coll.data.insert_many(
        [DataObject({"i": i}, vector={"a": va[i].tolist(), "b": vb[i].tolist()}) for i in range(5)]
    )
    with pytest.raises(WeaviateQueryError, match="multiple vectors"):
        coll.query.near_vector(va[0].tolist())
    got = coll.query.near_vector(vb[3].tolist(), target_vector="b", limit=1, include_vector=["b"])
    assert got.objects[0].properties["i"] == 3 and set(got.objects[0].vector) == {"b"}
    both = coll.query.near_vector(
        {"a": va[2].tolist(), "b": vb[2].tolist()},
        target_vector=TargetVectors.sum(["a", "b"]),
        limit=1,
        return_metadata=MetadataQuery(distance=True),
    )
    assert both.objects[0].properties["i"] == 2
    assert both.objects[0].metadata.distance == pytest.approx(0.0, abs=1e-5)


def test_hnsw_ef_is_kept_and_updated_and_immutables_are_refused(
    client: weaviate.WeaviateClient, emulator: WeaviateEmulator, name: str
) -> None:
    coll = make(
        client,
        name,
        vector_config=[
            Configure.Vectors.self_provided(name="a", vector_index_config=Configure.VectorIndex.hnsw(ef=64)),
            Configure.Vectors.self_provided(name="b"),
        ],
    )
    vcs = coll.config.get().vector_config
    assert vcs is not None
    assert [vcs[n].vector_index_config.ef for n in ("a", "b")] == [64, -1]  # type: ignore[union-attr]
    coll.config.update(
        vector_config=Reconfigure.Vectors.update(
            name="a", vector_index_config=Reconfigure.VectorIndex.hnsw(ef=200)
        )
    )
    after = coll.config.get().vector_config
    assert after is not None
    assert after["a"].vector_index_config.ef == 200  # type: ignore[union-attr]
    assert after["b"].vector_index_config.ef == -1  # type: ignore[union-attr]
    # the client offers no efConstruction update; a raw PUT is refused as the server refuses it
    body = httpx.get(f"{emulator.http_url}/v1/schema/{name}").json()
    body["vectorConfig"]["a"]["vectorIndexConfig"]["efConstruction"] = 64
    answer = httpx.put(f"{emulator.http_url}/v1/schema/{name}", json=body)
    assert answer.status_code == 422
    (error,) = answer.json()["error"]
    assert error["message"].startswith('invalid update for vector "a": efConstruction is immutable')


def test_skipped_vector_is_stored_and_returned_but_not_searchable(
    client: weaviate.WeaviateClient, emulator: WeaviateEmulator, name: str
) -> None:
    coll = make(
        client,
        name,
        vector_config=[
            Configure.Vectors.self_provided(name="short"),
            Configure.Vectors.self_provided(name="full", vector_index_config=Configure.VectorIndex.none()),
        ],
    )
    full, short = rows(4, dims=16, seed=3), rows(4, dims=4, seed=4)
    coll.data.insert_many(
        [
            DataObject({"i": i}, vector={"full": full[i].tolist(), "short": short[i].tolist()})
            for i in range(4)
        ]
    )
    got = coll.query.near_vector(short[1].tolist(), target_vector="short", limit=1, include_vector=["full"])
    assert got.objects[0].properties["i"] == 1
    assert np.allclose(got.objects[0].vector["full"], full[1], atol=1e-6)
    with pytest.raises(WeaviateQueryError, match="not vector-indexed"):
        coll.query.near_vector(full[1].tolist(), target_vector="full", limit=1)
    vcs = coll.config.get().vector_config
    assert vcs is not None and vcs["full"].vector_index_config.skip is True  # type: ignore[union-attr]
    body = httpx.get(f"{emulator.http_url}/v1/schema/{name}").json()
    body["vectorConfig"]["full"]["vectorIndexConfig"]["skip"] = False
    answer = httpx.put(f"{emulator.http_url}/v1/schema/{name}", json=body)
    assert answer.status_code == 422 and "non-indexed class" in answer.json()["error"][0]["message"]


FILTER_DATA: list[dict[str, Any]] = [
    {"s": "red apple", "f": "Red", "n": 1, "x": 0.5, "b": True, "t": ["a", "b"], "d": "2024-01-01T00:00:00Z"},
    {"s": "green apple", "f": "green", "n": 2, "x": 1.5, "b": False, "t": ["b"], "d": "2024-06-01T00:00:00Z"},
    {"s": "red car", "f": " red ", "n": 3, "t": []},
    {"f": "", "x": -1.0},
    {},
]


@pytest.fixture
def filtered(client: weaviate.WeaviateClient, name: str) -> Collection:
    coll = make(
        client,
        name,
        properties=[
            Property(name="s", data_type=DataType.TEXT),
            Property(name="f", data_type=DataType.TEXT, tokenization=Tokenization.FIELD),
            Property(name="n", data_type=DataType.INT),
            Property(name="x", data_type=DataType.NUMBER),
            Property(name="b", data_type=DataType.BOOL),
            Property(name="t", data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD),
            Property(name="d", data_type=DataType.DATE),
        ],
        inverted_index_config=Configure.inverted_index(
            index_null_state=True, index_property_length=True, index_timestamps=True
        ),
    )
    vecs = rows(len(FILTER_DATA))
    objs = [
        DataObject({**p, "i": i}, vector=vecs[i].tolist(), uuid=uuid.UUID(int=i + 1))
        for i, p in enumerate(FILTER_DATA)
    ]
    res = coll.data.insert_many(objs)
    assert not res.errors
    return coll


CASES: list[tuple[Any, set[int]]] = [
    (Filter.by_property("s").equal("apple"), {0, 1}),  # word tokens
    (Filter.by_property("s").equal("red apple"), {0}),  # every token must match
    (Filter.by_property("s").not_equal("apple"), {2, 3, 4}),  # deny list: lacking objects match
    (Filter.by_property("s").like("app*"), {0, 1}),
    (Filter.by_property("f").equal("red"), {2}),  # field: case kept, whitespace trimmed
    (Filter.by_property("f").equal("Red"), {0}),
    (Filter.by_property("f").not_equal("red"), {0, 1, 3, 4}),
    (Filter.by_property("n").greater_than(1), {1, 2}),
    (Filter.by_property("n").less_or_equal(2.0), {0, 1}),  # integral floats allowed on int
    (Filter.by_property("n").not_equal(2), {0, 2, 3, 4}),
    (Filter.by_property("x").greater_or_equal(0), {0, 1}),  # ints allowed on number
    (Filter.by_property("b").equal(False), {1}),
    (Filter.by_property("t").equal("b"), {0, 1}),
    (Filter.by_property("t").contains_any(["a", "zz"]), {0}),
    (Filter.by_property("t").contains_all(["a", "b"]), {0}),
    (Filter.by_property("t").contains_none(["b"]), {2, 3, 4}),
    (Filter.by_property("n").contains_any([1, 3]), {0, 2}),
    (Filter.by_property("s").is_none(True), {3, 4}),
    (Filter.by_property("f").is_none(True), {3, 4}),  # an empty string is null
    (Filter.by_property("t").is_none(False), {0, 1}),  # so is an empty array
    (Filter.by_property("t", length=True).equal(0), {2, 3, 4}),
    (Filter.by_property("d").greater_than(dt.datetime(2024, 3, 1, tzinfo=dt.UTC)), {1}),
    (Filter.by_id().equal(uuid.UUID(int=3)), {2}),
    (Filter.by_id().contains_any([uuid.UUID(int=1), uuid.UUID(int=5)]), {0, 4}),
    (
        Filter.by_creation_time().less_than(dt.datetime.now(dt.UTC) + dt.timedelta(days=1)),
        {0, 1, 2, 3, 4},
    ),
    (Filter.not_(Filter.by_property("n").greater_than(1)), {0, 3, 4}),
    (Filter.by_property("n").equal(1) | Filter.by_property("x").less_than(0), {0, 3}),
    (Filter.by_property("s").equal("red") & Filter.by_property("n").greater_than(1), {2}),
]


@pytest.mark.parametrize(("flt", "want"), CASES, ids=[str(i) for i in range(len(CASES))])
def test_filters(filtered: Collection, flt: Any, want: set[int]) -> None:
    got = filtered.query.fetch_objects(filters=flt, limit=100)
    assert {idx(o) for o in got.objects} == want
    near = filtered.query.near_vector(rows(1, seed=9)[0].tolist(), filters=flt, limit=100)
    assert {idx(o) for o in near.objects} == want


def test_filter_errors(client: weaviate.WeaviateClient, filtered: Collection, name: str) -> None:
    with pytest.raises(WeaviateQueryError, match="no such prop"):
        filtered.query.fetch_objects(filters=Filter.by_property("nope").equal(1))
    with pytest.raises(WeaviateQueryError, match="floating point"):
        filtered.query.fetch_objects(filters=Filter.by_property("n").equal(1.5))
    with pytest.raises(WeaviateQueryError, match="only stopwords"):
        filtered.query.fetch_objects(filters=Filter.by_property("s").equal("the"))
    plain = make(client, name + "P", properties=[Property(name="a", data_type=DataType.TEXT)])
    try:
        with pytest.raises(WeaviateQueryError, match="Nullstate must be indexed"):
            plain.query.fetch_objects(filters=Filter.by_property("a").is_none(True))
    finally:
        client.collections.delete(name + "P")


def test_fetch_limits_sort_and_cursor(filtered: Collection, emulator: WeaviateEmulator) -> None:
    assert len(filtered.query.fetch_objects(limit=2).objects) == 2
    ordered = filtered.query.fetch_objects(sort=Sort.by_property("n", ascending=False), limit=3)
    assert [o.properties["n"] for o in ordered.objects] == [3, 2, 1]
    assert sorted(idx(o) for o in filtered.iterator(cache_size=2)) == [0, 1, 2, 3, 4]
    with pytest.raises(WeaviateQueryError, match="query maximum results exceeded"):
        filtered.query.fetch_objects(limit=emulator.db.query_maximum_results + 1)


def test_aggregate(filtered: Collection) -> None:
    from weaviate.classes.query import Metrics

    assert len(filtered) == 5
    assert (
        filtered.aggregate.over_all(
            total_count=True, filters=Filter.by_property("n").greater_than(1)
        ).total_count
        == 2
    )
    res = filtered.aggregate.over_all(
        return_metrics=[Metrics("n").integer(sum_=True, maximum=True, count=True)]
    )
    n = res.properties["n"]
    assert (n.sum_, n.maximum, n.count) == (6, 3, 3)  # type: ignore[union-attr]
    groups = filtered.aggregate.over_all(group_by=GroupByAggregate(prop="b"), total_count=True)
    assert {g.grouped_by.value: g.total_count for g in groups.groups} == {True: 1, False: 1}


def test_delete_many(
    client: weaviate.WeaviateClient, filtered: Collection, emulator: WeaviateEmulator
) -> None:
    dry = filtered.data.delete_many(where=Filter.by_property("n").greater_than(0), dry_run=True, verbose=True)
    assert dry.matches == 3 and len(dry.objects or []) == 3 and len(filtered) == 5
    old = emulator.db.query_maximum_results
    emulator.db.query_maximum_results = 2  # a delete removes at most QUERY_MAXIMUM_RESULTS objects
    try:
        first = filtered.data.delete_many(where=Filter.by_property("n").greater_than(0))
    finally:
        emulator.db.query_maximum_results = old
    assert (first.matches, first.successful) == (3, 2)
    assert len(filtered) == 3


def test_keyword_hybrid_grouping_and_vector_aggregates(client: weaviate.WeaviateClient, name: str) -> None:
    from weaviate.classes.query import GroupBy

    coll = make(client, name, properties=[Property(name="body", data_type=DataType.TEXT)])
    texts = ["the quick brown fox", "lazy dog sleeps", "quick dog"]
    vecs = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.7, 0.7, 0.0]]
    coll.data.insert_many(
        [DataObject({"body": t, "cat": t.split()[-1]}, vector=v) for t, v in zip(texts, vecs, strict=True)]
    )
    bm25 = coll.query.bm25("quick", return_metadata=MetadataQuery(score=True))
    assert [o.properties["body"] for o in bm25.objects] == ["quick dog", "the quick brown fox"]
    assert bm25.objects[0].metadata.score is not None and bm25.objects[0].metadata.score > 0
    hybrid = coll.query.hybrid("dog", vector=[0.0, 1.0, 0.0], alpha=0.5)
    assert {o.properties["body"] for o in hybrid.objects[:2]} == {"lazy dog sleeps", "quick dog"}
    grouped = coll.query.near_vector(
        [1.0, 0.0, 0.0], group_by=GroupBy(prop="cat", number_of_groups=2, objects_per_group=1)
    )
    assert len(grouped.groups) == 2
    assert coll.aggregate.near_vector([1.0, 0.0, 0.0], object_limit=2, total_count=True).total_count == 2


def test_async_client(emulator: WeaviateEmulator, name: str) -> None:
    import asyncio

    async def run() -> tuple[int, int]:
        async with weaviate.use_async_with_local(port=emulator.http_port, grpc_port=emulator.grpc_port) as c:
            coll = await c.collections.create(name, vector_config=Configure.Vectors.self_provided())
            res = await coll.data.insert_many(
                [DataObject({"a": i}, vector=[float(i), 1.0]) for i in range(5)]
            )
            top = await coll.query.near_vector([4.0, 1.0], limit=1)
            return len(res.errors), idx_a(top.objects[0])

    assert asyncio.run(run()) == (0, 4)


def idx_a(obj: Any) -> int:
    return int(obj.properties["a"])


def test_rest_listing_and_raw_objects(
    client: weaviate.WeaviateClient, emulator: WeaviateEmulator, name: str
) -> None:
    coll = make(client, name)
    uid = coll.data.insert({"a": "x"}, vector=[1.0, 2.0])
    listing = httpx.get(f"{emulator.http_url}/v1/objects", params={"class": name, "include": "vector"}).json()
    assert [o["id"] for o in listing["objects"]] == [str(uid)]
    assert listing["objects"][0]["vectors"]["default"] == [1.0, 2.0]
    one = httpx.get(f"{emulator.http_url}/v1/objects/{name}/{uid}").json()
    assert one["properties"] == {"a": "x"} and "vectors" not in one
    assert httpx.head(f"{emulator.http_url}/v1/objects/{name}/{uuid.uuid4()}").status_code == 404


def test_aliases(client: weaviate.WeaviateClient, name: str) -> None:
    coll = make(client, name)
    coll.data.insert({"a": 1}, vector=[1.0, 0.0])
    alias = name + "Alias"
    client.alias.create(alias_name=alias, target_collection=name)
    assert client.alias.get(alias_name=alias).collection == name  # type: ignore[union-attr]
    assert alias in client.alias.list_all(collection=name)
    via = client.collections.use(alias)
    got = via.query.near_vector([1.0, 0.0], limit=1)
    assert got.objects[0].collection == alias and len(via) == 1
    with pytest.raises(UnexpectedStatusCodeError, match="already exists"):
        make(client, alias)
    assert client.alias.delete(alias_name=alias)
    assert client.alias.get(alias_name=alias) is None
