"""Deterministic stand-in embeddings with the geometry tests rely on.

Nothing here imitates the real model's numbers. What it keeps is the shape of the behaviour:

* every content gets one full 3072-dim unit vector; an ``outputDimensionality`` of ``d`` returns its
  first ``d`` values (Matryoshka prefixes);
* a text is the sum of one seeded Gaussian direction per lower-cased word (plus a smaller one per
  word pair, so word order matters a little), so texts that share words are closer than texts that
  don't;
* gemini-embedding-2 prompt formats (``task: X | query: TEXT``, ``title: T | text: TEXT``) are parsed:
  the words of TEXT (and of a real title) carry the meaning, the task name only nudges the vector, so
  two tasks give two different but close vectors and a query still finds its document;
* media parts get a direction seeded by a hash of their bytes; a PDF also gets the words of its text;
* several parts in one content add up to one vector.

gemini-embedding-001 and gemini-embedding-2 seed their directions differently, so their spaces are as
incompatible as the real ones. gemini-embedding-2-preview shares the space of gemini-embedding-2.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FULL_DIMENSIONS = 3072

# Tokens are runs of word characters or single other non-space characters: "don't stop." is 5 tokens
# ("don", "'", "t", "stop", "."). Close enough to a sub-word tokenizer's count for limit tests, and
# documented so callers can build inputs just under or over a limit.
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
_WORD_RE = re.compile(r"\w+")

_QUERY_FORMAT = re.compile(r"\A\s*task:\s*(?P<task>[^|]*?)\s*\|\s*query:\s?(?P<text>.*)\Z", re.S)
_DOCUMENT_FORMAT = re.compile(r"\A\s*title:\s*(?P<title>[^|]*?)\s*\|\s*text:\s?(?P<text>.*)\Z", re.S)

# How far a task moves a vector: cos(same text, two tasks) is about 1 / (1 + TASK_NUDGE**2) ~ 0.98.
TASK_NUDGE = 0.15
_PAIR_WEIGHT = 0.5
_PDF_BYTES_WEIGHT = 0.5

Vector = npt.NDArray[np.float32]


def count_tokens(text: str) -> int:
    """Count tokens the way the emulator enforces token limits (word runs and punctuation marks)."""
    return len(_TOKEN_RE.findall(text))


def model_space(model: str) -> str:
    """The name of the vector space a model's embeddings live in."""
    return "gemini-embedding-001" if model.startswith("gemini-embedding-001") else "gemini-embedding-2"


@functools.lru_cache(maxsize=2048)  # 12 KB each: bounded at ~25 MB
def _direction(key: str) -> Vector:
    seed = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")
    vec = np.random.default_rng(seed).standard_normal(FULL_DIMENSIONS, dtype=np.float32)
    vec /= np.linalg.norm(vec)
    vec.setflags(write=False)
    return vec


def _unit(vec: Vector) -> Vector:
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec


@dataclass
class TextMeaning:
    """The words that carry a text's meaning and the task that nudges it."""

    words: list[str]
    task: str | None = None


def parse_prompt(text: str, *, prompt_formats: bool) -> TextMeaning:
    """Split a gemini-embedding-2 prompt into its meaningful words and its task label."""
    if prompt_formats:
        query = _QUERY_FORMAT.match(text)
        if query:
            return TextMeaning(_words(query["text"]), task="query:" + query["task"].strip().lower())
        document = _DOCUMENT_FORMAT.match(text)
        if document:
            title = document["title"].strip()
            title_words = [] if title.lower() in ("", "none") else _words(title)
            return TextMeaning(title_words + _words(document["text"]), task="document")
    return TextMeaning(_words(text))


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORD_RE.findall(text)]


def _pair_direction(space: str, first: str, second: str) -> Vector:
    """A direction for an ordered word pair, made from the two (cached) word directions.

    The elementwise product of one word's direction and the other's, rotated by an amount that depends
    on the order, is nearly orthogonal to both and to every other pair's; it costs a multiply where a
    seeded generator per pair (pairs rarely repeat, so a cache does not help) cost ten times more and
    made the emulator, not the client, the bottleneck of throughput measurements.
    """
    a = _direction(f"{space}|w|{first}")
    b = _direction(f"{space}|w|{second}")
    shift = 1 + (hash_int(f"{first}\x00{second}") % (FULL_DIMENSIONS - 1))
    return _unit(a * np.roll(b, shift))


def hash_int(text: str) -> int:
    """A stable (process-independent) integer hash of ``text``."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def words_vector(space: str, words: Sequence[str]) -> Vector:
    """Bag-of-words direction: one seeded direction per word, a weaker one per adjacent pair."""
    total = np.zeros(FULL_DIMENSIONS, dtype=np.float32)
    for word in words:
        total += _direction(f"{space}|w|{word}")
    for first, second in itertools.pairwise(words):
        total += _PAIR_WEIGHT * _pair_direction(space, first, second)
    return total


def bytes_vector(space: str, data: bytes) -> Vector:
    """A direction seeded by the bytes' hash: equal bytes, equal vector."""
    return _direction(f"{space}|b|{hashlib.sha256(data).hexdigest()}")


@dataclass
class ContentPieces:
    """What one content contributes to its vector, collected part by part."""

    words: list[str]
    media: list[Vector]
    task: str | None = None
    raw_texts: list[str] | None = None


def content_vector(space: str, pieces: ContentPieces, extra_task: str | None = None) -> Vector:
    """The full 3072-dim unit vector for one content."""
    total = np.zeros(FULL_DIMENSIONS, dtype=np.float32)
    if pieces.words:
        total += _unit(words_vector(space, pieces.words))
    elif pieces.raw_texts and not pieces.media:
        # Punctuation-only text still deserves its own, stable direction.
        total += _direction(f"{space}|raw|{'|'.join(pieces.raw_texts)}")
    for media in pieces.media:
        total += _unit(media)
    total = _unit(total)
    for task in (pieces.task, extra_task):
        if task:
            total = _unit(total + TASK_NUDGE * _direction(f"{space}|task|{task}"))
    return total


def pdf_vector(space: str, data: bytes, text: str) -> Vector:
    """A PDF reads as its text, with a smaller share of its bytes so two PDFs never coincide."""
    words = _words(text)
    base = _unit(words_vector(space, words)) if words else np.zeros(FULL_DIMENSIONS, dtype=np.float32)
    return _unit(base + _PDF_BYTES_WEIGHT * bytes_vector(space, data))


def truncate(full: Vector, dimensions: int, *, normalize: bool) -> Vector:
    """The Matryoshka prefix of ``full``; re-normalized only for models that do so."""
    prefix = full[:dimensions].copy()
    return _unit(prefix) if normalize else prefix


def to_json_values(vec: Vector) -> list[float]:
    """Values for the JSON reply, rounded like the real API (about 8 significant digits)."""
    rounded: list[float] = np.round(vec.astype(np.float64), 10).tolist()
    return rounded
