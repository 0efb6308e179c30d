"""The Gemini API emulator in a child process, as a real server would be, for the benchmarks.

In the benchmark's own process the emulator's CPU time (vector generation, JSON) would share the
client's interpreter lock and slow the very code being measured.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def emulator_process(latency: float) -> Iterator[str]:
    """Run ``gemini_vectors.testing.serve`` with ``latency`` seconds per call; yield its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "from gemini_vectors.testing import Faults, serve; "
        f"serve(port={port}, faults=Faults(latency={latency}))"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        child.stdout.readline()  # the "listening on" line: the server is up
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(10)
