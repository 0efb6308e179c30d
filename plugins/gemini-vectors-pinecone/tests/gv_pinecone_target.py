"""The Pinecone the plugin's tests run against (imported by conftest.py and the tests)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from emulators.pinecone import PineconeEmulator


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
