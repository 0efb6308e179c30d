"""GeminiVectorStore on every backend: a VectorStoreIndex end to end, reopened in a new process, and the
store's own methods (filters, nodes round-tripping, deletes, specs, async twins)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from li_reopen import QUERIES, answers
from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.schema import ImageNode, NodeRelationship, RelatedNodeInfo, TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)

import gemini_vectors as gv
from gemini_vectors.filters import TEXT_KEY
from gemini_vectors.llama_index import GeminiEmbedding, GeminiVectorStore, embedding_identity
from gemini_vectors.testing.gemini_emulator import GeminiEmulator
from tests.integrations.backends import StoreAt
from tests.media import png

DIMS = 128
REPO_ROOT = Path(__file__).resolve().parents[3]

DOCS = [
    Document(id_="doc-cats", text="Cats sleep most of the day.", metadata={"lang": "en", "year": 2024}),
    Document(id_="doc-katzen", text="Katzen schlafen sehr viel.", metadata={"lang": "de", "year": 2021}),
    Document(id_="doc-dogs", text="Dogs bark at the mailman.", metadata={"lang": "en", "year": 2019}),
]


def reopened_answers(at: StoreAt, collection: str, emulator: GeminiEmulator) -> list[list[dict[str, object]]]:
    """The answers of the index reopened from the store alone, in a new process (memory://: a new object)."""
    args = {"url": at.url, "options": at.options, "collection": collection, "dimensions": DIMS}
    if not at.shared:  # memory:// lives in this process: reopen it here, from a fresh store object
        emb = GeminiEmbedding(client=emulator.client(), dimensions=DIMS)
        vs = GeminiVectorStore(gv.connect(at.url), collection, embed_model=emb)
        return answers(VectorStoreIndex.from_vector_store(vs, embed_model=emb))
    env = dict(os.environ, GOOGLE_GEMINI_BASE_URL=emulator.base_url, GEMINI_API_KEY="test-key")
    env.pop("GOOGLE_API_KEY", None)
    env.pop("GOOGLE_GENAI_USE_VERTEXAI", None)
    script = Path(__file__).with_name("li_reopen.py")
    done = subprocess.run(
        [sys.executable, str(script), json.dumps(args)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result: list[list[dict[str, object]]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_an_index_end_to_end_and_reopened_in_a_new_process(
    li_store: StoreAt, gemini_emulator: GeminiEmulator, tmp_path: Path
) -> None:
    emb = GeminiEmbedding(client=gemini_emulator.client(), dimensions=DIMS)
    vs = GeminiVectorStore(li_store.store, "e2e", embed_model=emb)
    ctx = StorageContext.from_defaults(vector_store=vs)
    index = VectorStoreIndex.from_documents(DOCS, storage_context=ctx, embed_model=emb)
    image = tmp_path / "green.png"
    image.write_bytes(png(rgb=(10, 200, 30)))
    picture = ImageNode(id_="img-green", image_path=str(image), metadata={"lang": "none", "year": 2025})
    picture.embedding = emb.get_image_embedding(str(image))  # one space: images and texts side by side
    index.insert_nodes([picture])
    assert li_store.store.stored_spec("e2e") == emb.spec  # the Embedder's spec: gv collections open it

    english = index.as_retriever(
        similarity_top_k=5, filters=MetadataFilters(filters=[MetadataFilter(key="lang", value="en")])
    ).retrieve("a sleeping cat")
    assert [hit.node.ref_doc_id for hit in english] == ["doc-cats", "doc-dogs"]
    assert english[0].node.get_content() == DOCS[0].text
    assert english[0].node.metadata == DOCS[0].metadata
    # an image query finds the image node, stored with its path and type
    (found,) = (
        vs.query(
            VectorStoreQuery(query_embedding=emb.get_image_embedding(str(image)), similarity_top_k=1)
        ).nodes
        or []
    )
    assert isinstance(found, ImageNode) and found.node_id == "img-green" and found.image_path == str(image)

    index.delete_ref_doc("doc-dogs")
    before = answers(index)
    assert [hit["ref_doc_id"] for hit in before[1]] == ["doc-cats"]  # the English filter, dogs gone
    assert {hit["id"] for hit in before[0]} >= {"img-green"} and len(before[0]) == 3
    assert {hit["ref_doc_id"] for hit in before[2]} == {"doc-cats", "doc-katzen", None}
    assert reopened_answers(li_store, "e2e", gemini_emulator) == before
    assert len(QUERIES) == len(before)


async def test_an_index_built_and_queried_async(li_store: StoreAt, gemini_emulator: GeminiEmulator) -> None:
    emb = GeminiEmbedding(client=gemini_emulator.client(), dimensions=DIMS)
    vs = GeminiVectorStore(li_store.store, "async_index", embed_model=emb)
    ctx = StorageContext.from_defaults(vector_store=vs)
    # use_async: the index calls aget_text_embedding_batch and async_add
    index = VectorStoreIndex.from_documents(DOCS, storage_context=ctx, embed_model=emb, use_async=True)
    german = MetadataFilters(filters=[MetadataFilter(key="lang", value="de")])
    hits = await index.as_retriever(similarity_top_k=3, filters=german).aretrieve("a sleeping cat")
    assert [hit.node.ref_doc_id for hit in hits] == ["doc-katzen"]
    await index.adelete_ref_doc("doc-katzen")
    assert await index.as_retriever(similarity_top_k=3, filters=german).aretrieve("a sleeping cat") == []


def mock_nodes() -> list[TextNode]:
    rng = np.random.default_rng(7)
    specs = [
        ("a", "  padded text\n", {"lang": "en", "year": 2019, "tags": ["x", "y"]}, "doc-1"),
        ("b", "名前 und Ümlaute", {"lang": "de", "year": 2021, "draft": True}, "doc-1"),
        ("c", "third one", {"lang": "en", "year": 2024, "score": 0.5}, "doc-2"),
    ]
    nodes = []
    for node_id, text, meta, doc in specs:
        node = TextNode(id_=node_id, text=text, metadata=meta, embedding=rng.normal(size=DIMS).tolist())
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=doc)
        nodes.append(node)
    return nodes


def flt(*parts: MetadataFilter | MetadataFilters, condition: str = "and") -> MetadataFilters:
    return MetadataFilters(filters=list(parts), condition=FilterCondition(condition))


def f(key: str, op: str, value: int | float | str | list[str]) -> MetadataFilter:
    return MetadataFilter(key=key, operator=FilterOperator(op), value=value)


FILTER_CASES = [
    (flt(f("lang", "==", "en")), {"a", "c"}),
    (flt(f("lang", "!=", "en")), {"b"}),
    (flt(f("year", ">", 2019)), {"b", "c"}),
    (flt(f("year", ">=", 2021)), {"b", "c"}),
    (flt(f("year", "<", 2021)), {"a"}),
    (flt(f("year", "<=", 2021)), {"a", "b"}),
    (flt(f("lang", "in", ["de", "fr"])), {"b"}),
    (flt(f("lang", "nin", ["de"])), {"a", "c"}),
    (flt(f("tags", "==", "x")), {"a"}),  # a list-valued field matches when an element does
    (flt(f("score", ">=", 0.5)), {"c"}),
    (flt(f("lang", "==", "en"), f("year", ">", 2020)), {"c"}),
    (flt(f("tags", "in", ["y"]), f("lang", "==", "de"), condition="or"), {"a", "b"}),
    (
        flt(f("lang", "==", "en"), flt(f("year", "<", 2020), f("score", ">=", 0.5), condition="or")),
        {"a", "c"},
    ),
]


def test_every_operator_and_condition_filters_alike_on_every_backend(li_store: StoreAt) -> None:
    vs = GeminiVectorStore(li_store.store, "filters", embed_model=MockEmbedding(embed_dim=DIMS))
    nodes = mock_nodes()
    assert vs.add(nodes) == ["a", "b", "c"]
    query = np.asarray(nodes[2].embedding)
    for filters, expected in FILTER_CASES:
        result = vs.query(
            VectorStoreQuery(query_embedding=query.tolist(), similarity_top_k=10, filters=filters)
        )
        assert set(result.ids or []) == expected, filters
        assert [n.node_id for n in result.nodes or []] == result.ids
    best = vs.query(VectorStoreQuery(query_embedding=query.tolist(), similarity_top_k=1))
    assert best.ids == ["c"] and best.similarities is not None and best.similarities[0] == pytest.approx(1.0)
    by_doc = vs.query(
        VectorStoreQuery(query_embedding=query.tolist(), similarity_top_k=10, doc_ids=["doc-1"])
    )
    assert set(by_doc.ids or []) == {"a", "b"}
    for unsupported in (
        flt(f("tags", "contains", "x")),
        flt(f("lang", "text_match", "e")),
        flt(f("lang", "==", "en"), condition="not"),
    ):
        with pytest.raises(gv.FilterError, match=r"not supported|no portable equivalent"):
            vs.query(
                VectorStoreQuery(query_embedding=query.tolist(), similarity_top_k=3, filters=unsupported)
            )


def test_nodes_round_trip_and_deletes(li_store: StoreAt) -> None:
    vs = GeminiVectorStore(li_store.store, "nodes", embed_model=MockEmbedding(embed_dim=DIMS))
    nodes = mock_nodes()
    vs.add(nodes)
    got = {n.node_id: n for n in vs.get_nodes(["c", "a", "b", "nope"])}
    for node in nodes:
        back = got[node.node_id]
        # exact text (whitespace, non-ASCII), metadata (lists, bools, floats), source document
        assert back.get_content() == node.get_content() and back.metadata == node.metadata
        assert back.ref_doc_id == node.ref_doc_id and TEXT_KEY not in back.metadata
        assert back.embedding is not None
        stored = np.asarray(node.embedding)
        np.testing.assert_allclose(np.asarray(back.embedding), stored / np.linalg.norm(stored), atol=2e-3)
    english = vs.get_nodes(filters=flt(f("lang", "==", "en")))
    assert {n.node_id for n in english} == {"a", "c"}
    assert [n.node_id for n in vs.get_nodes(["a", "b"], filters=flt(f("lang", "==", "de")))] == ["b"]
    vs.delete_nodes(["a", "b"], filters=flt(f("lang", "==", "en")))  # both: the listed ones that match
    assert {n.node_id for n in vs.get_nodes(["a", "b", "c"])} == {"b", "c"}
    vs.delete("doc-2")
    assert {n.node_id for n in vs.get_nodes(["a", "b", "c"])} == {"b"}
    vs.add(nodes)
    vs.delete_nodes(filters=flt(f("year", ">=", 2021)))
    assert {n.node_id for n in vs.get_nodes(["a", "b", "c"])} == {"a"}
    vs.clear()
    assert vs.get_nodes(["a", "b", "c"]) == []


async def test_async_twins(li_store: StoreAt) -> None:
    vs = GeminiVectorStore(li_store.store, "async", embed_model=MockEmbedding(embed_dim=DIMS))
    nodes = mock_nodes()
    assert await vs.async_add(nodes) == ["a", "b", "c"]
    query = VectorStoreQuery(
        query_embedding=nodes[0].embedding, similarity_top_k=1, filters=flt(f("lang", "==", "en"))
    )
    assert (await vs.aquery(query)).ids == ["a"]
    await vs.adelete("doc-2")
    await vs.adelete_nodes(["b"])
    assert [n.node_id for n in await vs.aget_nodes(["a", "b", "c"])] == ["a"]
    await vs.aclear()
    assert await vs.aget_nodes(["a"]) == []


def test_a_foreign_embedding_never_meets_another_in_one_collection(
    li_store: StoreAt, gemini_emulator: GeminiEmulator
) -> None:
    mock = MockEmbedding(embed_dim=DIMS)
    vs = GeminiVectorStore(li_store.store, "shared", embed_model=mock)
    vs.add(mock_nodes())
    assert li_store.store.stored_spec("shared") == gv.EmbeddingSpec.foreign(embedding_identity(mock), DIMS)
    # reopened without naming the embedding: the stored spec is used
    assert len(GeminiVectorStore(li_store.store, "shared").get_nodes(["a", "b"])) == 2
    with pytest.raises(gv.SpecMismatchError):
        GeminiVectorStore(
            li_store.store,
            "shared",
            embed_model=GeminiEmbedding(client=gemini_emulator.client(), dimensions=DIMS),
        )
    longer = TextNode(id_="z", text="intruder", embedding=[0.1] * (DIMS * 2))
    with pytest.raises(gv.SpecMismatchError):
        GeminiVectorStore(li_store.store, "shared", embed_model=MockEmbedding(embed_dim=DIMS * 2)).add(
            [longer]
        )
    assert sorted(li_store.store.open_collection("shared").iter_ids()) == ["a", "b", "c"]  # nothing written


def test_bad_nodes_are_refused_before_anything_is_written(li_store: StoreAt) -> None:
    vs = GeminiVectorStore(li_store.store, "bad", embed_model=MockEmbedding(embed_dim=DIMS))
    good = mock_nodes()[0]
    cases = [
        (TextNode(id_="n", text="t", metadata={"k": None}, embedding=[0.1] * DIMS), gv.MetadataError, "null"),
        (
            TextNode(id_="n", text="t", metadata={"ref_doc_id": "x"}, embedding=[0.1] * DIMS),
            gv.MetadataError,
            "reserved",
        ),
        (
            TextNode(id_="n", text="t", metadata={"nested": {"a": 1}}, embedding=[0.1] * DIMS),
            gv.MetadataError,
            "nested",
        ),
        (TextNode(id_="n", text="t"), gv.ArgumentError, "no embedding"),
    ]
    for bad, error, message in cases:
        with pytest.raises(error, match=message):
            vs.add([good, bad])
    assert vs.get_nodes(["a", "n"]) == []
    # no embedding named and no stored spec: the space of the vectors is unknown, so nothing is created
    with pytest.raises(gv.ConfigurationError, match="pass embed_model="):
        GeminiVectorStore(li_store.store, "fresh").add([good])
    assert "fresh" not in li_store.store.list_collections()


def test_ef_search_passes_through_where_the_backend_has_it(li_store: StoreAt) -> None:
    vs = GeminiVectorStore(li_store.store, "ef", embed_model=MockEmbedding(embed_dim=DIMS))
    nodes = mock_nodes()
    vs.add(nodes)
    query = VectorStoreQuery(query_embedding=list(nodes[2].embedding or []), similarity_top_k=1)
    accepts = li_store.store.open_collection(vs.collection_name).accepts_ef_search
    if accepts:  # a retriever's vector_store_kwargs={"ef_search": ...} arrive here
        assert vs.query(query, ef_search=200).ids == ["c"]
    else:  # refused by the core, naming the backend, rather than ignored
        with pytest.raises(gv.ArgumentError, match="ef"):
            vs.query(query, ef_search=200)
    with pytest.raises(gv.ArgumentError, match="ef_search"):
        vs.query(query, ef_search=0)
