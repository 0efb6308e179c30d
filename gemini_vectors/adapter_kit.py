"""What a framework adapter does with its arguments before the framework comes in, once for every adapter.

:mod:`gemini_vectors.langchain` and :mod:`gemini_vectors.llama_index` take the same arguments in their
frameworks' clothes; turning those into gemini-vectors objects, and refusing them the same way, lives
here. This module imports no framework (``import gemini_vectors`` must never import one), only the core.

* :func:`tasks_of`: the query and document tasks of an embedding, from one ``task=`` or the two.
* :func:`embedder_of`: the given :class:`~gemini_vectors.Embedder`, or one built from the arguments, never
  both (an option the given Embedder already fixes would be silently ignored).
* :func:`open_store`: the store from a URL (the adapter owns it and closes it) or an open one.
* :func:`check_collection_name`, :func:`one_text` and :func:`text_list`: argument checks whose failure names
  the argument, before anything is embedded or written.
* :func:`as_lists`: vectors as the lists of floats the frameworks' interfaces return.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from gemini_vectors.embedder import Embedder
from gemini_vectors.errors import ArgumentError, ConfigurationError
from gemini_vectors.plugins import connect
from gemini_vectors.spec import TaskType
from gemini_vectors.store import VectorStore

if TYPE_CHECKING:
    from google import genai

# the adapters' default model: passing it beside embedder= is no clash (it is what not passing it means)
DEFAULT_MODEL = "gemini-embedding-2"


def tasks_of(
    task: TaskType | str | None, query_task: TaskType | str | None, document_task: TaskType | str | None
) -> tuple[TaskType, TaskType]:
    """The (query, document) tasks: ``task`` for both, or each its own (retrieval by default).

    Raises:
        ConfigurationError: ``task`` given together with ``query_task`` or ``document_task``, or an
            unknown task.
    """
    if task is not None and (query_task is not None or document_task is not None):
        raise ConfigurationError("pass task= (for both) or query_task=/document_task=, not both")
    # "is not None", not "or": a falsy bad value ("", 0) must be refused, not read as "not given"
    query = TaskType.parse(
        query_task if query_task is not None else task if task is not None else TaskType.RETRIEVAL_QUERY
    )
    document = TaskType.parse(
        document_task
        if document_task is not None
        else task
        if task is not None
        else TaskType.RETRIEVAL_DOCUMENT
    )
    return query, document


def embedder_of(
    embedder: Embedder | None,
    model: str,
    dimensions: int | None,
    *,
    client: genai.Client | None,
    api_key: str | None,
    options: Mapping[str, Any],
    model_argument: str = "model",
) -> Embedder:
    """``embedder``, or an Embedder built from the other arguments when it is None.

    Args:
        model_argument: What the adapter calls its ``model`` argument, for the message of a clash.

    Raises:
        ConfigurationError: ``embedder`` is no Embedder, or comes with arguments it already fixes.
    """
    if embedder is None:
        return Embedder(model, dimensions, client=client, api_key=api_key, **options)
    if not isinstance(embedder, Embedder):
        raise ConfigurationError(f"embedder= takes a gemini_vectors.Embedder, got {type(embedder)}")
    fixed = {model_argument: model != DEFAULT_MODEL, "dimensions": dimensions is not None}
    fixed |= {"client": client is not None, "api_key": api_key is not None}
    fixed |= dict.fromkeys(options, True)
    if clash := sorted(name for name, given in fixed.items() if given):
        raise ConfigurationError(
            f"embedder= already fixes {', '.join(clash)}; configure the Embedder instead"
        )
    return embedder


def open_store(
    store: str | VectorStore | None, connect_options: Mapping[str, Any]
) -> tuple[VectorStore, bool]:
    """The store, and whether the adapter opened it (then it closes it too).

    Args:
        store: An open store, or a URL for :func:`gemini_vectors.connect` (None: the embedded default).
        connect_options: Options of :func:`gemini_vectors.connect`; they apply to a URL only.

    Raises:
        ConfigurationError: options given with an open store (they would be ignored).
    """
    if isinstance(store, VectorStore):
        if connect_options:
            raise ConfigurationError(f"{sorted(connect_options)} apply to a store URL, not an open store")
        return store, False
    return connect(store, **connect_options), True


def check_collection_name(name: object) -> str:
    """``name`` if it is a non-empty str."""
    if not isinstance(name, str) or not name:
        raise ArgumentError(f"collection_name is a non-empty str, got {name!r}")
    return name


def one_text(value: object, *, expected: str) -> str:
    """``value`` if it is a str; else an ArgumentError saying ``expected`` (e.g. ``"a query is one str"``)."""
    if not isinstance(value, str):
        raise ArgumentError(f"{expected}, got {type(value).__name__}")
    return value


def text_list(value: object, *, expected: str) -> list[str]:
    """``value`` as a list of str; else an ArgumentError saying ``expected`` or naming the bad text."""
    # A lone str would be read as its characters, one vector per letter; bytes as ints; a mapping as its
    # keys ({id: text} would embed the ids).
    if isinstance(value, str | bytes | bytearray | memoryview | Mapping) or not isinstance(value, Iterable):
        raise ArgumentError(f"{expected}, got {type(value).__name__}")
    out = list(value)
    for index, text in enumerate(out):
        if not isinstance(text, str):
            raise ArgumentError(f"text {index} is a {type(text).__name__}, not a str")
    return out


def as_lists(matrix: np.ndarray[Any, Any]) -> list[list[float]]:
    """One list of floats per row of ``matrix``."""
    rows: list[list[float]] = matrix.tolist()
    return rows
