"""Fixtures for the emulator's own tests: the unmodified official SDK talking to the emulator."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from pinecone import Index, Pinecone

from .server import API_VERSION, PineconeEmulator

_names = itertools.count()


@pytest.fixture(scope="module")
def emulator() -> Iterator[PineconeEmulator]:
    with PineconeEmulator() as emu:
        yield emu


@pytest.fixture
def emu(emulator: PineconeEmulator) -> Iterator[PineconeEmulator]:
    """The module's emulator with counters reset and faults off for this test."""
    emulator.reset_counters()
    emulator.set_faults(0.0)
    yield emulator
    emulator.set_faults(0.0)


@pytest.fixture
def pc(emu: PineconeEmulator) -> Iterator[Pinecone]:
    client = Pinecone(api_key=emu.api_key, host=emu.url)
    yield client
    client.close()


def dense_schema(dimension: int, metric: str = "cosine") -> dict[str, Any]:
    return {"fields": {"_values": {"type": "dense_vector", "dimension": dimension, "metric": metric}}}


@pytest.fixture
def make_index(pc: Pinecone) -> Iterator[Callable[..., Index]]:
    """Create a fresh dense index and hand back its data-plane client."""
    made: list[tuple[str, Index]] = []

    def make(dimension: int = 4, metric: str = "cosine", **kwargs: Any) -> Index:
        name = f"t-{next(_names)}"
        model = pc.indexes.create(name=name, schema=dense_schema(dimension, metric), timeout=-1, **kwargs)
        assert model.host is not None
        index = pc.index(host=model.host)
        made.append((name, index))
        return index

    yield make
    for name, index in made:
        index.close()
        pc.indexes.configure(name, deletion_protection="disabled")
        pc.indexes.delete(name, timeout=-1)


@pytest.fixture
def raw(emu: PineconeEmulator) -> Iterator[httpx.Client]:
    """A plain HTTP client with the headers the SDK sends, for requests the SDK refuses to make."""
    with httpx.Client(
        base_url=emu.url, headers={"Api-Key": emu.api_key, "X-Pinecone-Api-Version": API_VERSION}
    ) as client:
        yield client
