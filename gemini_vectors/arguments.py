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
    """A record id: a non-empty string without NUL characters (no backend stores those)."""
    if not isinstance(value, str) or not value:
        raise MetadataError(f"{where}: ids must be non-empty strings, got {value!r}")
    if "\x00" in value:
        raise MetadataError(f"{where}: id {value!r} contains a NUL character, which no backend stores")
    return value


def check_count(
    value: Any, name: str, *, minimum: int = 1, error: type[GeminiVectorsError] = ArgumentError
) -> int:
    """An int (not a bool) of at least ``minimum``; ``error`` is raised otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise error(f"{name} must be at least {minimum}, got {value}")
    return value
