"""PDF chunking: documents longer than the model's page limit become PDFs of consecutive page ranges.

pypdf copies the pages with the resources they use (fonts, images) into a new document per range, so the
model reads the same text on each page as in the whole file. Ranges do not overlap: a page is a natural
unit, and repeating pages would repeat their cost.
"""

from __future__ import annotations

import os
from pathlib import Path

from gemini_vectors.chunking.chunk import Chunk, Position, numbered, part_from_sink, sink
from gemini_vectors.content import LIMIT_READABLE, PDF, Part
from gemini_vectors.errors import ContentError

__all__ = ["chunk_pdf", "page_ranges"]


def page_ranges(pages: int, max_pages: int) -> list[tuple[int, int]]:
    """1-based inclusive page ranges of at most ``max_pages`` pages covering ``pages`` pages."""
    if max_pages < 1:
        raise ValueError(f"max_pages must be at least 1, got {max_pages}")
    return [(first, min(first + max_pages - 1, pages)) for first in range(1, pages + 1, max_pages)]


def chunk_pdf(path: str | os.PathLike[str], max_pages: int, *, scratch: Path | None = None) -> list[Chunk]:
    """The PDF as chunks of at most ``max_pages`` pages; a short PDF is one chunk, the file itself.

    Args:
        path: The PDF.
        max_pages: Pages per chunk (the model's ``max_pdf_pages``; 0 means no limit).
        scratch: Directory for the page-range PDFs; they are held in memory when None.

    Raises:
        ContentError: the PDF cannot be read (damaged, or encrypted with a password).
    """
    path = Path(path)
    from pypdf import PasswordType, PdfReader, PdfWriter

    try:
        reader = PdfReader(path)
        if reader.is_encrypted and reader.decrypt("") == PasswordType.NOT_DECRYPTED:
            raise ContentError(f"{str(path)!r} is encrypted with a password", limit=LIMIT_READABLE)
        pages = len(reader.pages)
        if pages == 0:
            raise ContentError(f"{str(path)!r} has no pages", limit="non_empty")
        if not max_pages or pages <= max_pages:
            return numbered([(PDF(path=path, mime_type="application/pdf"), Position("pages", 1, pages))])
        parts: list[tuple[Part, Position]] = []
        for first, last in page_ranges(pages, max_pages):
            writer = PdfWriter()
            for number in range(first - 1, last):
                writer.add_page(reader.pages[number])
            target = sink(scratch, f"{path.stem}.p{first}-{last}.pdf")
            writer.write(target)
            parts.append((part_from_sink(PDF, target, "application/pdf"), Position("pages", first, last)))
        return numbered(parts)
    except ContentError:
        raise
    except Exception as exc:
        # pypdf fails on damaged files in many ways; all mean "cannot be read".
        raise ContentError(
            f"{str(path)!r} is not a readable PDF: {exc or type(exc).__name__} (limit {LIMIT_READABLE})",
            limit=LIMIT_READABLE,
        ) from exc
