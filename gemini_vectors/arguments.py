"""Checks on the shape of public arguments, shared by the Embedder and the Collection.

Python lets a string stand where a list of strings is expected, and an Item or a dict where a list of
items is: each would be taken apart silently (``delete("abc")`` deleting the ids "a", "b" and "c",
``embed(Item([...]))`` making one vector per part). These checks make that an error naming the argument.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gemini_vectors.errors import ArgumentError, GeminiVectorsError, MetadataError

_SCALARS = (str, bytes, bytearray, memoryview)


def expect_many(value: Any, name: str, *, of: str) -> None:
    """Raise unless ``value`` can be a collection of ``of`` (not a lone string, bytes or mapping).

    Args:
        value: The argument.
        name: Its name, for the message.
        of: What it holds, e.g. ``"ids"``.
    """
    if isinstance(value, _SCALARS):
        raise ArgumentError(f"{name} takes a list of {of}, got one {type(value).__name__}; wrap it in a list")
    if isinstance(value, Mapping):
        raise ArgumentError(f"{name} takes a list of {of}, got a mapping")
    if not hasattr(value, "__iter__"):
        raise ArgumentError(f"{name} takes a list of {of}, got {type(value).__name__}")


def expect_items(value: Any, name: str = "items") -> None:
    """Like :func:`expect_many`, and also refuse one content part or Item (each is ONE input)."""
    from gemini_vectors.content import Item, Part

    if isinstance(value, Item | Part):
        raise ArgumentError(
            f"{name} takes a list of items, got one {type(value).__name__}; wrap it in a list "
            "(an Item of several parts is one input and gives one vector)"
        )
    expect_many(value, name, of="items")


def check_record_id(value: Any, where: str) -> str:
    """A record id: a non-empty string of Unicode scalar values without NUL (no backend stores those)."""
    if not isinstance(value, str) or not value:
        raise MetadataError(f"{where}: ids must be non-empty strings, got {value!r}")
    if "\x00" in value:
        raise MetadataError(f"{where}: id {value!r} contains a NUL character, which no backend stores")
    check_unicode(value, where, what="id")
    return value


def check_unicode(value: str, where: str, *, what: str) -> None:
    """Refuse a string with a lone surrogate (``"\\ud800"``, from a bad decode): it is no Unicode text,
    so it has no UTF-8 form; PostgreSQL, JSON and the wire protocols would fail on it mid-write.

    Raises:
        MetadataError: naming ``where``, ``what`` and the position of the surrogate.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MetadataError(
            f"{where}: {what} {value!r} holds a lone surrogate {value[exc.start]!r} at position {exc.start}, "
            "which is not Unicode text and no backend stores; decode the source with errors='replace', "
            "or fix the string"
        ) from None


def check_count(
    value: Any, name: str, *, minimum: int = 1, error: type[GeminiVectorsError] = ArgumentError
) -> int:
    """An int (not a bool) of at least ``minimum``; ``error`` is raised otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise error(f"{name} must be at least {minimum}, got {value}")
    return value
