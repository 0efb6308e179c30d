"""Names on the Weaviate side: collection (class) names, property names for metadata keys, object UUIDs.

Weaviate restricts names more than gemini-vectors does. Class names must match
``[A-Z][_0-9A-Za-z]{0,254}`` and are unique regardless of case; property names must be GraphQL names
(``[_A-Za-z][_0-9A-Za-z]{0,230}``), the server lowers their first letter, refuses ``id``, ``_id`` and
``_additional``, and treats two names that differ only in case as the same property. So:

* a collection ``name`` has the base name ``{prefix}_{safe part of name}_{10 hex digits of sha256(name)}``:
  valid, deterministic, and distinct for distinct names; the user's name itself is recorded with the spec.
  Each creation gets a class of its own, ``{base}_{12 random hex digits}`` (its incarnation), found through
  the alias ``{base}_alias`` (Weaviate 1.32+), so a handle opened before a drop and re-creation names a
  class that no longer exists. Classes named ``{base}`` itself (made before incarnations, or on servers
  without aliases) still open; a base ends in 10 hex digits, an incarnation in 12 and an alias in
  ``alias``, so none of the three can be another's;
* a metadata key that is already a safe property name (first letter lower-case or ``_``, no clash with
  reserved or internal names) is used as is, so the data stays readable in Weaviate's own tools; any other
  key (``Title``, ``名前``, ``my-key``, ``id``) is stored under ``gv_k_`` + its UTF-8 bytes in lowercase
  base32, which decodes back to the key exactly;
* every record's id becomes ``uuid5(NAMESPACE, id)``, so writing an id again replaces the object.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import uuid

from gemini_vectors.errors import ConfigurationError, MetadataError

#: Namespace of the deterministic object UUIDs (``uuid5(NAMESPACE, record id)``).
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/gemini-vectors/gemini-vectors")

#: The named vector that holds a collection's embeddings.
VECTOR_NAME = "embedding"
#: The named vector of a Matryoshka (``mrl:<d>``) collection that holds the first d dimensions.
PREFIX_VECTOR_NAME = "embedding_prefix"
#: Internal properties: the record id, its content hash, the property names it has metadata in, and
#: those whose text has surrounding whitespace (which Weaviate's ``field`` tokenization trims).
ID_PROPERTY = "gv_id"
HASH_PROPERTY = "gv_content_hash"
KEYS_PROPERTY = "gv_keys"
PADDED_PROPERTY = "gv_padded"
INTERNAL_PROPERTIES = frozenset({ID_PROPERTY, HASH_PROPERTY, KEYS_PROPERTY, PADDED_PROPERTY})
#: Prefix of the property names that encode metadata keys Weaviate cannot store as they are.
ENCODED_PREFIX = "gv_k_"
#: Default first part of class names.
DEFAULT_CLASS_PREFIX = "GeminiVectors"

#: Last part of the alias through which a collection's current class is found.
ALIAS_SUFFIX = "_alias"
#: Random bytes in the last part of an incarnation's class name (12 hex digits).
INCARNATION_BYTES = 6

MAX_PROPERTY_NAME = 231
MAX_CLASS_NAME = 255
_CLASS_PREFIX_RE = re.compile(r"^[A-Z][_0-9A-Za-z]{0,100}$")
_PLAIN_KEY_RE = re.compile(r"^[_a-z][_0-9A-Za-z]{0,230}$")
#: Rejected by the server (``id``, ``_id``, ``_additional``) or by the client in objects (``vector``).
RESERVED_NAMES = frozenset({"id", "_id", "_additional", "vector"})


def object_uuid(record_id: str) -> uuid.UUID:
    """The UUID of the Weaviate object that stores record ``record_id``."""
    return uuid.uuid5(NAMESPACE, record_id)


def check_class_prefix(prefix: str) -> str:
    """Validate a user-chosen class-name prefix.

    Raises:
        ConfigurationError: the prefix cannot start a Weaviate class name.
    """
    if not _CLASS_PREFIX_RE.match(prefix):
        raise ConfigurationError(
            f"class_prefix {prefix!r} must start with an upper-case ASCII letter and contain only "
            "letters, digits and underscores (at most 101 characters)"
        )
    return prefix


def class_name_for(name: str, prefix: str = DEFAULT_CLASS_PREFIX) -> str:
    """The Weaviate class that holds gemini-vectors collection ``name``."""
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
    safe = re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_")[:48]
    return f"{prefix}_{safe}_{digest}" if safe else f"{prefix}_{digest}"


def alias_name_for(name: str, prefix: str = DEFAULT_CLASS_PREFIX) -> str:
    """The Weaviate alias that points to the class of collection ``name``'s current incarnation."""
    return class_name_for(name, prefix) + ALIAS_SUFFIX


def incarnation_class_name(name: str, prefix: str = DEFAULT_CLASS_PREFIX) -> str:
    """A new class name for one creation of collection ``name``: the base name and a random suffix.

    A class per creation is what lets a handle notice, at no cost, that its collection was dropped and
    created again: its requests name the dropped class, which Weaviate answers with "not found".
    """
    return f"{class_name_for(name, prefix)}_{secrets.token_hex(INCARNATION_BYTES)}"


def is_plain_key(key: str) -> bool:
    """Whether ``key`` can be a property name as it is (before clashes with existing names)."""
    return bool(_PLAIN_KEY_RE.match(key)) and key not in RESERVED_NAMES and not key.lower().startswith("gv_")


def encoded_property(key: str) -> str:
    """The ``gv_k_...`` property name of ``key``.

    Raises:
        MetadataError: the key is too long for a Weaviate property name even when encoded.
    """
    name = ENCODED_PREFIX + base64.b32encode(key.encode("utf-8")).decode("ascii").rstrip("=").lower()
    if len(name) > MAX_PROPERTY_NAME:
        limit = (MAX_PROPERTY_NAME - len(ENCODED_PREFIX)) * 5 // 8
        raise MetadataError(
            f"metadata key {key[:40]!r}... is {len(key.encode('utf-8'))} bytes of UTF-8; Weaviate property "
            f"names are limited to {MAX_PROPERTY_NAME} characters, which leaves {limit} bytes for a key that "
            "is not a plain GraphQL name"
        )
    return name


def key_for_property(prop: str) -> str | None:
    """The metadata key stored in property ``prop``; None for internal and foreign ``gv_`` properties."""
    if prop.startswith(ENCODED_PREFIX):
        body = prop[len(ENCODED_PREFIX) :].upper()
        try:
            return base64.b32decode(body + "=" * (-len(body) % 8)).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
    if prop.lower().startswith("gv_"):
        return None
    return prop


def candidate_properties(key: str) -> list[str]:
    """Where ``key`` may be stored, in order of preference: as is (if plain), then encoded."""
    out = []
    if is_plain_key(key):
        out.append(key)
    if len(ENCODED_PREFIX) + (len(key.encode("utf-8")) * 8 + 4) // 5 <= MAX_PROPERTY_NAME:
        out.append(encoded_property(key))
    return out
