"""What a chunker produces: a :class:`Chunk` (one content part) and its :class:`Position` in the source."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from gemini_vectors.content import MediaPart, Part
from gemini_vectors.filters import MetadataValue

__all__ = ["Chunk", "Position", "Unit"]

Unit = Literal["chars", "pages", "seconds", "whole"]

_M = TypeVar("_M", bound=MediaPart)


@dataclass(frozen=True)
class Position:
    """Where a chunk lies in its source file.

    Attributes:
        unit: ``chars`` (character offsets into the file's text, end exclusive), ``pages`` (1-based,
            both ends inclusive), ``seconds`` (start and end times) or ``whole`` (the whole file).
        start: First character, first page or start time.
        end: Character after the last, last page, or end time.
    """

    unit: Unit
    start: float = 0
    end: float = 0

    @classmethod
    def whole(cls) -> Position:
        """The position of a chunk that is the whole file."""
        return cls("whole")

    def metadata(self) -> dict[str, MetadataValue]:
        """The position as metadata fields (``char_start``/``char_end``, ``page_start``/``page_end``, or
        ``start_seconds``/``end_seconds``); empty for a whole file."""
        if self.unit == "chars":
            return {"char_start": int(self.start), "char_end": int(self.end)}
        if self.unit == "pages":
            return {"page_start": int(self.start), "page_end": int(self.end)}
        if self.unit == "seconds":
            return {"start_seconds": round(float(self.start), 3), "end_seconds": round(float(self.end), 3)}
        return {}

    @classmethod
    def from_metadata(cls, metadata: dict[str, MetadataValue] | None) -> Position:
        """The position stored by :meth:`metadata` (``whole`` when none is stored)."""
        meta = metadata or {}
        for unit, (a, b) in (
            ("chars", ("char_start", "char_end")),
            ("pages", ("page_start", "page_end")),
            ("seconds", ("start_seconds", "end_seconds")),
        ):
            start, end = meta.get(a), meta.get(b)
            if isinstance(start, int | float) and isinstance(end, int | float):
                return cls(unit, start, end)  # type: ignore[arg-type]
        return cls.whole()

    def describe(self) -> str:
        """A short human form: ``pages 7-12``, ``70.0-145.0 s``, ``chars 0-24000`` or ``whole``."""
        if self.unit == "pages":
            return (
                f"page {int(self.start)}" if self.start == self.end else f"pages {self.start:g}-{self.end:g}"
            )
        if self.unit == "seconds":
            return f"{self.start:.1f}-{self.end:.1f} s"
        if self.unit == "chars":
            return f"chars {int(self.start)}-{int(self.end)}"
        return "whole"


@dataclass(frozen=True)
class Chunk:
    """One piece of a file that becomes one record.

    Attributes:
        part: The content part to embed (text, or media bytes/path).
        position: Where the piece lies in the file.
        index: The chunk's number in its file, from 0.
        count: How many chunks the file has.
        title: A document title for the task prefix (e.g. an HTML ``<title>``), or None.
    """

    part: Part
    position: Position
    index: int = 0
    count: int = 1
    title: str | None = None


def numbered(parts: list[tuple[Part, Position]], title: str | None = None) -> list[Chunk]:
    """Chunks for ``parts`` in order, with their index and count filled in."""
    return [Chunk(p, pos, i, len(parts), title) for i, (p, pos) in enumerate(parts)]


def sink(scratch: Path | None, name: str) -> Path | io.BytesIO:
    """Where a chunker writes a piece: a file in ``scratch``, or memory when there is no scratch dir."""
    return scratch / name if scratch is not None else io.BytesIO()


def part_from_sink(cls: type[_M], target: Path | io.BytesIO, mime_type: str) -> _M:
    """The part for a piece written to ``target`` (read lazily from a file; bytes held from memory)."""
    if isinstance(target, Path):
        return cls(path=target, mime_type=mime_type)
    return cls(data=target.getvalue(), mime_type=mime_type)
