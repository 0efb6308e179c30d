"""Text chunking: split on paragraph, then sentence boundaries, with overlap; HTML reduced to text.

Sizes are measured in *cost units* that bound :func:`gemini_vectors.content.estimate_tokens` (the larger
of ``ceil(utf-8 bytes / 3)`` and the count of words and punctuation marks) from above: a piece costs
``max(bytes, 3 * pieces)``, and costs add up to at least the cost of the joined text, so a chunk that
fits here is never refused by the Embedder's check.
The text is cut into *atoms*: sentences, or runs of words (then characters) for a sentence longer than
a chunk. Atoms are packed greedily; a chunk prefers to end at a paragraph break, then at a sentence
end, as long as that keeps it at least half full. The next chunk starts with the last atoms of the
previous one (the overlap), so a sentence cut by a boundary is seen whole by one of the two chunks.
Offsets are character (code point) offsets into the text given, so ``text[start:end]`` is the chunk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

from gemini_vectors.content import estimate_tokens, token_pieces

__all__ = ["HtmlText", "TextSpan", "html_to_text", "split_text"]

# A paragraph ends at a blank line (possibly holding spaces).
_PARAGRAPH_BREAK = re.compile(r"\n[ \t\r\f\v]*\n\s*")
# A sentence ends at terminal punctuation (with closing quotes or brackets) followed by whitespace;
# CJK full stops end a sentence without a following space.
_SENTENCE_END = re.compile(
    r"[.!?\u2026]+[\"'\u201d\u2019)\]]*\s+|[\u3002\uff01\uff1f]+[\"'\u201d\u2019\u300d\u300f)\]]*\s*"
)
_WORD = re.compile(r"\s*\S+\s*")

_PARAGRAPH, _SENTENCE, _INNER = 2, 1, 0


@dataclass(frozen=True)
class TextSpan:
    """One chunk of a text: ``text[start:end]``, stripped of surrounding whitespace.

    Attributes:
        start: Character offset of the first character.
        end: Character offset one past the last character.
        text: The chunk's text.
    """

    start: int
    end: int
    text: str

    @property
    def tokens(self) -> int:
        """The chunk's estimated tokens."""
        return estimate_tokens(self.text)


@dataclass(frozen=True)
class _Atom:
    start: int
    end: int
    nbytes: int  # cost units (see the module docstring), not plain bytes
    boundary: int  # what ends here: _PARAGRAPH, _SENTENCE or _INNER


def split_text(text: str, max_tokens: int, overlap_tokens: int = 0) -> list[TextSpan]:
    """Split ``text`` into chunks of at most ``max_tokens`` estimated tokens each.

    A text that fits is one chunk. Nothing is dropped: every non-space character is in some chunk.

    Args:
        text: The text.
        max_tokens: Budget of each chunk, in :func:`~gemini_vectors.content.estimate_tokens` tokens.
        overlap_tokens: How many tokens of the end of a chunk to repeat at the start of the next one
            (whole sentences; less when a sentence is longer). 0 for no overlap.

    Raises:
        ValueError: ``max_tokens`` is below 1, or the overlap is not smaller than the budget.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError(f"overlap_tokens must be in 0..{max_tokens - 1}, got {overlap_tokens}")
    if not text.strip():
        return []
    if estimate_tokens(text) <= max_tokens:
        return [_span(text, 0, len(text))]
    # a run whose cost is at most 3 * max_tokens has at most max_tokens estimated tokens
    budget, overlap = 3 * max_tokens, 3 * overlap_tokens
    atoms = _atoms(text, budget)
    spans: list[TextSpan] = []
    i, n = 0, len(atoms)
    while i < n:
        j, size = _extend(atoms, i, budget)
        if j == n:
            spans.append(_span(text, atoms[i].start, atoms[-1].end))
            break
        k = _break_point(atoms, i, j, size)
        spans.append(_span(text, atoms[i].start, atoms[k - 1].end))
        start = k
        kept = 0
        while start - 1 > i and kept + atoms[start - 1].nbytes <= overlap:
            start -= 1
            kept += atoms[start].nbytes
        # The next chunk must reach past this one; otherwise its overlap is dropped.
        if start < k and _extend(atoms, start, budget)[0] <= k:
            start = k
        i = start
    return [s for s in spans if s.text]


def _span(text: str, start: int, end: int) -> TextSpan:
    piece = text[start:end]
    lead = len(piece) - len(piece.lstrip())
    stripped = piece.strip()
    return TextSpan(start + lead, start + lead + len(stripped), stripped)


def _extend(atoms: list[_Atom], i: int, budget: int) -> tuple[int, int]:
    """The end index of the longest run of atoms from ``i`` that fits, and its size in bytes."""
    j, size = i, 0
    while j < len(atoms) and size + atoms[j].nbytes <= budget:
        size += atoms[j].nbytes
        j += 1
    if j == i:  # cannot happen (atoms are cut to the budget); guarantees progress all the same
        return i + 1, atoms[i].nbytes
    return j, size


def _break_point(atoms: list[_Atom], i: int, j: int, size: int) -> int:
    """Where to end ``atoms[i:j]``: the last paragraph end, else sentence end, that keeps it half full."""
    half = size / 2
    for level in (_PARAGRAPH, _SENTENCE):
        kept = size
        for k in range(j, i, -1):
            if kept < half:
                break
            if atoms[k - 1].boundary >= level:
                return k
            kept -= atoms[k - 1].nbytes
    return j


def _atoms(text: str, budget: int) -> list[_Atom]:
    atoms: list[_Atom] = []
    for p_start, p_end in _pieces(_PARAGRAPH_BREAK, text, 0, len(text)):
        sentences = list(_pieces(_SENTENCE_END, text, p_start, p_end))
        for s_index, (s_start, s_end) in enumerate(sentences):
            boundary = _PARAGRAPH if s_index == len(sentences) - 1 else _SENTENCE
            nbytes = _cost(text[s_start:s_end])
            if nbytes <= budget:
                atoms.append(_Atom(s_start, s_end, nbytes, boundary))
                continue
            inner = _split_long(text, s_start, s_end, budget)
            for a_index, (a_start, a_end, a_bytes) in enumerate(inner):
                last = a_index == len(inner) - 1
                atoms.append(_Atom(a_start, a_end, a_bytes, boundary if last else _INNER))
    return atoms


def _cost(piece: str) -> int:
    """Cost units of a piece of text: three per word or punctuation mark, or its UTF-8 bytes if more."""
    return max(len(piece.encode("utf-8")), 3 * token_pieces(piece))


def _pieces(pattern: re.Pattern[str], text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``text[start:end]`` cut after each match of ``pattern`` (the separator stays with the piece before)."""
    out, pos = [], start
    for m in pattern.finditer(text, start, end):
        if m.end() > pos and m.end() < end:
            out.append((pos, m.end()))
            pos = m.end()
    out.append((pos, end))
    return out


def _split_long(text: str, start: int, end: int, budget: int) -> list[tuple[int, int, int]]:
    """Runs of whole words of at most ``budget`` bytes; a word longer than that is cut by characters."""
    runs: list[tuple[int, int, int]] = []
    run_start, run_bytes = start, 0
    for m in _WORD.finditer(text, start, end):
        word_bytes = _cost(m.group())
        if run_bytes and run_bytes + word_bytes > budget:
            runs.append((run_start, m.start(), run_bytes))
            run_start, run_bytes = m.start(), 0
        run_bytes += word_bytes
    runs.append((run_start, end, _cost(text[run_start:end])))
    out: list[tuple[int, int, int]] = []
    for r_start, r_end, r_bytes in runs:
        if r_bytes <= budget:
            out.append((r_start, r_end, r_bytes))
            continue
        # One word longer than a chunk (a URL, base64, unspaced script): cut it by characters.
        pos, size = r_start, 0
        for c in range(r_start, r_end):
            c_bytes = _cost(text[c])
            if size + c_bytes > budget:
                out.append((pos, c, size))
                pos, size = c, 0
            size += c_bytes
        out.append((pos, r_end, size))
    return [r for r in out if r[1] > r[0]]


# --------------------------------------------------------------------------------------------- HTML

_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head", "iframe", "object"})
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "caption", "dd", "details", "dialog", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "thead", "tfoot",
        "ul",
    }
)  # fmt: skip
_LINE = frozenset({"br", "li", "tr", "option"})


@dataclass(frozen=True)
class HtmlText:
    """The readable text of an HTML document.

    Attributes:
        text: Paragraphs separated by blank lines; whitespace collapsed, except line breaks in ``<pre>``.
        title: The ``<title>``, or None.
    """

    text: str
    title: str | None


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title: list[str] = []
        self._skip = 0
        self._pre = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP:
            self._skip += 1
        elif tag == "pre":
            self._pre += 1
        self._break(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "pre":
            self._pre = max(0, self._pre - 1)
        if tag in _BLOCK:
            self._break(tag)

    def _break(self, tag: str) -> None:
        if self._skip:
            return
        if tag in _BLOCK:
            self.out.append("\n\n")
        elif tag in _LINE:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skip:
            self.out.append(data if self._pre else re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> HtmlText:
    """The readable text of ``html``, with the standard library's :class:`html.parser.HTMLParser`.

    Scripts, styles and the ``<head>`` are dropped; block elements become paragraph breaks, ``<br>`` and
    list items line breaks; character references are decoded.
    """
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    raw = "".join(parser.out)
    lines = [line.strip(" \t") for line in raw.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = re.sub(r"\s+", " ", "".join(parser.title)).strip() or None
    return HtmlText(text, title)
