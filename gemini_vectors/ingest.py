"""Index files of every modality into a collection: walk, skip what is unchanged, chunk, embed, store.

Every file becomes one or more records, one per :class:`~gemini_vectors.chunking.Chunk`, with this
metadata (the names are stable; filter on them with the portable filter language):

==================  ===========================================================================
``source``          the file's absolute path (escaped when it is not valid text, see below)
``name``            its file name (escaped likewise)
``modality``        ``text``, ``image``, ``audio``, ``video`` or ``pdf`` (HTML is ``text``)
``mime_type``       the file's type (``text/html``, ``image/gif``...; a chunk may be converted)
``chunk_index``     0-based number of the chunk in the file, and ``chunk_count`` chunks in all
position            ``char_start``/``char_end``, ``page_start``/``page_end`` (1-based, inclusive),
                    or ``start_seconds``/``end_seconds``; none for an image
``file_sha256``     hash of the file's bytes, with ``file_size`` and ``file_mtime_ns`` (a string)
``chunker``         the chunker's version and the options that shape the file's chunks
                    (:func:`chunker_version`, e.g. ``1 text max_tokens=300 overlap=auto limit=8192``)
``source_escaped``  ``true`` when ``source`` and ``name`` are escaped; absent otherwise
==================  ===========================================================================

File names that are not valid text (bytes that are not UTF-8 on POSIX, lone surrogates on Windows)
are indexed too. Python gives such a name as a ``str`` holding surrogate escapes, which no store and
no JSON can hold, so ``source`` and ``name`` get a reversible escaped form (:func:`escape_path`):
each backslash is doubled, each undecodable byte becomes ``\\xHH`` (another lone surrogate
``\\uHHHH``), and ``source_escaped`` is set. :func:`record_path` gives the file back from a record's
metadata. A record id hashes the name's exact code points, so ids of two names never collide.

Re-running is cheap and safe:

* A record's id is derived from the file's path and the chunk's number, so re-indexing a file
  replaces its records in place.
* Before a file is read, its first chunk's record is looked up: same size, modification time and
  chunker version (which includes the chunking options: ``max_text_tokens``, the overlaps, the
  margin and the model's limits), and all ``chunk_count`` records present, means *unchanged*, and the
  file is not read at all. When only the time changed, the file is hashed; the same hash is still
  unchanged (the stored time is refreshed, nothing is embedded).
* A changed file is chunked again. Chunks whose content is already stored under their id are not
  embedded again (the Collection compares content hashes); the file's records left from its previous
  version (its chunk count may have shrunk) are deleted. A changed chunking option counts as a
  change, so the stored vectors are always those of the chunks the current options produce; records
  written before the options were part of the version (``chunker`` ``1``) are re-chunked once.
* A file that fails (unreadable, unsupported, or a chunk the API rejects) is reported with its path
  and reason, and the others go on. Its chunks that were stored stay, and the next run retries it.
* A folder that cannot be listed (no read or execute permission, say) is reported in
  :attr:`IndexReport.unreadable` with the reason, and the rest is indexed.
* With ``prune=True`` (``--prune``), the records of files that were indexed under the given paths and
  no longer exist are deleted, so a search cannot return a deleted file. A file counts as gone only
  when the system says it does not exist: records under an unreadable folder, and of files whose
  existence cannot be checked, are kept (and reported as unreadable), never pruned.

Chunks of several files are embedded together (up to ``batch_chunks`` chunks per Collection call), so
a folder of small files costs few API calls.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat as stat_module
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqdm.auto import tqdm

from gemini_vectors.chunking import (
    CHUNKER_VERSION,
    DEFAULT_MARGIN_SECONDS,
    DEFAULT_OVERLAP_SECONDS,
    Chunk,
    FileKind,
    UnsupportedFileError,
    chunk_file,
    classify,
)
from gemini_vectors.chunking.media import segment_length
from gemini_vectors.collection import Collection
from gemini_vectors.content import Text, check_item, estimate_tokens
from gemini_vectors.errors import ContentError, EmbeddingError, PartialEmbeddingError, RequestRejectedError
from gemini_vectors.filters import MetadataValue
from gemini_vectors.spec import ModelInfo, TaskType, apply_task_prefix
from gemini_vectors.store import Record

__all__ = [
    "FileResult",
    "IndexReport",
    "Indexer",
    "Status",
    "Unreadable",
    "chunk_id",
    "chunker_version",
    "escape_path",
    "index_paths",
    "record_path",
    "unescape_path",
    "walk",
]

Status = Literal["indexed", "unchanged", "skipped", "failed"]

_ID_VERSION = "gemini-vectors/ingest/1"
#: Files whose stored state is looked up in one ``get``.
LOOKUP_WINDOW = 256
#: Ids per ``get``: Pinecone fetches at most 1,000 at once.
MAX_IDS_PER_GET = 1000
_BLOCK = 1 << 20


def chunk_id(source: str, index: int) -> str:
    """The record id of chunk ``index`` of the file at ``source``: 32 hex digits.

    ``source`` is the file's absolute path as the system gives it (``str(path.resolve())``, surrogate
    escapes and all; :func:`record_path` gives it back from a record). Valid text hashes as UTF-8, as
    it always did; a lone surrogate is hashed by its code point ("surrogatepass"), so a name that is
    not valid text neither crashes nor shares an id with another name.
    """
    key = f"{_ID_VERSION}\0{source}\0{index}"
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def escape_path(path: str | os.PathLike[str]) -> str:
    """``path`` as valid text: itself when it is valid text, else its reversible escaped form.

    Python gives a file name whose bytes are not UTF-8 as a ``str`` with surrogate escapes (U+DC80 to
    U+DCFF for the bytes 0x80 to 0xFF), which cannot be encoded, stored as JSON or printed to a strict
    stream. Only such a path is escaped: each backslash is doubled, each escaped byte becomes
    ``\\xHH`` and any other lone surrogate ``\\uHHHH``. :func:`unescape_path` reverses it.
    """
    text = os.fspath(path)
    if not _has_surrogates(text):
        return text
    out = []
    for char in text:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def unescape_path(text: str) -> str:
    """The path :func:`escape_path` escaped (only for a path it did escape: see ``source_escaped``)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\":
            out.append(char)
            i += 1
            continue
        kind = text[i + 1 : i + 2]
        if kind == "\\":
            out.append("\\")
            i += 2
        elif kind == "x" and _is_hex(text[i + 2 : i + 4], 2):
            out.append(chr(0xDC00 + int(text[i + 2 : i + 4], 16)))
            i += 4
        elif kind == "u" and _is_hex(text[i + 2 : i + 6], 4):
            out.append(chr(int(text[i + 2 : i + 6], 16)))
            i += 6
        else:
            raise ValueError(f"{text!r} is not a path escaped by escape_path (at offset {i})")
    return "".join(out)


def record_path(metadata: Mapping[str, Any]) -> Path | None:
    """The file a record of this module was made from (its ``source``, unescaped), or None when the
    metadata names no file this module could have written (so pruning leaves such a record alone)."""
    source = metadata.get("source")
    if not isinstance(source, str):
        return None
    if metadata.get("source_escaped") is not True:
        return Path(source)
    try:
        return Path(unescape_path(source))
    except ValueError:
        return None


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _is_hex(digits: str, width: int) -> bool:
    return len(digits) == width and all(c in "0123456789abcdefABCDEF" for c in digits)


def chunker_version(
    kind: FileKind,
    model: ModelInfo,
    *,
    max_text_tokens: int | None = None,
    text_overlap_tokens: int | None = None,
    overlap_seconds: float = DEFAULT_OVERLAP_SECONDS,
    margin_seconds: float = DEFAULT_MARGIN_SECONDS,
    segment_seconds: float | None = None,
) -> str:
    """The ``chunker`` value stored with a file's records: the code's version and every input that
    shapes the chunks of a file of this kind (the options :func:`~gemini_vectors.chunking.chunk_file`
    is given and the model limits it cuts to).

    A file is unchanged only when this value is the stored one, so a changed option re-chunks exactly
    the files it affects (``max_text_tokens`` the text and HTML files, the overlap and
    ``segment_seconds`` the audio and video...).
    Records of version ``1`` (written before the options were part of it) never match: they are
    re-chunked once.
    """
    if kind in ("text", "html"):
        tokens = "model" if max_text_tokens is None else str(max_text_tokens)
        overlap = "auto" if text_overlap_tokens is None else str(text_overlap_tokens)
        shape = (
            f"text max_tokens={tokens} overlap={overlap} limit={model.max_input_tokens} "
            f"task={model.task_mechanism}"
        )
    elif kind == "pdf":
        shape = f"pdf pages={model.max_pdf_pages}"
    elif kind == "image":
        shape = "image"
    else:
        limits = (
            f"limit={model.max_audio_seconds:g}"
            if kind == "audio"
            else f"limit={model.max_video_seconds:g}/{model.max_video_seconds_with_audio:g}"
        )
        shape = f"{kind} overlap={overlap_seconds:g} margin={margin_seconds:g} {limits}"
        if segment_seconds is not None:
            # named only when given, so media indexed before the option existed still match the default
            shape += f" segment={segment_seconds:g}"
    return f"{CHUNKER_VERSION} {shape}"


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class FileResult:
    """What happened to one file.

    Attributes:
        path: The file, as walked.
        status: ``indexed`` (embedded and stored), ``unchanged`` (nothing to do), ``skipped`` (a file
            type that is not indexed) or ``failed``.
        chunks: The file's chunks (stored, or already stored when unchanged).
        reason: Why it was skipped or failed.
        modality: The modality of its chunks, when known.
    """

    path: Path
    status: Status
    chunks: int = 0
    reason: str | None = None
    modality: str | None = None


@dataclass(frozen=True)
class Unreadable:
    """A path the run could not read: a folder it could not list, so its files were neither indexed
    nor pruned, or (when pruning) a folder whose indexed files' existence could not be checked.

    Attributes:
        path: The folder, as walked (or as stored, for one found while pruning).
        reason: What failed and what to do.
    """

    path: Path
    reason: str


@dataclass
class IndexReport:
    """The outcome of one indexing run, file by file, in walk order."""

    files: list[FileResult] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)
    """Sources (as stored: see :func:`escape_path`) of deleted files whose records this run removed."""
    unreadable: list[Unreadable] = field(default_factory=list)
    """Folders that could not be read: their files were not indexed and their records not pruned."""

    def _with(self, status: Status) -> list[FileResult]:
        return [f for f in self.files if f.status == status]

    @property
    def indexed(self) -> list[FileResult]:
        """Files embedded and stored in this run."""
        return self._with("indexed")

    @property
    def unchanged(self) -> list[FileResult]:
        """Files already stored as they are."""
        return self._with("unchanged")

    @property
    def skipped(self) -> list[FileResult]:
        """Files of a type that is not indexed."""
        return self._with("skipped")

    @property
    def failed(self) -> list[FileResult]:
        """Files that could not be indexed, with the reason."""
        return self._with("failed")

    @property
    def chunks_stored(self) -> int:
        """Chunks written in this run (those of the indexed files)."""
        return sum(f.chunks for f in self.indexed)

    @property
    def ok(self) -> bool:
        """True when no file failed and every folder could be read."""
        return not self.failed and not self.unreadable

    def summary(self) -> str:
        """One line: files indexed, unchanged, skipped, failed and pruned, chunks stored, and the
        folders that could not be read, by name."""
        line = (
            f"{len(self.indexed)} files indexed ({self.chunks_stored} chunks stored), "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped, {len(self.failed)} failed"
        )
        line += f", {len(self.pruned)} deleted files pruned" if self.pruned else ""
        if self.unreadable:
            names = [escape_path(u.path) for u in self.unreadable]
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            folders = "folder" if len(names) == 1 else "folders"
            line += f", {len(names)} unreadable {folders} not indexed or pruned: {shown}"
        return line


def walk(
    paths: Iterable[str | os.PathLike[str]],
    *,
    include_hidden: bool = False,
    unreadable: list[Unreadable] | None = None,
) -> Iterator[Path]:
    """Every file under ``paths`` (files as given; directories recursively, sorted by name).

    Hidden files and directories (a name starting with ``.``) inside a directory are left out unless
    ``include_hidden``; a path that does not exist or cannot be examined is yielded as it is (indexing
    reports it). A folder that cannot be listed is appended to ``unreadable`` and the walk goes on;
    without that list, its :class:`OSError` is raised (a folder is never skipped silently).
    """

    def cannot_list(exc: OSError) -> None:
        if unreadable is None:
            raise exc
        folder = Path(exc.filename) if exc.filename is not None else root
        why = exc.strerror or str(exc)
        unreadable.append(
            Unreadable(
                folder,
                f"cannot list this folder ({why}): its files were not indexed, and pruning keeps their "
                "records; give this user read and execute permission on it (chmod u+rx), or index as a "
                "user who can read it",
            )
        )

    seen: set[Path] = set()
    for given in paths:
        root = Path(given).expanduser()
        try:
            is_dir = stat_module.S_ISDIR(root.stat().st_mode)
        except OSError:  # missing, or a parent that cannot be searched: reported as a file that fails
            is_dir = False
        if not is_dir:
            if root.resolve() not in seen:
                seen.add(root.resolve())
                yield root
            continue
        for directory, dirs, files in os.walk(root, onerror=cannot_list):
            dirs[:] = sorted(d for d in dirs if include_hidden or not d.startswith("."))
            for name in sorted(files):
                if not include_hidden and name.startswith("."):
                    continue
                path = Path(directory) / name
                key = path.resolve()
                if key not in seen:
                    seen.add(key)
                    yield path


@dataclass
class _Pending:
    """A chunked file waiting for its batch to be embedded."""

    order: int
    path: Path
    raw: str  # the resolved path as the system gives it: the key of the ids
    source: str  # its text form, as stored in the metadata
    chunks: list[Chunk]
    metadata: list[dict[str, MetadataValue]]
    file_hash: str
    replaces: bool
    scratch: Path

    @property
    def nbytes(self) -> int:
        total = 0
        for c in self.chunks:
            part = c.part
            total += len(part.text.encode("utf-8")) if isinstance(part, Text) else (part.size or 0)
        return total


class Indexer:
    """Indexes files into a :class:`~gemini_vectors.Collection` (see the module docstring).

    Args:
        collection: A collection opened with an embedder.
        max_text_tokens: Token budget of a text chunk, if smaller than the model's limit.
        text_overlap_tokens: Tokens repeated between text chunks (default: a tenth of the budget, <= 200).
        overlap_seconds: Seconds shared by consecutive audio and video segments.
        margin_seconds: Seconds kept under the model's audio and video limits.
        segment_seconds: Cut audio and video into segments of at most this many seconds even when a file
            is within the model's limit (None: as long as the limit allows, 120 s of video and 180 s of
            audio on gemini-embedding-2). The model samples at most 32 frames of each video segment, so
            30 s segments see a video about four times as finely as 120 s ones, for more requests.
        batch_chunks: Chunks embedded per Collection call (across files).
        batch_bytes: Media and text bytes held for one Collection call.
        include_hidden: Index hidden files and directories too.
        progress: Show a progress bar: True, False, or None for "when stderr is a terminal".
    """

    def __init__(
        self,
        collection: Collection,
        *,
        max_text_tokens: int | None = None,
        text_overlap_tokens: int | None = None,
        overlap_seconds: float = DEFAULT_OVERLAP_SECONDS,
        margin_seconds: float = DEFAULT_MARGIN_SECONDS,
        segment_seconds: float | None = None,
        batch_chunks: int = 100,
        batch_bytes: int = 32 * 1024 * 1024,
        include_hidden: bool = False,
        progress: bool | None = None,
    ) -> None:
        if collection.embedder is None:
            raise ValueError(f"collection {collection.name!r} was opened without an embedder; pass embedder=")
        # a bad segment length is refused here, before any file is read or anything is paid for
        segment_length(0.0, overlap_seconds, margin_seconds, segment_seconds)
        self.collection = collection
        self.embedder = collection.embedder
        self.max_text_tokens = max_text_tokens
        self.text_overlap_tokens = text_overlap_tokens
        self.overlap_seconds = overlap_seconds
        self.margin_seconds = margin_seconds
        self.segment_seconds = segment_seconds
        self.batch_chunks = batch_chunks
        self.batch_bytes = batch_bytes
        self.include_hidden = include_hidden
        self.progress = progress

    # -- the run ---------------------------------------------------------------------------------

    def index(self, paths: Iterable[str | os.PathLike[str]], *, prune: bool = False) -> IndexReport:
        """Index every file under ``paths``; returns what happened to each.

        Args:
            paths: Files and folders.
            prune: Afterwards, delete the records of files indexed under ``paths`` that no longer exist
                (see :meth:`prune`).

        Raises:
            StoreError: the store failed (nothing is retried; a re-run resumes where it stopped).
            ConfigurationError: no credentials, or another setup problem.
            RequestRejectedError: the API refused a request as a whole (a wrong key, a permission the
                key lacks, an unknown model, a spent daily quota). No file is recorded as failed and
                nothing is pruned; the files written before it keep their records.
            FileNotFoundError: ``prune`` and one of ``paths`` does not exist (checked before anything
                is indexed).
        """
        paths = list(paths)
        roots = _prune_roots(paths) if prune else []
        unreadable: list[Unreadable] = []
        files = list(walk(paths, include_hidden=self.include_hidden, unreadable=unreadable))
        results: dict[int, FileResult] = {}
        show = self.progress if self.progress is not None else sys.stderr.isatty()
        with (
            tempfile.TemporaryDirectory(prefix="gemini-vectors-ingest-") as tmp,
            tqdm(total=len(files), unit="file", desc="indexing", disable=not show, leave=False) as bar,
        ):

            def done(order: int, result: FileResult) -> None:
                results[order] = result
                bar.update(1)

            pending: list[_Pending] = []
            heads: dict[str, dict[str, MetadataValue]] = {}
            for order, path in enumerate(files):
                if order % LOOKUP_WINDOW == 0:
                    heads = self._heads(files[order : order + LOOKUP_WINDOW])
                bar.set_postfix_str(escape_path(path.name), refresh=False)
                outcome = self._prepare(order, path, Path(tmp) / f"{order:07d}", heads)
                if isinstance(outcome, FileResult):
                    done(order, outcome)
                    continue
                pending.append(outcome)
                if (
                    sum(len(p.chunks) for p in pending) >= self.batch_chunks
                    or sum(p.nbytes for p in pending) >= self.batch_bytes
                ):
                    for p, result in self._flush(pending):
                        done(p.order, result)
                    pending = []
            for p, result in self._flush(pending):
                done(p.order, result)
        pruned = self._prune_under(roots, unreadable) if prune else []
        return IndexReport([results[i] for i in sorted(results)], pruned, unreadable)

    def prune(self, paths: Iterable[str | os.PathLike[str]]) -> list[str]:
        """Delete the records of files indexed under ``paths`` that no longer exist; returns their sources.

        Only records this module wrote are considered (they carry ``source`` and ``chunker``), and only
        those whose ``source`` is one of ``paths`` or lies under one of them. A file that still exists
        keeps its records, even if it is no longer indexed (now hidden, say). A file counts as gone
        only when the system answers that it does not exist; one whose existence cannot be checked (a
        folder on its path is not searchable) keeps its records. It reads the metadata of every record
        in the collection, in slices of 1,000: one pass over the collection.

        Raises:
            FileNotFoundError: one of ``paths`` does not exist. An unmounted drive or a mistyped folder
                must not look like a folder whose files were all deleted.
        """
        return self._prune_under(_prune_roots(paths), [])

    def _prune_under(self, roots: list[Path], unreadable: list[Unreadable]) -> list[str]:
        """Delete the records of files under ``roots`` known to be gone. Folders listed in
        ``unreadable`` are not looked into; folders found unsearchable are appended to it."""
        # Under a folder that could not be listed nothing is known, even where stat would answer.
        blocked = [u.path.resolve() for u in unreadable]
        state: dict[Path, str | None] = {}  # None: exists; "": gone; else why it cannot be checked
        doomed: dict[str, list[str]] = {}
        unknown: dict[Path, str] = {}
        ids = list(self.collection.ids())  # listed in full first: deleting while a store pages is unsafe
        for record in self._get(ids, include_vectors=False):
            path = record_path(record.metadata)
            if path is None or "chunker" not in record.metadata:
                continue  # not a record of this module
            if not any(path == root or path.is_relative_to(root) for root in roots):
                continue
            if any(path.is_relative_to(folder) for folder in blocked):
                continue
            if path not in state:
                state[path] = _existence(path)
            why = state[path]
            if why == "":
                doomed.setdefault(str(record.metadata["source"]), []).append(record.id)
            elif why is not None:
                unknown.setdefault(path.parent, why)
        for folder, why in unknown.items():
            unreadable.append(
                Unreadable(
                    folder,
                    f"cannot check whether the files indexed under it still exist ({why}): their "
                    "records were kept; give this user execute permission on the folders of this path",
                )
            )
        gone = [record_id for source in doomed for record_id in doomed[source]]
        for start in range(0, len(gone), MAX_IDS_PER_GET):
            self.collection.delete(gone[start : start + MAX_IDS_PER_GET])
        return sorted(doomed)

    def _get(self, ids: list[str], *, include_vectors: bool) -> list[Record]:
        """``collection.get`` in slices a store accepts (Pinecone fetches at most 1,000 ids)."""
        out: list[Record] = []
        for start in range(0, len(ids), MAX_IDS_PER_GET):
            out.extend(
                self.collection.get(ids[start : start + MAX_IDS_PER_GET], include_vectors=include_vectors)
            )
        return out

    def _heads(self, paths: list[Path]) -> dict[str, dict[str, MetadataValue]]:
        """The stored metadata of the first chunk of each file, by source, in one lookup."""
        ids = {chunk_id(str(p.resolve()), 0): str(p.resolve()) for p in paths}  # keyed by the raw path
        return {ids[r.id]: dict(r.metadata) for r in self._get(list(ids), include_vectors=False)}

    # -- one file --------------------------------------------------------------------------------

    def _prepare(
        self, order: int, path: Path, scratch: Path, heads: Mapping[str, dict[str, MetadataValue]]
    ) -> _Pending | FileResult:
        """Classify, look up and chunk one file: a pending batch entry, or its final result."""
        try:
            stat = path.stat()
        except OSError as exc:
            return FileResult(path, "failed", reason=f"cannot read: {exc.strerror or exc}")
        if not stat_module.S_ISREG(stat.st_mode):
            return FileResult(path, "skipped", reason="not a regular file")
        try:
            kind, mime = classify(path)
        except UnsupportedFileError as exc:
            return FileResult(path, "skipped", reason=_reason(exc, path))
        except ContentError as exc:
            return FileResult(path, "failed", reason=_reason(exc, path))
        raw = str(path.resolve())  # the ids' key; ``source`` is its text form for the metadata
        source = escape_path(raw)
        version = self._version(kind)
        head = heads.get(raw)
        try:
            digest = self._unchanged(path, raw, stat, head, version)
        except OSError as exc:
            return FileResult(path, "failed", reason=f"cannot read: {exc.strerror or exc}")
        if digest is True:
            assert head is not None
            count = _as_int(head.get("chunk_count")) or 0
            return FileResult(path, "unchanged", chunks=count, modality=str(head.get("modality")))
        scratch.mkdir(parents=True, exist_ok=True)
        try:
            chunks = chunk_file(
                path,
                self.embedder.model_info,
                kind=kind,
                mime_type=mime,
                max_text_tokens=self.max_text_tokens,
                text_overlap_tokens=self.text_overlap_tokens,
                overlap_seconds=self.overlap_seconds,
                margin_seconds=self.margin_seconds,
                segment_seconds=self.segment_seconds,
                scratch=scratch,
            )
            for chunk in chunks:
                self._check(chunk)
            file_hash = digest if isinstance(digest, str) else file_sha256(path)
        except (ContentError, OSError, UnicodeError) as exc:
            # UnicodeError: a library that cannot take a file name that is not valid text fails the file
            shutil.rmtree(scratch, ignore_errors=True)
            reason = _reason(exc, path) if isinstance(exc, ContentError) else f"cannot read: {exc}"
            return FileResult(path, "failed", reason=reason)
        base: dict[str, MetadataValue] = {
            "source": source,
            "name": escape_path(path.name) if source != raw else path.name,
            "mime_type": mime,
            "file_sha256": file_hash,
            "file_size": stat.st_size,
            "file_mtime_ns": str(stat.st_mtime_ns),
            "chunker": version,
        }
        if source != raw:
            base["source_escaped"] = True
        metadata = [
            {
                **base,
                "modality": c.part.modality,
                "chunk_index": c.index,
                "chunk_count": c.count,
                **c.position.metadata(),
            }
            for c in chunks
        ]
        return _Pending(order, path, raw, source, chunks, metadata, file_hash, head is not None, scratch)

    def _version(self, kind: FileKind) -> str:
        return chunker_version(
            kind,
            self.embedder.model_info,
            max_text_tokens=self.max_text_tokens,
            text_overlap_tokens=self.text_overlap_tokens,
            overlap_seconds=self.overlap_seconds,
            margin_seconds=self.margin_seconds,
            segment_seconds=self.segment_seconds,
        )

    def _unchanged(
        self, path: Path, source: str, stat: os.stat_result, head: Mapping[str, Any] | None, version: str
    ) -> bool | str | None:
        """True when the stored records are this file's, cut as the current options cut it; else the
        file's hash if it was computed. ``source`` is the raw path (the ids' key)."""
        if head is None or head.get("chunker") != version or head.get("file_size") != stat.st_size:
            return None
        count = _as_int(head.get("chunk_count"))
        if count is None or count < 1:
            return None
        stored_hash = head.get("file_sha256")
        ids = [chunk_id(source, i) for i in range(count)]
        if head.get("file_mtime_ns") == str(stat.st_mtime_ns):
            if count == 1:
                return True  # the head is the whole file
            rest = self._get(ids[1:], include_vectors=False)
            return len(rest) == count - 1 and all(r.metadata.get("file_sha256") == stored_hash for r in rest)
        digest = file_sha256(path)
        if digest != stored_hash:
            return digest
        records = self._get(ids, include_vectors=True)
        if len(records) != count or any(r.metadata.get("file_sha256") != stored_hash for r in records):
            return digest
        # Same bytes, new time (a copy or a touch): remember the time so the next run need not hash.
        fresh = {"file_mtime_ns": str(stat.st_mtime_ns)}
        self.collection.upsert_vectors(
            [Record(r.id, r.vector, {**r.metadata, **fresh}, r.content_hash) for r in records]
        )
        return True

    def _check(self, chunk: Chunk) -> None:
        """Check a chunk against the model's limits, as the Embedder will, so a failure names the file."""
        model = self.embedder.model_info
        reserved = 0
        if isinstance(chunk.part, Text) and model.task_mechanism == "prefix":
            reserved = estimate_tokens(apply_task_prefix(TaskType.RETRIEVAL_DOCUMENT, "", chunk.title))
        try:
            check_item(chunk.part, model, reserved_tokens=reserved)
        except ContentError as exc:
            where = "" if chunk.count == 1 else f"chunk {chunk.index} ({chunk.position.describe()}): "
            raise type(exc)(f"{where}{exc}", limit=exc.limit) from exc

    # -- a batch of files ------------------------------------------------------------------------

    def _flush(self, pending: list[_Pending]) -> list[tuple[_Pending, FileResult]]:
        if not pending:
            return []
        items: list[Any] = []
        ids: list[str] = []
        metadata: list[dict[str, MetadataValue]] = []
        titles: list[str | None] = []
        owner: list[int] = []
        for n, p in enumerate(pending):
            for chunk, meta in zip(p.chunks, p.metadata, strict=True):
                items.append(chunk.part)
                ids.append(chunk_id(p.raw, chunk.index))
                metadata.append(meta)
                titles.append(chunk.title)
                owner.append(n)
        failures: dict[int, str] = {}
        try:
            self.collection.add(items, ids=ids, metadata=metadata, titles=titles)
        except PartialEmbeddingError as exc:
            failures = dict(exc.failures)
        except RequestRejectedError:
            # The API refused the request as a whole (key, permission, model, daily quota): no file is
            # to blame, so none is recorded as failed; the run stops and the caller reports it
            # (guarantee 3). Files already written stay; a re-run resumes where this one stopped.
            raise
        except (EmbeddingError, ContentError) as exc:
            failures = dict.fromkeys(range(len(items)), str(exc))
        finally:
            for p in pending:
                shutil.rmtree(p.scratch, ignore_errors=True)
        failed_by_file: dict[int, str] = {}
        for position, reason in sorted(failures.items()):
            n = owner[position]
            if n not in failed_by_file:
                chunk = pending[n].chunks[position - owner.index(n)]
                where = "" if chunk.count == 1 else f"chunk {chunk.index} ({chunk.position.describe()}): "
                failed_by_file[n] = f"{where}the API rejected it: {reason}"
        out: list[tuple[_Pending, FileResult]] = []
        for n, p in enumerate(pending):
            modality = p.chunks[0].part.modality
            if n in failed_by_file:
                out.append((p, FileResult(p.path, "failed", reason=failed_by_file[n], modality=modality)))
                continue
            if p.replaces:
                # Every chunk was just written under its id (same content: metadata refreshed), so the
                # file's other records are those past its chunk count: left by a longer version of the
                # file or by other chunking options. Only this module's records, of this exact name.
                escaped: MetadataValue | dict[str, bool] = True if p.source != p.raw else {"$exists": False}
                self.collection.delete(
                    filter={
                        "source": p.source,
                        "source_escaped": escaped,
                        "chunker": {"$exists": True},
                        "chunk_index": {"$gte": len(p.chunks)},
                    }
                )
            out.append((p, FileResult(p.path, "indexed", chunks=len(p.chunks), modality=modality)))
        return out


def _prune_roots(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    roots = []
    for given in paths:
        root = Path(given).expanduser()
        if _existence(root) == "":
            raise FileNotFoundError(
                f"cannot prune under {escape_path(root)}: it does not exist (a missing folder is not an "
                "empty one; to drop the records of a deleted file, prune under its parent folder)"
            )
        # A root that cannot be examined stays: nothing under it can be examined either, so its
        # records are kept (and it is reported as a file that cannot be read).
        roots.append(root.resolve())
    return roots


def _existence(path: Path) -> str | None:
    """None when ``path`` exists, "" when the system says it does not, else why it cannot be told."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return ""
    except OSError as exc:  # Path.exists() raises some of these and hides others: neither is an answer
        return exc.strerror or str(exc)
    return None


def _as_int(value: object) -> int | None:
    # Some stores give every number back as a float.
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _reason(exc: ContentError, path: Path) -> str:
    """The error's message without a leading path (the report shows the path beside it)."""
    text = str(exc)
    prefix = repr(str(path)) + " "
    return text[len(prefix) :] if text.startswith(prefix) else text


def index_paths(
    collection: Collection, paths: Iterable[str | os.PathLike[str]], *, prune: bool = False, **options: Any
) -> IndexReport:
    """Index every file under ``paths`` into ``collection``; see :class:`Indexer` for the options."""
    return Indexer(collection, **options).index(paths, prune=prune)
