"""Pinecone's limits, checked before anything is sent, and the encodings that keep names within them.

Every check here runs on the whole batch before the first request leaves, so a record that breaks a limit
raises :class:`~gemini_vectors.errors.MetadataError` naming the record, the key and the limit, and nothing
is written. Sizes are measured on the JSON the SDK actually sends (compact, UTF-8, encoded by orjson as the
SDK does), so a batch the plan calls 1,999,000 bytes is 1,999,000 bytes on the wire.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote

import orjson
from gemini_vectors.errors import ConfigurationError, MetadataError
from gemini_vectors.filters import MetadataValue, is_reserved_key, validate_metadata

#: Longest record id and namespace name Pinecone accepts, in (ASCII) characters.
MAX_ID_LENGTH = 512
MAX_NAMESPACE_LENGTH = 512
#: Pinecone's cap on one record's metadata: "40 KB", taken as 40 KiB of compact JSON.
MAX_METADATA_BYTES = 40 * 1024
#: Records per upsert request.
MAX_UPSERT_VECTORS = 1000
#: Body size per upsert request. Pinecone documents "2 MB"; 2,000,000 bytes stays below 2 MB whether
#: that means 10**6 or 2**20 bytes per MB.
DEFAULT_MAX_REQUEST_BYTES = 2_000_000
#: Ids per fetch and per delete request.
MAX_FETCH_IDS = 1000
MAX_DELETE_IDS = 1000
#: Longest query string a fetch may carry; ids travel in the URL, and proxies refuse long request lines.
MAX_FETCH_QUERY_BYTES = 8000
#: Largest top_k, and the largest when values or metadata come back with the matches.
MAX_TOP_K = 10_000
MAX_TOP_K_WITH_DATA = 1000
#: A query's answer may not exceed 4 MB; matches with metadata are asked for inline only while the
#: worst case (every record carrying 40 KB of metadata) stays below it.
MAX_QUERY_RESULT_BYTES = 4_000_000
MAX_INLINE_METADATA_K = MAX_QUERY_RESULT_BYTES // (MAX_METADATA_BYTES + 2 * MAX_ID_LENGTH)
#: Ids per page of ``list``, and namespaces per page of ``list_namespaces``.
MAX_LIST_LIMIT = 100
#: Pinecone stores every number as a 64-bit float; integers beyond this lose digits.
MAX_SAFE_INTEGER = 2**53
#: The namespace that requests without one address; not a collection name.
DEFAULT_NAMESPACE = "__default__"

#: Metadata keys with this prefix belong to gemini-vectors; users cannot set them.
RESERVED_PREFIX = "__gv_"
#: Where the content hash of a record is kept (stripped from the metadata users see).
CONTENT_HASH_KEY = RESERVED_PREFIX + "content_hash"

# Printable ASCII stays as it is; '%' and everything else is percent-encoded (UTF-8), which makes the
# mapping reversible and every wire name printable ASCII, as Pinecone requires of ids and namespaces.
_SAFE = "".join(c for c in string.printable if c.isprintable() and c != "%" and c.isascii())


def encode_name(name: str) -> str:
    """The ASCII form of an id or collection name that Pinecone stores (``%`` and non-ASCII escaped)."""
    return quote(name, safe=_SAFE)


def decode_name(wire: str) -> str:
    """Invert :func:`encode_name`."""
    return unquote(wire, errors="strict")


def _shown(value: str, limit: int = 60) -> str:
    return repr(value) if len(value) <= limit else repr(value[: limit // 2] + "..." + value[-limit // 2 :])


def wire_id(record_id: Any) -> str:
    """Check a record id and return the form sent to Pinecone.

    Raises:
        MetadataError: the id is not a non-empty string, or is longer than 512 characters once encoded.
    """
    if not isinstance(record_id, str) or not record_id:
        raise MetadataError(f"record ids must be non-empty strings, got {record_id!r}")
    wire = encode_name(record_id)
    if len(wire) > MAX_ID_LENGTH:
        extra = "" if wire == record_id else " after percent-encoding its non-ASCII characters"
        raise MetadataError(
            f"record id {_shown(record_id)} is {len(wire)} characters{extra}; Pinecone allows at most "
            f"{MAX_ID_LENGTH} characters per id"
        )
    return wire


def wire_id_or_none(record_id: Any) -> str | None:
    """The wire form of an id, or None for an id that cannot be stored (so it cannot be found either)."""
    try:
        return wire_id(record_id)
    except MetadataError:
        return None


def namespace_for(collection: str) -> str:
    """The Pinecone namespace that holds collection ``collection``.

    Raises:
        ConfigurationError: the name is empty, reserved, or longer than 512 characters once encoded.
    """
    if not isinstance(collection, str) or not collection:
        raise ConfigurationError("a collection name must be a non-empty string")
    wire = encode_name(collection)
    if wire == DEFAULT_NAMESPACE:
        raise ConfigurationError(
            f"{DEFAULT_NAMESPACE!r} is Pinecone's default namespace; choose another name"
        )
    if len(wire) > MAX_NAMESPACE_LENGTH:
        raise ConfigurationError(
            f"collection name {_shown(collection)} is {len(wire)} characters as a Pinecone namespace; "
            f"Pinecone allows at most {MAX_NAMESPACE_LENGTH}"
        )
    return wire


def metadata_payload(
    record_id: str,
    metadata: Mapping[str, Any],
    content_hash: str | None,
    *,
    max_bytes: int = MAX_METADATA_BYTES,
) -> dict[str, MetadataValue]:
    """Check one record's metadata against Pinecone's rules and add the content hash.

    Raises:
        MetadataError: a null, nested or otherwise unsupported value, a key Pinecone or gemini-vectors
            reserves, an integer Pinecone would round, or more than ``max_bytes`` of JSON.
    """
    where = f"metadata of record {_shown(record_id)}"
    out = validate_metadata(metadata, where=where)
    for key, value in out.items():
        if is_reserved_key(key):
            raise MetadataError(
                f"{where}: keys starting with {RESERVED_PREFIX!r} are reserved by gemini-vectors"
            )
        if key.startswith("$"):
            raise MetadataError(f"{where}: {key!r} starts with '$', which Pinecone reserves for operators")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INTEGER:
            raise MetadataError(
                f"{where}: {key!r} is {value}; Pinecone stores numbers as 64-bit floats, exact only up to "
                f"2**53 = {MAX_SAFE_INTEGER}"
            )
    if content_hash is not None:
        out[CONTENT_HASH_KEY] = content_hash
    size = len(orjson.dumps(out))
    if size > max_bytes:
        raise MetadataError(
            f"{where} is {size} bytes as JSON; Pinecone allows at most {max_bytes} bytes "
            f"({max_bytes // 1024} KB) of metadata per record"
        )
    return out


def user_metadata(raw: Mapping[str, Any] | None) -> tuple[dict[str, MetadataValue], str | None]:
    """Split stored metadata into what the user wrote and the content hash.

    Numbers come back as floats: Pinecone keeps no integer type, and its JSON may render an integral
    float either way, so a float every time is the one consistent answer.
    """
    if not raw:
        return {}, None
    content_hash = raw.get(CONTENT_HASH_KEY)
    out: dict[str, MetadataValue] = {}
    for key, value in raw.items():
        if is_reserved_key(key):  # the content hash and the like; TEXT_KEY is returned as written
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value)
        else:
            out[key] = value
    return out, content_hash if isinstance(content_hash, str) else None


def json_size(value: Any) -> int:
    """Bytes of ``value`` as the SDK serializes it (orjson, compact)."""
    return len(orjson.dumps(value))


def plan_upsert_batches(
    items: Sequence[dict[str, Any]],
    sizes: Sequence[int],
    namespace: str,
    *,
    max_count: int = MAX_UPSERT_VECTORS,
    max_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> list[list[dict[str, Any]]]:
    """Split upsert items into requests of at most ``max_count`` items and ``max_bytes`` of body.

    ``sizes[i]`` is the JSON size of ``items[i]``; the body is ``{"vectors":[...],"namespace":...}``, so a
    request of n items weighs the envelope plus the items plus n-1 commas.

    Raises:
        ValueError: a single item does not fit in a request (cannot happen within Pinecone's dimension
            and metadata limits, but a smaller ``max_bytes`` can make it so).
    """
    envelope = json_size({"vectors": [], "namespace": namespace})
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    used = envelope
    for item, size in zip(items, sizes, strict=True):
        if envelope + size > max_bytes:
            raise ValueError(
                f"record {item.get('id')!r} alone makes a {envelope + size}-byte request; "
                f"the limit is {max_bytes}"
            )
        extra = size + (1 if current else 0)
        if current and (len(current) >= max_count or used + extra > max_bytes):
            batches.append(current)
            current, used, extra = [], envelope, size
        current.append(item)
        used += extra
    if current:
        batches.append(current)
    return batches


def fetch_batches(
    wire_ids: Sequence[str], *, max_query_bytes: int = MAX_FETCH_QUERY_BYTES
) -> Iterator[list[str]]:
    """Split ids into fetch requests of at most 1,000 ids and ``max_query_bytes`` of query string."""
    batch: list[str] = []
    used = 0
    for wire in wire_ids:
        cost = len("ids=&") + len(quote(wire, safe=""))
        if batch and (len(batch) >= MAX_FETCH_IDS or used + cost > max_query_bytes):
            yield batch
            batch, used = [], 0
        batch.append(wire)
        used += cost
    if batch:
        yield batch


def chunks(values: Sequence[str], size: int) -> Iterator[list[str]]:
    """``values`` in lists of at most ``size``."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])
