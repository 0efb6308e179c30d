"""Fixtures: one Weaviate for the whole session, and a store connected to it.

``weaviate_url`` is, in this order:

1. ``GEMINI_VECTORS_TEST_WEAVIATE_URL`` when set (a ``weaviate://``, ``weaviates://`` or
   ``weaviate+cloud://`` URL; ``WEAVIATE_API_KEY`` for credentials);
2. a real Weaviate in Docker through testcontainers, when ``testcontainers`` is installed and a Docker
   daemon answers (skipped silently otherwise);
3. the wire emulator from the repository's ``tests/emulators/weaviate``, driven through the unmodified
   weaviate-client, in a process of its own (so that client and server do not share one GIL).

Tests that need the emulator's fault injection ask for ``weaviate_emulator`` and are skipped on a real
server.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gemini_vectors as gv
import pytest

from gemini_vectors_weaviate import WeaviateStore

URL_ENV = "GEMINI_VECTORS_TEST_WEAVIATE_URL"
DOCKER_IMAGE = "cr.weaviate.io/semitechnologies/weaviate:1.33.18"
REPO_ROOT = Path(__file__).resolve().parents[3]


def _emulator_class() -> Any:
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    try:
        from tests.emulators.weaviate import WeaviateEmulator  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    return WeaviateEmulator


@contextlib.contextmanager
def _docker_weaviate() -> Iterator[str | None]:
    """A Weaviate container's URL, or None when testcontainers or a Docker daemon is missing."""
    try:
        import docker  # type: ignore[import-not-found,import-untyped,unused-ignore]
        from testcontainers.weaviate import WeaviateContainer

        docker.from_env().ping()
    except Exception:
        yield None
        return
    with WeaviateContainer(image=DOCKER_IMAGE) as container:
        host = container.get_container_host_ip()
        http_port = container.get_exposed_port(8080)
        grpc_port = container.get_exposed_port(50051)
        yield f"weaviate://{host}:{http_port}?grpc_port={grpc_port}"


@contextlib.contextmanager
def _emulator_process() -> Iterator[str | None]:
    """The emulator in a child process (``python -m tests.emulators.weaviate``); None if unavailable."""
    if not (REPO_ROOT / "tests" / "emulators" / "weaviate" / "__main__.py").is_file():
        yield None
        return
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.emulators.weaviate"], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while not select.select([proc.stdout], [], [], 1.0)[0]:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Weaviate emulator process did not start")
        url = proc.stdout.readline().strip()
        if not url.startswith("weaviate://"):
            raise RuntimeError(f"the Weaviate emulator process printed {url!r} instead of its URL")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def weaviate_emulator() -> Iterator[Any]:
    """The emulator, when the session runs on it (otherwise tests that need it are skipped)."""
    if os.environ.get(URL_ENV):
        pytest.skip(f"{URL_ENV} points at a real Weaviate; this test needs the emulator's faults")
    emulator_cls = _emulator_class()
    if emulator_cls is None:
        pytest.skip("the Weaviate emulator (tests/emulators/weaviate in the repository) is not importable")
    with emulator_cls() as emu:
        yield emu


@pytest.fixture(scope="session")
def weaviate_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL of a Weaviate server for the whole session (see the module docstring)."""
    given = os.environ.get(URL_ENV)
    if given:
        yield given
        return
    with _docker_weaviate() as docker_url:
        if docker_url is not None:
            yield docker_url
            return
    with _emulator_process() as emulator_url:
        if emulator_url is not None:
            yield emulator_url
            return
    emu = request.getfixturevalue("weaviate_emulator")
    yield emu.url


@pytest.fixture(scope="session")
def session_store(weaviate_url: str) -> Iterator[WeaviateStore]:
    """One store for the session, opened through ``gv.connect`` and the plugin's entry point."""
    store = gv.connect(weaviate_url)
    assert isinstance(store, WeaviateStore)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def weaviate_store(session_store: WeaviateStore) -> WeaviateStore:
    """The session's store (tests work in collections of their own and drop them)."""
    return session_store
