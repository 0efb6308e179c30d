"""The plumbing a backend plugin wraps around its database client, in one place for every backend.

A backend (``gemini_vectors_qdrant``, ``gemini_vectors_chroma``, ``gemini_vectors_milvus``, or yours)
talks to its database through a client library. What it must do around those calls is the same
everywhere, and each piece keeps a guarantee, so it lives here once and every backend calls it:

* :func:`call_with_retries`: a call that failed transiently (a rate limit, an overloaded server, a
  dropped connection) is repeated with exponential backoff and full jitter, honouring a server's
  ``Retry-After``; any other failure is raised at once (guarantee 3: a failure of the request is never
  taken for a failure of its content).
* :func:`describe_failure`: the text of a client's exception with the store's secrets taken out, for
  logs and error messages (guarantee 4).

The backend keeps what only it knows: which of its client's exceptions are transient, what its
requests look like. The functions here take those as callables, so they can be tested with plain
functions that fail on cue, and so can a backend that uses them.

A third-party backend uses them like this::

    from gemini_vectors.backend_kit import call_with_retries, describe_failure

    class MyStore(VectorStore):
        def _said(self, exc: BaseException) -> str:
            return describe_failure(exc, secrets=[self._api_key])

        def _call(self, fn, *args, **kwargs):
            return call_with_retries(
                functools.partial(fn, *args, **kwargs),
                is_transient=my_client_is_transient,
                retries=self.max_retries,
                backoff=self.retry_backoff,
                said=self._said,
                log=log,
                engine="MyDB",
            )

This module imports only the bottom layers of gemini-vectors (errors, redaction), never a plugin.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from gemini_vectors.redaction import redact_text

__all__ = ["call_with_retries", "describe_failure"]

T = TypeVar("T")


def describe_failure(exc: BaseException, *, secrets: Iterable[str | None] = ()) -> str:
    """``"ExceptionType: message"`` of a client's exception, with every one of ``secrets`` redacted.

    A client may echo its request headers or connection details in an exception, so this is the only
    form in which a backend puts a client's exception into a log line or an error message.
    """
    return redact_text(f"{type(exc).__name__}: {exc}".strip(), secrets=list(secrets))


def call_with_retries(
    call: Callable[[], T],
    *,
    is_transient: Callable[[BaseException], bool],
    retries: int,
    backoff: float,
    said: Callable[[BaseException], str],
    log: logging.Logger,
    engine: str,
    server_delay: Callable[[BaseException], float | None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """``call()``, repeated after each transient failure, up to ``retries`` more times.

    The wait before retry ``n`` (1-based) is what the server asked for when ``server_delay`` finds it
    in the exception (a ``Retry-After`` header), else a random time between 0 and
    ``backoff * 2 ** (n - 1)`` seconds (full jitter: stores that failed together do not retry
    together). Each retry is logged at INFO on ``log`` as ``"<engine> call failed transiently (...)"``
    with the exception as ``said`` gives it (without secrets).

    Args:
        call: The request, without arguments (``functools.partial(client.upsert, ...)``).
        is_transient: Whether an exception is worth repeating the request as it is.
        retries: How many times to repeat it at most (0: never).
        backoff: Seconds of the first backoff ceiling; doubled for each further retry.
        said: The text of an exception for the log (see :func:`describe_failure`).
        log: The backend's logger (users set its level).
        engine: The database's name, the first word of the log line.
        server_delay: The seconds a failure says to wait, or None when it says nothing.
        sleep: How to wait (``time.sleep``; a test may pass a function that records the delays).

    Raises:
        Exception: The last failure, unchanged: a failure that is not transient at once, a transient
            one once the retries are spent.
    """
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            if not is_transient(exc) or attempt >= retries:
                raise
            delay = server_delay(exc) if server_delay is not None else None
            if delay is None:
                delay = random.uniform(0, backoff * 2**attempt)
            attempt += 1
            log.info("%s call failed transiently (%s); retry %d in %.2fs", engine, said(exc), attempt, delay)
            sleep(delay)
