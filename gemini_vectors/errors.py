"""The one exception tree of gemini-vectors.

Every error the library raises derives from :class:`GeminiVectorsError`; each subclass also inherits the
builtin exception it refines, so ``except ValueError`` keeps working for callers who never heard of us.
Driver and SDK exceptions are wrapped with ``raise ... from``, so the original stays on ``__cause__``.
Messages never contain secrets: the API key is never formatted into one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from gemini_vectors.spec import EmbeddingSpec


class GeminiVectorsError(Exception):
    """Base class of every error raised by gemini-vectors."""


class ConfigurationError(GeminiVectorsError, ValueError):
    """A setting is missing or invalid (unknown model, dimensions out of range, no API key...)."""


class ArgumentError(GeminiVectorsError, ValueError, TypeError):
    """An argument has the wrong shape or is out of range: a lone string where a list belongs, ``k=0``,
    fewer ids than items. Also a ValueError and a TypeError, so code written for the builtins works."""


class UnknownModelError(ConfigurationError, LookupError):
    """The model name is not in the model table."""


class RetiredModelError(ConfigurationError):
    """The model was shut down by Google: nothing can be embedded with it any more.

    Attributes:
        model: The retired model's name.
        successor: The model to use instead, or None.
        shut_down: The date (ISO 8601) it was shut down.
    """

    def __init__(self, model: str, successor: str | None, shut_down: str) -> None:
        self.model, self.successor, self.shut_down = model, successor, shut_down
        instead = f"; embed with {successor!r} instead" if successor else ""
        super().__init__(
            f"{model!r} was shut down by Google on {shut_down}{instead}. Collections embedded with "
            f"{model} can still be opened and searched by vector (store.collection(name) without an "
            "embedder); to search them with new queries, re-embed them into a new spec (gemini-vectors "
            f"reembed --model {successor or 'MODEL'}, or re-add the items through an Embedder for "
            f"{successor or 'another model'}): Google does not say that the two models' vectors "
            "are comparable."
        )


class ContentError(GeminiVectorsError, ValueError):
    """An input item breaks a model limit or cannot be read; raised before anything is sent.

    Attributes:
        index: Position of the offending item in the input sequence (None for a lone item).
        limit: Short name of the limit that was broken, e.g. ``"images_per_request"``.
    """

    def __init__(self, message: str, *, index: int | None = None, limit: str | None = None) -> None:
        where = f"item {index}: " if index is not None else ""
        super().__init__(where + message)
        self.detail = message
        self.index = index
        self.limit = limit

    def at(self, index: int) -> ContentError:
        """The same error for the item at ``index`` of a larger input (same class, detail and limit)."""
        moved = type(self).__new__(type(self))
        ContentError.__init__(moved, self.detail, index=index, limit=self.limit)
        return moved


class UnsupportedMediaError(ContentError):
    """The bytes are of a type the model does not accept (e.g. GIF, .docx)."""


class EmbeddingError(GeminiVectorsError, RuntimeError):
    """The embedding API failed in a way that retries could not fix."""


class RequestRejectedError(EmbeddingError):
    """The API refused a request as a whole: no item of it is to blame.

    A wrong or missing API key, a permission the key lacks, a model that does not exist, or a quota of
    the whole project. Retrying, or splitting the call to find a bad item, cannot help: the caller stops
    and reports it. It is never recorded as the failure of an item (guarantee 3).

    Attributes:
        code: The HTTP status (400, 401, 403, 404, 429), when the API gave one.
        status: The API's status word (``PERMISSION_DENIED``, ...), when it gave one.
        reason: The API's reason (``API_KEY_INVALID``, ...), when it gave one.
    """

    def __init__(
        self, message: str, *, code: int | None = None, status: str | None = None, reason: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.reason = reason


class APIResponseError(EmbeddingError):
    """The API answered with a malformed response: a wrong count, length or a non-finite value."""


class RateLimitError(EmbeddingError):
    """Every retry of a rate-limited (429) call was used up."""


class PartialEmbeddingError(EmbeddingError):
    """Some items were rejected by the API; the others were embedded.

    Attributes:
        failures: Index of each rejected item mapped to the API's reason.
        vectors: The ``(n, d)`` float32 result with the rows of failed items set to NaN (empty when the
            vectors were stored rather than returned, as by ``Collection.add``).
        succeeded: Boolean mask, True where the item was embedded.
        ids: The ids of all items, when they were being stored.
    """

    def __init__(
        self,
        failures: Mapping[int, str],
        vectors: npt.NDArray[np.float32],
        succeeded: npt.NDArray[np.bool_],
        ids: list[str] | None = None,
    ) -> None:
        shown = "; ".join(f"item {i}: {reason}" for i, reason in list(failures.items())[:5])
        more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
        super().__init__(f"{len(failures)} of {len(succeeded)} items were rejected by the API: {shown}{more}")
        self.failures = dict(failures)
        self.vectors = vectors
        self.succeeded = succeeded
        self.ids = ids


class SpecMismatchError(GeminiVectorsError, ValueError):
    """Vectors of one embedding spec were about to meet vectors of another.

    Attributes:
        stored: The spec recorded with the collection.
        requested: The spec of the embedder or the vectors at hand.
    """

    def __init__(self, collection: str, stored: EmbeddingSpec, requested: EmbeddingSpec) -> None:
        super().__init__(
            f"collection {collection!r} holds vectors of {stored.describe()}, but {requested.describe()} "
            "was requested. Vectors of different specs must never be compared. Open it with the stored "
            "spec, or re-embed into a new collection (`gemini-vectors reembed`) and switch over."
        )
        self.collection = collection
        self.stored = stored
        self.requested = requested


class StoreError(GeminiVectorsError, RuntimeError):
    """A vector store backend failed; the driver's exception is on ``__cause__``."""


class UnknownStoreError(ConfigurationError, LookupError):
    """No installed plugin serves the URL scheme."""


class CollectionNotFoundError(StoreError, LookupError):
    """The collection does not exist in the store."""

    @classmethod
    def dropped_since_opened(cls, name: str) -> CollectionNotFoundError:
        """For a handle whose collection was dropped after it was opened.

        A collection created since under the same name is another one (perhaps of another spec): a
        handle never reads or writes it, so the caller must open the name again.
        """
        return cls(
            f"collection {name!r} was dropped since this handle opened it (a collection created since "
            "under the same name is another one); open it again with store.open_collection"
        )


class FilterError(GeminiVectorsError, ValueError):
    """A metadata filter is malformed; the message shows the offending part."""


class MetadataError(GeminiVectorsError, ValueError):
    """Metadata or an id breaks a backend limit; raised before anything is sent."""


class WriteError(StoreError):
    """Some records could not be written after retries.

    Attributes:
        failed_ids: The ids of the records that were not written, mapped to the reason.
    """

    def __init__(self, message: str, failed_ids: Mapping[str, str]) -> None:
        shown = ", ".join(repr(i) for i in list(failed_ids)[:10])
        more = f" (and {len(failed_ids) - 10} more)" if len(failed_ids) > 10 else ""
        super().__init__(f"{message}: {len(failed_ids)} records not written: {shown}{more}")
        self.failed_ids = dict(failed_ids)


class PluginError(GeminiVectorsError, RuntimeError):
    """A plugin could not be loaded or misbehaved."""
