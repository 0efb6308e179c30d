"""GeminiVectorStore beyond the standard suite, on every backend: specs, filters, round-trips, retrievers."""

from __future__ import annotations

import pytest
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding, FakeEmbeddings

import gemini_vectors as gv
from gemini_vectors.filters import TEXT_KEY
from gemini_vectors.langchain import GeminiEmbeddings, GeminiVectorStore, embedding_identity
from gemini_vectors.testing.gemini_emulator import GeminiEmulator

DIMS = 128

DOCS = [
    Document(
        id="a", page_content="  padded text\n", metadata={"lang": "en", "year": 2019, "tags": ["x", "y"]}
    ),
    Document(id="b", page_content="名前 und Ümlaute", metadata={"lang": "de", "year": 2021, "draft": True}),
    Document(id="c", page_content="third one", metadata={"lang": "en", "year": 2024, "score": 0.5}),
]


def by_id(docs: list[Document]) -> dict[str | None, Document]:
    return {d.id: d for d in docs}


def test_a_foreign_embedding_never_meets_another_in_one_collection(lc_store: gv.VectorStore) -> None:
    fake = DeterministicFakeEmbedding(size=DIMS)
    vs = GeminiVectorStore(fake, lc_store, "shared")
    vs.add_documents(DOCS)
    stored = lc_store.stored_spec("shared")  # read back from the backend's own record of the spec
    assert stored == gv.EmbeddingSpec.foreign(embedding_identity(fake), DIMS)
    assert (
        stored is not None
        and stored.model == "langchain:langchain_core.embeddings.fake.DeterministicFakeEmbedding"
    )
    # another embedding of the same dimensions, another length of the same one, and Gemini vectors
    for other in (FakeEmbeddings(size=DIMS), DeterministicFakeEmbedding(size=DIMS * 2)):
        with pytest.raises(gv.SpecMismatchError):
            GeminiVectorStore(other, lc_store, "shared").add_texts(["intruder"], ids=["z"])
        with pytest.raises(gv.SpecMismatchError):
            GeminiVectorStore(other, lc_store, "shared").similarity_search("intruder")
    assert sorted(lc_store.open_collection("shared").iter_ids()) == ["a", "b", "c"]  # nothing written


def test_gemini_vectors_never_meet_a_foreign_embedding(
    lc_store: gv.VectorStore, gemini_emulator: GeminiEmulator
) -> None:
    emb = GeminiEmbeddings(client=gemini_emulator.client(), dimensions=DIMS)
    vs = GeminiVectorStore(emb, lc_store, "gemini")
    assert vs.add_documents(DOCS) == ["a", "b", "c"]
    assert lc_store.stored_spec("gemini") == emb.spec  # the Gemini spec itself: gv collections can open it
    calls = gemini_emulator.stats.embed_calls
    vs.add_documents(DOCS)  # unchanged content under the same ids: not embedded again
    assert gemini_emulator.stats.embed_calls == calls
    with pytest.raises(gv.SpecMismatchError):
        GeminiVectorStore(DeterministicFakeEmbedding(size=DIMS), lc_store, "gemini").add_texts(["x"])
    with pytest.raises(gv.SpecMismatchError):
        GeminiVectorStore(
            GeminiEmbeddings(client=gemini_emulator.client(), dimensions=256), lc_store, "gemini"
        )
    # the query goes out with the query prefix; the stored texts are the documents' own
    (best, score), *_ = vs.similarity_search_with_score("third one", k=3)
    assert best == DOCS[2] and -1.0 <= score <= 1.0
    assert by_id(vs.get_by_ids(["b", "a", "nope"])) == by_id(DOCS[:2])


def test_page_content_metadata_and_filters_round_trip(lc_store: gv.VectorStore) -> None:
    vs = GeminiVectorStore.from_documents(DOCS, DeterministicFakeEmbedding(size=DIMS), store=lc_store)
    got = by_id(vs.get_by_ids(["a", "b", "c"]))
    # exact text (whitespace, non-ASCII) and metadata (lists, bools, floats) on every backend
    for doc in DOCS:
        assert got[doc.id].page_content == doc.page_content and got[doc.id].metadata == doc.metadata
        assert TEXT_KEY not in got[doc.id].metadata
    english_recent = {"lang": "en", "year": {"$gte": 2020}}
    assert [d.id for d in vs.similarity_search("anything", k=3, filter=english_recent)] == ["c"]
    either = {"$or": [{"draft": True}, {"tags": "x"}]}
    assert {d.id for d in vs.similarity_search("x", k=3, filter=either)} == {"a", "b"}
    retriever = vs.as_retriever(search_kwargs={"k": 3, "filter": {"lang": {"$ne": "en"}}})
    assert [d.id for d in retriever.invoke("whatever")] == ["b"]
    mmr = vs.max_marginal_relevance_search("third one", k=2, fetch_k=3)
    assert len(mmr) == 2 and mmr[0].id == "c" and len({d.id for d in mmr}) == 2
    scored = vs.similarity_search_with_relevance_scores("third one", k=3)
    assert scored[0][0].id == "c" and all(0.0 <= s <= 1.0 for _, s in scored)
    vs.delete(filter={"lang": "de"})
    assert by_id(vs.get_by_ids(["a", "b", "c"])).keys() == {"a", "c"}
    vs.delete()  # LangChain's delete(None): every record
    assert vs.get_by_ids(["a", "c"]) == []


async def test_async_twins(lc_store: gv.VectorStore) -> None:
    vs = GeminiVectorStore(DeterministicFakeEmbedding(size=DIMS), lc_store, "async")
    assert await vs.aadd_documents(DOCS) == ["a", "b", "c"]
    assert [d.id for d in await vs.asimilarity_search("third one", k=1, filter={"lang": "en"})] == ["c"]
    assert [d.id for d in await vs.amax_marginal_relevance_search("third one", k=1)] == ["c"]
    await vs.adelete(["c"])
    assert by_id(await vs.aget_by_ids(["a", "b", "c"])).keys() == {"a", "b"}


def test_bad_metadata_is_refused_before_anything_is_embedded(
    lc_store: gv.VectorStore, gemini_emulator: GeminiEmulator
) -> None:
    emb = GeminiEmbeddings(client=gemini_emulator.client(), dimensions=DIMS)
    vs = GeminiVectorStore(emb, lc_store, "bad")
    with pytest.raises(gv.MetadataError, match="reserved"):
        vs.add_texts(["a"], [{TEXT_KEY: "smuggled"}])
    with pytest.raises(gv.MetadataError, match=r"item 1.*null"):
        vs.add_texts(["a", "b"], [{"k": 1}, {"k": None}])
    with pytest.raises(gv.MetadataError, match="reserved"):
        vs.add_texts(["a"], [{"__gv_content_hash": "x"}])
    assert gemini_emulator.stats.total_calls == 0
    assert vs.get_by_ids(["a"]) == []


def test_ef_search_passes_through_where_the_backend_has_it(lc_store: gv.VectorStore) -> None:
    vs = GeminiVectorStore.from_documents(DOCS, DeterministicFakeEmbedding(size=DIMS), store=lc_store)
    opened = vs._open(DIMS, create=False)
    assert opened is not None
    backend = opened.backend
    if backend.accepts_ef_search:
        retriever = vs.as_retriever(search_kwargs={"k": 1, "ef_search": 200, "filter": {"lang": "de"}})
        assert [d.id for d in retriever.invoke("whatever")] == ["b"]
    else:  # refused by the core, naming the backend, rather than ignored
        with pytest.raises(gv.ArgumentError, match="ef"):
            vs.similarity_search("x", k=1, ef_search=200)
    with pytest.raises(gv.ArgumentError, match="ef_search"):
        vs.similarity_search("x", k=1, ef_search=0 if backend.accepts_ef_search else 5)
