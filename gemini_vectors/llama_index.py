"""LlamaIndex integration: :class:`GeminiEmbedding` and :class:`GeminiVectorStore` (extra ``llama-index``).

Import it as ``from gemini_vectors.llama_index import GeminiEmbedding, GeminiVectorStore``; importing
:mod:`gemini_vectors` alone never imports LlamaIndex. Both classes are thin: requests are shaped, batched,
retried and normalized by :class:`~gemini_vectors.Embedder`, and records are written and searched by a
gemini-vectors store (``memory://``, PostgreSQL/pgvector, Weaviate, Pinecone...). This module only
translates LlamaIndex's nodes, ids, metadata and ``MetadataFilters`` to those.

A node is stored as its vector, its own metadata (top-level keys, so filters reach them), its text under
the reserved key :data:`gemini_vectors.filters.TEXT_KEY`, and LlamaIndex's usual node keys:
``_node_content`` (the rest of the node as JSON: relationships, image path or data...), ``_node_type``
and ``ref_doc_id`` (what :meth:`GeminiVectorStore.delete` filters on). Vectors made by another LlamaIndex
embedding are recorded under a foreign spec named for it (:meth:`gemini_vectors.EmbeddingSpec.foreign`),
so they never meet Gemini vectors, or another embedding's, in one collection.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from io import BytesIO
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

try:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.bridge.pydantic import PrivateAttr
    from llama_index.core.callbacks import CallbackManager
    from llama_index.core.embeddings import MultiModalEmbedding
    from llama_index.core.schema import BaseNode, ImageType, TextNode
    from llama_index.core.vector_stores.types import (
        BasePydanticVectorStore,
        FilterCondition,
        FilterOperator,
        MetadataFilter,
        MetadataFilters,
        VectorStoreQuery,
        VectorStoreQueryMode,
        VectorStoreQueryResult,
    )
    from llama_index.core.vector_stores.utils import metadata_dict_to_node
except ImportError as exc:  # pragma: no cover - exercised by a test in a subprocess
    raise ImportError(
        "gemini_vectors.llama_index needs llama-index-core 0.14: pip install 'gemini-vectors[llama-index]' "
        f"(or pip install 'llama-index-core>=0.14,<0.15'); importing it failed with: {exc}"
    ) from exc

from gemini_vectors import adapter_kit
from gemini_vectors.collection import Collection
from gemini_vectors.content import Image
from gemini_vectors.embedder import Embedder
from gemini_vectors.errors import (
    ArgumentError,
    CollectionNotFoundError,
    ConfigurationError,
    FilterError,
    MetadataError,
    SpecMismatchError,
)
from gemini_vectors.filters import TEXT_KEY, matches, parse_filter
from gemini_vectors.spec import EmbeddingSpec, TaskType
from gemini_vectors.store import Record
from gemini_vectors.store import VectorStore as GVVectorStore

if TYPE_CHECKING:
    from google import genai

    from gemini_vectors.store import Vector

__all__ = ["GeminiEmbedding", "GeminiVectorStore", "embedding_identity", "to_filter"]

DEFAULT_COLLECTION = "llama_index"
# the node keys LlamaIndex's own vector stores keep beside the metadata (vector_stores.utils)
NODE_CONTENT_KEY = "_node_content"
NODE_TYPE_KEY = "_node_type"
REF_DOC_ID_KEY = "ref_doc_id"
NODE_KEYS = frozenset({NODE_CONTENT_KEY, NODE_TYPE_KEY, REF_DOC_ID_KEY, TEXT_KEY})

_T = TypeVar("_T")


class GeminiEmbedding(MultiModalEmbedding):
    """A LlamaIndex ``MultiModalEmbedding`` backed by a gemini-vectors :class:`~gemini_vectors.Embedder`.

    Unlike an embedding that passes a list of strings as one request's contents (which the SDK merges
    into one vector), every text is one Content, at most 100 per call, with the model's own task
    mechanism (text prefixes for gemini-embedding-2: documents for text, queries for
    ``get_query_embedding``), retries and L2-normalized vectors. Images (paths or ``BytesIO``) go out
    inline as image parts.

    Args:
        model_name: A model of the table (``gemini_vectors.known_models()``).
        dimensions: Output size (Matryoshka truncation); the model's default when None.
        task: One task for documents and queries alike (e.g. ``"SEMANTIC_SIMILARITY"``).
        query_task: The task of query embeddings (default ``RETRIEVAL_QUERY``).
        document_task: The task of text and image embeddings (default ``RETRIEVAL_DOCUMENT``).
        client: A configured ``google.genai.Client``; one is built from the environment when None.
        api_key: The key of the client built here (never shown).
        embedder: A ready :class:`~gemini_vectors.Embedder`, instead of the arguments above.
        embed_batch_size: How many texts LlamaIndex hands over at once (the Embedder still sends at
            most 100 per call).
        **embedder_options: Further :class:`~gemini_vectors.Embedder` options (``rpm``, ``vertexai``...).

    Raises:
        ConfigurationError: an unknown model or task, dimensions out of range, no credentials, or
            ``embedder=`` given together with options it already fixes.
    """

    _embedder: Embedder = PrivateAttr()
    _query_task: TaskType = PrivateAttr()
    _document_task: TaskType = PrivateAttr()

    def __init__(
        self,
        model_name: str = adapter_kit.DEFAULT_MODEL,
        dimensions: int | None = None,
        *,
        task: TaskType | str | None = None,
        query_task: TaskType | str | None = None,
        document_task: TaskType | str | None = None,
        client: genai.Client | None = None,
        api_key: str | None = None,
        embedder: Embedder | None = None,
        embed_batch_size: int = 100,
        callback_manager: CallbackManager | None = None,
        num_workers: int | None = None,
        **embedder_options: Any,
    ) -> None:
        queries, documents = adapter_kit.tasks_of(task, query_task, document_task)
        built = adapter_kit.embedder_of(
            embedder,
            model_name,
            dimensions,
            client=client,
            api_key=api_key,
            options=embedder_options,
            model_argument="model_name",
        )
        super().__init__(
            model_name=built.model,
            embed_batch_size=embed_batch_size,
            callback_manager=callback_manager or CallbackManager([]),
            num_workers=num_workers,
        )
        self._embedder = built
        self._query_task = queries
        self._document_task = documents

    @classmethod
    def class_name(cls) -> str:
        return "GeminiVectorsEmbedding"

    @property
    def embedder(self) -> Embedder:
        """The :class:`~gemini_vectors.Embedder` that makes every vector."""
        return self._embedder

    @property
    def spec(self) -> EmbeddingSpec:
        """The embedding spec of every vector this object returns."""
        return self._embedder.spec

    @property
    def query_task(self) -> TaskType:
        return self._query_task

    @property
    def document_task(self) -> TaskType:
        return self._document_task

    # -- text ----------------------------------------------------------------------------------------

    def _get_query_embedding(self, query: str) -> list[float]:
        vector: list[float] = self._embedder.embed_query(_text(query), self._query_task).tolist()
        return vector

    async def _aget_query_embedding(self, query: str) -> list[float]:
        vector: list[float] = (await self._embedder.aembed_query(_text(query), self._query_task)).tolist()
        return vector

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._get_text_embeddings([text])[0]

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return (await self._aget_text_embeddings([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return adapter_kit.as_lists(self._embedder.embed(_texts(texts), self._document_task))

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return adapter_kit.as_lists(await self._embedder.aembed(_texts(texts), self._document_task))

    # -- images --------------------------------------------------------------------------------------

    def _get_image_embedding(self, img_file_path: ImageType) -> list[float]:
        return self._get_image_embeddings([img_file_path])[0]

    async def _aget_image_embedding(self, img_file_path: ImageType) -> list[float]:
        return (await self._aget_image_embeddings([img_file_path]))[0]

    def _get_image_embeddings(self, img_file_paths: list[ImageType]) -> list[list[float]]:
        return adapter_kit.as_lists(self._embedder.embed(_images(img_file_paths), self._document_task))

    async def _aget_image_embeddings(self, img_file_paths: list[ImageType]) -> list[list[float]]:
        return adapter_kit.as_lists(await self._embedder.aembed(_images(img_file_paths), self._document_task))


def _text(text: object) -> str:
    return adapter_kit.one_text(text, expected="a query is one str")


def _texts(texts: object) -> list[str]:
    return adapter_kit.text_list(texts, expected="text embeddings take a list of str")


def _images(images: object) -> list[Image]:
    if isinstance(images, str | bytes | os.PathLike | BytesIO) or not isinstance(images, Iterable):
        raise ArgumentError(f"image embeddings take a list of paths or BytesIO, got {type(images).__name__}")
    out: list[Image] = []
    for index, image in enumerate(images):
        if isinstance(image, BytesIO):
            out.append(Image(image.getvalue()))
        elif isinstance(image, str | os.PathLike | bytes):
            out.append(Image(image))
        else:
            raise ArgumentError(f"image {index} is a {type(image).__name__}, not a path, bytes or BytesIO")
    return out


def embedding_identity(embedding: BaseEmbedding) -> str:
    """The name a foreign LlamaIndex embedding's vectors are recorded under.

    ``llama_index:module.Class:model``, the model being the embedding's ``model_name`` when it has one.
    """
    cls = type(embedding)
    identity = f"llama_index:{cls.__module__}.{cls.__qualname__}"
    model = getattr(embedding, "model_name", None)
    if isinstance(model, str) and model and model != "unknown":
        return f"{identity}:{model}"
    return identity


# -- filters -----------------------------------------------------------------------------------------

_OPERATORS: dict[FilterOperator, str] = {
    FilterOperator.EQ: "$eq",
    FilterOperator.NE: "$ne",
    FilterOperator.GT: "$gt",
    FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt",
    FilterOperator.LTE: "$lte",
    FilterOperator.IN: "$in",
    FilterOperator.NIN: "$nin",
}


def to_filter(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """LlamaIndex ``MetadataFilters`` in the portable filter language (None stays None).

    EQ, NE, GT, GTE, LT, LTE, IN and NIN map to ``$eq ... $nin``; AND/OR conditions, nested, to ``$and``
    and ``$or``. The semantics are the portable language's on every backend (a list-valued field
    matches EQ/IN when any element does; NE/NIN also match records without the field).

    Raises:
        FilterError: an operator or condition the portable language has no equivalent for.
    """
    if filters is None:
        return None
    if not isinstance(filters, MetadataFilters):
        raise FilterError(f"filters= takes llama_index MetadataFilters, got {type(filters).__name__}")
    if not filters.filters:
        return None
    return _to_filter(filters)


def _to_filter(filters: MetadataFilters) -> dict[str, Any]:
    condition = filters.condition or FilterCondition.AND
    if condition not in (FilterCondition.AND, FilterCondition.OR):
        raise FilterError(f"filter condition {condition.value!r} is not supported; use 'and' or 'or'")
    clauses: list[dict[str, Any]] = []
    for part in filters.filters:
        if isinstance(part, MetadataFilters):
            if part.filters:
                clauses.append(_to_filter(part))
            continue
        clauses.append(_clause(part))
    if not clauses:
        raise FilterError("a nested MetadataFilters is empty; leave it out")
    if len(clauses) == 1:
        return clauses[0]
    return {"$and" if condition is FilterCondition.AND else "$or": clauses}


def _clause(flt: MetadataFilter) -> dict[str, Any]:
    op = _OPERATORS.get(flt.operator)
    if op is None:
        known = ", ".join(o.name for o in _OPERATORS)
        raise FilterError(
            f"filter operator {flt.operator.name} on {flt.key!r} has no portable equivalent; "
            f"use one of {known}"
        )
    value = flt.value
    if value is None:
        raise FilterError(f"filter on {flt.key!r} compares with None; stored metadata never holds null")
    return {flt.key: {op: list(value) if isinstance(value, list) else value}}


# -- nodes <-> records -------------------------------------------------------------------------------


def _stored_metadata(node: BaseNode, index: int) -> dict[str, Any]:
    """What a node is stored as: its metadata, its text and LlamaIndex's node keys (no embedding)."""
    if not isinstance(node, BaseNode):
        raise ArgumentError(f"node {index} is a {type(node).__name__}, not a llama_index BaseNode")
    clash = sorted(NODE_KEYS & set(node.metadata))
    if clash:
        raise MetadataError(f"node {index} ({node.node_id}): metadata keys {clash} are reserved for the node")
    out: dict[str, Any] = dict(node.metadata)
    node_dict = node.model_dump(mode="json")
    # the text and metadata are stored as keys of their own; the embedding is the record's vector
    node_dict["metadata"] = {}
    node_dict["embedding"] = None
    text = node_dict.pop("text", None) if isinstance(node, TextNode) else None
    node_dict.pop("text_resource", None)
    if isinstance(node, TextNode):
        node_dict["text"] = ""
    out[NODE_CONTENT_KEY] = json.dumps(node_dict, ensure_ascii=False)
    out[NODE_TYPE_KEY] = node.class_name()
    if node.ref_doc_id is not None:
        out[REF_DOC_ID_KEY] = node.ref_doc_id
    out[TEXT_KEY] = text if isinstance(text, str) else node.get_content()
    return out


def _node(metadata: Mapping[str, Any], embedding: Vector | None = None) -> BaseNode:
    """The node a record was stored from, with its metadata and text."""
    text = metadata.get(TEXT_KEY)
    node = metadata_dict_to_node(dict(metadata), text=text if isinstance(text, str) else None)
    node.metadata = {k: v for k, v in metadata.items() if k not in NODE_KEYS}
    if embedding is not None:
        node.embedding = embedding.tolist()
    return node


class GeminiVectorStore(BasePydanticVectorStore):
    """A LlamaIndex vector store over one collection of any gemini-vectors store (``stores_text=True``).

    Args:
        store: A store URL for :func:`gemini_vectors.connect` (``"memory://"``, ``"postgresql://..."``,
            ``"weaviate://..."``, ``"pinecone://index"``; None: the embedded default) or an open
            :class:`gemini_vectors.VectorStore`. A store opened here is closed by :meth:`close`.
        collection_name: The collection; created on the first write.
        embed_model: The embedding whose vectors the nodes carry: :class:`GeminiEmbedding` (the
            collection's spec is its Embedder's, checked now), another LlamaIndex embedding (a foreign
            spec under :func:`embedding_identity`, its dimensions learned from the first vectors), or
            None to use the spec already stored for the collection.
        embedding_id: Overrides the identity a foreign embedding's spec is recorded under.
        **connect_options: Passed to :func:`gemini_vectors.connect` with a URL (``api_key=``...).

    Raises:
        SpecMismatchError: the collection holds vectors of another spec; nothing was written.
    """

    stores_text: bool = True
    flat_metadata: bool = False
    collection_name: str = DEFAULT_COLLECTION

    _store: GVVectorStore = PrivateAttr()
    _owns_store: bool = PrivateAttr()
    _gemini: Embedder | None = PrivateAttr()
    _identity: str | None = PrivateAttr()
    _lock: threading.Lock = PrivateAttr()
    _collection: Collection | None = PrivateAttr()

    def __init__(
        self,
        store: str | GVVectorStore | None = None,
        collection_name: str = DEFAULT_COLLECTION,
        *,
        embed_model: BaseEmbedding | None = None,
        embedding_id: str | None = None,
        **connect_options: Any,
    ) -> None:
        adapter_kit.check_collection_name(collection_name)
        if embed_model is not None and not isinstance(embed_model, BaseEmbedding):
            raise ConfigurationError(
                f"embed_model= takes a LlamaIndex embedding (GeminiEmbedding or another), "
                f"not {type(embed_model).__name__}"
            )
        gemini = embed_model.embedder if isinstance(embed_model, GeminiEmbedding) else None
        if gemini is not None and embedding_id is not None:
            raise ConfigurationError("embedding_id= names a foreign embedding; GeminiEmbedding has a spec")
        opened, owns = adapter_kit.open_store(store, connect_options)
        fields: dict[str, Any] = {"stores_text": True, "collection_name": collection_name}
        super().__init__(**fields)
        self._store, self._owns_store = opened, owns
        self._gemini = gemini
        if embedding_id is not None:
            self._identity = embedding_id
        elif embed_model is not None and gemini is None:
            self._identity = embedding_identity(embed_model)
        else:
            self._identity = None
        self._lock = threading.Lock()
        self._collection = None
        if gemini is not None:  # the spec is known: check it against the stored one now
            self._collection = opened.collection(collection_name, embedder=gemini)

    @classmethod
    def class_name(cls) -> str:
        return "GeminiVectorsVectorStore"

    @property
    def client(self) -> GVVectorStore:
        """The gemini-vectors store."""
        return self._store

    def __repr__(self) -> str:
        return f"GeminiVectorStore({self._store!r}, collection={self.collection_name!r})"

    def close(self) -> None:
        """Close the store when this object opened it from a URL."""
        if self._owns_store:
            self._store.close()

    # -- the collection and its spec -----------------------------------------------------------------

    def _open(self, dimensions: int | None, *, create: bool) -> Collection | None:
        """The collection at ``dimensions`` (None: as stored), or None while it does not exist."""
        with self._lock:
            coll = self._collection
            if coll is None:
                stored = self._store.stored_spec(self.collection_name)
                if self._identity is None:  # no foreign embedding named: whatever spec is stored
                    if stored is None:
                        if create:
                            raise ConfigurationError(
                                f"collection {self.collection_name!r} does not exist yet: pass embed_model= "
                                "(a GeminiEmbedding or the LlamaIndex embedding that made the vectors)"
                            )
                        return None
                    spec = stored
                else:
                    if dimensions is None:
                        if stored is None:
                            return None
                        dimensions = stored.dimensions
                    spec = EmbeddingSpec.foreign(self._identity, dimensions)
                try:
                    coll = self._store.collection(self.collection_name, spec=spec, create=create)
                except CollectionNotFoundError:
                    return None
                self._collection = coll
        if dimensions is not None and coll.spec.dimensions != dimensions:
            # vectors of another length are another space, whoever made them
            theirs = (
                EmbeddingSpec.foreign(self._identity, dimensions)
                if self._identity is not None
                else dataclasses.replace(coll.spec, dimensions=dimensions)
            )
            raise SpecMismatchError(self.collection_name, coll.spec, theirs)
        return coll

    # -- writing -------------------------------------------------------------------------------------

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Store nodes with their embeddings (set by the index); returns their ids, in input order.

        Re-adding a node id replaces its record. Every node is checked before anything is written.

        Raises:
            ArgumentError: a node has no embedding, or the embeddings differ in length.
            MetadataError: metadata no backend can store, or one using a reserved node key.
        """
        if add_kwargs:
            raise ArgumentError(f"add() got unexpected arguments {sorted(add_kwargs)}")
        if isinstance(nodes, BaseNode) or not isinstance(nodes, Sequence):
            raise ArgumentError(f"add() takes a list of nodes, got {type(nodes).__name__}")
        if not nodes:
            return []
        metas = [_stored_metadata(node, i) for i, node in enumerate(nodes)]
        vectors: list[list[float]] = []
        for index, node in enumerate(nodes):
            if node.embedding is None:
                raise ArgumentError(
                    f"node {index} ({node.node_id}) has no embedding; build the index with embed_model= "
                    "or set node.embedding (e.g. embed_model.get_image_embedding(path) for an image)"
                )
            vectors.append(node.embedding)
        lengths = {len(v) for v in vectors}
        if len(lengths) != 1:
            raise ArgumentError(f"the nodes' embeddings have different lengths: {sorted(lengths)}")
        coll = self._open(lengths.pop(), create=True)
        assert coll is not None
        records = [
            Record(node.node_id, np.asarray(vectors[i], dtype=np.float32), metas[i], node.hash)
            for i, node in enumerate(nodes)
        ]
        coll.upsert_vectors(records)  # checks every vector (finite, not zero) and normalizes it
        return [node.node_id for node in nodes]

    async def async_add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Async twin of :meth:`add` (the store is written in a worker thread)."""
        return await _in_thread(self.add, nodes, **add_kwargs)

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the source document ``ref_doc_id``."""
        if delete_kwargs:
            raise ArgumentError(f"delete() got unexpected arguments {sorted(delete_kwargs)}")
        if not isinstance(ref_doc_id, str) or not ref_doc_id:
            raise ArgumentError(f"delete() takes a ref_doc_id str, got {ref_doc_id!r}")
        coll = self._open(None, create=False)
        if coll is not None:
            coll.delete(filter={REF_DOC_ID_KEY: ref_doc_id})

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Async twin of :meth:`delete`."""
        await _in_thread(self.delete, ref_doc_id, **delete_kwargs)

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Delete the nodes with these ids that match ``filters`` (either alone: all it selects)."""
        if delete_kwargs:
            raise ArgumentError(f"delete_nodes() got unexpected arguments {sorted(delete_kwargs)}")
        flt = to_filter(filters)
        coll = self._open(None, create=False)
        if coll is None or (node_ids is None and flt is None):
            return
        if node_ids is not None and flt is not None:
            # both given: only the listed nodes that match (the store's delete takes either)
            node_ids = [n.node_id for n in self.get_nodes(node_ids, filters)]
            flt = None
        coll.delete(ids=list(node_ids) if node_ids is not None else None, filter=flt)

    async def adelete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        """Async twin of :meth:`delete_nodes`."""
        await _in_thread(self.delete_nodes, node_ids, filters, **delete_kwargs)

    def clear(self) -> None:
        """Delete every node, keeping the collection and its spec."""
        coll = self._open(None, create=False)
        if coll is not None:
            coll.backend.clear()

    async def aclear(self) -> None:
        """Async twin of :meth:`clear`."""
        await _in_thread(self.clear)

    # -- reading -------------------------------------------------------------------------------------

    def get_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """The stored nodes with these ids (in the order asked; unknown ids left out) matching ``filters``.

        With ``filters`` alone, every node of the collection is read and checked against them.
        """
        flt = parse_filter(to_filter(filters))
        coll = self._open(None, create=False)
        if coll is None:
            return []
        if node_ids is None:
            if flt is None:
                raise ArgumentError("get_nodes() needs node_ids=, filters= or both")
            ids = list(coll.ids())
        else:
            if isinstance(node_ids, str):
                raise ArgumentError("get_nodes() takes a list of node ids, got one str")
            ids = list(node_ids)
        out: list[BaseNode] = []
        for start in range(0, len(ids), 1000):
            for record in coll.get(ids[start : start + 1000], include_vectors=True):
                if matches(flt, record.metadata):  # the portable language's reference semantics
                    out.append(_node(record.metadata, record.vector))
        return out

    async def aget_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """Async twin of :meth:`get_nodes`."""
        return await _in_thread(self.get_nodes, node_ids, filters)

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The ``similarity_top_k`` nodes closest to ``query.query_embedding`` that match its filters.

        ``doc_ids`` restricts the search to those source documents; ``node_ids`` is ignored (restrict by
        ``filters`` or ``doc_ids``). Similarities are cosine (higher is closer). ``ef_search=N`` sets the
        HNSW candidate list of this query on backends that have one.

        Raises:
            ArgumentError: no query embedding, or a mode other than the default (dense) search.
            FilterError: a filter the portable language cannot express.
        """
        # ef_search (the HNSW candidate list of this query) passes through, so a retriever's
        # vector_store_kwargs={"ef_search": 200} trades latency for recall as Collection.search does
        ef_search = kwargs.pop("ef_search", None)
        if kwargs:
            raise ArgumentError(f"query() got unexpected arguments {sorted(kwargs)}")
        if query.mode != VectorStoreQueryMode.DEFAULT:
            raise ArgumentError(f"query mode {query.mode.value!r} is not supported; use the default mode")
        if query.query_embedding is None:
            raise ArgumentError("query() needs query.query_embedding (the index sets it from embed_model)")
        # query.node_ids is not a restriction here: over a store that keeps text, VectorStoreIndex passes
        # the ids of the image and index nodes it also keeps in its docstore, so honouring them would hide
        # every text node, and an index reopened from the store (which passes none) would answer otherwise
        flt = to_filter(query.filters)
        if query.doc_ids:
            by_doc = {REF_DOC_ID_KEY: {"$in": list(query.doc_ids)}}
            flt = by_doc if flt is None else {"$and": [flt, by_doc]}
        vector = np.asarray(query.query_embedding, dtype=np.float32)
        coll = self._open(int(vector.shape[0]), create=False)
        if coll is None:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        found = coll.search(vector, query.similarity_top_k, flt, ef_search=ef_search)
        return VectorStoreQueryResult(
            nodes=[_node(m.metadata) for m in found],
            similarities=[m.score for m in found],
            ids=[m.id for m in found],
        )

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Async twin of :meth:`query`."""
        return await _in_thread(self.query, query, **kwargs)


async def _in_thread(fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    return await asyncio.to_thread(fn, *args, **kwargs)
