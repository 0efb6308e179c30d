"""The File API: upload media too large to send inline, wait until usable, delete afterwards.

A request to the Gemini API carries at most 20 MB, and inline bytes travel base64-encoded (4/3 of their
size), so media over about 14 MiB cannot be sent inline. Such a part is uploaded with
``client.files.upload`` (Google's resumable protocol, run by the SDK), referenced by its uri
(``Part.from_uri``), and deleted as soon as the embedding call is over, whether it succeeded or not:
uploaded files would otherwise count against the project's storage for 48 hours.

Video files are processed after upload; the API answers ``PROCESSING`` and refuses to use a file until
it is ``ACTIVE``, so :meth:`FileUploads.upload` polls ``client.files.get`` until then.

:class:`FileUploads` is what the :class:`~gemini_vectors.Embedder` uses (``upload_threshold_bytes``);
it works with any part, for callers that upload themselves::

    with FileUploads(client) as uploads:
        video = uploads.upload(gv.Video("talk.mp4"))   # a copy sent as its uri
        emb.embed([video])
    # the file is deleted here
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from gemini_vectors.content import Item, MediaPart, Part
from gemini_vectors.errors import EmbeddingError
from gemini_vectors.retry import client_secrets, request_rejected, scrub

if TYPE_CHECKING:
    from google import genai
    from google.genai import types

__all__ = [
    "DEFAULT_UPLOAD_THRESHOLD",
    "FileUploads",
    "UploadError",
    "inline_media_bytes",
    "wait_until_active",
]

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_THRESHOLD = 14 * 1024 * 1024
"""Inline media bytes per item above which its media go through the File API: 14 MiB become about
18.7 MiB of base64, under the API's 20 MB per request with room for the JSON around them."""

_P = TypeVar("_P", bound=MediaPart)


class UploadError(EmbeddingError):
    """A file could not be uploaded, or did not become usable (processing failed or took too long)."""


def inline_media_bytes(item: Item) -> int:
    """Bytes of the item's media parts that would travel inline (those with local bytes and no uri)."""
    return sum(p.size or 0 for p in item.media_parts if p.uri is None and p.has_local_bytes)


def _header_safe(name: str) -> bool:
    """Whether ``name`` can travel in an HTTP header as it is: printable ASCII only."""
    return all(" " <= c <= "~" for c in name)


def _ascii_name(name: str) -> str:
    """``name`` in ASCII, every other character escaped (``café.png`` gives ``caf\\xe9.png``, a byte
    that is not UTF-8, held as a surrogate escape by ``os.fsdecode``, ``\\xHH``): a display name that
    does not depend on how the SDK or a proxy encodes text, and that a name not valid as text can have."""
    out = []
    for char in name:
        code = ord(char)
        if code < 0x80:
            out.append(char)
        elif 0xDC80 <= code <= 0xDCFF:
            out.append(f"\\x{code - 0xDC00:02x}")
        else:
            out.append(char.encode("ascii", "backslashreplace").decode("ascii"))
    return "".join(out)


def _state(file: types.File) -> str:
    state = file.state
    return str(getattr(state, "value", state) or "STATE_UNSPECIFIED")


def wait_until_active(
    client: genai.Client,
    file: types.File,
    *,
    timeout: float = 600.0,
    poll_interval: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> types.File:
    """Poll ``client.files.get`` until the uploaded file is ``ACTIVE``; return it.

    Raises:
        UploadError: the file's processing FAILED, or it was not ACTIVE within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    delay = min(poll_interval, 0.25)
    while _state(file) == "PROCESSING":
        if time.monotonic() >= deadline:
            raise UploadError(f"uploaded file {file.name} was still PROCESSING after {timeout:g} s")
        sleep(delay)
        delay = min(delay * 2, poll_interval)
        if not file.name:
            raise UploadError("the File API returned a file without a name; cannot poll its state")
        file = client.files.get(name=file.name)
    if _state(file) == "FAILED":
        reason = file.error.message if file.error is not None and file.error.message else "no reason given"
        raise UploadError(f"the File API could not process uploaded file {file.name}: {reason}")
    return file


class FileUploads:
    """Uploads media parts through the File API and deletes them all when closed.

    Use as a context manager around the calls that reference the uploads. Deletion is best effort: a
    failure is logged (the file expires after 48 hours anyway) and never hides the call's own error.

    Args:
        client: The google-genai client (Gemini Developer API; Vertex AI has no File API).
        timeout: Seconds to wait for an uploaded file to become ACTIVE.
        poll_interval: Longest pause between two state checks.
    """

    def __init__(self, client: genai.Client, *, timeout: float = 600.0, poll_interval: float = 1.0) -> None:
        self.client = client
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.names: list[str] = []

    def upload(self, part: _P) -> _P:
        """Upload ``part``'s bytes; return a copy sent as the uploaded uri (local bytes kept for checks).

        Raises:
            UploadError: the upload failed or the file did not become ACTIVE.
            RequestRejectedError: the API refused the request as a whole (a bad key, no permission).
        """
        from google.genai import errors as genai_errors
        from google.genai import types

        if not part.has_local_bytes:
            return part
        config = types.UploadFileConfig(
            mime_type=part.mime_type,
            display_name=_ascii_name(part.path.name) if part.path is not None else None,
        )
        secrets = client_secrets(self.client)
        try:
            with contextlib.ExitStack() as opened:
                source: str | io.IOBase
                if part.path is None:
                    source = io.BytesIO(part.data or b"")
                elif _header_safe(part.path.name):
                    source = str(part.path)
                else:
                    # Given a path, the SDK sends its base name in the X-Goog-Upload-File-Name header,
                    # which takes printable ASCII only: `café.png` (or a name that is not valid text)
                    # would crash the upload. Given an open file it sends no name, and the mime type
                    # (always known here) comes from the config.
                    source = opened.enter_context(part.path.open("rb"))
                file = self.client.files.upload(file=source, config=config)
        except (genai_errors.APIError, OSError) as exc:
            # a bad key or a project without access is the request's fault, not this file's (guarantee 3)
            rejected = request_rejected(exc, secrets=secrets)
            if rejected is not None:
                raise rejected from exc
            raise UploadError(
                f"uploading {part.describe()} to the File API failed: {scrub(str(exc), secrets)}"
            ) from exc
        if file.name:
            self.names.append(file.name)
        try:
            file = wait_until_active(
                self.client, file, timeout=self.timeout, poll_interval=self.poll_interval
            )
        except genai_errors.APIError as exc:
            rejected = request_rejected(exc, secrets=secrets)
            if rejected is not None:
                raise rejected from exc
            raise UploadError(
                f"checking uploaded {part.describe()} failed: {scrub(str(exc), secrets)}"
            ) from exc
        if not file.uri:
            raise UploadError(f"the File API returned no uri for uploaded {part.describe()}")
        log.debug("uploaded %s as %s", part.describe(), file.name)
        return part.with_uri(file.uri)

    def offload(self, item: Item, max_inline_bytes: int) -> Item:
        """The item with its largest media parts uploaded until at most ``max_inline_bytes`` stay inline."""
        inline = inline_media_bytes(item)
        if inline <= max_inline_bytes:
            return item
        parts: list[Part] = list(item.parts)
        candidates = sorted(
            ((p.size or 0, j, p) for j, p in enumerate(parts) if isinstance(p, MediaPart)),
            key=lambda c: -c[0],
        )
        for size, j, part in candidates:
            if inline <= max_inline_bytes:
                break
            if part.uri is None and part.has_local_bytes:
                parts[j] = self.upload(part)
                inline -= size
        return Item(parts)

    def delete_all(self) -> None:
        """Delete every file uploaded so far (best effort; failures are logged)."""
        names, self.names = self.names, []
        for name in names:
            try:
                self.client.files.delete(name=name)
            except Exception as exc:  # never mask the caller's outcome; the file expires in 48 h
                log.warning("could not delete uploaded file %s: %s", name, exc)

    def __enter__(self) -> FileUploads:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.delete_all()
