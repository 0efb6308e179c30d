"""adapter_kit: the framework adapters' shared argument handling, tested without any framework installed.

Real pieces only: Embedders on the unmodified google-genai SDK against the Gemini API emulator, memory://
stores, and a store plugin registered at run time where the options a URL is opened with must be seen.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import gemini_vectors as gv
from gemini_vectors import adapter_kit, hookspecs, plugins
from gemini_vectors.errors import ArgumentError, ConfigurationError, UnknownModelError, UnknownStoreError
from gemini_vectors.memory_store import MemoryStore
from gemini_vectors.spec import TaskType
from gemini_vectors.testing.gemini_emulator import GeminiEmulator

Q, D = TaskType.RETRIEVAL_QUERY, TaskType.RETRIEVAL_DOCUMENT
NO_OPTIONS: dict[str, Any] = {}


@pytest.fixture
def emb(gemini_emulator: GeminiEmulator) -> gv.Embedder:
    return gv.Embedder(dimensions=256, client=gemini_emulator.client())


def build(**overrides: Any) -> gv.Embedder:
    """embedder_of with the arguments an adapter passes when the user gave none of them."""
    arguments: dict[str, Any] = {
        "embedder": None,
        "model": adapter_kit.DEFAULT_MODEL,
        "dimensions": None,
        "client": None,
        "api_key": None,
        "options": {},
    }
    arguments |= overrides
    embedder, model, dimensions = (
        arguments.pop("embedder"),
        arguments.pop("model"),
        arguments.pop("dimensions"),
    )
    return adapter_kit.embedder_of(embedder, model, dimensions, **arguments)


# -- the module itself ------------------------------------------------------------------------------------


def test_importing_adapter_kit_imports_no_framework() -> None:
    # a fresh interpreter: this process may have imported a framework already
    code = "import json, sys, gemini_vectors.adapter_kit; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    imported = set(json.loads(out))
    assert "gemini_vectors.adapter_kit" in imported
    frameworks = {
        name for name in imported if name.split(".")[0] in {"langchain_core", "langchain", "llama_index"}
    }
    assert frameworks == set()


def test_default_model_is_what_the_embedder_uses_when_none_is_given() -> None:
    # passing DEFAULT_MODEL beside embedder= counts as not passing a model: they must be the same name
    assert adapter_kit.DEFAULT_MODEL == "gemini-embedding-2"
    assert inspect.signature(gv.Embedder).parameters["model"].default == adapter_kit.DEFAULT_MODEL


# -- tasks_of ---------------------------------------------------------------------------------------------


def test_tasks_default_to_retrieval() -> None:
    query, document = adapter_kit.tasks_of(None, None, None)
    assert (query, document) == (Q, D)
    assert type(query) is TaskType and type(document) is TaskType


@pytest.mark.parametrize("task", ["clustering", " Semantic_Similarity ", TaskType.CLASSIFICATION])
def test_task_sets_both(task: TaskType | str) -> None:
    expected = TaskType.parse(task)
    assert adapter_kit.tasks_of(task, None, None) == (expected, expected)


def test_query_and_document_tasks_are_each_their_own() -> None:
    assert adapter_kit.tasks_of(None, "question_answering", None) == (TaskType.QUESTION_ANSWERING, D)
    assert adapter_kit.tasks_of(None, None, "clustering") == (Q, TaskType.CLUSTERING)
    assert adapter_kit.tasks_of(None, TaskType.CODE_RETRIEVAL_QUERY, "fact_verification") == (
        TaskType.CODE_RETRIEVAL_QUERY,
        TaskType.FACT_VERIFICATION,
    )


@pytest.mark.parametrize(
    "query_task, document_task",
    [("retrieval_query", None), (None, "retrieval_document"), ("clustering", "clustering")],
)
def test_task_with_query_or_document_task_is_refused(
    query_task: str | None, document_task: str | None
) -> None:
    # even when they agree: which one the user meant is not ours to guess
    with pytest.raises(ConfigurationError) as caught:
        adapter_kit.tasks_of("clustering", query_task, document_task)
    assert str(caught.value) == "pass task= (for both) or query_task=/document_task=, not both"
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("position", [0, 1, 2])
def test_an_unknown_task_is_refused_with_the_known_ones(position: int) -> None:
    arguments: list[str | None] = [None, None, None]
    arguments[position] = "retrieval"
    with pytest.raises(
        ConfigurationError, match=r"unknown task type 'retrieval'; known task types: "
    ) as caught:
        adapter_kit.tasks_of(*arguments)
    assert all(t.value in str(caught.value) for t in TaskType)


@pytest.mark.parametrize("position", [0, 1, 2])
@pytest.mark.parametrize("value", [3, ["RETRIEVAL_QUERY"], b"RETRIEVAL_QUERY"])
def test_a_task_of_the_wrong_type_is_refused(position: int, value: object) -> None:
    arguments: list[object] = [None, None, None]
    arguments[position] = value
    with pytest.raises(ConfigurationError, match=r"a task type is a TaskType or its name, got "):
        adapter_kit.tasks_of(*arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "given",
    [
        {"task": ""},
        {"query_task": ""},
        {"document_task": ""},
        {"task": 0},
        {"task": False},
        {"query_task": []},
    ],
    ids=["task-empty", "query-empty", "document-empty", "task-zero", "task-false", "query-empty-list"],
)
def test_a_falsy_bad_task_is_refused_not_replaced_by_the_default(given: dict[str, object]) -> None:
    arguments: dict[str, object] = {"task": None, "query_task": None, "document_task": None} | given
    with pytest.raises(ConfigurationError, match="task type"):
        adapter_kit.tasks_of(**arguments)  # type: ignore[arg-type]


# -- embedder_of: building one ------------------------------------------------------------------------------


def test_an_embedder_is_built_on_the_given_client(gemini_emulator: GeminiEmulator) -> None:
    built = build(
        model="gemini-embedding-001", dimensions=128, client=gemini_emulator.client(api_key="k-client")
    )
    assert type(built) is gv.Embedder
    assert (built.model, built.dimensions) == ("gemini-embedding-001", 128)
    vectors = built.embed(["one text"], "retrieval_document")
    assert vectors.shape == (1, 128)
    assert gemini_emulator.stats.embed_requests == 1
    assert gemini_emulator.stats.keys_seen == frozenset({"k-client"})


def test_an_embedder_is_built_with_the_given_api_key(gemini_env: GeminiEmulator) -> None:
    built = build(api_key="k-argument")  # the environment holds test-key: the argument wins
    assert (built.model, built.dimensions) == (adapter_kit.DEFAULT_MODEL, 3072)
    built.embed(["one text"])
    assert gemini_env.stats.keys_seen == frozenset({"k-argument"})


def test_an_embedder_is_built_with_the_options(gemini_emulator: GeminiEmulator) -> None:
    built = build(
        client=gemini_emulator.client(),
        options={"max_concurrency": 3, "rpm": 600, "upload_threshold_bytes": None, "progress": False},
    )
    assert built.max_concurrency == 3
    assert built.limiter.rpm == 600
    assert built.upload_threshold_bytes is None
    assert built.progress is False


def test_building_without_credentials_says_where_a_key_is_looked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError, match=r"set GEMINI_API_KEY \(or GOOGLE_API_KEY\), pass api_key="):
        build()


@pytest.mark.parametrize(
    "overrides, error, words",
    [
        ({"model": "gemini-embedding-9"}, UnknownModelError, "gemini-embedding-9"),
        ({"dimensions": 5000}, ConfigurationError, "5000"),
        (
            {"options": {"max_concurrency": 0}},
            ConfigurationError,
            "max_concurrency must be at least 1, got 0",
        ),
        ({"options": {"rpm": "fast"}}, ConfigurationError, "rpm must be an integer, got 'fast'"),
    ],
    ids=["unknown-model", "dimensions-out-of-range", "zero-concurrency", "rpm-not-int"],
)
def test_building_refuses_what_the_embedder_refuses(
    gemini_emulator: GeminiEmulator, overrides: dict[str, Any], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words.replace("(", r"\(")):
        build(client=gemini_emulator.client(), **overrides)
    assert gemini_emulator.stats.total_calls == 0


def test_building_with_an_unknown_option_names_it(gemini_emulator: GeminiEmulator) -> None:
    # the adapters pass **embedder_options through: a misspelt option must not vanish
    with pytest.raises(TypeError, match="dimension"):
        build(client=gemini_emulator.client(), options={"dimension": 768})


# -- embedder_of: a given one ------------------------------------------------------------------------------


def test_a_given_embedder_is_used_as_it_is(emb: gv.Embedder, gemini_emulator: GeminiEmulator) -> None:
    assert build(embedder=emb) is emb
    assert gemini_emulator.stats.total_calls == 0


def test_the_default_model_beside_a_given_embedder_is_no_clash(gemini_emulator: GeminiEmulator) -> None:
    older = gv.Embedder("gemini-embedding-001", 768, client=gemini_emulator.client())
    assert build(embedder=older, model=adapter_kit.DEFAULT_MODEL) is older


def test_a_subclass_of_embedder_is_an_embedder(gemini_emulator: GeminiEmulator) -> None:
    class MyEmbedder(gv.Embedder):
        pass

    mine = MyEmbedder(dimensions=256, client=gemini_emulator.client())
    assert build(embedder=mine) is mine


@pytest.mark.parametrize(
    "overrides, fixed",
    [
        ({"model": "gemini-embedding-001"}, "model"),
        ({"dimensions": 768}, "dimensions"),
        ({"dimensions": 256}, "dimensions"),  # the Embedder's own value is still a second place to set it
        ({"dimensions": 0}, "dimensions"),  # a bad value is still a given one: not passed over as unset
        ({"api_key": "k"}, "api_key"),
        ({"options": {"rpm": 60}}, "rpm"),
        ({"options": {"rpm": None}}, "rpm"),  # given is given, whatever the value
        ({"options": {"vertexai": False, "max_concurrency": 2}}, "max_concurrency, vertexai"),
    ],
)
def test_arguments_a_given_embedder_fixes_are_refused(
    emb: gv.Embedder, overrides: dict[str, Any], fixed: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build(embedder=emb, **overrides)
    assert str(caught.value) == f"embedder= already fixes {fixed}; configure the Embedder instead"


def test_a_client_beside_a_given_embedder_is_refused(
    emb: gv.Embedder, gemini_emulator: GeminiEmulator
) -> None:
    with pytest.raises(ConfigurationError, match=r"^embedder= already fixes client; configure the Embedder"):
        build(embedder=emb, client=gemini_emulator.client())


def test_every_clash_is_named_at_once_in_order(emb: gv.Embedder, gemini_emulator: GeminiEmulator) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build(
            embedder=emb,
            model="gemini-embedding-001",
            dimensions=768,
            client=gemini_emulator.client(),
            api_key="k",
            options={"tpm": 1000, "retry": None},
        )
    assert str(caught.value) == (
        "embedder= already fixes api_key, client, dimensions, model, retry, tpm; "
        "configure the Embedder instead"
    )


def test_the_clash_names_the_model_argument_as_the_adapter_calls_it(emb: gv.Embedder) -> None:
    with pytest.raises(ConfigurationError) as caught:
        adapter_kit.embedder_of(
            emb,
            "gemini-embedding-001",
            None,
            client=None,
            api_key=None,
            options={},
            model_argument="model_name",
        )
    assert str(caught.value) == "embedder= already fixes model_name; configure the Embedder instead"


@pytest.mark.parametrize("not_an_embedder", ["gemini-embedding-2", 768, {"model": "gemini-embedding-2"}])
def test_an_embedder_that_is_not_an_embedder_is_refused(not_an_embedder: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        build(embedder=not_an_embedder)
    assert str(caught.value) == f"embedder= takes a gemini_vectors.Embedder, got {type(not_an_embedder)}"


def test_a_genai_client_passed_as_embedder_is_refused(gemini_emulator: GeminiEmulator) -> None:
    with pytest.raises(ConfigurationError, match=r"embedder= takes a gemini_vectors\.Embedder, got .*Client"):
        build(embedder=gemini_emulator.client())


def test_the_type_of_the_embedder_is_checked_before_the_clashes() -> None:
    with pytest.raises(ConfigurationError, match=r"embedder= takes a gemini_vectors\.Embedder"):
        build(embedder="gemini-embedding-001", model="gemini-embedding-001", dimensions=768)


# -- open_store -------------------------------------------------------------------------------------------


class _RecordingPlugin:
    """A store plugin for the scheme ``adapterkit``: it remembers what each store was opened with."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, dict[str, Any]]] = []

    def _open(self, url: str, **options: Any) -> MemoryStore:
        self.opened.append((url, options))
        return MemoryStore(url)

    @hookspecs.hookimpl
    def register_stores(self, register: hookspecs.RegisterStore) -> None:
        register("adapterkit", self._open)


@pytest.fixture
def fresh_plugins() -> Iterator[None]:
    plugins.reload_plugins()
    yield
    plugins.reload_plugins()


@pytest.fixture
def recording(fresh_plugins: None) -> _RecordingPlugin:
    plugin = _RecordingPlugin()
    plugins.register_plugin(plugin, name="adapter-kit-recording")
    return plugin


def test_an_open_store_is_used_and_not_owned() -> None:
    store = gv.connect("memory://")
    assert adapter_kit.open_store(store, {}) == (store, False)
    assert adapter_kit.open_store(store, {})[0] is store


@pytest.mark.parametrize(
    "options, named", [({"timeout": 5}, "['timeout']"), ({"pool": 2, "api_key": "x"}, "['api_key', 'pool']")]
)
def test_options_with_an_open_store_are_refused(options: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        adapter_kit.open_store(gv.connect("memory://"), options)
    assert str(caught.value) == f"{named} apply to a store URL, not an open store"


def test_a_url_is_opened_and_owned() -> None:
    first, owned = adapter_kit.open_store("memory://", NO_OPTIONS)
    assert owned is True
    assert type(first) is MemoryStore and first.url == "memory://"
    second, _ = adapter_kit.open_store("memory://", NO_OPTIONS)
    assert second is not first  # memory:// is a new store each time


def test_a_named_memory_url_reaches_the_same_store() -> None:
    first, _ = adapter_kit.open_store("memory://adapter-kit-named", NO_OPTIONS)
    first.collection("docs", spec=gv.EmbeddingSpec.for_model("gemini-embedding-2", 256))
    second, owned = adapter_kit.open_store("memory://adapter-kit-named", NO_OPTIONS)
    assert owned is True
    assert "docs" in second.list_collections()


def test_the_options_go_to_the_plugin_that_opens_the_url(recording: _RecordingPlugin) -> None:
    store, owned = adapter_kit.open_store("adapterkit://host/db", {"timeout": 5, "pool": 2})
    assert owned is True and type(store) is MemoryStore
    assert recording.opened == [("adapterkit://host/db", {"timeout": 5, "pool": 2})]


def test_options_a_plugin_does_not_take_are_its_to_refuse() -> None:
    with pytest.raises(TypeError, match=r"memory:// takes no options, got \['timeout'\]"):
        adapter_kit.open_store("memory://", {"timeout": 5})


def test_no_store_opens_the_embedded_default(monkeypatch: pytest.MonkeyPatch, fresh_plugins: None) -> None:
    # without the pgvector plugin (blocked here, absent in the core env) the default says what to install
    monkeypatch.setenv(plugins.DISABLE_ENV, "pgvector")
    plugins.reload_plugins()
    with pytest.raises(
        UnknownStoreError, match=r"no URL opens an embedded PostgreSQL.*pip install gemini-vectors-pgvector"
    ):
        adapter_kit.open_store(None, NO_OPTIONS)


def test_an_empty_url_is_no_url_at_all() -> None:
    # "" must not be taken for None (the embedded default)
    with pytest.raises(
        UnknownStoreError,
        match=r"^'' is not a store URL; expected e\.g\. 'postgresql://\.\.\.' or 'memory://'",
    ):
        adapter_kit.open_store("", NO_OPTIONS)


def test_an_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(UnknownStoreError, match=r"no plugin serves 'nosuch' URLs \(known schemes: .*memory"):
        adapter_kit.open_store("nosuch://host", NO_OPTIONS)


def test_a_refused_url_never_shows_its_password() -> None:
    with pytest.raises(UnknownStoreError) as caught:
        adapter_kit.open_store("just-a-name:s3cret-pw@host", NO_OPTIONS)
    assert "s3cret-pw" not in str(caught.value)
    with pytest.raises(UnknownStoreError) as caught:
        adapter_kit.open_store("nosuch://user:s3cret-pw@host/db", NO_OPTIONS)
    assert "s3cret-pw" not in str(caught.value)


@pytest.mark.parametrize("store_name", ["int", "bytes", "collection", "store-collection"])
def test_a_store_of_the_wrong_type_is_refused(store_name: str, emb: gv.Embedder) -> None:
    memory = gv.connect("memory://")
    wrong: object = {
        "int": 42,
        "bytes": b"memory://",
        "collection": memory.collection("docs", embedder=emb),
        "store-collection": memory.open_collection("docs"),
    }[store_name]
    with pytest.raises(ArgumentError, match=rf"takes a URL string, got {type(wrong).__name__}$"):
        adapter_kit.open_store(wrong, NO_OPTIONS)  # type: ignore[arg-type]


# -- check_collection_name, one_text, text_list ----------------------------------------------------------


@pytest.mark.parametrize("name", ["docs", "a", "notes de café", " spaced "])
def test_a_collection_name_is_returned(name: str) -> None:
    assert adapter_kit.check_collection_name(name) is name


@pytest.mark.parametrize("name", ["", None, 42, b"docs", ["docs"]])
def test_a_bad_collection_name_is_refused(name: object) -> None:
    with pytest.raises(ArgumentError) as caught:
        adapter_kit.check_collection_name(name)
    assert str(caught.value) == f"collection_name is a non-empty str, got {name!r}"
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize("text", ["a query", ""])
def test_one_text_is_returned(text: str) -> None:
    assert adapter_kit.one_text(text, expected="a query is one str") is text


@pytest.mark.parametrize(
    "value, type_name", [(["a query"], "list"), (None, "NoneType"), (b"a query", "bytes"), (7, "int")]
)
def test_one_text_refuses_anything_else_in_the_adapters_words(value: object, type_name: str) -> None:
    with pytest.raises(ArgumentError) as caught:
        adapter_kit.one_text(value, expected="embed_query() takes one str")
    assert str(caught.value) == f"embed_query() takes one str, got {type_name}"


def test_a_text_list_keeps_the_texts_in_order() -> None:
    given = ["a", "", "c"]
    out = adapter_kit.text_list(given, expected="x")
    assert out == ["a", "", "c"] and out is not given
    assert adapter_kit.text_list(("a", "b"), expected="x") == ["a", "b"]
    assert adapter_kit.text_list((t for t in ["a", "b"]), expected="x") == ["a", "b"]  # read once, kept
    assert adapter_kit.text_list([], expected="x") == []


@pytest.mark.parametrize(
    "value, type_name", [("one text", "str"), ("", "str"), (None, "NoneType"), (3, "int")]
)
def test_a_lone_str_or_a_non_iterable_is_not_a_text_list(value: object, type_name: str) -> None:
    # a lone str would be read as its characters, one vector per letter
    with pytest.raises(ArgumentError) as caught:
        adapter_kit.text_list(value, expected="embed_documents() takes a list of str")
    assert str(caught.value) == f"embed_documents() takes a list of str, got {type_name}"


@pytest.mark.parametrize(
    "value, index, type_name",
    [
        (["a", 1, "c"], 1, "int"),
        (["a", "b", None], 2, "NoneType"),
        ([b"a"], 0, "bytes"),
        ([["a"]], 0, "list"),
    ],
)
def test_a_text_that_is_no_str_is_named_by_its_position(
    value: list[object], index: int, type_name: str
) -> None:
    with pytest.raises(ArgumentError) as caught:
        adapter_kit.text_list(value, expected="x")
    assert str(caught.value) == f"text {index} is a {type_name}, not a str"


@pytest.mark.parametrize(
    "value", [b"some text", bytearray(b"some text"), b""], ids=["bytes", "bytearray", "empty"]
)
def test_lone_bytes_are_not_a_text_list(value: object) -> None:
    with pytest.raises(ArgumentError, match=rf"^x, got (one )?{type(value).__name__}\b"):
        adapter_kit.text_list(value, expected="x")


def test_a_mapping_is_not_a_text_list() -> None:
    with pytest.raises(ArgumentError, match=r"dict|mapping"):
        adapter_kit.text_list({"id-1": "a cat", "id-2": "a dog"}, expected="x")


# -- as_lists ---------------------------------------------------------------------------------------------


def test_vectors_become_lists_of_python_floats(emb: gv.Embedder) -> None:
    matrix = emb.embed(["a cat", "a dog", "a car"], "retrieval_document")
    rows = adapter_kit.as_lists(matrix)
    assert type(rows) is list and len(rows) == 3
    assert all(type(row) is list and len(row) == 256 for row in rows)
    assert all(type(x) is float for row in rows for x in row)
    assert np.array_equal(np.asarray(rows, dtype=np.float32), matrix)  # float32 -> float is exact
    assert np.allclose(np.linalg.norm(np.asarray(rows), axis=1), 1.0, atol=1e-5)
    assert json.loads(json.dumps(rows)) == rows


def test_the_lists_do_not_share_the_matrix(emb: gv.Embedder) -> None:
    matrix = emb.embed(["a cat"], "retrieval_query").copy()
    rows = adapter_kit.as_lists(matrix)
    before = list(rows[0])
    matrix[0, 0] = 42.0
    assert rows[0] == before


def test_no_vectors_are_no_lists(emb: gv.Embedder, gemini_emulator: GeminiEmulator) -> None:
    assert adapter_kit.as_lists(emb.embed([], "retrieval_document")) == []
    assert adapter_kit.as_lists(np.zeros((0, 256), dtype=np.float32)) == []
    assert gemini_emulator.stats.embed_calls == 0
