"""Names on the Qdrant side: collection names, point ids, and the reserved payload keys.

* A gemini-vectors collection name may hold any character; a Qdrant collection name may not hold
  ``< > : " / \\ | ? * NUL``, may not be ``.`` or ``..`` and is at most 255 characters. Letters, digits,
  ``-``, ``_`` and ``.`` are kept as they are (so ``docs`` is the Qdrant collection ``docs``, visible as
  such in the dashboard); every other character, and ``~`` itself, becomes ``~XX`` per UTF-8 byte. The
  escape is injective, and the user's name is also recorded in the collection's metadata.
* Each creation of a collection gets a Qdrant collection of its own, ``<escaped name>~~<incarnation>``
  (12 random hex digits), and the escaped name becomes a Qdrant **alias** of it: every lookup by name
  (open, the spec check before a write, other tools) goes through the alias, while a handle addresses
  the collection it opened by its own name. Once that collection is dropped, a handle's requests fail
  with "not found" by themselves, even after the name was created again. ``~~`` never occurs in an
  escaped name (``~`` is always followed by two hex digits there), so no user name escapes to such a
  name. Collections made before (the escaped name itself, no incarnation) still open and work.
* A Qdrant point id is an unsigned integer or a UUID; a record id is any string. The point id is the
  UUIDv5 of the record id (so re-upserting an id replaces its point), and the record id itself is kept in
  the payload (``__gv_id``), which is what reads hand back: ids round-trip exactly.
* The payload holds the user's metadata under its own keys (as any Qdrant tool shows it), beside
  reserved keys that start with ``__gv_``, which no caller may write (see
  :func:`gemini_vectors.filters.validate_metadata`).
"""

from __future__ import annotations

import re
import secrets
import uuid

from gemini_vectors.errors import ArgumentError

#: The longest Qdrant collection name (server and local mode alike).
MAX_QDRANT_NAME = 255
#: The namespace of the UUIDv5 point ids (fixed forever: changing it would orphan every stored point).
POINT_NAMESPACE = uuid.UUID("6f0d8a52-5c1e-4d0b-9a57-6a3c2f0e7b11")

#: Between the escaped name and the incarnation in the Qdrant name of an incarnated collection.
INCARNATION_SEPARATOR = "~~"
#: Random hex digits per incarnation: 48 bits, so that a name created again never gets the same one.
INCARNATION_HEX_DIGITS = 12

ID_KEY = "__gv_id"
HASH_KEY = "__gv_content_hash"
#: The metadata keys a record has, which answers ``$exists`` exactly (Qdrant's ``is_empty`` also
#: matches an empty list, which the portable language counts as present).
KEYS_KEY = "__gv_keys"
INTERNAL_KEYS = frozenset({ID_KEY, HASH_KEY, KEYS_KEY})

_SAFE = re.compile(r"[A-Za-z0-9_.\-]")
_PREFIX = re.compile(r"[A-Za-z0-9_\-]*")


def escape_name(name: str) -> str:
    """The Qdrant-safe form of a collection name (without the store's prefix)."""
    out = []
    for char in name:
        if _SAFE.fullmatch(char):
            out.append(char)
        else:
            out.extend(f"~{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
    escaped = "".join(out)
    if escaped.strip(".") == "":  # "." and ".." are directory names to the server
        escaped = escaped.replace(".", "~2E")
    return escaped


def check_prefix(prefix: str) -> str:
    """Refuse a collection-name prefix Qdrant could not carry."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix) or len(prefix) > 64:
        raise ArgumentError(
            f"collection_prefix must be at most 64 letters, digits, '_' or '-', got {prefix!r}"
        )
    return prefix


def new_incarnation() -> str:
    """A fresh random incarnation for a collection about to be created."""
    return secrets.token_hex(INCARNATION_HEX_DIGITS // 2)


def physical_name(qdrant_name: str, incarnation: str | None) -> str:
    """The Qdrant collection of one incarnation of the collection whose alias is ``qdrant_name``.

    ``incarnation`` None: a collection made before incarnations, whose Qdrant name is the alias's.
    """
    return qdrant_name if incarnation is None else f"{qdrant_name}{INCARNATION_SEPARATOR}{incarnation}"


def point_id(record_id: str) -> str:
    """The Qdrant point id (a UUID string) of a record id."""
    return str(uuid.uuid5(POINT_NAMESPACE, record_id))
