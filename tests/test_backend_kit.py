"""The backend kit: what every backend plugin wraps around its client, tested with plain functions."""

from __future__ import annotations

import enum
import logging
import re
import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import pytest

from gemini_vectors.backend_kit import (
    TRANSIENT_GRPC_CODES,
    ClientFailures,
    SharedClient,
    SharedClients,
    StoreURL,
    batches_by_size,
    call_with_retries,
    check_integer_option,
    check_recorded_owner,
    check_seconds_option,
    check_still_recorded,
    checked_record,
    chunks,
    collection_failure,
    describe_failure,
    grpc_code,
    refuse_unknown,
    split_store_url,
    write_isolating,
)
from gemini_vectors.errors import (
    ArgumentError,
    CollectionNotFoundError,
    ConfigurationError,
    MetadataError,
    SpecMismatchError,
    StoreError,
)
from gemini_vectors.memory_store import MemoryCollection, MemoryStore
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import Record

log = logging.getLogger("tests.backend_kit")
SECRET = "sk-do-not-leak-0123456789"


class Flaky(Exception):
    """A failure the test's client calls transient."""


class Refused(Exception):
    """A failure the test's client calls permanent."""


def transient(exc: BaseException) -> bool:
    return isinstance(exc, Flaky)


TESTDB = ClientFailures("TestDB", log, is_transient=transient)


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
            TESTDB,
            retries=5,
            backoff=0.5,
            said=said,
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
            TESTDB,
            retries=3,
            backoff=0.0,
            said=said,
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
            TESTDB,
            retries=5,
            backoff=0.5,
            said=said,
            sleep=delays.append,
        )
    assert len(calls) == 1 and delays == []


def test_no_retries_means_one_try() -> None:
    calls, call = failing(1, Flaky("overloaded"))
    with pytest.raises(Flaky):
        call_with_retries(
            call,
            TESTDB,
            retries=0,
            backoff=0.5,
            said=said,
            sleep=lambda seconds: pytest.fail(f"waited {seconds}s to retry with retries=0"),
        )
    assert len(calls) == 1


def test_the_servers_delay_wins_over_the_backoff() -> None:
    calls, call = failing(2, Flaky("429"))
    delays: list[float] = []
    call_with_retries(
        call,
        ClientFailures("TestDB", log, is_transient=transient, server_delay=lambda exc: 1.5),
        retries=5,
        backoff=100.0,
        said=said,
        sleep=delays.append,
    )
    assert delays == [1.5, 1.5] and len(calls) == 3


def test_without_a_servers_delay_the_backoff_applies() -> None:
    calls, call = failing(1, Flaky("503"))
    delays: list[float] = []
    call_with_retries(
        call,
        ClientFailures("TestDB", log, is_transient=transient, server_delay=lambda exc: None),
        retries=5,
        backoff=0.0,
        said=said,
        sleep=delays.append,
    )
    assert delays == [0.0] and len(calls) == 2


# -- chunks and batches_by_size -------------------------------------------------------------------


def test_chunks_cut_in_order_with_a_short_last_one() -> None:
    assert [list(c) for c in chunks(list(range(7)), 3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(chunks([], 3)) == []


def test_batches_close_at_the_row_limit() -> None:
    items = [(f"r{i}", i, 10) for i in range(5)]
    assert [[k for k, _ in b] for b in batches_by_size(items, max_items=2)] == [
        ["r0", "r1"],
        ["r2", "r3"],
        ["r4"],
    ]


def test_batches_close_before_the_record_that_would_pass_the_byte_limit() -> None:
    items = [("a", "A", 40), ("b", "B", 50), ("c", "C", 20), ("d", "D", 100), ("e", "E", 1)]
    got = list(batches_by_size(items, max_items=100, max_bytes=100))
    # a+b = 90 and c would make 110; c+... ; d is 100 alone (at the limit, not over); e after it
    assert got == [[("a", "A"), ("b", "B")], [("c", "C")], [("d", "D")], [("e", "E")]]


def test_a_record_over_the_byte_limit_goes_alone() -> None:
    items = [("a", 1, 10), ("huge", 2, 500), ("b", 3, 10)]
    assert [[k for k, _ in b] for b in batches_by_size(items, max_items=10, max_bytes=100)] == [
        ["a"],
        ["huge"],
        ["b"],
    ]


# -- write_isolating ------------------------------------------------------------------------------


class Engine:
    """A database that stores rows, refuses a batch holding a bad row, and fails transiently on cue."""

    def __init__(self, bad: set[str], flaky: int = 0, gone: bool = False) -> None:
        self.bad, self.flaky, self.gone = bad, flaky, gone
        self.rows: dict[str, int] = {}
        self.requests: list[list[str]] = []

    def upsert(self, batch: Sequence[tuple[str, int]]) -> None:
        ids = [record_id for record_id, _ in batch]
        self.requests.append(ids)
        if self.gone:
            raise Refused("collection does not exist")
        if self.flaky:
            self.flaky -= 1
            raise Flaky(f"overloaded (key {SECRET})")
        rejected = sorted(self.bad.intersection(ids))
        if rejected:
            raise Refused(f"row {rejected[0]} has the wrong dimension")
        self.rows.update(batch)


def write(engine: Engine, batch: Sequence[tuple[str, int]]) -> dict[str, str]:
    def upsert(part: Sequence[tuple[str, int]]) -> None:
        engine.upsert(part)

    def fatal(exc: BaseException) -> BaseException | None:
        return LookupError("the collection was dropped") if "does not exist" in str(exc) else None

    return write_isolating(
        batch,
        upsert,
        TESTDB,
        fatal=fatal,
        said=said,
        unit="rows",
        where="coll_1",
    )


def rows(n: int) -> list[tuple[str, int]]:
    return [(f"r{i}", i) for i in range(n)]


def test_a_rejected_batch_is_halved_until_the_bad_records_are_named(caplog: pytest.LogCaptureFixture) -> None:
    engine = Engine(bad={"r5", "r12"})
    with caplog.at_level(logging.INFO, logger=log.name):
        failures = write(engine, rows(16))
    assert list(failures) == ["r5", "r12"]
    assert failures["r5"] == "Refused: row r5 has the wrong dimension"
    assert sorted(engine.rows) == sorted(f"r{i}" for i in range(16) if i not in (5, 12))
    splits = [r.getMessage() for r in caplog.records if "bisecting" in r.getMessage()]
    assert (
        splits[0]
        == "TestDB rejected a batch of 16 rows in coll_1; bisecting: Refused: row r12 has the wrong dimension"
    )
    # the whole batch, then halves down to each bad row; a half without one is written in one request
    assert [len(ids) for ids in engine.requests] == [16, 8, 4, 4, 2, 1, 1, 2, 8, 4, 4, 2, 1, 1, 2]


def test_a_good_batch_is_one_request() -> None:
    engine = Engine(bad=set())
    assert write(engine, rows(8)) == {}
    assert engine.requests == [[f"r{i}" for i in range(8)]]


def test_an_empty_batch_sends_nothing() -> None:
    engine = Engine(bad=set())
    assert write(engine, []) == {}
    assert engine.requests == []


def test_a_transient_failure_reports_the_whole_batch_without_bisecting() -> None:
    engine = Engine(bad=set(), flaky=1)
    failures = write(engine, rows(4))
    assert list(failures) == ["r0", "r1", "r2", "r3"]
    assert all(SECRET not in reason and reason.startswith("Flaky: ") for reason in failures.values())
    assert engine.requests == [["r0", "r1", "r2", "r3"]]


def test_a_fatal_failure_is_raised_from_the_engines() -> None:
    engine = Engine(bad=set(), gone=True)
    with pytest.raises(LookupError, match="dropped") as info:
        write(engine, rows(4))
    assert isinstance(info.value.__cause__, Refused)
    assert len(engine.requests) == 1


def test_a_partial_write_the_engine_reports_is_bisected_too() -> None:
    stored: dict[str, int] = {}
    requests: list[int] = []

    def upsert_counting(part: Sequence[tuple[str, int]]) -> str | None:
        # an engine that answers with a count instead of raising: it skips the row "r2"
        requests.append(len(part))
        kept = [(k, v) for k, v in part if k != "r2"]
        stored.update(kept)
        return None if len(kept) == len(part) else f"{len(kept)} of {len(part)} rows written"

    failures = write_isolating(
        rows(4),
        upsert_counting,
        TESTDB,
        fatal=lambda exc: None,
        said=said,
        unit="rows",
        where="coll_1",
    )
    assert failures == {"r2": "0 of 1 rows written"}
    assert sorted(stored) == ["r0", "r1", "r3"]
    assert requests == [4, 2, 2, 1, 1]


# -- SharedClients --------------------------------------------------------------------------------


class EngineClient:
    """A client of an in-process engine that allows one open client per place."""

    open_places: ClassVar[set[str]] = set()

    def __init__(self, place: str) -> None:
        if place in EngineClient.open_places:
            raise RuntimeError(f"{place} is already open in another client")
        EngineClient.open_places.add(place)
        self.place, self.closed = place, False

    def close(self) -> None:
        EngineClient.open_places.discard(self.place)
        self.closed = True


def close_client(shared: SharedClient[EngineClient]) -> None:
    shared.client.close()


def test_stores_of_one_place_share_one_client_closed_with_the_last() -> None:
    registry: SharedClients[EngineClient] = SharedClients(close_client)
    first = registry.acquire("/data/a", lambda: EngineClient("/data/a"))
    second = registry.acquire("/data/a", lambda: EngineClient("/data/a"))
    assert second is first and first.users == 2
    registry.release(first)
    assert not first.client.closed and "/data/a" in registry
    registry.release(second)
    assert first.client.closed and "/data/a" not in registry
    again = registry.acquire("/data/a", lambda: EngineClient("/data/a"))  # the place can be opened anew
    assert again is not first and not again.client.closed
    registry.release(again)


def test_two_places_get_two_clients() -> None:
    registry: SharedClients[EngineClient] = SharedClients(close_client)
    a = registry.acquire("/data/b", lambda: EngineClient("/data/b"))
    b = registry.acquire("/data/c", lambda: EngineClient("/data/c"))
    assert a.client is not b.client
    registry.release(a)
    registry.release(b)
    assert a.client.closed and b.client.closed


def test_a_client_that_lives_with_the_process_is_never_closed() -> None:
    registry: SharedClients[EngineClient] = SharedClients(close_client)
    kept = registry.acquire("mem:x", lambda: EngineClient("mem:x"), lives_with_process=True)
    registry.release(kept)
    assert not kept.client.closed and kept.users == 0
    assert registry.acquire("mem:x", lambda: EngineClient("mem:x")) is kept  # its data is still there


def test_an_unshared_client_is_its_stores_alone() -> None:
    registry: SharedClients[EngineClient] = SharedClients(close_client)
    one = registry.acquire("mem:", lambda: EngineClient("mem:1"), shared=False)
    two = registry.acquire("mem:", lambda: EngineClient("mem:2"), shared=False)
    assert one is not two and "mem:" not in registry
    registry.release(one)
    assert one.client.closed and not two.client.closed
    registry.release(two)


def test_a_client_that_fails_to_open_registers_nothing() -> None:
    registry: SharedClients[EngineClient] = SharedClients(close_client)

    def refuse() -> EngineClient:
        raise PermissionError("/data/ro is read-only")

    with pytest.raises(PermissionError):
        registry.acquire("/data/ro", refuse)
    assert "/data/ro" not in registry
    shared = registry.acquire("/data/ro", lambda: EngineClient("/data/ro"))
    assert shared.users == 1
    registry.release(shared)


def test_concurrent_stores_of_one_place_open_one_client() -> None:
    registry: SharedClients[EngineClient] = SharedClients(close_client)
    barrier = threading.Barrier(8)
    got: list[SharedClient[EngineClient]] = []
    errors: list[BaseException] = []

    def connect() -> None:
        barrier.wait()
        try:
            got.append(registry.acquire("/data/d", lambda: EngineClient("/data/d")))
        except BaseException as exc:  # the engine's refusal of a second client
            errors.append(exc)

    threads = [threading.Thread(target=connect) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len({id(s) for s in got}) == 1 and got[0].users == 8
    for shared in got:
        registry.release(shared)
    assert got[0].client.closed


# -- split_store_url and refuse_unknown -----------------------------------------------------------


def split(url: str) -> StoreURL:
    return split_store_url(
        url, engine="TestDB", schemes=("testdb", "testdbs"), secret="a token", instead="set TESTDB_TOKEN"
    )


def test_a_store_url_is_split_with_its_parameters() -> None:
    got = split("TestDB://host.example:1234/?db=main&flag=")
    assert got.scheme == "testdb" and got.port == 1234 and got.parts.hostname == "host.example"
    assert got.params == {"db": "main", "flag": ""}


@pytest.mark.parametrize(
    "url",
    [
        f"testdb://user:{SECRET}@host.example",
        f"testdb://{SECRET}@host.example",
        f"testdbs://host.example/?token={SECRET}",
        f"testdbs://host.example/?API-Key={SECRET}",
        f"testdbs://host.example/?db=x&db_password={SECRET}",
    ],
)
def test_a_secret_in_a_store_url_is_refused_without_its_value(url: str) -> None:
    with pytest.raises(ConfigurationError, match="go into a testdb") as info:
        split(url)
    assert SECRET not in str(info.value) and "set TESTDB_TOKEN" in str(info.value)


def test_the_parameter_holding_a_secret_is_named() -> None:
    with pytest.raises(
        ConfigurationError, match=r"a token does not go into a testdbs:// URL \(found api_key, token\)"
    ):
        split(f"testdbs://h/?token={SECRET}&api_key={SECRET}&db=x")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://host", "unsupported scheme 'postgresql'; use one of testdb, testdbs"),
        ("testdb://host:99999", "not a TestDB URL: "),
    ],
)
def test_a_url_of_another_kind_is_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        split(url)


def test_unknown_names_are_refused_with_the_known_ones() -> None:
    refuse_unknown({"batch_size"}, {"batch_size", "max_retries"})
    with pytest.raises(
        ConfigurationError, match=r"^unknown option\(s\) colour, size; known: batch_size, max_retries$"
    ):
        refuse_unknown({"size", "colour", "batch_size"}, {"max_retries", "batch_size"})
    with pytest.raises(
        ConfigurationError, match=r"^unknown parameter\(s\) x in a testdb:// URL; known: db, prefix, grpc$"
    ):
        refuse_unknown(
            {"x"}, {"db"}, what="parameter", where=" in a testdb:// URL", shown=("db", "prefix", "grpc")
        )


# -- check_recorded_owner, check_still_recorded, collection_failure ---------------------------------

SPEC_128 = EmbeddingSpec.for_model("gemini-embedding-2", 128)
SPEC_768 = EmbeddingSpec.for_model("gemini-embedding-2", 768)


def test_a_record_of_the_collection_asked_for_is_returned() -> None:
    recorded = ("docs", SPEC_128, "plan")
    assert (
        check_recorded_owner(recorded, "docs", engine="TestDB", native="gv_docs", url="testdb://h")
        is recorded
    )


def test_a_collection_gemini_vectors_did_not_make_is_refused() -> None:
    with pytest.raises(StoreError) as info:
        check_recorded_owner(
            None, "docs", engine="TestDB", native="docs", url="testdb://h", holder="its properties carry"
        )
    assert str(info.value) == (
        "TestDB collection docs in testdb://h exists but is not a gemini-vectors collection (its properties "
        "carry no embedding spec); choose another collection name or collection_prefix"
    )


def test_a_collection_that_holds_another_name_is_refused() -> None:
    with pytest.raises(
        StoreError, match=r"^TestDB collection gv_a_b holds gemini-vectors collection 'a.b', not 'a_b'$"
    ):
        check_recorded_owner(("a.b", SPEC_128), "a_b", engine="TestDB", native="gv_a_b", url="testdb://h")


def test_a_collection_still_recorded_with_the_spec_passes() -> None:
    recorded = (SPEC_128, "handle")
    assert (
        check_still_recorded(recorded, SPEC_128, name="docs", engine="TestDB", native="gv_docs") is recorded
    )


def test_a_dropped_collection_is_not_found_before_a_write() -> None:
    with pytest.raises(CollectionNotFoundError) as info:
        check_still_recorded(None, SPEC_128, name="docs", engine="TestDB", native="gv_docs")
    assert str(info.value) == (
        "collection 'docs' (TestDB collection gv_docs) no longer exists; open it again to recreate it"
    )


def test_a_collection_recreated_for_another_spec_is_a_spec_mismatch() -> None:
    with pytest.raises(SpecMismatchError) as info:
        check_still_recorded((SPEC_768,), SPEC_128, name="docs", engine="TestDB", native="gv_docs")
    assert info.value.stored == SPEC_768 and info.value.requested == SPEC_128


def failure(exc: BaseException) -> Exception:
    return collection_failure(
        exc,
        ClientFailures(
            "TestDB", log, is_transient=transient, is_not_found=lambda e: "no such collection" in str(e)
        ),
        what="upsert",
        name="docs",
        native="gv_docs",
        url="testdb://h",
        said=said,
    )


def test_a_failure_on_a_collection_names_the_operation_and_hides_the_secret() -> None:
    error = failure(Refused(f"request with key {SECRET} refused"))
    assert isinstance(error, StoreError)
    assert str(error) == (
        "TestDB upsert on collection 'docs' (gv_docs) in testdb://h failed: Refused: request with key *** "
        "refused"
    )


def test_a_failure_saying_the_collection_is_gone_is_not_found() -> None:
    error = failure(Refused("no such collection gv_docs"))
    assert isinstance(error, CollectionNotFoundError) and "open it again to recreate it" in str(error)


@pytest.mark.parametrize(
    "own", [StoreError("closed"), ArgumentError("k must be positive"), MetadataError("bad key")]
)
def test_an_error_of_gemini_vectors_own_is_kept(own: Exception) -> None:
    assert failure(own) is own


# -- check_integer_option and check_seconds_option ------------------------------------------------


def test_an_integer_option_in_range_is_returned() -> None:
    assert check_integer_option("batch_size", 1, low=1) == 1
    assert check_integer_option("max_batch_bytes", 1024, low=1024, high=2048) == 1024


@pytest.mark.parametrize(
    ("value", "high", "message"),
    [
        (0, None, "batch_size must be an integer of at least 1, got 0"),
        (True, None, "batch_size must be an integer of at least 1, got True"),
        (2.0, None, "batch_size must be an integer of at least 1, got 2.0"),
        ("10", None, "batch_size must be an integer of at least 1, got '10'"),
        (70_000, 65_535, "batch_size must be an integer between 1 and 65,535, got 70000"),
    ],
)
def test_a_bad_integer_option_is_refused_by_name(value: object, high: int | None, message: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        check_integer_option("batch_size", value, low=1, high=high)
    assert str(info.value) == message


def test_a_seconds_option_is_a_float() -> None:
    assert check_seconds_option("retry_backoff", 0) == 0.0
    assert isinstance(check_seconds_option("retry_backoff", 2), float)


@pytest.mark.parametrize("value", [-0.5, "1", None])
def test_a_bad_seconds_option_is_refused_by_name(value: object) -> None:
    with pytest.raises(ConfigurationError, match=r"^retry_backoff must be a number of seconds >= 0, got "):
        check_seconds_option("retry_backoff", value)


# -- checked_record -------------------------------------------------------------------------------


class ShortIdCollection(MemoryCollection):
    """The memory store's collection with an engine's id limit, as a backend declares one."""

    max_id_length = 8  # type: ignore[assignment]  # the memory store declares None: no limit


def unit_vector(dims: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    vec = np.ones(dims, dtype=np.float32)
    return vec / np.linalg.norm(vec)


def collection(cls: type[MemoryCollection] = MemoryCollection) -> MemoryCollection:
    return cls(MemoryStore(), "docs", SPEC_128)


def test_a_good_record_gives_its_vector_and_portable_metadata() -> None:
    numpy_int: Any = np.int64(3)  # what a DataFrame row hands over
    vec, meta = checked_record(
        collection(), 0, Record("a", unit_vector(128), {"n": numpy_int, "tags": ["x"]})
    )
    assert vec.dtype == np.float32 and vec.shape == (128,)
    assert meta == {"n": 3, "tags": ["x"]} and type(meta["n"]) is int


@pytest.mark.parametrize("bad_id", ["", 7, None])
def test_an_id_that_is_not_a_non_empty_string_is_refused_by_position(bad_id: object) -> None:
    record = Record(bad_id, unit_vector(128), {})  # type: ignore[arg-type]
    with pytest.raises(
        MetadataError, match=rf"^record 3: ids are non-empty strings, got {re.escape(repr(bad_id))}$"
    ):
        checked_record(collection(), 3, record)


def test_an_id_over_the_backends_limit_is_refused() -> None:
    with pytest.raises(MetadataError, match="record 2"):
        checked_record(collection(ShortIdCollection), 2, Record("x" * 9, unit_vector(128), {}))


def test_a_vector_of_the_wrong_length_names_the_record() -> None:
    with pytest.raises(ArgumentError, match=r"vector of record 1 \('b'\)"):
        checked_record(collection(), 1, Record("b", unit_vector(64), {}))


def test_metadata_that_is_not_portable_names_the_record_with_its_id_cut() -> None:
    long_id = "id-" + "y" * 100
    record = Record(long_id, unit_vector(128), {"when": object()})  # type: ignore[dict-item]
    with pytest.raises(MetadataError) as info:
        checked_record(collection(), 4, record, shown_id_length=10)
    assert f"metadata of record 4 ({long_id[:10]!r})" in str(info.value) and long_id not in str(info.value)


# -- grpc_code ------------------------------------------------------------------------------------


class StatusCode(enum.Enum):
    """The shape of grpc.StatusCode: an enum whose names are the statuses."""

    UNAVAILABLE = (14, "unavailable")
    INVALID_ARGUMENT = (3, "invalid argument")


class RpcFailure(Exception):
    """A failed call as grpcio raises it: ``code()`` gives the status."""

    def __init__(self, status: StatusCode) -> None:
        super().__init__(status.value[1])
        self.status = status

    def code(self) -> StatusCode:
        return self.status


class BrokenRpcFailure(Exception):
    def code(self) -> StatusCode:
        raise RuntimeError("the call never finished")


def test_the_status_of_a_failed_grpc_call_is_named() -> None:
    assert grpc_code(RpcFailure(StatusCode.UNAVAILABLE)) == "UNAVAILABLE"
    assert grpc_code(RpcFailure(StatusCode.UNAVAILABLE)) in TRANSIENT_GRPC_CODES
    assert grpc_code(RpcFailure(StatusCode.INVALID_ARGUMENT)) not in TRANSIENT_GRPC_CODES


def test_another_exception_has_no_grpc_status() -> None:
    assert grpc_code(ValueError("no code here")) is None
    assert grpc_code(BrokenRpcFailure()) is None
