"""LangChain integration: :class:`GeminiEmbeddings` and :class:`GeminiVectorStore` (extra ``langchain``).

Import it as ``from gemini_vectors.langchain import GeminiEmbeddings, GeminiVectorStore``; importing
:mod:`gemini_vectors` alone never imports LangChain. Both classes are thin: requests are shaped, batched,
retried and normalized by :class:`~gemini_vectors.Embedder`, and records are written and searched by a
gemini-vectors store (``memory://``, PostgreSQL/pgvector, Weaviate, Pinecone...). This module only
translates LangChain's documents, ids, metadata and filters to those.

A document's ``page_content`` is kept under the reserved metadata key
:data:`gemini_vectors.filters.TEXT_KEY` beside its metadata, so it round-trips on every backend. Any other
LangChain ``Embeddings`` may be used with :class:`GeminiVectorStore` too: its vectors are recorded under a
foreign spec named for that embedding (:meth:`gemini_vectors.EmbeddingSpec.foreign`), so they never meet
Gemini vectors, or another embedding's, in one collection.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

try:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import VectorStore as LangChainVectorStore
    from langchain_core.vectorstores.utils import maximal_marginal_relevance
except ImportError as exc:  # pragma: no cover - exercised by a test in a subprocess
    raise ImportError(
        "gemini_vectors.langchain needs langchain-core 1.x: pip install 'gemini-vectors[langchain]' "
        f"(or pip install 'langchain-core>=1,<2'); importing it failed with: {exc}"
    ) from exc

from gemini_vectors import adapter_kit
from gemini_vectors.collection import Collection
from gemini_vectors.content import Image
from gemini_vectors.embedder import Embedder, ItemLike
from gemini_vectors.errors import (
    ArgumentError,
    CollectionNotFoundError,
    ConfigurationError,
    MetadataError,
    SpecMismatchError,
)
from gemini_vectors.filters import TEXT_KEY, FilterLike
from gemini_vectors.spec import EmbeddingSpec, TaskType
from gemini_vectors.store import Match, Record
from gemini_vectors.store import VectorStore as GVVectorStore

if TYPE_CHECKING:
    from google import genai

    from gemini_vectors.store import Vector

__all__ = ["GeminiEmbeddings", "GeminiVectorStore", "embedding_identity"]

DEFAULT_COLLECTION = "langchain"
# attributes LangChain embeddings commonly name their model by (OpenAI, Google, HuggingFace, Ollama...)
_MODEL_ATTRIBUTES = ("model", "model_name", "model_id", "deployment", "deployment_name")


class GeminiEmbeddings(Embeddings):
    """LangChain ``Embeddings`` backed by a gemini-vectors :class:`~gemini_vectors.Embedder`.

    Unlike an embedding that sends ``task_type`` (which gemini-embedding-2 ignores), documents and
    queries get the model's own task mechanism (text prefixes for gemini-embedding-2), one Content per
    text, at most 100 per call, with retries, rate limits and L2-normalized float32 vectors. Images,
    audio, video, PDFs and interleaved items are embedded with :meth:`embed_images` and :meth:`embed_items`.

    Args:
        model: A model of the table (``gemini_vectors.known_models()``).
        dimensions: Output size (Matryoshka truncation); the model's default when None.
        task: One task for documents and queries alike (e.g. ``"SEMANTIC_SIMILARITY"``).
        query_task: The task of :meth:`embed_query` (default ``RETRIEVAL_QUERY``).
        document_task: The task of :meth:`embed_documents` (default ``RETRIEVAL_DOCUMENT``).
        client: A configured ``google.genai.Client``; one is built from the environment when None.
        api_key: The key of the client built here (never shown).
        embedder: A ready :class:`~gemini_vectors.Embedder`, instead of the arguments above.
        **embedder_options: Further :class:`~gemini_vectors.Embedder` options (``rpm``, ``vertexai``...).

    Raises:
        ConfigurationError: an unknown model or task, dimensions out of range, no credentials, or
            ``embedder=`` given together with options it already fixes.
    """

    def __init__(
        self,
        model: str = adapter_kit.DEFAULT_MODEL,
        dimensions: int | None = None,
        *,
        task: TaskType | str | None = None,
        query_task: TaskType | str | None = None,
        document_task: TaskType | str | None = None,
        client: genai.Client | None = None,
        api_key: str | None = None,
        embedder: Embedder | None = None,
        **embedder_options: Any,
    ) -> None:
        self.query_task, self.document_task = adapter_kit.tasks_of(task, query_task, document_task)
        self.embedder = adapter_kit.embedder_of(
            embedder, model, dimensions, client=client, api_key=api_key, options=embedder_options
        )

    @property
    def spec(self) -> EmbeddingSpec:
        """The embedding spec of every vector this object returns."""
        return self.embedder.spec

    def __repr__(self) -> str:
        return (
            f"GeminiEmbeddings(model={self.embedder.model!r}, dimensions={self.embedder.dimensions}, "
            f"query_task={self.query_task.value}, document_task={self.document_task.value})"
        )

    # -- text (the LangChain interface) ------------------------------------------------------------

    def embed_documents(
        self, texts: list[str], *, titles: Sequence[str | None] | None = None
    ) -> list[list[float]]:
        """Embed texts as documents (``document_task``), one vector per text, in input order."""
        return adapter_kit.as_lists(self.embedder.embed(_texts(texts), self.document_task, titles=titles))

    def embed_query(self, text: str) -> list[float]:
        """Embed one query (``query_task``)."""
        vector: list[float] = self.embedder.embed_query(_text(text), self.query_task).tolist()
        return vector

    async def aembed_documents(
        self, texts: list[str], *, titles: Sequence[str | None] | None = None
    ) -> list[list[float]]:
        """Async twin of :meth:`embed_documents`, on the SDK's async client."""
        return adapter_kit.as_lists(
            await self.embedder.aembed(_texts(texts), self.document_task, titles=titles)
        )

    async def aembed_query(self, text: str) -> list[float]:
        """Async twin of :meth:`embed_query`."""
        vector: list[float] = (await self.embedder.aembed_query(_text(text), self.query_task)).tolist()
        return vector

    # -- multimodal --------------------------------------------------------------------------------

    def embed_images(
        self, images: Sequence[str | os.PathLike[str] | bytes], *, task: TaskType | str | None = None
    ) -> list[list[float]]:
        """Embed images (paths or PNG/JPEG bytes), one vector each, sent inline as image parts."""
        return self.embed_items(_images(images), task=task)

    def embed_items(
        self, items: Sequence[ItemLike], *, task: TaskType | str | None = None
    ) -> list[list[float]]:
        """Embed gemini-vectors content: strings, ``Image``/``Audio``/``Video``/``PDF`` parts or ``Item``s.

        ``task`` defaults to ``document_task``; items are checked against the model's limits first.
        """
        return adapter_kit.as_lists(self.embedder.embed(items, task or self.document_task))

    async def aembed_images(
        self, images: Sequence[str | os.PathLike[str] | bytes], *, task: TaskType | str | None = None
    ) -> list[list[float]]:
        """Async twin of :meth:`embed_images`."""
        return await self.aembed_items(_images(images), task=task)

    async def aembed_items(
        self, items: Sequence[ItemLike], *, task: TaskType | str | None = None
    ) -> list[list[float]]:
        """Async twin of :meth:`embed_items`."""
        return adapter_kit.as_lists(await self.embedder.aembed(items, task or self.document_task))


def _text(text: object) -> str:
    return adapter_kit.one_text(text, expected="embed_query() takes one str")


def _texts(texts: object) -> list[str]:
    return adapter_kit.text_list(texts, expected="embed_documents() takes a list of str")


def _images(images: object) -> list[ItemLike]:
    if isinstance(images, str | bytes | os.PathLike) or not isinstance(images, Iterable):
        raise ArgumentError(f"embed_images() takes a list of paths or bytes, got {type(images).__name__}")
    return [Image(image) for image in images]


def embedding_identity(embedding: Embeddings) -> str:
    """The name a foreign LangChain embedding's vectors are recorded under: ``langchain:module.Class:model``.

    The model part is the first of ``model``, ``model_name``, ``model_id``, ``deployment`` and
    ``deployment_name`` that the object holds as a str; without one the class alone names the space.
    """
    cls = type(embedding)
    identity = f"langchain:{cls.__module__}.{cls.__qualname__}"
    for attribute in _MODEL_ATTRIBUTES:
        value = getattr(embedding, attribute, None)
        if isinstance(value, str) and value:
            return f"{identity}:{value}"
    return identity


def _uuid() -> str:
    return str(uuid.uuid4())


class GeminiVectorStore(LangChainVectorStore):
    """A LangChain ``VectorStore`` over one collection of any gemini-vectors store.

    Args:
        embedding: :class:`GeminiEmbeddings`, or any other LangChain ``Embeddings`` (its vectors are
            kept under a foreign spec of their own; see :func:`embedding_identity`).
        store: A store URL for :func:`gemini_vectors.connect` (``"memory://"``, ``"postgresql://..."``,
            ``"weaviate://..."``, ``"pinecone://index"``; None: the embedded default) or an open
            :class:`gemini_vectors.VectorStore`. A store opened here is closed by :meth:`close`.
        collection_name: The collection; created on first write for the embedding's spec.
        embedding_id: Overrides the identity a foreign embedding's spec is recorded under (for an
            embedding whose model the class and attributes do not name).
        **connect_options: Passed to :func:`gemini_vectors.connect` with a URL (``api_key=``...).

    Raises:
        SpecMismatchError: the collection holds vectors of another spec (another model, dimensions or
            embedding); nothing was written.
    """

    def __init__(
        self,
        embedding: Embeddings,
        store: str | GVVectorStore | None = None,
        collection_name: str = DEFAULT_COLLECTION,
        *,
        embedding_id: str | None = None,
        **connect_options: Any,
    ) -> None:
        if not isinstance(embedding, Embeddings):
            raise ConfigurationError(
                "embedding= takes a LangChain Embeddings (GeminiEmbeddings or another), "
                f"not {type(embedding).__name__}"
            )
        adapter_kit.check_collection_name(collection_name)
        self.store, self._owns_store = adapter_kit.open_store(store, connect_options)
        self._embedding = embedding
        self.collection_name = collection_name
        self._gemini = embedding.embedder if isinstance(embedding, GeminiEmbeddings) else None
        if self._gemini is not None and embedding_id is not None:
            raise ConfigurationError("embedding_id= names a foreign embedding; GeminiEmbeddings has a spec")
        self._identity = embedding_id if embedding_id is not None else embedding_identity(embedding)
        self._lock = threading.Lock()
        self._collection: Collection | None = None
        if self._gemini is not None:  # the spec is known: check it against the stored one now
            self._collection = self.store.collection(collection_name, embedder=self._gemini)

    @property
    def embeddings(self) -> Embeddings:
        """The embedding that makes this store's vectors."""
        return self._embedding

    def __repr__(self) -> str:
        return f"GeminiVectorStore({self.store!r}, collection={self.collection_name!r})"

    def close(self) -> None:
        """Close the store when this object opened it from a URL."""
        if self._owns_store:
            self.store.close()

    def delete_collection(self) -> None:
        """Drop the collection with its records and its stored spec."""
        with self._lock:
            self.store.drop_collection(self.collection_name)
            self._collection = None
            if self._gemini is not None:
                self._collection = self.store.collection(self.collection_name, embedder=self._gemini)

    # -- the collection and its spec -----------------------------------------------------------------

    def _open(self, dimensions: int | None, *, create: bool) -> Collection | None:
        """The collection for this embedding at ``dimensions`` (None: as stored), or None if absent.

        A foreign embedding's dimensions are learned from its first vectors, so its collection opens
        on the first write or search; a stored collection of another spec is a SpecMismatchError.
        """
        with self._lock:
            coll = self._collection
            if coll is None:
                if dimensions is None:
                    stored = self.store.stored_spec(self.collection_name)
                    if stored is None:
                        return None
                    dimensions = stored.dimensions
                spec = EmbeddingSpec.foreign(self._identity, dimensions)
                try:
                    coll = self.store.collection(self.collection_name, spec=spec, create=create)
                except CollectionNotFoundError:
                    return None
                self._collection = coll
        if self._gemini is None and dimensions is not None and coll.spec.dimensions != dimensions:
            # the foreign embedding now returns vectors of another length: another space
            theirs = EmbeddingSpec.foreign(self._identity, dimensions)
            raise SpecMismatchError(self.collection_name, coll.spec, theirs)
        return coll

    def _query_vector(self, query: str) -> Vector:
        if self._gemini is not None:
            assert isinstance(self._embedding, GeminiEmbeddings)
            return self._gemini.embed_query(_text(query), self._embedding.query_task)
        return np.asarray(self._embedding.embed_query(_text(query)), dtype=np.float32)

    # -- writing -------------------------------------------------------------------------------------

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed ``texts`` and store them with their metadata; returns the ids, in input order.

        An id that is None gets a fresh UUID. Re-adding an id replaces its record; with
        :class:`GeminiEmbeddings`, a text already stored unchanged under its id is not embedded again.

        Raises:
            MetadataError: metadata no backend can store, or one using the reserved key of the text.
            ContentError: a text breaks the model's limits (nothing was embedded or written).
        """
        docs, record_ids, metas = _checked_texts("add_texts()", texts, metadatas, ids, kwargs)
        if not docs:
            return []
        if self._gemini is not None and (
            not isinstance(self._embedding, GeminiEmbeddings)
            or self._embedding.document_task is TaskType.RETRIEVAL_DOCUMENT
        ):
            coll = self._open(None, create=True)
            assert coll is not None
            # the core's embed-and-store: every text checked first, unchanged ones not re-embedded
            return coll.add(docs, ids=record_ids, metadata=metas)
        vectors = self._embedding.embed_documents(docs)
        return self._write(docs, record_ids, metas, vectors)

    async def aadd_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Async twin of :meth:`add_texts` (a foreign embedding is called through its async method)."""
        if self._gemini is not None:
            return await super().aadd_texts(texts, metadatas, ids=ids, **kwargs)
        docs, record_ids, metas = _checked_texts("aadd_texts()", texts, metadatas, ids, kwargs)
        if not docs:
            return []
        vectors = await self._embedding.aembed_documents(docs)
        return await _in_thread(self._write, docs, record_ids, metas, vectors)

    def _write(
        self,
        docs: list[str],
        record_ids: list[str],
        metas: list[dict[str, Any]],
        vectors: Sequence[Sequence[float]],
    ) -> list[str]:
        if len(vectors) != len(docs):
            raise ArgumentError(
                f"{type(self._embedding).__name__}.embed_documents() returned {len(vectors)} vectors for "
                f"{len(docs)} texts"
            )
        seen: dict[str, int] = {}
        for index, record_id in enumerate(record_ids):
            if record_id in seen:
                raise MetadataError(
                    f"text {index}: id {record_id!r} is also the id of text {seen[record_id]}; "
                    "ids must be unique within one call"
                )
            seen[record_id] = index
        matrix = np.asarray(vectors, dtype=np.float32)
        if matrix.ndim != 2:
            raise ArgumentError(f"{type(self._embedding).__name__} returned vectors of unequal lengths")
        coll = self._open(int(matrix.shape[1]), create=True)
        assert coll is not None
        records = [
            Record(record_id, matrix[i], metas[i], hashlib.sha256(docs[i].encode()).hexdigest())
            for i, record_id in enumerate(record_ids)
        ]
        coll.upsert_vectors(records)  # checks every vector (finite, not zero) and normalizes it
        return record_ids

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete records by id and/or by ``filter=`` (portable language); with neither, every record.

        Unknown ids are ignored. Returns True.
        """
        flt = kwargs.pop("filter", None)
        if kwargs:
            raise ArgumentError(f"delete() got unexpected arguments {sorted(kwargs)}")
        coll = self._open(None, create=False)
        if coll is None:
            return True
        if ids is None and flt is None:
            coll.backend.clear()  # LangChain's contract: delete(None) empties the store
        else:
            coll.delete(ids=list(ids) if ids is not None else None, filter=flt)
        return True

    # -- reading -------------------------------------------------------------------------------------

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The documents with these ids, in the order asked; unknown ids are left out."""
        if isinstance(ids, str):
            raise ArgumentError("get_by_ids() takes a list of ids, got one str")
        coll = self._open(None, create=False)
        if coll is None:
            return []
        return [_document(r.id, r.metadata) for r in coll.get(list(ids), include_vectors=False)]

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        """The ``k`` documents closest to ``query``; ``filter=`` takes the portable filter language."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, **kwargs)]

    def similarity_search_with_score(
        self, query: str, k: int = 4, filter: FilterLike | None = None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        """Documents with their cosine similarity to ``query`` (higher is closer), best first."""
        return self._search(self._query_vector(query), k, filter, **kwargs)

    def similarity_search_by_vector(
        self, embedding: list[float], k: int = 4, **kwargs: Any
    ) -> list[Document]:
        """The ``k`` documents closest to a vector made by this store's embedding."""
        flt = kwargs.pop("filter", None)
        vector = np.asarray(embedding, dtype=np.float32)
        return [doc for doc, _ in self._search(vector, k, flt, **kwargs)]

    def _search(
        self, vector: Vector, k: int, flt: FilterLike | None, **kwargs: Any
    ) -> list[tuple[Document, float]]:
        return [(_document(m.id, m.metadata), m.score) for m in self._matches(vector, k, flt, **kwargs)]

    def _matches(
        self,
        vector: Vector,
        k: int,
        flt: FilterLike | None,
        *,
        include_vectors: bool = False,
        ef_search: int | None = None,
        **kwargs: Any,
    ) -> list[Match]:
        # ef_search (the HNSW candidate list of this query) passes through, so a retriever's
        # search_kwargs={"ef_search": 200} trades latency for recall as Collection.search does
        if kwargs:
            raise ArgumentError(
                f"unexpected search arguments {sorted(kwargs)}; filters go in filter=, the HNSW "
                "candidate list in ef_search="
            )
        coll = self._open(int(vector.shape[0]) if vector.ndim == 1 else None, create=False)
        if coll is None:
            return []
        return coll.search(vector, k, flt, include_vectors=include_vectors, ef_search=ef_search)

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        # scores are cosine similarities in [-1, 1]; LangChain's relevance scores run from 0 to 1
        return lambda score: (score + 1.0) / 2.0

    def max_marginal_relevance_search(
        self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        """``k`` documents close to ``query`` and diverse among themselves, from the ``fetch_k`` closest."""
        return self._mmr(self._query_vector(query), k, fetch_k, lambda_mult, **kwargs)

    def max_marginal_relevance_search_by_vector(
        self, embedding: list[float], k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5, **kwargs: Any
    ) -> list[Document]:
        """:meth:`max_marginal_relevance_search` for a vector made by this store's embedding."""
        return self._mmr(np.asarray(embedding, dtype=np.float32), k, fetch_k, lambda_mult, **kwargs)

    def _mmr(self, vector: Vector, k: int, fetch_k: int, lambda_mult: float, **kwargs: Any) -> list[Document]:
        flt = kwargs.pop("filter", None)
        matches = self._matches(vector, max(fetch_k, k), flt, include_vectors=True, **kwargs)
        if not matches:
            return []
        stored = [m.vector.tolist() for m in matches if m.vector is not None]
        picked = maximal_marginal_relevance(vector, stored, lambda_mult=lambda_mult, k=k)
        return [_document(matches[i].id, matches[i].metadata) for i in picked]

    # -- construction ----------------------------------------------------------------------------------

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        store: str | GVVectorStore | None = None,
        collection_name: str = DEFAULT_COLLECTION,
        **kwargs: Any,
    ) -> GeminiVectorStore:
        """A store over ``collection_name`` of ``store`` with ``texts`` added (see :meth:`add_texts`)."""
        vs = cls(embedding, store, collection_name, **kwargs)
        vs.add_texts(texts, metadatas, ids=ids)
        return vs


async def _in_thread(fn: Callable[..., list[str]], *args: Any) -> list[str]:
    import asyncio

    return await asyncio.to_thread(fn, *args)


def _checked_texts(
    method: str,
    texts: Iterable[str],
    metadatas: list[dict[str, Any]] | None,
    ids: list[str] | None,
    unexpected: Mapping[str, Any],
) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """The texts, their record ids (a fresh UUID where none is given) and their stored metadata.

    Raises:
        ArgumentError: unexpected arguments, or metadatas or ids that are not one per text.
        MetadataError: see :func:`_stored_metadata`.
    """
    if unexpected:
        raise ArgumentError(f"{method} got unexpected arguments {sorted(unexpected)}")
    docs = _texts(texts)
    if metadatas is not None and len(metadatas) != len(docs):
        raise ArgumentError(f"got {len(metadatas)} metadatas for {len(docs)} texts")
    if ids is not None and len(ids) != len(docs):
        raise ArgumentError(f"got {len(ids)} ids for {len(docs)} texts")
    record_ids = [_uuid() if ids is None or ids[i] is None else ids[i] for i in range(len(docs))]
    metas = [_stored_metadata(docs[i], metadatas[i] if metadatas else None, i) for i in range(len(docs))]
    return docs, record_ids, metas


def _stored_metadata(text: str, metadata: Mapping[str, Any] | None, index: int) -> dict[str, Any]:
    """The metadata stored for a document: the user's, plus its page_content under the reserved key."""
    if metadata is not None and not isinstance(metadata, Mapping):
        raise MetadataError(f"text {index}: metadata must be a dict or None, got {type(metadata).__name__}")
    out = dict(metadata or {})
    if TEXT_KEY in out:
        raise MetadataError(f"text {index}: metadata key {TEXT_KEY!r} is reserved for the page_content")
    out[TEXT_KEY] = text
    return out


def _document(record_id: str, metadata: Mapping[str, Any]) -> Document:
    meta = dict(metadata)
    text = meta.pop(TEXT_KEY, "")
    return Document(id=record_id, page_content=text if isinstance(text, str) else str(text), metadata=meta)
