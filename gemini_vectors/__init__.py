"""gemini-vectors: Gemini Embedding 2 as a drop-in vectorizer for the vector database you already run."""

from __future__ import annotations

from gemini_vectors.collection import Collection
from gemini_vectors.content import PDF, Audio, Image, Item, Text, Video
from gemini_vectors.embedder import Embedder
from gemini_vectors.errors import (
    APIResponseError,
    ArgumentError,
    CollectionNotFoundError,
    ConfigurationError,
    ContentError,
    EmbeddingError,
    FilterError,
    GeminiVectorsError,
    MetadataError,
    PartialEmbeddingError,
    PluginError,
    RateLimitError,
    RequestRejectedError,
    RetiredModelError,
    SpecMismatchError,
    StoreError,
    UnknownModelError,
    UnknownStoreError,
    UnsupportedMediaError,
    WriteError,
)
from gemini_vectors.filters import parse_filter
from gemini_vectors.plugins import connect
from gemini_vectors.retry import RetryPolicy
from gemini_vectors.spec import EmbeddingSpec, ModelInfo, TaskType, get_model, known_models, register_model
from gemini_vectors.store import Match, Record, StoreCollection, VectorStore
from gemini_vectors.sync import Vectorizer

__version__ = "0.1.0"

__all__ = [
    "PDF",
    "APIResponseError",
    "ArgumentError",
    "Audio",
    "Collection",
    "CollectionNotFoundError",
    "ConfigurationError",
    "ContentError",
    "Embedder",
    "EmbeddingError",
    "EmbeddingSpec",
    "FilterError",
    "GeminiVectorsError",
    "Image",
    "Item",
    "Match",
    "MetadataError",
    "ModelInfo",
    "PartialEmbeddingError",
    "PluginError",
    "RateLimitError",
    "Record",
    "RequestRejectedError",
    "RetiredModelError",
    "RetryPolicy",
    "SpecMismatchError",
    "StoreCollection",
    "StoreError",
    "TaskType",
    "Text",
    "UnknownModelError",
    "UnknownStoreError",
    "UnsupportedMediaError",
    "VectorStore",
    "Vectorizer",
    "Video",
    "WriteError",
    "__version__",
    "connect",
    "get_model",
    "known_models",
    "parse_filter",
    "register_model",
]
