"""Names on the Milvus side: collection names, field names, string literals.

* A gemini-vectors collection name may hold any character; a Milvus collection name is at most 255
  characters of ``[A-Za-z0-9_]`` starting with a letter or ``_`` (the server's rule; Milvus Lite is more
  lenient, and the plugin keeps to the server's so that a Lite file and a server hold the same names).
  Letters and digits are kept (``docs`` is the Milvus collection ``docs``); ``_`` becomes ``__``; every
  other character, and a leading digit, becomes ``_XX`` per UTF-8 byte. The escape is injective (after a
  ``_`` comes either ``_`` or two hex digits), and the user's name is also recorded in the collection's
  properties.
* Each creation of a collection gets a Milvus collection of its own, ``<escaped name>_x<incarnation>``
  (12 random lowercase hex digits), and the escaped name becomes a Milvus **alias** of it: lookups by
  name go through the alias, while a handle addresses the collection it opened by its own name, so once
  that is dropped its requests fail by themselves. ``_x`` never occurs in an escaped name (after a ``_``
  comes ``_`` or an upper-case hex digit), so no user name escapes to such a name. Collections made
  before (the escaped name itself) still open and work.
* :func:`quote` is the one way a string becomes a literal of a Milvus boolean expression: the record ids
  of ``get``/``delete`` go through it (pymilvus's own ``ids=`` does not escape a backslash).
"""

from __future__ import annotations

import re
import secrets

from gemini_vectors.errors import ArgumentError

#: The longest Milvus collection name (the server's ``proxy.maxNameLength``).
MAX_MILVUS_NAME = 255

#: Between the escaped name and the incarnation in the Milvus name of an incarnated collection.
INCARNATION_SEPARATOR = "_x"
#: Random hex digits per incarnation: 48 bits, so that a name created again never gets the same one.
INCARNATION_HEX_DIGITS = 12

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


def new_incarnation() -> str:
    """A fresh random incarnation for a collection about to be created."""
    return secrets.token_hex(INCARNATION_HEX_DIGITS // 2)


def physical_name(milvus_name: str, incarnation: str | None) -> str:
    """The Milvus collection of one incarnation of the collection whose alias is ``milvus_name``.

    ``incarnation`` None: a collection made before incarnations, whose Milvus name is the alias's.
    """
    return milvus_name if incarnation is None else f"{milvus_name}{INCARNATION_SEPARATOR}{incarnation}"


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
