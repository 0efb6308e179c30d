"""The HTTP server around :class:`EmulatorCore`, and its Python face :class:`GeminiEmulator`."""

from __future__ import annotations

import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any

from gemini_vectors.testing.gemini_api.controls import Faults, Limits, Stats
from gemini_vectors.testing.gemini_api.core import EmulatorCore

if TYPE_CHECKING:
    from google import genai


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    core: EmulatorCore


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so the SDK's connection pool keeps its connections; every answer has a Content-Length.
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, each answer waits for a delayed ACK (~40 ms).
    disable_nagle_algorithm = True
    server: _Server

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k: v for k, v in self.headers.items()}
        response = self.server.core.handle(self.command, self.path, headers, body)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_DELETE = do_PATCH = do_PUT = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        # Quiet by default: a test run must not print one line per call (and never the key).
        pass


class GeminiEmulator:
    """A local stand-in for the Gemini API that the unmodified google-genai SDK talks to over HTTP.

    Example::

        with GeminiEmulator() as emu:
            client = emu.client()
            client.models.embed_content(model="gemini-embedding-2", contents=[...])
            emu.faults.rate_503 = 0.1
            assert emu.stats.embed_calls == 1

    Args:
        host: Interface to listen on.
        port: TCP port; 0 picks a free one.
        faults: Initial faults (a new, fault-free :class:`Faults` when None).
        api_keys: Keys the emulator accepts; None accepts any non-empty key. Any other key is answered
            400 INVALID_ARGUMENT ``API_KEY_INVALID``, as Google answers a wrong key. Changeable at any
            time through :attr:`api_keys`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        faults: Faults | None = None,
        api_keys: set[str] | frozenset[str] | None = None,
    ) -> None:
        self.faults = faults if faults is not None else Faults()
        self.limits = Limits()
        self.stats = Stats()
        self._initial_keys = None if api_keys is None else frozenset(api_keys)
        self._core = EmulatorCore(self.faults, self.limits, self.stats, self._initial_keys)
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server, for ``HttpOptions(base_url=...)``."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() or use it as a context manager")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> GeminiEmulator:
        """Start serving in a daemon thread (idempotent)."""
        if self._server is None:
            server = _Server((self._host, self._port), _Handler)
            server.core = self._core
            self._server = server
            self._core.base_url = self.base_url
            self._thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="gemini-emulator",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> GeminiEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def api_keys(self) -> frozenset[str] | None:
        """The keys accepted (None: any non-empty key); assign a set to make every other key wrong.

        ``emu.api_keys = {"the-real-key"}`` makes a client with any other key get Google's 400
        ``API_KEY_INVALID``; :meth:`reset` restores the keys given to the constructor.
        """
        return self._core.api_keys

    @api_keys.setter
    def api_keys(self, keys: set[str] | frozenset[str] | None) -> None:
        self._core.api_keys = None if keys is None else frozenset(keys)

    def reset(self) -> None:
        """Faults, limits and accepted keys back to their start, counters to zero, files and jobs gone."""
        self._core.api_keys = self._initial_keys
        self.faults.reset()
        self.limits.reset()
        self.stats.reset()
        self._core.reset_state()

    def client(
        self,
        api_key: str = "test-key",
        *,
        api_version: str | None = None,
        vertexai: bool = False,
        **http_options: Any,
    ) -> genai.Client:
        """A ``genai.Client`` pointed at this emulator.

        Args:
            api_key: The key the client sends (any non-empty key works unless ``api_keys`` was given).
            api_version: E.g. ``"v1beta"``; the SDK's default when None.
            vertexai: Build a Vertex AI (express mode) client instead of a Gemini API one.
            **http_options: More ``types.HttpOptions`` fields, e.g. ``retry_options`` or ``timeout``.
        """
        from google import genai
        from google.genai import types

        options = types.HttpOptions(base_url=self.base_url, api_version=api_version, **http_options)
        return genai.Client(api_key=api_key, vertexai=vertexai, http_options=options)

    def __repr__(self) -> str:
        where = self.base_url if self._server is not None else "stopped"
        return f"GeminiEmulator({where})"


def serve(host: str = "127.0.0.1", port: int = 0, *, faults: Faults | None = None) -> None:
    """Run an emulator in the foreground until Ctrl-C or SIGTERM; print its base URL first."""
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (process managers, `kill`) stops it as cleanly as Ctrl-C does
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    with GeminiEmulator(host, port, faults=faults) as emu:
        print(f"Gemini API emulator listening on {emu.base_url}", flush=True)
        print(
            f"Point the SDK at it: GOOGLE_GEMINI_BASE_URL={emu.base_url} GEMINI_API_KEY=any-key",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping", file=sys.stderr)
