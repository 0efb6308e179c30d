"""A wire-faithful Weaviate 1.33 emulator for tests: REST and gRPC on 127.0.0.1, in memory.

The unmodified ``weaviate-client`` (v4) connects to it like to a real server (see
:class:`WeaviateEmulator`, or ``python -m tests.emulators.weaviate`` for a process of its own). It reports
version 1.33.18, so the client keeps gRPC ``BatchObjects`` for every batch (``BatchStream`` starts at
1.36) and may use ``Not``/``ContainsNone`` filters (1.33).

Served, with the server's validation rules and error texts (taken from Weaviate's source):

* REST: ``/v1/meta``, ``/.well-known/{ready,live,openid-configuration}`` (the last is 404: no OIDC),
  ``/v1/schema`` (create, get, list, update, delete, add property, shards), ``/v1/objects`` (create, get,
  list, head, replace, merge, delete, validate), ``/v1/batch/objects`` (POST, DELETE), ``/v1/nodes``,
  ``/v1/aliases``;
* gRPC ``weaviate.v1.Weaviate``: ``Search`` (fetch, cursor, sort, ``near_vector`` with every vector
  encoding and multi-target combinations, ``near_object``, BM25, hybrid, group-by, autocut, every filter
  operator, metadata and vectors), ``BatchObjects`` (per-object errors, auto-schema), ``BatchDelete``
  (dry run, verbose, ``QUERY_MAXIMUM_RESULTS``), ``Aggregate`` (counts, metrics, group-by, near vector);
  ``grpc.health.v1.Health/Check``.

Not served: cross-references, multi-tenancy, vectorizer/generative/reranker modules, multi-vectors,
backups, RBAC. Faults: :meth:`WeaviateEmulator.reject_objects`.
"""

from __future__ import annotations

from .server import WeaviateEmulator

__all__ = ["WeaviateEmulator"]
