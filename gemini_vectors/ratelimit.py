"""A client-side limiter that keeps calls under a requests-per-minute and a tokens-per-minute quota.

The Gemini API counts quota over a sliding minute, so the limiter keeps a log of what it let through in the
last 60 seconds rather than a token bucket (a bucket with a full minute of burst lets twice the quota
through within one window). Callers *reserve* a slot: the limiter books the call at the earliest moment it
fits and says how long to wait; the caller sleeps that long with ``time.sleep`` or ``asyncio.sleep``. Booking
under a lock is what lets threads and tasks share one limiter without overshooting.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from gemini_vectors.arguments import check_count
from gemini_vectors.errors import ConfigurationError

WINDOW_SECONDS = 60.0


class RateLimiter:
    """Sliding-window limiter for calls and tokens per minute; None means unlimited."""

    def __init__(
        self,
        rpm: int | None = None,
        tpm: int | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None:
                check_count(value, name, error=ConfigurationError)
        self.rpm = rpm
        self.tpm = tpm
        self._clock = clock
        self._lock = threading.Lock()
        self._booked: deque[tuple[float, int]] = deque()  # (start time, tokens), in start order

    @property
    def enabled(self) -> bool:
        """Whether any limit is set."""
        return self.rpm is not None or self.tpm is not None

    def reserve(self, tokens: int = 0) -> float:
        """Book one call of ``tokens`` tokens; return how many seconds the caller must wait before it."""
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self._clock()
            # first come, first served: keeps bookings sorted by start, which _earliest_fit relies on
            start = max(now, self._booked[-1][0]) if self._booked else now
            while True:
                window_start = start - WINDOW_SECONDS
                while self._booked and self._booked[0][0] <= now - WINDOW_SECONDS:
                    self._booked.popleft()
                live = [(t, n) for t, n in self._booked if t > window_start]
                later = self._earliest_fit(start, live, tokens)
                if later <= start:
                    break
                start = later
            self._booked.append((start, tokens))
            return max(0.0, start - now)

    def _earliest_fit(self, start: float, live: list[tuple[float, int]], tokens: int) -> float:
        """``start`` if a call of ``tokens`` fits in the window ending at ``start``, else a later time."""
        candidate = start
        if self.rpm is not None and len(live) >= self.rpm:
            # the call fits once the oldest booking that makes the window full has left it
            candidate = max(candidate, live[len(live) - self.rpm][0] + WINDOW_SECONDS)
        if self.tpm is not None and live:
            used = sum(n for _, n in live)
            if used + tokens > self.tpm:
                # free enough of the oldest bookings; a call larger than the quota goes alone
                need = used + min(tokens, self.tpm) - self.tpm
                freed = 0
                for t, n in live:
                    freed += n
                    if freed >= need:
                        candidate = max(candidate, t + WINDOW_SECONDS)
                        break
        return candidate
