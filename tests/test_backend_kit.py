"""The backend kit: what every backend plugin wraps around its client, tested with plain functions."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from gemini_vectors.backend_kit import call_with_retries, describe_failure

log = logging.getLogger("tests.backend_kit")
SECRET = "sk-do-not-leak-0123456789"


class Flaky(Exception):
    """A failure the test's client calls transient."""


class Refused(Exception):
    """A failure the test's client calls permanent."""


def transient(exc: BaseException) -> bool:
    return isinstance(exc, Flaky)


def said(exc: BaseException) -> str:
    return describe_failure(exc, secrets=[SECRET])


def failing(times: int, exc: Exception, result: str = "done") -> tuple[list[int], Callable[[], str]]:
    """A call that raises ``exc`` its first ``times`` calls, then returns ``result``; and its call log."""
    calls: list[int] = []

    def call() -> str:
        calls.append(len(calls))
        if len(calls) <= times:
            raise exc
        return result

    return calls, call


# -- describe_failure -----------------------------------------------------------------------------


def test_describe_failure_names_the_type_and_hides_the_secrets() -> None:
    text = describe_failure(ValueError(f"bad header x-token: {SECRET}"), secrets=[SECRET, None])
    assert text.startswith("ValueError: bad header x-token: ")
    assert SECRET not in text


def test_describe_failure_of_an_empty_message_is_the_type() -> None:
    assert describe_failure(TimeoutError()) == "TimeoutError:"


# -- call_with_retries ----------------------------------------------------------------------------


def test_a_transient_failure_is_retried_until_the_call_succeeds(caplog: pytest.LogCaptureFixture) -> None:
    calls, call = failing(2, Flaky(f"overloaded (key {SECRET})"))
    delays: list[float] = []
    with caplog.at_level(logging.INFO, logger=log.name):
        result = call_with_retries(
            call,
            is_transient=transient,
            retries=5,
            backoff=0.5,
            said=said,
            log=log,
            engine="TestDB",
            sleep=delays.append,
        )
    assert result == "done" and len(calls) == 3
    retries = [r.getMessage() for r in caplog.records if r.name == log.name]
    assert len(retries) == 2 and all(m.startswith("TestDB call failed transiently (Flaky: ") for m in retries)
    assert all(SECRET not in m for m in retries)
    # full jitter under a ceiling that doubles: 0.5 s before the first retry, 1 s before the second
    assert 0 <= delays[0] <= 0.5 and 0 <= delays[1] <= 1.0


def test_transient_failures_past_the_retries_raise_the_last_one() -> None:
    error = Flaky("still overloaded")
    calls, call = failing(10, error)
    delays: list[float] = []
    with pytest.raises(Flaky) as info:
        call_with_retries(
            call,
            is_transient=transient,
            retries=3,
            backoff=0.0,
            said=said,
            log=log,
            engine="TestDB",
            sleep=delays.append,
        )
    assert info.value is error
    assert len(calls) == 4 and delays == [0.0, 0.0, 0.0]


def test_a_permanent_failure_is_raised_at_once() -> None:
    calls, call = failing(1, Refused("bad request"))
    delays: list[float] = []
    with pytest.raises(Refused):
        call_with_retries(
            call,
            is_transient=transient,
            retries=5,
            backoff=0.5,
            said=said,
            log=log,
            engine="TestDB",
            sleep=delays.append,
        )
    assert len(calls) == 1 and delays == []


def test_no_retries_means_one_try() -> None:
    calls, call = failing(1, Flaky("overloaded"))
    with pytest.raises(Flaky):
        call_with_retries(
            call,
            is_transient=transient,
            retries=0,
            backoff=0.5,
            said=said,
            log=log,
            engine="TestDB",
            sleep=lambda seconds: pytest.fail(f"waited {seconds}s to retry with retries=0"),
        )
    assert len(calls) == 1


def test_the_servers_delay_wins_over_the_backoff() -> None:
    calls, call = failing(2, Flaky("429"))
    delays: list[float] = []
    call_with_retries(
        call,
        is_transient=transient,
        retries=5,
        backoff=100.0,
        said=said,
        log=log,
        engine="TestDB",
        server_delay=lambda exc: 1.5,
        sleep=delays.append,
    )
    assert delays == [1.5, 1.5] and len(calls) == 3


def test_without_a_servers_delay_the_backoff_applies() -> None:
    calls, call = failing(1, Flaky("503"))
    delays: list[float] = []
    call_with_retries(
        call,
        is_transient=transient,
        retries=5,
        backoff=0.0,
        said=said,
        log=log,
        engine="TestDB",
        server_delay=lambda exc: None,
        sleep=delays.append,
    )
    assert delays == [0.0] and len(calls) == 2
