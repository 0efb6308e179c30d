"""A wire-faithful Pinecone server (REST API 2026-07) for tests of the unmodified official SDK."""

from __future__ import annotations

from .server import API_VERSION, PineconeEmulator, RequestRecord

__all__ = ["API_VERSION", "PineconeEmulator", "RequestRecord"]
