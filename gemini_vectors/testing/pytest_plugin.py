"""pytest plugin (entry point ``pytest11``) with fixtures for the Gemini API emulator."""

from __future__ import annotations
