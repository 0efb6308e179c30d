"""pytest plugin (entry point ``pytest11``): fixtures that run the Gemini API emulator.

Fixtures:
    gemini_emulator_server: one :class:`GeminiEmulator` for the whole session (not reset).
    gemini_emulator: the session's emulator, reset (faults off, limits back to Google's, counters zero,
        files and batch jobs gone) before each test.
    gemini_client: a ``genai.Client`` pointed at ``gemini_emulator``.
    gemini_env: sets ``GOOGLE_GEMINI_BASE_URL`` and ``GEMINI_API_KEY`` for the test only (monkeypatch),
        so code that builds its own ``genai.Client()`` talks to the emulator; yields the emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from gemini_vectors.testing.gemini_emulator import GeminiEmulator

if TYPE_CHECKING:
    from google import genai


@pytest.fixture(scope="session")
def gemini_emulator_server() -> Iterator[GeminiEmulator]:
    """One Gemini API emulator on 127.0.0.1 for the whole test session."""
    with GeminiEmulator() as emulator:
        yield emulator


@pytest.fixture
def gemini_emulator(gemini_emulator_server: GeminiEmulator) -> GeminiEmulator:
    """The session's emulator with faults, limits, counters and stored state reset for this test."""
    gemini_emulator_server.reset()
    return gemini_emulator_server


@pytest.fixture
def gemini_client(gemini_emulator: GeminiEmulator) -> genai.Client:
    """A google-genai client (Gemini Developer API) talking to the emulator with the key ``test-key``."""
    return gemini_emulator.client()


@pytest.fixture
def gemini_env(gemini_emulator: GeminiEmulator, monkeypatch: pytest.MonkeyPatch) -> GeminiEmulator:
    """Point ``genai.Client()`` built from the environment at the emulator, for this test only."""
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", gemini_emulator.base_url)
    monkeypatch.setenv("GEMINI_API_KEY", "test-key")
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_GENAI_USE_VERTEXAI", raising=False)
    return gemini_emulator
