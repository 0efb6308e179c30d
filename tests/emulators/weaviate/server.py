"""The emulator process: a REST server and a gRPC server on 127.0.0.1 over one in-memory database."""

from __future__ import annotations

import contextlib
import threading
import uuid as uuid_lib
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent import futures
from types import TracebackType
from typing import Any

import grpc
from weaviate.proto.v1 import weaviate_pb2_grpc

from .data import Database, Fault
from .grpc_api import WeaviateService, health_handler
from .rest_api import make_http_server
from .schema import GRPC_MAX_MESSAGE_SIZE, SERVER_VERSION


class WeaviateEmulator:
    """An in-process Weaviate 1.33 that the unmodified ``weaviate-client`` talks to over the wire.

    Example::

        with WeaviateEmulator() as emu:
            client = weaviate.connect_to_local(port=emu.http_port, grpc_port=emu.grpc_port)

    Faults: :meth:`reject_objects` makes writes of matching objects fail one by one, the way a server
    reports per-object errors in a batch, so that a batch partly fails.
    """

    version = SERVER_VERSION

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        http_port: int = 0,
        grpc_port: int = 0,
        autoschema: bool = True,
        workers: int = 8,
    ) -> None:
        self.host = host
        self.db = Database()
        self.db.autoschema = autoschema
        self.grpc_service = WeaviateService(self.db)
        self.rest_calls: Counter[str] = Counter()
        self._workers = workers
        self._grpc: grpc.Server | None = None
        self._http: Any = None
        self._http_thread: threading.Thread | None = None
        self.http_port = http_port  # 0 picks a free port on start()
        self.grpc_port = grpc_port

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> WeaviateEmulator:
        """Bind free ports and start serving; returns ``self``."""
        if self._grpc is not None:
            return self
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="weaviate-emu-grpc"),
            options=[
                ("grpc.max_receive_message_length", GRPC_MAX_MESSAGE_SIZE),
                ("grpc.max_send_message_length", GRPC_MAX_MESSAGE_SIZE),
            ],
        )
        weaviate_pb2_grpc.add_WeaviateServicer_to_server(self.grpc_service, server)  # type: ignore[no-untyped-call]
        server.add_generic_rpc_handlers((health_handler(),))
        self.grpc_port = server.add_insecure_port(f"{self.host}:{self.grpc_port}")
        server.start()
        self._grpc = server
        self._http = make_http_server(self, self.host, self.http_port)
        self.http_port = int(self._http.server_address[1])
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, name="weaviate-emu-http", daemon=True
        )
        self._http_thread.start()
        return self

    def stop(self) -> None:
        """Stop both servers."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._grpc is not None:
            self._grpc.stop(grace=None).wait()
            self._grpc = None

    def __enter__(self) -> WeaviateEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses --------------------------------------------------------------------------

    @property
    def http_url(self) -> str:
        """``http://host:port`` of the REST API."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def url(self) -> str:
        """A ``weaviate://`` URL for gemini-vectors: REST host and port, gRPC port as a parameter."""
        return f"weaviate://{self.host}:{self.http_port}?grpc_port={self.grpc_port}"

    @property
    def calls(self) -> Counter[str]:
        """How often each gRPC method was called."""
        return self.grpc_service.calls

    # -- state and faults -------------------------------------------------------------------

    def reset(self) -> None:
        """Drop every class and fault."""
        with self.db.lock:
            self.db.classes.clear()
            self.db.faults.clear()

    def reject_objects(
        self,
        *,
        ids: Iterable[str | uuid_lib.UUID] | None = None,
        where: Callable[[dict[str, Any]], bool] | None = None,
        collection: str | None = None,
        message: str = "emulator fault: object rejected",
        times: int | None = None,
    ) -> Fault:
        """Reject writes of objects whose UUID is in ``ids`` or whose properties satisfy ``where``.

        Each matching object fails on its own (a batch reports it in its ``errors``, REST with 422);
        the others are written. ``times`` bounds how many rejections the fault makes in total, so a
        transient fault can be told apart from a persistent one. Returns the fault (see ``hits``).
        """
        wanted = {str(uuid_lib.UUID(str(i))) for i in ids} if ids is not None else None

        def predicate(class_name: str, uid: str, props: dict[str, Any]) -> bool:
            if collection is not None and class_name.lower() != collection.lower():
                return False
            if wanted is not None and uid in wanted:
                return True
            return where is not None and bool(where(props))

        fault = Fault(predicate, message, times)
        with self.db.lock:
            self.db.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove every fault."""
        with self.db.lock:
            self.db.faults.clear()


def serve(argv: list[str] | None = None) -> int:
    """Run the emulator until interrupted; prints its ``weaviate://`` URL as the first line of stdout."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m tests.emulators.weaviate", description=serve.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--http-port", type=int, default=0, help="REST port (0: a free one)")
    parser.add_argument("--grpc-port", type=int, default=0, help="gRPC port (0: a free one)")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with WeaviateEmulator(args.host, http_port=args.http_port, grpc_port=args.grpc_port) as emu:
        print(emu.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0
