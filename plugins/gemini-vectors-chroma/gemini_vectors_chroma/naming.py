"""Names on the Chroma side: collection names and the reserved metadata keys.

* A gemini-vectors collection name may hold any character; a Chroma collection name is 3-512 characters
  of ``[a-zA-Z0-9._-]`` that start and end with a letter or digit. Letters, digits and ``-`` are kept as
  they are (``docs`` is the Chroma collection ``docs``); every other character (``_`` and ``.``
  included) becomes ``_XX`` per UTF-8 byte, and so does a ``-`` at either end. A name shorter than 3
  characters once escaped gets ``_p`` appended (``_`` is otherwise always followed by two hex digits, so
  the padding cannot be mistaken for an escape), and one that would start with an escape gets ``x_`` in
  front (``__`` never occurs in an escaped name, so that cannot be mistaken either). The mapping is
  injective and :func:`unescape_name` reverses it; the user's name is also recorded in the
  collection's metadata.
* A record's metadata keeps the user's keys as they are, beside reserved keys that start with ``__gv_``
  (which no caller may write, see :func:`gemini_vectors.filters.validate_metadata`).
"""

from __future__ import annotations

import re

from gemini_vectors.errors import ArgumentError

#: The longest Chroma collection name.
MAX_CHROMA_NAME = 512
MIN_CHROMA_NAME = 3

HASH_KEY = "__gv_content_hash"
#: ``["", *the record's metadata keys]``: answers ``$exists`` exactly and remembers empty lists (Chroma
#: refuses an empty list value). The leading "" (no metadata key is empty) keeps the list non-empty.
KEYS_KEY = "__gv_keys"
#: ``{"key": "repr of the float"}`` as JSON, for the record's float values (see ``encode_metadata``).
FLOATS_KEY = "__gv_floats"
INTERNAL_KEYS = frozenset({HASH_KEY, KEYS_KEY, FLOATS_KEY})
#: Keys Chroma keeps for itself: ``#document``-style keys and ``chroma:document``.
CHROMA_RESERVED = "chroma:document"

_KEPT = re.compile(r"[A-Za-z0-9-]")
_ALNUM = re.compile(r"[A-Za-z0-9]")
_PREFIX = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*)?")
_ESCAPE = re.compile(r"_([0-9A-F]{2})")
PAD = "_p"
LEAD = "x_"


def escape_name(name: str) -> str:
    """The Chroma-safe form of a collection name (without the store's prefix or the short-name pad)."""
    out = []
    last = len(name) - 1
    for pos, char in enumerate(name):
        keep = _ALNUM.fullmatch(char) or (char == "-" and 0 < pos < last)
        if keep and _KEPT.fullmatch(char):
            out.append(char)
        else:
            out.extend(f"_{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
    return "".join(out)


def chroma_name(prefix: str, name: str) -> str:
    """The Chroma collection of ``name`` under ``prefix``: escaped, padded to Chroma's 3 characters."""
    body = escape_name(name)
    if not prefix and body.startswith("_"):
        body = LEAD + body  # Chroma names start with a letter or digit; "__" never occurs otherwise
    full = prefix + body
    while len(full) < MIN_CHROMA_NAME:
        full += PAD
    return full


def unescape_name(escaped: str) -> str:
    """The collection name :func:`escape_name` (plus padding) made ``escaped`` from."""
    while escaped.endswith(PAD):
        escaped = escaped[: -len(PAD)]
    if escaped.startswith(LEAD + "_"):
        escaped = escaped[len(LEAD) :]
    raw = bytearray()
    pos = 0
    while pos < len(escaped):
        match = _ESCAPE.match(escaped, pos)
        if match:
            raw.append(int(match.group(1), 16))
            pos = match.end()
        else:
            raw.extend(escaped[pos].encode("ascii"))
            pos += 1
    return raw.decode("utf-8", "surrogatepass")


def check_prefix(prefix: str) -> str:
    """Refuse a collection-name prefix Chroma could not carry (it must start with a letter or digit)."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix) or len(prefix) > 64:
        raise ArgumentError(
            "collection_prefix must be at most 64 letters, digits or '-', starting with a letter or digit, "
            f"got {prefix!r}"
        )
    return prefix


def chroma_key_problem(key: str) -> str | None:
    """Why Chroma cannot store metadata key ``key`` (None: it can)."""
    if key.startswith("#"):
        return "starts with '#', which Chroma reserves for its own fields (#document, #embedding)"
    if key == CHROMA_RESERVED:
        return f"is {CHROMA_RESERVED!r}, which Chroma reserves"
    return None
