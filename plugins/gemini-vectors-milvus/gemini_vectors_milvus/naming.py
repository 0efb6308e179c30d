"""Names on the Milvus side: collection names, field names, string literals.

* A gemini-vectors collection name may hold any character; a Milvus collection name is at most 255
  characters of ``[A-Za-z0-9_]`` starting with a letter or ``_`` (the server's rule; Milvus Lite is more
  lenient, and the plugin keeps to the server's so that a Lite file and a server hold the same names).
  Letters and digits are kept (``docs`` is the Milvus collection ``docs``); ``_`` becomes ``__``; every
  other character, and a leading digit, becomes ``_XX`` per UTF-8 byte. The escape is injective (after a
  ``_`` comes either ``_`` or two hex digits), and the user's name is also recorded in the collection's
  properties.
* :func:`quote` is the one way a string becomes a literal of a Milvus boolean expression: the record ids
  of ``get``/``delete`` go through it (pymilvus's own ``ids=`` does not escape a backslash).
"""

from __future__ import annotations

import re

from gemini_vectors.errors import ArgumentError

#: The longest Milvus collection name (the server's ``proxy.maxNameLength``).
MAX_MILVUS_NAME = 255

# The fields of every collection's schema.
ID_FIELD = "id"
VECTOR_FIELD = "vector"
METADATA_FIELD = "metadata"
HASH_FIELD = "content_hash"
#: The filter index of a record (see :mod:`.filters`): what filters look at, never shown to the user.
FILTER_FIELD = "gv_filter"

_ALNUM = re.compile(r"[A-Za-z0-9]")
_PREFIX = re.compile(r"(?:[A-Za-z_][A-Za-z0-9_]*)?")


def escape_name(name: str) -> str:
    """The Milvus-safe form of a collection name (without the store's prefix)."""
    out = []
    for pos, char in enumerate(name):
        if char == "_":
            out.append("__")
        elif _ALNUM.fullmatch(char) and not (pos == 0 and char.isdigit()):
            out.append(char)
        else:
            out.extend(f"_{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
    return "".join(out)


def check_prefix(prefix: str) -> str:
    """Refuse a collection-name prefix Milvus could not carry."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix) or len(prefix) > 64:
        raise ArgumentError(
            "collection_prefix must be at most 64 letters, digits or '_', starting with a letter or '_', "
            f"got {prefix!r}"
        )
    return prefix


def quote(text: str) -> str:
    """``text`` as a double-quoted string literal of a Milvus expression.

    Milvus's parser knows the escapes ``\\\\``, ``\\"``, ``\\n``, ``\\r`` and ``\\t`` (``\\u`` and ``\\x``
    are errors); a raw newline ends a literal, other control characters pass as they are.
    """
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'
