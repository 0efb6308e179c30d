"""Where the Pinecone plugin's tests find a Pinecone.

With ``GEMINI_VECTORS_TEST_PINECONE_HOST`` (a control-plane URL such as ``https://api.pinecone.io``) and
``PINECONE_API_KEY`` set, the tests run against that service: every index they create is named
``gv-test-...`` and deleted at the end of the session. Otherwise they run against the wire emulator in
``tests/emulators/pinecone`` of the repository, through the same unmodified SDK. Tests that count requests
or inject faults need the emulator and are skipped against a real service.
"""

from __future__ import annotations

import itertools
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gemini_vectors_pinecone.store import PineconeStore

_REPO_TESTS = Path(__file__).resolve().parents[3] / "tests"
if str(_REPO_TESTS) not in sys.path:
    sys.path.insert(0, str(_REPO_TESTS))

from emulators.pinecone import PineconeEmulator  # noqa: E402 - found through the path set above

HOST_ENV = "GEMINI_VECTORS_TEST_PINECONE_HOST"


@dataclass
class PineconeTarget:
    """A Pinecone to test against: its control-plane host, a key, and the emulator when it is one."""

    host: str
    api_key: str
    emulator: PineconeEmulator | None
    created: list[str] = field(default_factory=list)
    _counter: Iterator[int] = field(default_factory=itertools.count)
    _run: str = field(default_factory=lambda: uuid.uuid4().hex[:6])

    def index_name(self, purpose: str = "t") -> str:
        """A fresh index name, remembered for deletion at the end of the session."""
        name = f"gv-test-{self._run}-{purpose}-{next(self._counter)}"[:45].rstrip("-")
        self.created.append(name)
        return name

    def url(self, index: str) -> str:
        return f"pinecone://{index}?host={self.host}"

    def options(self, **overrides: Any) -> dict[str, Any]:
        fast = {"backoff_base": 0.01, "backoff_max": 0.2} if self.emulator is not None else {}
        return {"api_key": self.api_key, **fast, **overrides}


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
        try:
            pc.indexes.delete(name, timeout=-1)
        except NotFoundError:
            pass
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
