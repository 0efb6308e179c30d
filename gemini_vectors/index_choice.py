"""Which vector index a collection gets: ``"hnsw"``, ``"binary"``, ``"none"`` or ``"mrl:<d>"``.

One parser for the ``index=`` option every backend with a choice of index takes (a URL option or a
keyword of ``gv.connect()``), so ``"mrl:512"`` means the same thing, and is refused the same way, on
pgvector, Weaviate and Qdrant. ``mrl:<d>`` is Matryoshka two-stage search: the index holds the first
``d`` dimensions of each vector (a Matryoshka model's prefix is itself a good vector), its candidates are
re-ranked on the full vector.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from gemini_vectors.errors import ConfigurationError

IndexKind = Literal["hnsw", "binary", "none", "mrl"]
INDEX_KINDS: tuple[IndexKind, ...] = ("hnsw", "binary", "none", "mrl")

#: The shortest prefix worth an index: Gemini Embedding 2's smallest Matryoshka size.
MIN_PREFIX_DIMENSIONS = 128


@dataclass(frozen=True)
class IndexChoice:
    """A parsed ``index=`` option.

    Attributes:
        kind: The index kind.
        prefix_dimensions: With ``kind="mrl"``, how many leading dimensions the index holds; else None.
    """

    kind: IndexKind
    prefix_dimensions: int | None = None

    def __str__(self) -> str:
        return f"mrl:{self.prefix_dimensions}" if self.kind == "mrl" else self.kind

    def check_dimensions(self, dimensions: int) -> None:
        """Refuse a prefix that is not shorter than the collection's vectors.

        Raises:
            ConfigurationError: ``mrl:<d>`` with ``d >= dimensions``; the message says what to choose.
        """
        prefix = self.prefix_dimensions
        if self.kind == "mrl" and prefix is not None and prefix >= dimensions:
            raise ConfigurationError(
                f"index='mrl:{prefix}' indexes the first {prefix} dimensions, but this collection's "
                f"vectors have {dimensions}; choose a prefix shorter than {dimensions} (e.g. "
                f"mrl:{max(MIN_PREFIX_DIMENSIONS, dimensions // 6)}) or index='hnsw'"
            )


def parse_index(value: object, *, kinds: Collection[str] = INDEX_KINDS) -> IndexChoice:
    """Parse an ``index=`` option: an :class:`IndexChoice` or its text form (``"mrl:512"``).

    Args:
        value: The option as given.
        kinds: The kinds the backend offers; another kind is refused, naming these.

    Raises:
        ConfigurationError: not one of ``kinds``, or ``mrl:`` without a whole number of at least
            :data:`MIN_PREFIX_DIMENSIONS` dimensions.
    """
    if isinstance(value, IndexChoice):
        choice = value
    elif isinstance(value, str):
        kind, sep, prefix_text = value.strip().lower().partition(":")
        if kind == "mrl":
            digits = prefix_text.strip()
            if not sep or not (digits.isascii() and digits.isdigit()):  # not "²", which int() refuses
                raise ConfigurationError(
                    f"index={value!r}: Matryoshka search takes its prefix length, e.g. index='mrl:512'"
                )
            choice = IndexChoice("mrl", int(digits))
        elif sep or kind not in INDEX_KINDS:
            raise ConfigurationError(f"unknown index kind {value!r}; choose one of {_offered(kinds)}")
        else:
            choice = IndexChoice(kind)
    else:
        raise ConfigurationError(f"index= takes a string such as 'hnsw' or 'mrl:512', got {value!r}")
    if choice.kind not in kinds:
        raise ConfigurationError(f"index={value!r} is not offered here; choose one of {_offered(kinds)}")
    if choice.kind == "mrl" and (choice.prefix_dimensions or 0) < MIN_PREFIX_DIMENSIONS:
        raise ConfigurationError(
            f"index={value!r}: a Matryoshka prefix needs at least {MIN_PREFIX_DIMENSIONS} dimensions "
            "(Gemini Embedding 2's smallest size); 256 or 512 are the usual choices"
        )
    return choice


def _offered(kinds: Collection[str]) -> str:
    return ", ".join("mrl:<d>" if k == "mrl" else k for k in kinds)
