"""A wire-faithful Weaviate 1.33 emulator for tests: REST and gRPC on 127.0.0.1, in memory.

The unmodified ``weaviate-client`` connects to it like to a real server. See :class:`WeaviateEmulator`.
"""

from __future__ import annotations

from .server import WeaviateEmulator

__all__ = ["WeaviateEmulator"]
