"""``WeaviateStore``: gemini-vectors collections as Weaviate collections, on weaviate-client v4.

Layout of one collection (see :mod:`.naming` for the names):

* one Weaviate collection (class) per creation of a gemini-vectors collection, named for the collection
  and a random incarnation, with one self-provided named vector ``embedding`` (HNSW, cosine distance)
  holding the L2-normalized embeddings. The alias ``{base}_alias`` points to the current one and is read
  once on open; a handle keeps the class it opened, so after another process dropped the collection and
  created it again (perhaps for another model) the handle's queries, writes and deletes name a class
  that is gone and fail with ``CollectionNotFoundError``, at no cost per request. Classes of the base name
  itself (from before incarnations, or on a server before 1.32, which has no aliases) open as before;
* the embedding spec and the user's collection name live in the class **description**, as
  ``gemini-vectors collection {json}``. The description is written in the same request that creates the
  class, so there is no moment when the collection exists without its spec; it travels with the class
  through backups and ``export_config``/``create_from_config``; and it is visible in any Weaviate tool.
  It is read back and compared on every open (one ``GET /v1/schema/{class}``) and again whenever the
  schema is reloaded before a write;
* metadata keys become properties, created with the types of their first values (``int``, ``number``,
  ``boolean``, ``text`` or ``text[]``, text with ``field`` tokenization so that equality is on whole
  values) and checked on every later write; ``gv_id`` holds the record id, ``gv_content_hash`` its content
  hash and ``gv_keys`` the property names the record has metadata in (which answers ``$exists``);
* object UUIDs are ``uuid5`` of the record ids, so an upsert of an id replaces its object;
* with ``index="mrl:<d>"`` the class has a second named vector, ``embedding_prefix``, holding the first
  ``d`` dimensions in the HNSW index, while ``embedding`` keeps the full vector unindexed; the storage
  plan (:mod:`.plan`) is recorded in the description beside the spec.

The HNSW search-time candidate list (``ef``) lives in the searched vector's ``vectorIndexConfig``:
Weaviate takes no ``ef`` per query, so :attr:`WeaviateCollection.ef_search` reads the collection's
config and setting it updates the config (``PUT /v1/schema/{class}``), for every client at once.

Writes go through gRPC ``BatchObjects`` (``insert_many``) in chunks; objects the server rejects are
retried with backoff, and those still rejected raise :class:`~gemini_vectors.errors.WriteError` with
their ids and the server's reasons, after everything else was written.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from gemini_vectors.errors import (
    CollectionNotFoundError,
    ConfigurationError,
    MetadataError,
    SpecMismatchError,
    StoreError,
    WriteError,
)
from gemini_vectors.filters import Filter, MetadataValue, matches, validate_metadata
from gemini_vectors.index_choice import IndexChoice, parse_index
from gemini_vectors.redaction import redact_text
from gemini_vectors.spec import EmbeddingSpec
from gemini_vectors.store import (
    Match,
    Record,
    StoreCollection,
    Vector,
    VectorStore,
    as_vector,
    check_ef_search,
)

from .filters import Translation, resolver_for, translate
from .naming import (
    DEFAULT_CLASS_PREFIX,
    HASH_PROPERTY,
    ID_PROPERTY,
    INTERNAL_PROPERTIES,
    KEYS_PROPERTY,
    PADDED_PROPERTY,
    PREFIX_VECTOR_NAME,
    VECTOR_NAME,
    alias_name_for,
    candidate_properties,
    check_class_prefix,
    class_name_for,
    encoded_property,
    incarnation_class_name,
    is_plain_key,
    key_for_property,
    object_uuid,
)
from .plan import DEFAULT_RERANK_FACTOR, INDEX_KINDS, StoragePlan, check_rerank_factor

if TYPE_CHECKING:
    from weaviate import WeaviateClient
    from weaviate.collections import Collection

log = logging.getLogger(__name__)

#: How the description of a gemini-vectors collection starts.
DESCRIPTION_PREFIX = "gemini-vectors collection "
#: Metadata types gemini-vectors writes, as Weaviate data types.
WRITABLE_TYPES = frozenset({"int", "number", "boolean", "text", "text[]"})
#: Integers travel as doubles in gRPC batches and are kept as float64 by the server: exact up to 2**53.
MAX_SAFE_INT = 2**53
#: The server default of ``QUERY_MAXIMUM_RESULTS``: the most one query returns or one delete removes.
DEFAULT_MAX_RESULTS = 10_000
#: Objects per ``BatchObjects`` request, and the payload a request may carry (gRPC allows ~100 MB).
DEFAULT_BATCH_SIZE = 500
MAX_BATCH_BYTES = 32 * 1024 * 1024
#: Ids per request when reading or deleting by id.
ID_CHUNK = 1000


def describe(name: str, spec: EmbeddingSpec, plan: StoragePlan | None = None) -> str:
    """The class description that records ``name``, ``spec`` and (unless the default) the storage plan."""
    payload: dict[str, Any] = {"format": 1, "name": name, "spec": spec.to_dict()}
    recorded_plan = (plan or StoragePlan()).to_dict()
    if recorded_plan is not None:
        payload["plan"] = recorded_plan
    return DESCRIPTION_PREFIX + json.dumps(payload, sort_keys=True, ensure_ascii=False)


def recorded_plan(description: str | None, class_name: str) -> StoragePlan:
    """The storage plan recorded in a gemini-vectors class description (the default when it has none).

    Raises:
        StoreError: the description records a plan this version cannot read.
    """
    try:
        payload = json.loads((description or "")[len(DESCRIPTION_PREFIX) :])
        return StoragePlan.from_dict(payload.get("plan") if isinstance(payload, dict) else None)
    except (ValueError, ConfigurationError) as exc:
        raise StoreError(
            f"Weaviate class {class_name} records a storage plan this version of gemini-vectors-weaviate "
            f"cannot read ({exc}); upgrade the plugin"
        ) from exc


def check_store_ef_search(value: object) -> int | None:
    """The ``ef_search`` store option as the ``ef`` of new collections (None: Weaviate's dynamic ef).

    Raises:
        ConfigurationError: not a positive whole number.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"the ef_search option (HNSW ef of the collections this store creates) must be a positive "
            f"whole number, got {value!r}; leave it unset for Weaviate's dynamic ef"
        )
    return value


def store_settings(index: object, ef_search: object, rerank_factor: object) -> tuple[StoragePlan, int | None]:
    """The plan and ``ef`` of the collections a store creates, from its options.

    Raises:
        ConfigurationError: a bad ``index``, ``ef_search`` or ``rerank_factor``.
    """
    plan = StoragePlan(parse_index(index, kinds=INDEX_KINDS), check_rerank_factor(rerank_factor))
    return plan, check_store_ef_search(ef_search)


def _ef_of(config: Any, vector: str) -> int | None:
    """The ``ef`` of ``vector`` in a collection config; None when Weaviate picks it (``ef < 1``)."""
    named = (config.vector_config or {}).get(vector)
    ef = getattr(getattr(named, "vector_index_config", None), "ef", None)
    return ef if isinstance(ef, int) and ef >= 1 else None


def parse_description(description: str | None) -> tuple[str, EmbeddingSpec] | None:
    """``(name, spec)`` from a class description, or None if it is not a gemini-vectors collection."""
    if not description or not description.startswith(DESCRIPTION_PREFIX):
        return None
    try:
        payload = json.loads(description[len(DESCRIPTION_PREFIX) :])
        return str(payload["name"]), EmbeddingSpec.from_dict(payload["spec"])
    except (ValueError, KeyError, TypeError):
        return None


def _type_name(value: Any) -> str:
    return "list of str" if isinstance(value, list) else type(value).__name__


def _infer_type(key: str, values: Sequence[MetadataValue]) -> str:
    """The Weaviate data type for a new key from its values in one batch."""
    if all(isinstance(v, bool) for v in values):
        return "boolean"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "number"
    if all(isinstance(v, str) for v in values):
        return "text"
    if all(isinstance(v, list) for v in values):
        return "text[]"
    kinds = sorted({_type_name(v) for v in values})
    raise MetadataError(
        f"metadata {key!r} has values of different types in one batch ({', '.join(kinds)}); a Weaviate "
        "property has one type"
    )


def _coerce(key: str, record_id: str, data_type: str, value: MetadataValue, collection: str) -> Any:
    """``value`` as it is written to a property of ``data_type``; MetadataError if it does not fit."""

    def refuse(why: str = "") -> MetadataError:
        return MetadataError(
            f"metadata {key!r} of record {record_id!r} is a {_type_name(value)}, but collection "
            f"{collection!r} stores {key!r} as Weaviate type {data_type}{why}"
        )

    if data_type == "int":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise refuse()
        if isinstance(value, float):
            if not value.is_integer():
                raise refuse(" (a fractional number does not fit)")
            value = int(value)
        if abs(value) > MAX_SAFE_INT:
            raise MetadataError(
                f"metadata {key!r} of record {record_id!r} is {value}; Weaviate keeps integers exactly "
                f"only up to 2**53 ({MAX_SAFE_INT})"
            )
        return value
    if data_type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise refuse()
        return float(value)
    if data_type == "boolean":
        if not isinstance(value, bool):
            raise refuse()
        return value
    if data_type == "text":
        if not isinstance(value, str):
            raise refuse()
        return value
    if data_type == "text[]":
        if not isinstance(value, list):
            raise refuse()
        return value
    raise refuse(", which gemini-vectors does not write")


def _decode_value(data_type: str, value: Any) -> MetadataValue | None:
    if value is None:
        return None
    if data_type == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if data_type == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if data_type == "boolean" and isinstance(value, bool):
        return value
    if data_type == "text" and isinstance(value, str):
        return value
    if data_type == "text[]" and isinstance(value, list):
        return [str(v) for v in value]
    return None


def _padded(value: MetadataValue) -> bool:
    """Whether ``value`` has text with surrounding whitespace, which Weaviate trims (see :mod:`.filters`)."""
    if isinstance(value, str):
        return value != value.strip()
    if isinstance(value, list):
        return any(v != v.strip() for v in value)
    return False


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class WeaviateCollection(StoreCollection):
    """One gemini-vectors collection in its Weaviate collection."""

    # Objects are keyed by uuid5 of the id, which is kept in a text property: Weaviate sets no length limit.
    max_id_length = None
    # Weaviate's queries take no ef (neither gRPC nor GraphQL): it lives in the vector index config,
    # which ef_search/set_ef_search read and write.
    accepts_ef_search = False

    def __init__(
        self,
        store: WeaviateStore,
        name: str,
        spec: EmbeddingSpec,
        class_name: str,
        plan: StoragePlan | None = None,
        config: Any = None,
    ) -> None:
        super().__init__(name, spec)
        self._store = store
        self.class_name = class_name
        self.plan = plan or StoragePlan()
        self._coll: Collection[Any, Any] = store.client.collections.use(class_name)
        self._types: dict[str, str] | None = None
        self._ef: int | None = None
        self._ef_known = False
        if config is not None:
            self._absorb(config)

    def __repr__(self) -> str:
        plan = "" if self.plan.prefix_dimensions is None else f", index={str(self.plan.index)!r}"
        return f"WeaviateCollection({self.name!r}, class={self.class_name!r}, {self.spec.describe()}{plan})"

    # -- search-time ef ------------------------------------------------------------------------

    @property
    def ef_search(self) -> int | None:
        """The ``ef`` of the searched vector's HNSW index; None when Weaviate picks it per query.

        None stands for Weaviate's default ``ef = -1``: each query then searches with
        ``ef = clamp(k * dynamicEfFactor, dynamicEfMin, dynamicEfMax)`` (8, 100 and 500 unless changed),
        at least ``k``. The value is read with the collection's config (on open and before each write)
        and kept; :meth:`set_ef_search` changes it for every client of the collection.
        """
        if not self._ef_known:
            self._load_types()
        return self._ef

    def set_ef_search(self, value: int) -> None:
        """Set the ``ef`` of the collection's HNSW index in Weaviate (a schema update, two requests).

        Raises:
            ArgumentError: not a positive integer; nothing was sent.
            StoreError: Weaviate refused the update.
        """
        from weaviate.classes.config import Reconfigure
        from weaviate.exceptions import WeaviateBaseError

        ef = check_ef_search(self, value, per_query=False)
        try:
            self._coll.config.update(
                vector_config=Reconfigure.Vectors.update(
                    name=self.plan.search_vector, vector_index_config=Reconfigure.VectorIndex.hnsw(ef=ef)
                )
            )
        except WeaviateBaseError as exc:
            raise self._query_error(exc, f"update of ef to {ef}") from exc
        self._ef, self._ef_known = ef, True

    # -- schema ------------------------------------------------------------------------------

    def _load_types(self) -> dict[str, str]:
        """Reload the property types, checking that the class still records this collection's spec."""
        config = self._store._read_config(self.class_name)
        if config is None:
            raise CollectionNotFoundError.dropped_since_opened(self.name)
        recorded = parse_description(config.description)
        if recorded is None:
            raise StoreError(
                f"Weaviate class {self.class_name} no longer carries a gemini-vectors spec in its description"
            )
        if recorded[1] != self.spec:
            raise SpecMismatchError(self.name, recorded[1], self.spec)
        plan = recorded_plan(config.description, self.class_name)
        if plan != self.plan:
            raise StoreError(
                f"collection {self.name!r} ({self.class_name}) was re-created with "
                f"index={str(plan.index)!r}, rerank_factor={plan.rerank_factor} since it was opened "
                f"(index={str(self.plan.index)!r}, rerank_factor={self.plan.rerank_factor}); open it again"
            )
        return self._absorb(config)

    def _absorb(self, config: Any) -> dict[str, str]:
        """Keep what a freshly read config says: the property types and the searched vector's ef."""
        self._types = {p.name: p.data_type.value for p in config.properties}
        self._ef, self._ef_known = _ef_of(config, self.plan.search_vector), True
        return self._types

    def _property_types(self) -> dict[str, str]:
        return self._types if self._types is not None else self._load_types()

    @staticmethod
    def _existing_property(key: str, types: Mapping[str, str]) -> str | None:
        for candidate in candidate_properties(key):
            if candidate in types:
                return candidate
        return None

    def _resolve_keys(self, keys: Sequence[str], *, fresh: bool = False) -> dict[str, str]:
        """Existing properties of ``keys``; an unknown key reloads the schema unless it is ``fresh``."""
        types = self._property_types()
        found = {k: p for k in keys if (p := self._existing_property(k, types)) is not None}
        if len(found) < len(keys) and not fresh:
            types = self._load_types()
            found = {k: p for k in keys if (p := self._existing_property(k, types)) is not None}
        return found

    def _add_properties(self, new: Mapping[str, Sequence[MetadataValue]]) -> None:
        from weaviate.classes.config import DataType, Property, Tokenization
        from weaviate.exceptions import WeaviateBaseError

        types = dict(self._property_types())
        inferred = {key: _infer_type(key, values) for key, values in new.items()}  # all checked first
        for key, data_type in inferred.items():
            if self._existing_property(key, types) is not None:
                continue
            lowered = {p.lower() for p in types}
            name = key if is_plain_key(key) and key.lower() not in lowered else encoded_property(key)
            text = data_type in ("text", "text[]")
            prop = Property(
                name=name,
                data_type=DataType(data_type),
                description=f"gemini-vectors metadata key {json.dumps(key, ensure_ascii=False)}",
                tokenization=Tokenization.FIELD if text else None,
                index_filterable=True,
                index_searchable=False,
                index_range_filters=data_type in ("int", "number"),
            )
            try:
                self._coll.config.add_property(prop)
            except WeaviateBaseError as exc:
                # another writer may have added it meanwhile: the reload below decides
                log.debug("adding property %s to %s failed: %s", name, self.class_name, exc)
            types[name] = data_type
        self._load_types()

    # -- writing -----------------------------------------------------------------------------

    def upsert(self, records: Sequence[Record]) -> None:
        """Insert or replace records by id; see :class:`~gemini_vectors.store.StoreCollection`."""
        if not records:
            return
        dims = self.spec.dimensions
        latest: dict[str, tuple[Vector, dict[str, MetadataValue], str | None]] = {}
        for r in records:
            if not isinstance(r.id, str) or not r.id:
                raise MetadataError(f"record ids must be non-empty strings, got {r.id!r}")
            vec = as_vector(r.vector, dims, what=f"vector of {r.id!r}")
            meta = validate_metadata(r.metadata, where=f"metadata of {r.id!r}")
            latest.pop(r.id, None)  # the last occurrence of an id wins
            latest[r.id] = (vec, meta, r.content_hash)
        keys = sorted({k for _, meta, _ in latest.values() for k in meta})
        # Re-read the schema before every write: it checks the recorded spec again, and writing to a
        # class that was dropped meanwhile would let Weaviate's auto-schema recreate it without one.
        self._load_types()
        props = self._resolve_keys(keys, fresh=True)
        types = self._property_types()
        for record_id, (_, meta, _) in latest.items():  # refuse bad values before the schema changes
            for key, value in meta.items():
                if key in props:
                    _coerce(key, record_id, types[props[key]], value, self.name)
        missing = [k for k in keys if k not in props]
        if missing:
            values: dict[str, list[MetadataValue]] = {k: [] for k in missing}
            for _, meta, _ in latest.values():
                for k in missing:
                    if k in meta:
                        values[k].append(meta[k])
            self._add_properties(values)
            props = self._resolve_keys(keys, fresh=True)
            unresolved = [k for k in keys if k not in props]
            if unresolved:
                raise StoreError(
                    f"could not create properties for metadata {unresolved} in {self.class_name}"
                )
        types = self._property_types()
        from weaviate.classes.data import DataObject

        prefix = self.plan.prefix_dimensions
        objects: list[tuple[str, Any, int]] = []
        for record_id, (vec, meta, content_hash) in latest.items():
            properties: dict[str, Any] = {
                ID_PROPERTY: record_id,
                KEYS_PROPERTY: sorted(props[k] for k in meta),
                PADDED_PROPERTY: sorted(props[k] for k, v in meta.items() if _padded(v)),
            }
            if content_hash is not None:
                properties[HASH_PROPERTY] = content_hash
            size = vec.nbytes + len(record_id) * 4 + 64
            for key, value in meta.items():
                prop = props[key]
                properties[prop] = _coerce(key, record_id, types[prop], value, self.name)
                size += len(prop) + len(str(value)) * 4
            vectors = {VECTOR_NAME: vec.tolist()}
            if prefix is not None:  # the prefix as it is: cosine ignores its length
                vectors[PREFIX_VECTOR_NAME] = vec[:prefix].tolist()
                size += prefix * 4
            obj = DataObject(properties=properties, uuid=object_uuid(record_id), vector=vectors)
            objects.append((record_id, obj, size))
        self._write(objects)

    def _write(self, objects: list[tuple[str, Any, int]]) -> None:
        store = self._store
        pending = objects
        failures: dict[str, str] = {}
        for attempt in range(store.max_retries + 1):
            if attempt:
                delay = store.retry_backoff * 2 ** (attempt - 1)
                log.info(
                    "retrying %d objects Weaviate rejected in %s (attempt %d, in %.2fs)",
                    len(pending),
                    self.class_name,
                    attempt + 1,
                    delay,
                )
                time.sleep(delay)
            failures = {}
            retry: list[tuple[str, Any, int]] = []
            for chunk in self._chunked(pending):
                for index, reason in self._send(chunk).items():
                    failures[chunk[index][0]] = reason
                    retry.append(chunk[index])
            if not failures:
                return
            pending = retry
        raise WriteError(
            f"Weaviate rejected records of collection {self.name!r} ({self.class_name}) "
            f"{store.max_retries + 1} times",
            failures,
        )

    def _chunked(self, objects: list[tuple[str, Any, int]]) -> Iterator[list[tuple[str, Any, int]]]:
        chunk: list[tuple[str, Any, int]] = []
        size = 0
        for item in objects:
            if chunk and (len(chunk) >= self._store.batch_size or size + item[2] > MAX_BATCH_BYTES):
                yield chunk
                chunk, size = [], 0
            chunk.append(item)
            size += item[2]
        if chunk:
            yield chunk

    def _send(self, chunk: list[tuple[str, Any, int]]) -> dict[int, str]:
        """Send one ``BatchObjects`` request; returns the index and reason of every failed object."""
        from weaviate.exceptions import WeaviateBaseError, WeaviateInsertManyAllFailedError

        try:
            result = self._coll.data.insert_many([obj for _, obj, _ in chunk])
        except WeaviateInsertManyAllFailedError as exc:
            # every object failed: the client folds the reasons into one message
            reason = str(exc).split("Here is the set of all errors: ", 1)[-1]
            return dict.fromkeys(range(len(chunk)), reason)
        except WeaviateBaseError as exc:
            if "could not find class" in str(exc):
                raise CollectionNotFoundError.dropped_since_opened(self.name) from exc
            # the whole request failed (server unreachable, message too large): retry it as a whole
            return dict.fromkeys(range(len(chunk)), f"batch request failed: {exc}")
        return {index: err.message for index, err in result.errors.items()}

    # -- reading -----------------------------------------------------------------------------

    def _record_parts(
        self, obj: Any, *, with_vector: bool
    ) -> tuple[str, dict[str, MetadataValue], str | None, Vector]:
        props = obj.properties
        types = self._types or {}
        meta: dict[str, MetadataValue] = {}
        for prop, value in props.items():
            if prop in INTERNAL_PROPERTIES:
                continue
            key = key_for_property(prop)
            data_type = types.get(prop)
            if key is None or data_type not in WRITABLE_TYPES:
                continue
            decoded = _decode_value(data_type, value)
            if decoded is not None:
                meta[key] = decoded
        record_id = props.get(ID_PROPERTY)
        if not isinstance(record_id, str):
            record_id = str(obj.uuid)
        vector = np.zeros(0, dtype=np.float32)
        if with_vector and VECTOR_NAME in obj.vector:
            vector = np.asarray(obj.vector[VECTOR_NAME], dtype=np.float32)
        content_hash = props.get(HASH_PROPERTY)
        return record_id, meta, content_hash if isinstance(content_hash, str) else None, vector

    def _query_error(self, exc: Exception, what: str) -> Exception:
        if "could not find class" in str(exc):
            # the handle names the class it opened: gone means dropped, even if the name was created again
            return CollectionNotFoundError.dropped_since_opened(self.name)
        return StoreError(f"Weaviate {what} on collection {self.name!r} ({self.class_name}) failed: {exc}")

    def _translate(self, flt: Filter | None) -> Translation:
        from gemini_vectors.filters import field_names

        fields = sorted(field_names(flt))
        props = self._resolve_keys(fields) if fields else {}
        types = self._property_types()
        return translate(flt, resolver_for(types, props.get))

    def query(
        self, vector: Vector, k: int, filter: Filter | None = None, *, include_vectors: bool = False
    ) -> list[Match]:
        """The ``k`` nearest records by cosine similarity that match ``filter``, best first.

        A Matryoshka collection (``mrl:<d>``) draws ``k * rerank_factor`` candidates from the prefix
        index under the filter and re-ranks them by exact cosine on their full vectors.
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        maximum = self._store.max_results
        if k > maximum:
            raise ValueError(
                f"k={k} is more than Weaviate returns for one query (QUERY_MAXIMUM_RESULTS={maximum})"
            )
        q = as_vector(vector, self.spec.dimensions, what="query vector")
        tr = self._translate(filter)
        if tr.matches_nothing:
            return []
        prefix = self.plan.prefix_dimensions
        if prefix is None:
            hits = self._nearest(q, VECTOR_NAME, k, tr, filter, with_vector=include_vectors)
            return [
                Match(record_id, 1.0 - distance, meta, vec if include_vectors else None)
                for record_id, meta, vec, distance in hits
            ]
        want = min(maximum, k * self.plan.rerank_factor)
        candidates = self._nearest(q[:prefix], PREFIX_VECTOR_NAME, want, tr, filter, with_vector=True)
        if not candidates:
            return []
        broken = [c[0] for c in candidates if c[2].shape[0] != self.spec.dimensions]
        if broken:
            raise StoreError(
                f"records {broken[:5]} of collection {self.name!r} ({self.class_name}) have no full "
                f"{self.spec.dimensions}-dim vector in {VECTOR_NAME!r}; upsert them again"
            )
        full = np.stack([vec for _, _, vec, _ in candidates])
        norms = np.linalg.norm(full, axis=1) * float(np.linalg.norm(q))
        scores = (full @ q) / np.where(norms > 0, norms, 1.0)
        best = np.argsort(-scores, kind="stable")[:k]
        return [
            Match(
                candidates[i][0],
                float(scores[i]),
                candidates[i][1],
                candidates[i][2] if include_vectors else None,
            )
            for i in best
        ]

    def _nearest(
        self,
        q: Vector,
        target: str,
        k: int,
        tr: Translation,
        filter: Filter | None,
        *,
        with_vector: bool,
    ) -> list[tuple[str, dict[str, MetadataValue], Vector, float]]:
        """Up to ``k`` nearest objects on ``target`` matching ``filter``: (id, metadata, vector, distance).

        Every hit is checked against the portable filter (Weaviate trims text before comparing and cannot
        search for ""); while hits are dropped and a page came back full, a larger page is asked for.
        """
        from weaviate.classes.query import MetadataQuery
        from weaviate.exceptions import WeaviateBaseError

        maximum = self._store.max_results
        limit = k
        while True:
            try:
                res = self._coll.query.near_vector(
                    near_vector=q.tolist(),
                    target_vector=target,
                    limit=limit,
                    filters=tr.filter,
                    return_metadata=MetadataQuery(distance=True),
                    include_vector=[VECTOR_NAME] if with_vector else False,
                )
            except WeaviateBaseError as exc:
                raise self._query_error(exc, "query") from exc
            out: list[tuple[str, dict[str, MetadataValue], Vector, float]] = []
            for obj in res.objects:
                record_id, meta, _, vec = self._record_parts(obj, with_vector=with_vector)
                if filter is not None and not matches(filter, meta):
                    continue
                distance = obj.metadata.distance if obj.metadata.distance is not None else 1.0
                out.append((record_id, meta, vec, float(distance)))
                if len(out) == k:
                    return out
            if len(res.objects) < limit or limit >= maximum:
                return out
            limit = min(maximum, limit * 4)

    def _fetch_by_ids(
        self, ids: Sequence[str], *, with_vector: bool, props: list[str] | None
    ) -> dict[str, Any]:
        from weaviate.classes.query import Filter as WFilter
        from weaviate.exceptions import WeaviateBaseError

        found: dict[str, Any] = {}
        self._property_types()
        for chunk in _chunks(list(ids), min(ID_CHUNK, self._store.max_results)):
            try:
                res = self._coll.query.fetch_objects(
                    filters=WFilter.by_id().contains_any([object_uuid(i) for i in chunk]),
                    limit=len(chunk),
                    include_vector=[VECTOR_NAME] if with_vector else False,
                    return_properties=props,
                )
            except WeaviateBaseError as exc:
                raise self._query_error(exc, "get") from exc
            for obj in res.objects:
                record_id, meta, content_hash, vec = self._record_parts(obj, with_vector=with_vector)
                found[record_id] = (meta, content_hash, vec)
        return found

    def get(self, ids: Sequence[str], *, include_vectors: bool = True) -> list[Record]:
        """The records with these ids, in the order asked; unknown ids are left out."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return []
        found = self._fetch_by_ids(wanted, with_vector=include_vectors, props=None)
        return [Record(i, found[i][2], found[i][0], found[i][1]) for i in wanted if i in found]

    def content_hashes(self, ids: Sequence[str]) -> dict[str, str | None]:
        """The stored content hash of each known id, without reading vectors or other metadata."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        found = self._fetch_by_ids(wanted, with_vector=False, props=[ID_PROPERTY, HASH_PROPERTY])
        return {i: found[i][1] for i in wanted if i in found}

    # -- deleting ----------------------------------------------------------------------------

    def _delete_uuids(self, uuids: Sequence[uuid.UUID]) -> None:
        from weaviate.classes.query import Filter as WFilter
        from weaviate.exceptions import WeaviateBaseError

        # a batch delete removes at most QUERY_MAXIMUM_RESULTS objects
        for chunk in _chunks(list(uuids), min(ID_CHUNK, self._store.max_results)):
            try:
                self._coll.data.delete_many(where=WFilter.by_id().contains_any(list(chunk)))
            except WeaviateBaseError as exc:
                raise self._query_error(exc, "delete") from exc

    def delete(self, ids: Sequence[str] | None = None, filter: Filter | None = None) -> None:
        """Delete records by id, by filter, or both; unknown ids are ignored."""
        if ids:
            self._delete_uuids([object_uuid(i) for i in dict.fromkeys(ids)])
        if filter is not None:
            self._delete_matching(filter)

    def _delete_matching(self, flt: Filter) -> None:
        """Delete what ``flt`` matches: candidates from Weaviate, each checked with ``matches``.

        Checking keeps a delete from removing records Weaviate's trimmed text comparison matches but
        the portable language does not; a full page without a single match falls back to a scan.
        """
        from weaviate.exceptions import WeaviateBaseError

        tr = self._translate(flt)
        if tr.matches_nothing:
            return
        page = self._store.max_results
        while True:
            try:
                res = self._coll.query.fetch_objects(filters=tr.filter, limit=page)
            except WeaviateBaseError as exc:
                raise self._query_error(exc, "delete") from exc
            doomed = [
                obj.uuid for obj in res.objects if matches(flt, self._record_parts(obj, with_vector=False)[1])
            ]
            self._delete_uuids(doomed)
            if len(res.objects) < page:
                return
            if not doomed:
                break
        doomed = []
        for obj in self._coll.iterator(cache_size=min(1000, page)):
            if matches(flt, self._record_parts(obj, with_vector=False)[1]):
                doomed.append(obj.uuid)
        self._delete_uuids(doomed)

    def clear(self) -> None:
        """Delete every record, keeping the collection and its spec."""
        from weaviate.classes.query import Filter as WFilter
        from weaviate.exceptions import WeaviateBaseError

        everything = WFilter.by_id().not_equal(uuid.UUID(int=0))  # NotEqual is a deny list: all objects
        while True:
            try:
                res = self._coll.data.delete_many(where=everything)
            except WeaviateBaseError as exc:
                raise self._query_error(exc, "delete") from exc
            if res.matches <= res.successful or res.successful == 0:
                return

    # -- the rest ----------------------------------------------------------------------------

    def count(self) -> int:
        """The number of records in the collection."""
        from weaviate.exceptions import WeaviateBaseError

        try:
            total = self._coll.aggregate.over_all(total_count=True).total_count
        except WeaviateBaseError as exc:
            raise self._query_error(exc, "count") from exc
        return int(total or 0)

    def iter_ids(self, batch_size: int = 1000) -> Iterator[str]:
        """Every id, fetched ``batch_size`` at a time with Weaviate's cursor (ordered by UUID)."""
        from weaviate.exceptions import WeaviateBaseError

        try:
            size = max(1, min(batch_size, self._store.max_results))
            for obj in self._coll.iterator(return_properties=[ID_PROPERTY], cache_size=size):
                value = obj.properties.get(ID_PROPERTY)
                yield value if isinstance(value, str) else str(obj.uuid)
        except WeaviateBaseError as exc:
            raise self._query_error(exc, "iteration") from exc

    def drop(self) -> None:
        """Delete the Weaviate collection with its records and its spec.

        Only the class this handle opened is deleted: if the collection was dropped and created again
        since, this is a no-op and the new one stays.
        """
        self._store._drop_class(self.name, self.class_name)
        self._types = None


class WeaviateStore(VectorStore):
    """A Weaviate server (or cluster) as a gemini-vectors store.

    Args:
        client: A connected ``weaviate.WeaviateClient``.
        url: The URL it was opened with, without secrets (for messages).
        owns_client: Close ``client`` in :meth:`close`.
        class_prefix: First part of the class names of this store's collections; stores with different
            prefixes on one server do not see each other's collections.
        batch_size: Objects per ``BatchObjects`` request.
        max_retries: How often objects the server rejected are sent again before a ``WriteError``.
        retry_backoff: Seconds before the first retry; doubled for each further one.
        max_results: The server's ``QUERY_MAXIMUM_RESULTS``.
        index: The index of the collections this store creates: ``"hnsw"`` or ``"mrl:<d>"`` (Matryoshka
            two-stage search on the first ``d`` dimensions; see :mod:`.plan`). An existing collection
            keeps the plan it was created with.
        ef_search: The HNSW ``ef`` of the collections this store creates; None leaves Weaviate's
            dynamic ef (``clamp(8k, 100, 500)``), which reaches recall@10 >= 0.95 on typical data.
        rerank_factor: With ``mrl``, candidates per requested result re-ranked on the full vector.
    """

    def __init__(
        self,
        client: WeaviateClient,
        *,
        url: str = "",
        owns_client: bool = True,
        class_prefix: str = DEFAULT_CLASS_PREFIX,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_retries: int = 3,
        retry_backoff: float = 0.2,
        max_results: int = DEFAULT_MAX_RESULTS,
        index: str | IndexChoice = "hnsw",
        ef_search: int | None = None,
        rerank_factor: int = DEFAULT_RERANK_FACTOR,
    ) -> None:
        if batch_size < 1 or max_retries < 0 or retry_backoff < 0 or max_results < 1:
            raise ValueError(
                "batch_size and max_results must be positive, max_retries and retry_backoff >= 0"
            )
        self.plan, self.ef_search = store_settings(index, ef_search, rerank_factor)
        self.client = client
        self.url = url
        self._owns_client = owns_client
        self.class_prefix = check_class_prefix(class_prefix)
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.retry_backoff = retry_backoff
        self.max_results = max_results
        #: (collection name, class, config) of the last stored_spec, which open_collection attaches to.
        self._last_read: tuple[str, str, Any] | None = None
        #: Whether the server has collection aliases (1.32+); None until the client was asked.
        self._has_aliases: bool | None = None

    def __repr__(self) -> str:
        return f"WeaviateStore({self.url!r}, class_prefix={self.class_prefix!r})"

    def class_name(self, name: str) -> str:
        """The base class name of collection ``name`` in this store.

        It is the class of a collection created before incarnations (or on a server without aliases);
        each creation since has a class of its own, this name and a random suffix, which
        :attr:`WeaviateCollection.class_name` gives.
        """
        return class_name_for(name, self.class_prefix)

    def alias_name(self, name: str) -> str:
        """The alias that points to the class of collection ``name``'s current incarnation."""
        return alias_name_for(name, self.class_prefix)

    def _no_aliases(self) -> None:
        """Remember that the server predates aliases (1.32); the client said so without a request."""
        if self._has_aliases is not False:
            log.warning(
                "Weaviate at %s has no collection aliases (1.32+), so a collection handle cannot tell that "
                "its collection was dropped and created again meanwhile; upgrade the server",
                self.url,
            )
        self._has_aliases = False

    def _alias_target(self, alias: str) -> str | None:
        """The class ``alias`` points to; None when there is no such alias (or no aliases at all)."""
        from weaviate.exceptions import WeaviateBaseError, WeaviateUnsupportedFeatureError

        if self._has_aliases is False:
            return None
        try:
            found = self.client.alias.get(alias_name=alias)
            self._has_aliases = True
        except WeaviateUnsupportedFeatureError:
            self._no_aliases()
            return None
        except WeaviateBaseError as exc:
            raise StoreError(f"reading alias {alias} from {self.url} failed: {exc}") from exc
        return None if found is None else found.collection

    def _resolve(self, name: str) -> tuple[str, Any] | None:
        """``(class, config)`` of collection ``name``'s current class, or None when there is none.

        The alias comes first; a class of the base name itself is a collection from before
        incarnations. An alias whose class is gone (deleted without it) is no collection.
        """
        target = self._alias_target(self.alias_name(name))
        if target is not None:
            config = self._read_config(target)
            if config is not None:
                return target, config
        base = self.class_name(name)
        config = self._read_config(base)
        return None if config is None else (base, config)

    def _read_config(self, class_name: str) -> Any:
        from weaviate.exceptions import UnexpectedStatusCodeError, WeaviateBaseError

        try:
            return self.client.collections.use(class_name).config.get(simple=True)
        except UnexpectedStatusCodeError as exc:
            if exc.status_code == 404:
                return None
            raise StoreError(f"reading the schema of {class_name} from {self.url} failed: {exc}") from exc
        except WeaviateBaseError as exc:
            raise StoreError(f"reading the schema of {class_name} from {self.url} failed: {exc}") from exc

    def _delete_class(self, class_name: str) -> None:
        from weaviate.exceptions import WeaviateBaseError

        try:
            self.client.collections.delete(class_name)
        except WeaviateBaseError as exc:
            raise StoreError(f"deleting {class_name} from {self.url} failed: {exc}") from exc

    def _drop_class(self, name: str, class_name: str) -> None:
        """Delete ``class_name`` (one incarnation of ``name``) and the alias, if it still points there.

        An alias that points to a class created since is left alone, and deleting a class that is gone
        already is a no-op in Weaviate: a stale handle's drop never touches the collection it did not
        open. The alias goes first, so the class is deletable also on a server that refuses to delete a
        class an alias points to, and no alias is left pointing at nothing.
        """
        from weaviate.exceptions import WeaviateBaseError

        if class_name != self.class_name(name):  # a class from before incarnations has no alias
            alias = self.alias_name(name)
            if self._alias_target(alias) == class_name:
                try:
                    self.client.alias.delete(alias_name=alias)
                except WeaviateBaseError as exc:
                    raise StoreError(f"deleting alias {alias} from {self.url} failed: {exc}") from exc
        self._delete_class(class_name)

    def stored_spec(self, name: str) -> EmbeddingSpec | None:
        """The spec recorded in the description of ``name``'s class, or None when there is no class.

        Raises:
            StoreError: the class exists but was not made by gemini-vectors for this name.
        """
        found = self._resolve(name)
        # open_collection attaches right after this read: it takes the config instead of reading again
        self._last_read = None if found is None else (name, *found)
        if found is None:
            return None
        class_name, config = found
        recorded = parse_description(config.description)
        if recorded is None:
            raise StoreError(
                f"Weaviate class {class_name} exists but is not a gemini-vectors collection (its description "
                "carries no embedding spec); choose another collection name or class_prefix"
            )
        if recorded[0] != name:
            raise StoreError(
                f"Weaviate class {class_name} holds gemini-vectors collection {recorded[0]!r}, not {name!r}"
            )
        return recorded[1]

    def create_collection(self, name: str, spec: EmbeddingSpec) -> StoreCollection:
        """Create the class for ``name`` with the spec in its description."""
        from weaviate.classes.config import Configure, DataType, Property, Tokenization, VectorDistances
        from weaviate.exceptions import WeaviateBaseError

        plan = self.plan
        plan.index.check_dimensions(spec.dimensions)  # before anything is created
        if self._has_aliases is None:  # open_collection looked the alias up already; a direct call has not
            self._alias_target(self.alias_name(name))
        aliased = bool(self._has_aliases)
        class_name = incarnation_class_name(name, self.class_prefix) if aliased else self.class_name(name)

        def internal_property(name: str, data_type: DataType, description: str) -> Property:
            # exact-match text: ids, hashes and key names are never tokenized or searched
            return Property(
                name=name,
                data_type=data_type,
                tokenization=Tokenization.FIELD,
                index_searchable=False,
                description=description,
            )

        internal = [
            internal_property(ID_PROPERTY, DataType.TEXT, "gemini-vectors record id"),
            internal_property(HASH_PROPERTY, DataType.TEXT, "gemini-vectors content hash"),
            internal_property(KEYS_PROPERTY, DataType.TEXT_ARRAY, "gemini-vectors: properties with metadata"),
            internal_property(
                PADDED_PROPERTY,
                DataType.TEXT_ARRAY,
                "gemini-vectors: properties whose text has surrounding whitespace",
            ),
        ]
        hnsw = Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE, ef=self.ef_search)
        if plan.prefix_dimensions is None:
            vectors = [Configure.Vectors.self_provided(name=VECTOR_NAME, vector_index_config=hnsw)]
        else:
            vectors = [
                Configure.Vectors.self_provided(name=PREFIX_VECTOR_NAME, vector_index_config=hnsw),
                # kept with the objects for the re-ranking, no index built (skip; cosine by default)
                Configure.Vectors.self_provided(
                    name=VECTOR_NAME, vector_index_config=Configure.VectorIndex.none()
                ),
            ]
        try:
            self.client.collections.create(
                class_name,
                description=describe(name, spec, plan),
                properties=internal,
                vector_config=vectors,
                inverted_index_config=Configure.inverted_index(index_null_state=True),
            )
        except WeaviateBaseError as exc:
            if "already exists" not in str(exc):
                raise StoreError(
                    f"creating collection {name!r} ({class_name}) in {self.url} failed: {exc}"
                ) from exc
            stored = self.stored_spec(name)  # created by someone else meanwhile
            if stored is None:
                raise StoreError(f"creating collection {name!r} ({class_name}) failed: {exc}") from exc
            if stored != spec:
                raise SpecMismatchError(name, stored, spec) from None
            return self.attach_collection(name, stored)  # with the plan its creator chose
        if aliased:
            other = self._claim_alias(name, spec, class_name)
            if other is not None:
                return other
        return WeaviateCollection(self, name, spec, class_name, plan)

    def _claim_alias(self, name: str, spec: EmbeddingSpec, class_name: str) -> StoreCollection | None:
        """Point ``name``'s alias at the new ``class_name``; None when it did.

        If another process created the collection meanwhile, its alias stands: the new, empty class is
        deleted and the other collection is opened (if its spec is this one). An alias left pointing at
        a deleted class is taken over.
        """
        from weaviate.exceptions import WeaviateBaseError

        alias = self.alias_name(name)
        try:
            self.client.alias.create(alias_name=alias, target_collection=class_name)
            return None
        except WeaviateBaseError as exc:
            refused = exc
        target = self._alias_target(alias)
        try:
            if target is not None and self._read_config(target) is None:
                self.client.alias.update(alias_name=alias, new_target_collection=class_name)
                if self._alias_target(alias) == class_name:
                    return None
        except WeaviateBaseError as exc:
            refused = exc
        self._delete_class(class_name)  # never written to: no one else knows its name
        stored = self.stored_spec(name)
        if stored is None:
            raise StoreError(
                f"creating alias {alias} for collection {name!r} ({class_name}) in {self.url} failed: "
                f"{refused}"
            ) from refused
        if stored != spec:
            raise SpecMismatchError(name, stored, spec) from None
        return self.attach_collection(name, stored)

    def attach_collection(self, name: str, spec: EmbeddingSpec) -> StoreCollection:
        """A handle on the existing collection ``name`` (its spec already checked), with its recorded plan."""
        last, self._last_read = self._last_read, None
        found = (last[1], last[2]) if last is not None and last[0] == name else self._resolve(name)
        if found is None:
            raise CollectionNotFoundError(f"collection {name!r} no longer exists in {self.url}")
        class_name, config = found
        plan = recorded_plan(config.description, class_name)
        return WeaviateCollection(self, name, spec, class_name, plan, config)

    def list_collections(self) -> list[str]:
        """The names of this store's gemini-vectors collections."""
        from weaviate.exceptions import WeaviateBaseError, WeaviateUnsupportedFeatureError

        aliases: dict[str, Any] = {}
        try:
            configs = self.client.collections.list_all(simple=True)
            if self._has_aliases is not False:
                aliases = self.client.alias.list_all()
        except WeaviateUnsupportedFeatureError:
            self._no_aliases()
        except WeaviateBaseError as exc:
            raise StoreError(f"listing collections of {self.url} failed: {exc}") from exc
        names = set()
        for class_name, config in configs.items():  # classes from before incarnations
            recorded = parse_description(config.description)
            if recorded is not None and self.class_name(recorded[0]) == class_name:
                names.add(recorded[0])
        for alias, found in aliases.items():  # current incarnations; a class without its alias is none
            target = configs.get(found.collection)
            recorded = parse_description(target.description) if target is not None else None
            if recorded is not None and self.alias_name(recorded[0]) == alias:
                names.add(recorded[0])
        return sorted(names)

    def close(self) -> None:
        """Close the client if this store opened it."""
        if self._owns_client:
            self.client.close()


def connect_weaviate(url: str, /, **options: Any) -> WeaviateStore:
    """The factory behind ``weaviate://``, ``weaviates://`` and ``weaviate+cloud://`` URLs.

    Options:
        client: An already connected ``weaviate.WeaviateClient`` to use (not closed by the store).
        api_key: The API key (default: ``WEAVIATE_API_KEY``).
        headers: Extra HTTP/gRPC headers.
        grpc_port, grpc_host: Override the URL's gRPC endpoint.
        timeout: Seconds for queries and inserts; ``init_timeout`` for connecting.
        skip_init_checks: Skip the client's start-up checks.
        class_prefix, batch_size, max_retries, retry_backoff, max_results: See :class:`WeaviateStore`.
        index, ef_search, rerank_factor: See :class:`WeaviateStore`; also URL query parameters.

    Raises:
        ConfigurationError: a bad URL or option.
        StoreError: the server could not be reached.
    """
    from gemini_vectors.errors import ConfigurationError

    from .connection import api_key_from, open_client, parse_url, store_options_from_url

    known = {
        "client",
        "api_key",
        "headers",
        "grpc_port",
        "grpc_host",
        "timeout",
        "init_timeout",
        "skip_init_checks",
        "class_prefix",
        "batch_size",
        "max_retries",
        "retry_backoff",
        "max_results",
        "index",
        "ef_search",
        "rerank_factor",
    }
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigurationError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    endpoint = parse_url(url, grpc_port=options.get("grpc_port"), grpc_host=options.get("grpc_host"))
    store_options: dict[str, Any] = {
        k: options[k]
        for k in ("class_prefix", "batch_size", "max_retries", "retry_backoff", "max_results")
        if k in options
    }
    settings: dict[str, Any] = {"index": "hnsw", "ef_search": None, "rerank_factor": DEFAULT_RERANK_FACTOR}
    settings.update(store_options_from_url(url))
    settings.update({k: options[k] for k in settings if k in options})
    store_settings(**settings)  # refused before the client connects
    store_options.update(settings)
    client = options.get("client")
    owns = client is None
    if client is None:
        api_key = api_key_from(options.get("api_key"))
        try:
            client = open_client(
                endpoint,
                api_key=api_key,
                headers=options.get("headers"),
                timeout=options.get("timeout"),
                init_timeout=options.get("init_timeout"),
                skip_init_checks=bool(options.get("skip_init_checks", False)),
            )
        except ConfigurationError:
            raise
        except Exception as exc:
            # The client's message may quote the request; keep the key and header values (tokens) out.
            said = redact_text(str(exc), secrets=[api_key, *(options.get("headers") or {}).values()])
            raise StoreError(f"could not connect to Weaviate at {endpoint.safe_url}: {said}") from exc
    return WeaviateStore(client, url=endpoint.safe_url, owns_client=owns, **store_options)
