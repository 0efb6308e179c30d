"""Test kit shipped with gemini-vectors: a Gemini API emulator and a pytest plugin."""

from __future__ import annotations
