"""gemini-vectors: Gemini Embedding 2 as a drop-in vectorizer for the vector database you already run."""

from __future__ import annotations

from gemini_vectors.errors import (
    CollectionNotFoundError,
    ConfigurationError,
    ContentError,
    EmbeddingError,
    FilterError,
    GeminiVectorsError,
    MetadataError,
    PartialEmbeddingError,
    SpecMismatchError,
    StoreError,
    UnknownModelError,
    UnknownStoreError,
    UnsupportedMediaError,
    WriteError,
)
from gemini_vectors.filters import parse_filter
from gemini_vectors.plugins import connect
from gemini_vectors.spec import EmbeddingSpec, ModelInfo, TaskType, get_model, known_models, register_model
from gemini_vectors.store import Match, Record, StoreCollection, VectorStore

__version__ = "0.1.0"

__all__ = [
    "CollectionNotFoundError",
    "ConfigurationError",
    "ContentError",
    "EmbeddingError",
    "EmbeddingSpec",
    "FilterError",
    "GeminiVectorsError",
    "Match",
    "MetadataError",
    "ModelInfo",
    "PartialEmbeddingError",
    "Record",
    "SpecMismatchError",
    "StoreCollection",
    "StoreError",
    "TaskType",
    "UnknownModelError",
    "UnknownStoreError",
    "UnsupportedMediaError",
    "VectorStore",
    "WriteError",
    "__version__",
    "connect",
    "get_model",
    "known_models",
    "parse_filter",
    "register_model",
]
