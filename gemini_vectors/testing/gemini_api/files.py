"""The File API: resumable uploads, get, list, delete, and file parts that reference uploads.

The SDK's ``client.files.upload`` runs Google's resumable protocol: a ``start`` POST to
``/upload/{version}/files`` (JSON metadata, ``X-Goog-Upload-*`` headers) answered with an
``x-goog-upload-url``; then POSTs of 8 MB chunks to that URL, each answered with ``x-goog-upload-status``
(``active``, or ``final`` with ``{"file": {...}}`` after ``upload, finalize``). The chunk requests carry
no API key (the upload URL is the credential), so the emulator does not ask for one there.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gemini_vectors.testing.gemini_api.media import normalize_mime
from gemini_vectors.testing.gemini_api.protocol import ApiError, Request, Response, page_of

if TYPE_CHECKING:
    from gemini_vectors.testing.gemini_api.core import EmulatorCore

_FILE_URI = re.compile(r"(?:^|/)files/(?P<id>[a-z0-9-]+)$")
_ID = re.compile(r"^[a-z0-9-]{1,40}$")


def rfc3339(ts: float) -> str:
    """A timestamp as Google writes them (UTC, microseconds, ``Z``)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e6):06d}Z"


@dataclass
class StoredFile:
    """One uploaded (or uploading) file."""

    id: str
    mime_type: str
    declared_size: int
    display_name: str | None
    created: float
    data: bytearray = field(default_factory=bytearray)
    finalized: bool = False
    active_at: float = 0.0

    def resource(self, base_url: str, version: str) -> dict[str, Any]:
        """The File resource JSON as the API returns it."""
        now = time.time()
        out: dict[str, Any] = {
            "name": f"files/{self.id}",
            "mimeType": self.mime_type,
            "sizeBytes": str(len(self.data)),
            "createTime": rfc3339(self.created),
            "updateTime": rfc3339(max(self.created, min(now, self.active_at))),
            "expirationTime": rfc3339(self.created + 48 * 3600),
            "sha256Hash": base64.b64encode(hashlib.sha256(self.data).hexdigest().encode()).decode(),
            "uri": f"{base_url}/{version}/files/{self.id}",
            "state": "ACTIVE" if now >= self.active_at else "PROCESSING",
            "source": "UPLOADED",
        }
        if self.display_name:
            out["displayName"] = self.display_name
        return out


class FileStore:
    """Uploaded files of one emulator, and the File API endpoints over them."""

    def __init__(self, core: EmulatorCore) -> None:
        self._core = core
        self._lock = threading.Lock()
        self._files: dict[str, StoredFile] = {}
        self._sessions: dict[str, StoredFile] = {}
        versions = r"(?P<ver>v1|v1beta|v1alpha)"
        core.add_route("POST", re.compile(rf"^/upload/{versions}/files$"), "files.upload", self._start)
        core.add_route(
            "POST",
            re.compile(rf"^/upload/{versions}/files/sessions/(?P<sid>\w+)$"),
            "files.upload_chunk",
            self._chunk,
        )
        core.add_route("GET", re.compile(rf"^/{versions}/files/(?P<id>[^/:]+)$"), "files.get", self._get)
        core.add_route(
            "DELETE", re.compile(rf"^/{versions}/files/(?P<id>[^/:]+)$"), "files.delete", self._delete
        )
        core.add_route("GET", re.compile(rf"^/{versions}/files$"), "files.list", self._list)

    def clear(self) -> None:
        """Forget every file and upload session."""
        with self._lock:
            self._files.clear()
            self._sessions.clear()
        self._core.stats._set_files_stored(0)

    def lookup(self, uri: str) -> tuple[str, bytes] | None:
        """``(mime_type, bytes)`` of an uploaded file named by its URI or ``files/ID``, else None.

        Raises:
            ApiError: 400 FAILED_PRECONDITION while the file is still PROCESSING, as Google answers.
        """
        match = _FILE_URI.search(uri.split("?", 1)[0])
        if not match:
            return None
        with self._lock:
            stored = self._files.get(match["id"])
        if stored is None:
            return None
        if time.time() < stored.active_at:
            raise ApiError(
                400,
                f"The File {stored.id} is not in an ACTIVE state and usage is not allowed.",
                status="FAILED_PRECONDITION",
            )
        return stored.mime_type, bytes(stored.data)

    def _count(self) -> None:
        with self._lock:
            count = len(self._files)
        self._core.stats._set_files_stored(count)

    # Endpoints.

    def _start(self, request: Request, match: re.Match[str]) -> Response:
        self._core.authorize(request)
        if (request.header("x-goog-upload-protocol") or "").lower() != "resumable":
            raise ApiError(400, "Only the resumable upload protocol is supported by the emulator.")
        if (request.header("x-goog-upload-command") or "").lower() != "start":
            raise ApiError(
                400, "The first request of a resumable upload must have X-Goog-Upload-Command: start."
            )
        body = request.json()
        meta = body.get("file") if isinstance(body, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        mime = normalize_mime(
            str(
                meta.get("mimeType")
                or meta.get("mime_type")
                or request.header("x-goog-upload-header-content-type")
                or ""
            )
        )
        if not mime:
            raise ApiError(400, "* CreateFileRequest.file.mime_type: mime_type is required.")
        try:
            size = int(request.header("x-goog-upload-header-content-length") or meta.get("sizeBytes") or 0)
        except ValueError:
            raise ApiError(400, "X-Goog-Upload-Header-Content-Length must be an integer.") from None
        if size > self._core.limits.max_upload_bytes:
            raise ApiError(
                400, f"File size {size} exceeds the limit of {self._core.limits.max_upload_bytes} bytes."
            )
        name = meta.get("name")
        if name:
            file_id = str(name).removeprefix("files/")
            if not _ID.match(file_id):
                raise ApiError(
                    400,
                    f"* CreateFileRequest.file.name: Invalid file name {name!r}: at most 40 lower-case "
                    "letters, digits and dashes.",
                )
            with self._lock:
                if file_id in self._files:
                    raise ApiError(409, f"File files/{file_id} already exists.")
        else:
            file_id = secrets.token_hex(6)
        display = meta.get("displayName") or meta.get("display_name")
        stored = StoredFile(file_id, mime, size, str(display) if display else None, time.time())
        session = secrets.token_hex(12)
        with self._lock:
            self._sessions[session] = stored
        upload_url = (
            f"{self._core.base_url}/upload/{match['ver']}/files/sessions/{session}?upload_protocol=resumable"
        )
        return Response(
            200,
            b"",
            {
                "x-goog-upload-url": upload_url,
                "x-goog-upload-status": "active",
                "x-goog-upload-chunk-granularity": "8388608",
            },
        )

    def _chunk(self, request: Request, match: re.Match[str]) -> Response:
        try:
            return self._take_chunk(request, match)
        except ApiError as err:
            # Without x-goog-upload-status the SDK would retry the chunk with sleeps; "final" makes it raise.
            response = Response.error(err)
            response.headers["x-goog-upload-status"] = "final"
            return response

    def _take_chunk(self, request: Request, match: re.Match[str]) -> Response:
        with self._lock:
            stored = self._sessions.get(match["sid"])
        if stored is None:
            raise ApiError(404, "Upload session not found (expired, finished or never started).")
        command = {c.strip().lower() for c in (request.header("x-goog-upload-command") or "").split(",")}
        try:
            offset = int(request.header("x-goog-upload-offset") or 0)
        except ValueError:
            raise ApiError(400, "X-Goog-Upload-Offset must be an integer.") from None
        if offset != len(stored.data):
            raise ApiError(
                400, f"Upload offset {offset} does not match the {len(stored.data)} bytes received."
            )
        if "upload" in command:
            stored.data += request.body
        if len(stored.data) > self._core.limits.max_upload_bytes:
            with self._lock:
                self._sessions.pop(match["sid"], None)
            raise ApiError(400, f"File exceeds the limit of {self._core.limits.max_upload_bytes} bytes.")
        if "finalize" not in command:
            return Response(200, b"", {"x-goog-upload-status": "active"})
        if len(stored.data) != stored.declared_size:
            with self._lock:
                self._sessions.pop(match["sid"], None)
            raise ApiError(
                400,
                f"Upload finalized with {len(stored.data)} bytes, but {stored.declared_size} were announced.",
            )
        stored.finalized = True
        stored.active_at = time.time() + max(0.0, self._core.faults.file_processing_seconds)
        with self._lock:
            self._sessions.pop(match["sid"], None)
            self._files[stored.id] = stored
        self._core.stats._record_upload()
        self._count()
        resource = stored.resource(self._core.base_url, match["ver"])
        response = Response.json({"file": resource})
        response.headers["x-goog-upload-status"] = "final"
        return response

    def _find(self, file_id: str) -> StoredFile:
        with self._lock:
            stored = self._files.get(file_id)
        if stored is None:
            raise ApiError(
                403, f"You do not have permission to access the File {file_id} or it may not exist."
            )
        return stored

    def _get(self, request: Request, match: re.Match[str]) -> Response:
        self._core.authorize(request)
        return Response.json(self._find(match["id"]).resource(self._core.base_url, match["ver"]))

    def _delete(self, request: Request, match: re.Match[str]) -> Response:
        self._core.authorize(request)
        self._find(match["id"])
        with self._lock:
            self._files.pop(match["id"], None)
        self._core.stats._record_file_delete()
        self._count()
        return Response.json({})

    def _list(self, request: Request, match: re.Match[str]) -> Response:
        self._core.authorize(request)
        with self._lock:
            files = sorted(self._files.values(), key=lambda f: (f.created, f.id), reverse=True)
        page, token = page_of(request, files, default_size=10, max_size=100)
        payload: dict[str, Any] = {"files": [f.resource(self._core.base_url, match["ver"]) for f in page]}
        if token:
            payload["nextPageToken"] = token
        return Response.json(payload)
