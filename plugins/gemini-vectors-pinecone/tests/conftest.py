"""Where the Pinecone plugin's tests find a Pinecone.

With ``GEMINI_VECTORS_TEST_PINECONE_HOST`` (a control-plane URL such as ``https://api.pinecone.io``) and
``PINECONE_API_KEY`` set, the tests run against that service: every index they create is named
``gv-test-...`` and deleted at the end of the session. Otherwise they run against the wire emulator in
``tests/emulators/pinecone`` of the repository, through the same unmodified SDK. Tests that count requests
or inject faults need the emulator and are skipped against a real service.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gemini_vectors_pinecone.store import PineconeStore

_REPO_TESTS = Path(__file__).resolve().parents[3] / "tests"
if str(_REPO_TESTS) not in sys.path:
    sys.path.insert(0, str(_REPO_TESTS))

from emulators.pinecone import PineconeEmulator  # noqa: E402 - found through the path set above
from gv_pinecone_target import PineconeTarget  # noqa: E402

HOST_ENV = "GEMINI_VECTORS_TEST_PINECONE_HOST"


@pytest.fixture(scope="session")
def pinecone_target() -> Iterator[PineconeTarget]:
    real_host = os.environ.get(HOST_ENV)
    if real_host:
        key = os.environ.get("PINECONE_API_KEY")
        if not key:
            pytest.fail(f"{HOST_ENV} is set but PINECONE_API_KEY is not")
        target = PineconeTarget(real_host, key, None)
        yield target
        _delete_indexes(target)
    else:
        with PineconeEmulator() as emu:
            target = PineconeTarget(emu.url, emu.api_key, emu)
            yield target
            _delete_indexes(target)


def _delete_indexes(target: PineconeTarget) -> None:
    from pinecone import Pinecone
    from pinecone.errors.exceptions import NotFoundError

    pc = Pinecone(api_key=target.api_key, host=target.host)
    for name in target.created:
        with contextlib.suppress(NotFoundError):
            pc.indexes.delete(name, timeout=-1)
    pc.close()


@pytest.fixture
def emulator(pinecone_target: PineconeTarget) -> Iterator[PineconeEmulator]:
    """The emulator, with counters reset and faults off; skips the test against a real Pinecone."""
    emu = pinecone_target.emulator
    if emu is None:
        pytest.skip("needs the Pinecone emulator (counts requests or injects faults)")
    emu.reset_counters()
    emu.set_faults(0.0)
    yield emu
    emu.set_faults(0.0)
    emu.ready_delay = 0.0


@pytest.fixture
def make_store(pinecone_target: PineconeTarget) -> Iterator[Callable[..., PineconeStore]]:
    """Open stores on fresh (or given) index names; all are closed after the test."""
    opened: list[PineconeStore] = []

    def make(index: str | None = None, **options: Any) -> PineconeStore:
        name = index or pinecone_target.index_name()
        store = PineconeStore(pinecone_target.url(name), **pinecone_target.options(**options))
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()
