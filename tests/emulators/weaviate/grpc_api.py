"""The gRPC service ``weaviate.v1.Weaviate`` and ``grpc.health.v1.Health``, on the client's own stubs.

Request handling follows the server's ``adapters/handlers/grpc/v1`` package: which properties and
metadata a search returns, how target vectors are picked, how batch errors are reported per object
(``BatchObjectsReply.errors`` with the object's index), and how ``BatchDelete`` reports matches.
"""

from __future__ import annotations

import math
import struct
import time
import uuid as uuid_lib
from collections import Counter
from collections.abc import Callable, Sequence
from statistics import median
from typing import Any

import grpc
import numpy as np
from google.protobuf import json_format, struct_pb2  # type: ignore[import-untyped]
from weaviate.proto.v1 import (
    aggregate_pb2,
    base_pb2,
    base_search_pb2,
    batch_delete_pb2,
    batch_pb2,
    health_weaviate_pb2,
    properties_pb2,
    search_get_pb2,
    tenants_pb2,
    weaviate_pb2_grpc,
)

from .data import (
    LEGACY,
    QUERY_DEFAULTS_LIMIT,
    ClassState,
    Database,
    IncomingObject,
    StoredObject,
    parse_date,
)
from .errors import EmulatorError, UnprocessableError, no_such_prop
from .filters import ENGLISH_STOPWORDS, compile_filter, tokenize

Combination = base_search_pb2.CombinationMethod


#: Searches that need a vectorizer module on a real server; the emulator has none and refuses them.
_MODULE_SEARCHES = (
    "near_text",
    "near_image",
    "near_audio",
    "near_video",
    "near_depth",
    "near_thermal",
    "near_imu",
)


def uuid_bytes(uid: str) -> bytes:
    """The id as the server sends it: the bytes of its integer value (leading zeros dropped)."""
    value = uuid_lib.UUID(uid).int
    return value.to_bytes(16, "big").lstrip(b"\0")


def _f32(data: bytes) -> np.ndarray:
    if len(data) % 4:
        raise UnprocessableError(f"vector bytes length {len(data)} is not a multiple of 4")
    return np.frombuffer(data, dtype="<f4").astype(np.float32)


def _vector_from_pb(vec: base_pb2.Vectors) -> np.ndarray:
    if vec.type == base_pb2.Vectors.VECTOR_TYPE_MULTI_FP32:
        raise UnprocessableError("multi-vectors are not supported by this emulator")
    return _f32(vec.vector_bytes)


# -- property values -------------------------------------------------------------------------------


def _value_pb(data_type: str, value: Any, nested: Sequence[dict[str, Any]] = ()) -> properties_pb2.Value:
    if value is None:
        return properties_pb2.Value(null_value=struct_pb2.NULL_VALUE)
    if data_type == "text":
        return properties_pb2.Value(text_value=value)
    if data_type == "int":
        return properties_pb2.Value(int_value=int(value))
    if data_type == "number":
        return properties_pb2.Value(number_value=float(value))
    if data_type == "boolean":
        return properties_pb2.Value(bool_value=bool(value))
    if data_type == "date":
        return properties_pb2.Value(date_value=value)
    if data_type == "uuid":
        return properties_pb2.Value(uuid_value=value)
    if data_type == "blob":
        return properties_pb2.Value(blob_value=value)
    if data_type == "geoCoordinates":
        return properties_pb2.Value(
            geo_value=properties_pb2.GeoCoordinate(latitude=value["latitude"], longitude=value["longitude"])
        )
    if data_type == "phoneNumber":
        return properties_pb2.Value(
            phone_value=properties_pb2.PhoneNumber(
                country_code=value["countryCode"],
                default_country=value["defaultCountry"],
                input=value["input"],
                international_formatted=value["internationalFormatted"],
                national=value["national"],
                national_formatted=value["nationalFormatted"],
                valid=value["valid"],
            )
        )
    if data_type == "object":
        return properties_pb2.Value(object_value=_object_pb(value, nested))
    lv = properties_pb2.ListValue()
    if data_type == "text[]":
        lv.text_values.values.extend(value)
    elif data_type == "int[]":
        lv.int_values.values = struct.pack(f"<{len(value)}q", *value)
    elif data_type == "number[]":
        lv.number_values.values = struct.pack(f"<{len(value)}d", *value)
    elif data_type == "boolean[]":
        lv.bool_values.values.extend(value)
    elif data_type == "date[]":
        lv.date_values.values.extend(value)
    elif data_type == "uuid[]":
        lv.uuid_values.values.extend(value)
    elif data_type == "object[]":
        lv.object_values.values.extend(_object_pb(v, nested) for v in value)
    else:
        raise UnprocessableError(f"invalid type: {data_type}")
    return properties_pb2.Value(list_value=lv)


def _object_pb(value: dict[str, Any], nested: Sequence[dict[str, Any]]) -> properties_pb2.Properties:
    out = properties_pb2.Properties()
    for prop in nested:
        if prop["name"] in value:
            out.fields[prop["name"]].CopyFrom(
                _value_pb(prop["dataType"][0], value[prop["name"]], prop.get("nestedProperties") or ())
            )
    return out


def _struct_to_python(
    props: batch_pb2.BatchObject.Properties | base_pb2.ObjectPropertiesValue,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if props.HasField("non_ref_properties"):
        out.update(json_format.MessageToDict(props.non_ref_properties))
    for arr in props.boolean_array_properties:
        out[arr.prop_name] = list(arr.values)
    for arr in props.number_array_properties:
        if arr.values_bytes:
            out[arr.prop_name] = list(struct.unpack(f"<{len(arr.values_bytes) // 8}d", arr.values_bytes))
        else:
            out[arr.prop_name] = [float(v) for v in arr.values]
    for arr in props.text_array_properties:
        out[arr.prop_name] = list(arr.values)
    for arr in props.int_array_properties:
        out[arr.prop_name] = [int(v) for v in arr.values]
    for obj in props.object_properties:
        out[obj.prop_name] = _struct_to_python(obj.value)
    for objs in props.object_array_properties:
        out[objs.prop_name] = [_struct_to_python(v) for v in objs.values]
    for name in props.empty_list_props:
        out[name] = []
    return out


# -- the service -----------------------------------------------------------------------------------


class _Abort(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _handle(method: Callable[..., Any]) -> Callable[..., Any]:
    """Turn emulator errors into gRPC status errors, as the server's plain Go errors become UNKNOWN."""

    def wrapper(self: WeaviateService, request: Any, context: grpc.ServicerContext) -> Any:
        self.calls[method.__name__] += 1
        try:
            return method(self, request, context)
        except EmulatorError as exc:
            context.abort(grpc.StatusCode.UNKNOWN, exc.message)
        except _Abort as exc:
            context.abort(exc.code, exc.message)
        return None

    wrapper.__name__ = method.__name__
    return wrapper


class WeaviateService(weaviate_pb2_grpc.WeaviateServicer):
    """``weaviate.v1.Weaviate`` over a :class:`~.data.Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.calls: Counter[str] = Counter()
        self.rate_per_second = 0.0
        self._alias: str | None = None  # the alias of the search being answered, under db.lock

    # -- Search ------------------------------------------------------------------------------

    @_handle
    def Search(self, request: search_get_pb2.SearchRequest, context: grpc.ServicerContext) -> Any:
        started = time.monotonic()
        with self.db.lock:
            cls = self.db.require_class(request.collection)
            if request.tenant:
                raise UnprocessableError(
                    f"class {cls.name} has multi-tenancy disabled, but request was with tenant"
                )
            asked = request.collection[:1].upper() + request.collection[1:]
            self._alias = asked if asked in self.db.aliases else None
            try:
                reply = self._search(cls, request)
            finally:
                self._alias = None
        reply.took = time.monotonic() - started
        return reply

    def _search(self, cls: ClassState, req: search_get_pb2.SearchRequest) -> search_get_pb2.SearchReply:
        unsupported = [n for n in _MODULE_SEARCHES if req.HasField(n)]
        if unsupported:
            raise UnprocessableError(
                f"{unsupported[0]}: no vectorizer module is enabled on this server, only 'none' is available"
            )
        if req.HasField("generative"):
            raise UnprocessableError("generative search requires a generative module; none is enabled")
        if req.HasField("rerank"):
            raise UnprocessableError("rerank requires a reranker module; none is enabled")
        limit = req.limit if req.limit > 0 else QUERY_DEFAULTS_LIMIT
        offset = req.offset
        if offset < 0:
            raise UnprocessableError("offset must be a positive number")
        maximum = self.db.query_maximum_results
        if offset + limit > maximum:
            raise UnprocessableError("invalid pagination params: query maximum results exceeded")
        vector_search = req.HasField("near_vector") or req.HasField("near_object")
        targets, combination = self._targets(cls, req, vector_search)
        props = self._selected_properties(cls, req)
        predicate = compile_filter(req.filters, cls) if req.HasField("filters") else None
        if req.after:
            if offset or predicate is not None or len(req.sort_by):
                bad = [
                    n
                    for n, on in (
                        ("offset", offset),
                        ("where", predicate is not None),
                        ("sort", len(req.sort_by)),
                    )
                    if on
                ]
                raise UnprocessableError(f"{','.join(bad)} cannot be set with after and limit parameters")
            try:
                after = uuid_lib.UUID(req.after)
            except ValueError:
                raise UnprocessableError(f"after parameter '{req.after}' is not a valid uuid") from None
            if vector_search or req.HasField("bm25_search") or req.HasField("hybrid_search"):
                raise UnprocessableError("cursor api: after cannot be combined with a search")
            ordered = cls.sorted_ids()
            start = _bisect_after(ordered, after)
            hits: list[tuple[StoredObject, dict[str, Any]]] = [
                (cls.objects[u], {}) for u in ordered[start : start + limit]
            ]
            return self._reply(cls, req, props, hits, vector_search=False)
        candidates = [o for o in cls.objects.values() if predicate is None or predicate(o)]
        if len(req.sort_by) and (
            vector_search or req.HasField("bm25_search") or req.HasField("hybrid_search")
        ):
            raise UnprocessableError("sorting cannot be combined with search")
        scored: list[tuple[StoredObject, dict[str, Any]]]
        if req.HasField("near_vector") or req.HasField("near_object"):
            queries = self._query_vectors(cls, req, targets)
            near = req.near_vector if req.HasField("near_vector") else req.near_object
            certainty = near.certainty if near.HasField("certainty") else None
            distance = near.distance if near.HasField("distance") else None
            if certainty is not None and distance is not None:
                kind = "near_vector" if req.HasField("near_vector") else "near_object"
                raise UnprocessableError(f"{kind}: cannot provide distance and certainty")
            scored = self._vector_ranked(cls, candidates, targets, queries, combination, certainty, distance)
        elif req.HasField("bm25_search"):
            scored = self._bm25_ranked(
                cls, candidates, req.bm25_search.query, list(req.bm25_search.properties)
            )
        elif req.HasField("hybrid_search"):
            scored = self._hybrid_ranked(cls, candidates, req.hybrid_search, targets)
        elif len(req.sort_by):
            scored = self._sorted(cls, [(o, {}) for o in candidates], req.sort_by)
        elif predicate is None:
            # an unfiltered listing walks the objects bucket, whose keys are the UUIDs
            scored = [(cls.objects[u], {}) for u in cls.sorted_ids()]
        else:
            # filtered results come from doc-id bitmaps: the order of the last writes
            scored = [(o, {}) for o in candidates]
        if req.HasField("group_by"):
            return self._grouped_reply(cls, req, props, scored)
        hits = scored[offset : offset + limit]
        if req.autocut > 0 and hits:
            key = "distance" if "distance" in hits[0][1] else "score" if "score" in hits[0][1] else None
            if key is not None:
                values = [h[1][key] for h in hits]
                if key == "score":
                    values = [-v for v in values]
                hits = hits[: _autocut(values, req.autocut)]
        return self._reply(cls, req, props, hits, vector_search=vector_search)

    def _targets(
        self, cls: ClassState, req: search_get_pb2.SearchRequest, vector_search: bool
    ) -> tuple[list[str], tuple[int, list[float]] | None]:
        source: Any = None
        for name in ("near_vector", "near_object", "hybrid_search"):
            if req.HasField(name):
                source = getattr(req, name)
        if source is None:
            return [], None
        if source.HasField("targets"):
            targets = list(source.targets.target_vectors)
            comb = source.targets.combination
            weights = [w.weight for w in source.targets.weights_for_targets]
            weighted = (
                Combination.COMBINATION_METHOD_TYPE_MANUAL,
                Combination.COMBINATION_METHOD_TYPE_RELATIVE_SCORE,
            )
            if comb in weighted and len(weights) != len(targets):
                raise UnprocessableError(
                    f"number of weights ({len(weights)}) does not match number of targets ({len(targets)})"
                )
            combination: tuple[int, list[float]] | None = (comb, weights)
        else:
            targets = list(source.target_vectors)
            combination = (Combination.COMBINATION_METHOD_UNSPECIFIED, []) if len(targets) > 1 else None
        vector_search = vector_search or req.HasField("hybrid_search")
        if not cls.named_vectors:
            if targets:
                raise UnprocessableError(
                    f"class {cls.name} does not have named vector {targets[0]} configured. Available named "
                    "vectors []"
                )
            return [LEGACY], None
        configured = list(cls.definition["vectorConfig"])
        if not targets:
            if len(configured) > 1:
                raise UnprocessableError(
                    f"class {cls.name} has multiple vectors, but no target vectors were provided"
                )
            targets = configured
        for target in targets:
            if target not in configured:
                raise UnprocessableError(
                    f"class {cls.name} does not have named vector {target} configured. "
                    f"Available named vectors {configured}"
                )
        return targets, combination

    def _query_vectors(
        self, cls: ClassState, req: search_get_pb2.SearchRequest, targets: list[str]
    ) -> list[np.ndarray]:
        if req.HasField("near_object"):
            try:
                uid = str(uuid_lib.UUID(req.near_object.id))
            except ValueError:
                raise UnprocessableError("near_object: id is required") from None
            obj = cls.objects.get(uid)
            if obj is None:
                raise UnprocessableError(
                    f"explorer: get class: vector search: nearObject params: vector not found: {uid}"
                )
            out = []
            for target in targets:
                vec = cls.vector_of(obj, target)
                if vec is None:
                    raise UnprocessableError(f"nearObject: object {uid} has no vector for target {target!r}")
                out.append(vec)
            return out
        nv = req.near_vector
        vector: np.ndarray | None = None
        if len(nv.vectors) > 1:
            raise UnprocessableError(f"near_vector: only 1 vector supported, found {len(nv.vectors)} vectors")
        if len(nv.vectors) == 1:
            vector = _vector_from_pb(nv.vectors[0])
        elif nv.vector_bytes:
            vector = _f32(nv.vector_bytes)
        elif len(nv.vector):
            vector = np.asarray(nv.vector, dtype=np.float32)
        if vector is not None and len(nv.vector_per_target):
            raise UnprocessableError(
                "near_vector: either vector or VectorPerTarget must be provided, not both"
            )
        if vector is not None:
            return [vector for _ in targets]
        if len(nv.vector_for_targets):
            by_name: dict[str, np.ndarray] = {}
            for vft in nv.vector_for_targets:
                if len(vft.vectors) > 1:
                    raise UnprocessableError(
                        "several query vectors per target are not supported by this emulator"
                    )
                by_name[vft.name] = (
                    _vector_from_pb(vft.vectors[0]) if len(vft.vectors) else _f32(vft.vector_bytes)
                )
            missing = [t for t in targets if t not in by_name]
            if missing or len(by_name) != len(set(targets)):
                raise UnprocessableError(
                    f"near_vector: vector for target {missing[0] if missing else ''} is required. All target "
                    f"vectors: {targets} all vectors for targets {list(by_name)}"
                )
            return [by_name[t] for t in targets]
        if len(nv.vector_per_target):
            if len(nv.vector_per_target) != len(targets):
                raise UnprocessableError("near_vector: vector per target must be provided for all targets")
            return [_f32(nv.vector_per_target[t]) for t in targets]
        raise UnprocessableError("near_vector: vector is required")

    def _vector_ranked(
        self,
        cls: ClassState,
        candidates: list[StoredObject],
        targets: list[str],
        queries: list[np.ndarray],
        combination: tuple[int, list[float]] | None,
        certainty: float | None,
        distance: float | None,
    ) -> list[tuple[StoredObject, dict[str, Any]]]:
        usable = [o for o in candidates if all(t in o.rows for t in targets)]
        if not usable:
            for t, q in zip(targets, queries, strict=True):
                cls.indexes[t].distances(q, np.zeros(0, dtype=np.int64))  # still checks the length
            return []
        per_target: list[np.ndarray] = []
        for t, q in zip(targets, queries, strict=True):
            rows = np.fromiter((o.rows[t] for o in usable), dtype=np.int64, count=len(usable))
            _, dist = cls.indexes[t].distances(q, rows)
            per_target.append(dist.astype(np.float64))
        combined = _combine(per_target, combination)
        metric = cls.indexes[targets[0]].distance
        order = np.argsort(combined, kind="stable")
        out: list[tuple[StoredObject, dict[str, Any]]] = []
        for i in order:
            d = float(combined[i])
            meta: dict[str, Any] = {"distance": d}
            if metric == "cosine" and len(targets) == 1:
                meta["certainty"] = 1.0 - d / 2.0
            if distance is not None and d > distance:
                continue
            if certainty is not None:
                if metric != "cosine":
                    raise UnprocessableError(
                        "can't compute and return certainty when vector index is configured with "
                        f"{metric} distance"
                    )
                if 1.0 - d / 2.0 < certainty:
                    continue
            out.append((usable[int(i)], meta))
        return out

    def _bm25_scores(
        self, cls: ClassState, objs: list[StoredObject], query: str, fields: list[str]
    ) -> list[float]:
        config = cls.definition["invertedIndexConfig"]["bm25"]
        k1, b = float(config["k1"]), float(config["b"])
        searchable = [
            p
            for p in cls.definition["properties"]
            if p.get("indexSearchable") and p["dataType"][0] in ("text", "text[]")
        ]
        if fields:
            wanted = {f.split("^")[0] for f in fields}
            searchable = [p for p in searchable if p["name"] in wanted]
        total = [0.0] * len(objs)
        everyone = list(cls.objects.values())
        for prop in searchable:
            tok = prop.get("tokenization", "word")
            terms = [t for t in tokenize(tok, query) if t not in ENGLISH_STOPWORDS or tok != "word"]
            if not terms:
                continue

            def tokens(o: StoredObject, name: str = prop["name"], tk: str = tok) -> list[str]:
                v = o.props.get(name)
                items = v if isinstance(v, list) else [] if v is None else [v]
                out: list[str] = []
                for item in items:
                    out.extend(tokenize(tk, item))
                return out

            all_tokens = [tokens(o) for o in everyone]
            n = len(everyone)
            avg = (sum(len(t) for t in all_tokens) / n) if n else 0.0
            df: Counter[str] = Counter()
            for t in all_tokens:
                df.update(set(t))
            for i, o in enumerate(objs):
                toks = tokens(o)
                counts = Counter(toks)
                for term in set(terms):
                    tf = counts.get(term, 0)
                    if not tf:
                        continue
                    idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
                    norm = tf * (k1 + 1) / (tf + k1 * (1 - b + b * (len(toks) / avg if avg else 0)))
                    total[i] += idf * norm
        return total

    def _bm25_ranked(
        self, cls: ClassState, candidates: list[StoredObject], query: str, fields: list[str]
    ) -> list[tuple[StoredObject, dict[str, Any]]]:
        scores = self._bm25_scores(cls, candidates, query, fields)
        ranked = sorted(
            ((o, s) for o, s in zip(candidates, scores, strict=True) if s > 0), key=lambda p: -p[1]
        )
        return [(o, {"score": float(s), "explain_score": f"BM25F_{query}_frequency:{s}"}) for o, s in ranked]

    def _hybrid_ranked(
        self, cls: ClassState, candidates: list[StoredObject], hs: base_search_pb2.Hybrid, targets: list[str]
    ) -> list[tuple[StoredObject, dict[str, Any]]]:
        alpha = hs.alpha_param if hs.use_alpha_param else hs.alpha
        vector: np.ndarray | None = None
        if len(hs.vectors):
            vector = _vector_from_pb(hs.vectors[0])
        elif hs.vector_bytes:
            vector = _f32(hs.vector_bytes)
        elif len(hs.vector):
            vector = np.asarray(hs.vector, dtype=np.float32)
        elif hs.HasField("near_vector"):
            nv = hs.near_vector
            if len(nv.vectors):
                vector = _vector_from_pb(nv.vectors[0])
            elif nv.vector_bytes:
                vector = _f32(nv.vector_bytes)
        keyword = self._bm25_ranked(cls, candidates, hs.query, list(hs.properties)) if alpha < 1 else []
        semantic: list[tuple[StoredObject, dict[str, Any]]] = []
        if alpha > 0:
            if vector is None:
                raise UnprocessableError(
                    "hybrid: no vector given and no vectorizer module is enabled to vectorize the query"
                )
            semantic = self._vector_ranked(cls, candidates, targets[:1], [vector], None, None, None)
        fused: dict[str, float] = {}
        objs: dict[str, StoredObject] = {}
        ranked_fusion = hs.fusion_type == base_search_pb2.Hybrid.FUSION_TYPE_RANKED
        for weight, results, key in ((1 - alpha, keyword, "score"), (alpha, semantic, "distance")):
            if not results:
                continue
            values = [r[1][key] for r in results]
            if key == "distance":
                values = [-v for v in values]
            lo, hi = min(values), max(values)
            for rank, ((obj, _meta), v) in enumerate(zip(results, values, strict=True)):
                if ranked_fusion:
                    part = weight / (60 + rank)
                else:
                    part = weight * ((v - lo) / (hi - lo) if hi > lo else 1.0)
                fused[obj.uuid] = fused.get(obj.uuid, 0.0) + part
                objs[obj.uuid] = obj
        ordered = sorted(fused.items(), key=lambda kv: -kv[1])
        return [(objs[u], {"score": s, "explain_score": f"(hybrid) fused score {s}"}) for u, s in ordered]

    def _sorted(
        self, cls: ClassState, rows: list[tuple[StoredObject, dict[str, Any]]], sort_by: Sequence[Any]
    ) -> list[tuple[StoredObject, dict[str, Any]]]:
        for spec in reversed(list(sort_by)):
            path = list(spec.path)
            if len(path) != 1:
                raise UnprocessableError("sort path must have exactly one element")
            name = path[0]
            key: Callable[[StoredObject], Any]
            if name in ("_id", "id"):
                key = _uuid_sort_key
            elif name in ("_creationTimeUnix", "_lastUpdateTimeUnix"):
                key = _attr_key("created" if name == "_creationTimeUnix" else "updated")
            else:
                prop = cls.property(name)
                if prop is None:
                    raise UnprocessableError(
                        f"sort: no such prop with name '{name}' found in class '{cls.name}' in the schema"
                    )
                key = _sort_key(prop)
            present = [r for r in rows if key(r[0]) is not None]
            missing = [r for r in rows if key(r[0]) is None]
            present.sort(key=_row_key(key), reverse=not spec.ascending)
            rows = (missing + present) if spec.ascending else (present + missing)
        return rows

    # -- replies -----------------------------------------------------------------------------

    def _selected_properties(
        self, cls: ClassState, req: search_get_pb2.SearchRequest
    ) -> list[dict[str, Any]]:
        if not req.HasField("properties") or req.properties.return_all_nonref_properties:
            return [p for p in cls.definition["properties"] if p["dataType"][0] != "blob"]
        if len(req.properties.ref_properties):
            raise UnprocessableError("cross-references are not supported by this emulator")
        out = []
        for name in req.properties.non_ref_properties:
            prop = cls.property(name[:1].lower() + name[1:])
            if prop is None:
                raise UnprocessableError(
                    f"extract properties request: get property by name {name} for class {cls.name}: "
                    + no_such_prop(name, cls.name).message
                )
            out.append(prop)
        for obj_req in req.properties.object_properties:
            prop = cls.property(obj_req.prop_name[:1].lower() + obj_req.prop_name[1:])
            if prop is None:
                raise UnprocessableError(
                    f"no such prop with name '{obj_req.prop_name}' found in class '{cls.name}'"
                )
            out.append(prop)
        return out

    def _metadata(
        self,
        cls: ClassState,
        req: search_get_pb2.SearchRequest,
        obj: StoredObject,
        extra: dict[str, Any],
        vector_search: bool,
    ) -> search_get_pb2.MetadataResult:
        md = search_get_pb2.MetadataResult()
        if not req.HasField("metadata"):
            return md
        m = req.metadata
        if m.uuid:
            md.id = obj.uuid
            md.id_as_bytes = uuid_bytes(obj.uuid)
        if m.vector and not cls.named_vectors:
            vec = cls.vector_of(obj, LEGACY)
            if vec is not None:
                md.vector.extend(vec.tolist())
                md.vector_bytes = vec.astype("<f4").tobytes()
        names: list[str] = list(m.vectors)
        if m.vector and cls.named_vectors:
            names = list(cls.definition["vectorConfig"])
        for name in names:
            if cls.named_vectors and name not in cls.definition["vectorConfig"]:
                raise UnprocessableError(f"class {cls.name} does not have named vector {name} configured")
            vec = cls.vector_of(obj, name)
            if vec is not None:
                md.vectors.append(
                    base_pb2.Vectors(
                        name=name,
                        vector_bytes=vec.astype("<f4").tobytes(),
                        type=base_pb2.Vectors.VECTOR_TYPE_SINGLE_FP32,
                    )
                )
        if m.creation_time_unix:
            md.creation_time_unix = obj.created
            md.creation_time_unix_present = True
        if m.last_update_time_unix:
            md.last_update_time_unix = obj.updated
            md.last_update_time_unix_present = True
        if m.distance and "distance" in extra:
            md.distance = extra["distance"]
            md.distance_present = True
        if m.certainty and vector_search and "certainty" in extra:
            md.certainty = extra["certainty"]
            md.certainty_present = True
        if m.score and "score" in extra:
            md.score = extra["score"]
            md.score_present = True
        if m.explain_score and "explain_score" in extra:
            md.explain_score = extra["explain_score"]
            md.explain_score_present = True
        if m.is_consistent and req.HasField("consistency_level"):
            md.is_consistent = True
            md.is_consistent_present = True
        return md

    def _properties(
        self, cls: ClassState, obj: StoredObject, props: list[dict[str, Any]]
    ) -> search_get_pb2.PropertiesResult:
        # a search through an alias reports the alias as the collection (weaviate#8585)
        target = self._alias if self._alias is not None else cls.name
        result = search_get_pb2.PropertiesResult(target_collection=target)
        for prop in props:
            value = obj.props.get(prop["name"])
            result.non_ref_props.fields[prop["name"]].CopyFrom(
                _value_pb(prop["dataType"][0], value, prop.get("nestedProperties") or ())
            )
        return result

    def _reply(
        self,
        cls: ClassState,
        req: search_get_pb2.SearchRequest,
        props: list[dict[str, Any]],
        hits: list[tuple[StoredObject, dict[str, Any]]],
        *,
        vector_search: bool,
    ) -> search_get_pb2.SearchReply:
        reply = search_get_pb2.SearchReply()
        for obj, extra in hits:
            reply.results.append(
                search_get_pb2.SearchResult(
                    properties=self._properties(cls, obj, props),
                    metadata=self._metadata(cls, req, obj, extra, vector_search),
                )
            )
        return reply

    def _grouped_reply(
        self,
        cls: ClassState,
        req: search_get_pb2.SearchRequest,
        props: list[dict[str, Any]],
        scored: list[tuple[StoredObject, dict[str, Any]]],
    ) -> search_get_pb2.SearchReply:
        gb = req.group_by
        if len(gb.path) != 1:
            raise UnprocessableError(f"groupby path can only have one entry, received {list(gb.path)}")
        name = gb.path[0]
        if cls.property(name) is None:
            raise UnprocessableError(f"no such prop with name '{name}' found in class '{cls.name}'")
        if not scored or "distance" not in scored[0][1]:
            raise UnprocessableError("groupBy is only supported with vector searches")
        groups: dict[str, list[tuple[StoredObject, dict[str, Any]]]] = {}
        for obj, extra in scored:
            value = obj.props.get(name)
            for key in value if isinstance(value, list) else [value]:
                label = "" if key is None else str(key).lower() if isinstance(key, bool) else str(key)
                if label not in groups and len(groups) >= gb.number_of_groups:
                    continue
                members = groups.setdefault(label, [])
                if len(members) < gb.objects_per_group:
                    members.append((obj, extra))
        reply = search_get_pb2.SearchReply()
        for label, members in groups.items():
            distances = [m[1]["distance"] for m in members]
            group = search_get_pb2.GroupByResult(
                name=label,
                min_distance=min(distances),
                max_distance=max(distances),
                number_of_objects=len(members),
            )
            for obj, extra in members:
                md = self._metadata(cls, req, obj, extra, True)
                md.id = obj.uuid
                md.id_as_bytes = uuid_bytes(obj.uuid)
                md.distance, md.distance_present = extra["distance"], True
                group.objects.append(
                    search_get_pb2.SearchResult(properties=self._properties(cls, obj, props), metadata=md)
                )
            reply.group_by_results.append(group)
            for obj, extra in members:
                reply.results.append(
                    search_get_pb2.SearchResult(
                        properties=self._properties(cls, obj, props),
                        metadata=self._metadata(cls, req, obj, extra, True),
                    )
                )
        return reply

    # -- BatchObjects ------------------------------------------------------------------------

    @_handle
    def BatchObjects(self, request: batch_pb2.BatchObjectsRequest, context: grpc.ServicerContext) -> Any:
        started = time.monotonic()
        errors: list[batch_pb2.BatchObjectsReply.BatchError] = []
        for index, obj in enumerate(request.objects):
            try:
                incoming = self._incoming(obj)
                if obj.tenant:
                    cls = self.db.get_class(obj.collection)
                    name = cls.name if cls else obj.collection
                    raise UnprocessableError(
                        f"class {name} has multi-tenancy disabled, but request was with tenant"
                    )
                self.db.put_object(incoming, mode="upsert")
            except EmulatorError as exc:
                errors.append(batch_pb2.BatchObjectsReply.BatchError(index=index, error=exc.message))
        took = time.monotonic() - started
        if took > 0:
            self.rate_per_second = len(request.objects) / took
        return batch_pb2.BatchObjectsReply(took=took, errors=errors)

    def _incoming(self, obj: batch_pb2.BatchObject) -> IncomingObject:
        try:
            uuid_lib.UUID(obj.uuid)
        except ValueError:
            raise UnprocessableError(f"invalid UUID length: {len(obj.uuid)}") from None
        vector: np.ndarray | None = None
        if obj.vector_bytes:
            vector = _f32(obj.vector_bytes)
        elif len(obj.vector):
            vector = np.asarray(obj.vector, dtype=np.float32)
        vectors = {v.name: _vector_from_pb(v) for v in obj.vectors}
        if len(obj.properties.single_target_ref_props) or len(obj.properties.multi_target_ref_props):
            raise UnprocessableError("cross-references are not supported by this emulator")
        props = _struct_to_python(obj.properties) if obj.HasField("properties") else None
        name = obj.collection[:1].upper() + obj.collection[1:]
        return IncomingObject(name, obj.uuid, props, vector, vectors, from_grpc=True)

    @_handle
    def BatchReferences(self, request: Any, context: grpc.ServicerContext) -> Any:
        raise _Abort(grpc.StatusCode.UNIMPLEMENTED, "cross-references are not supported by this emulator")

    @_handle
    def BatchStream(self, request_iterator: Any, context: grpc.ServicerContext) -> Any:
        # Servers before 1.36 do not offer batch streaming; the client only uses it from 1.36 on.
        raise _Abort(
            grpc.StatusCode.UNIMPLEMENTED, "unknown method BatchStream for service weaviate.v1.Weaviate"
        )

    # -- BatchDelete -------------------------------------------------------------------------

    @_handle
    def BatchDelete(self, request: batch_delete_pb2.BatchDeleteRequest, context: grpc.ServicerContext) -> Any:
        started = time.monotonic()
        with self.db.lock:
            cls = self.db.get_class(request.collection)
            if cls is None:
                raise UnprocessableError(
                    f"batch delete params: could not find class {request.collection} in schema"
                )
            if not request.HasField("filters"):
                raise UnprocessableError("batch delete params: no filters in batch delete request")
            predicate = compile_filter(request.filters, cls)
            matched = [o for o in cls.objects.values() if predicate(o)]
            reply = batch_delete_pb2.BatchDeleteReply(matches=len(matched))
            for obj in matched[: self.db.query_maximum_results]:
                if not request.dry_run:
                    cls.remove(obj.uuid)
                reply.successful += 1
                if request.verbose:
                    reply.objects.append(
                        batch_delete_pb2.BatchDeleteObject(
                            uuid=uuid_bytes(obj.uuid), successful=True, error=""
                        )
                    )
        reply.took = time.monotonic() - started
        return reply

    # -- Aggregate ---------------------------------------------------------------------------

    @_handle
    def Aggregate(self, request: aggregate_pb2.AggregateRequest, context: grpc.ServicerContext) -> Any:
        started = time.monotonic()
        with self.db.lock:
            cls = self.db.require_class(request.collection)
            reply = self._aggregate(cls, request)
        reply.took = time.monotonic() - started
        return reply

    def _aggregate(
        self, cls: ClassState, req: aggregate_pb2.AggregateRequest
    ) -> aggregate_pb2.AggregateReply:
        predicate = compile_filter(req.filters, cls) if req.HasField("filters") else None
        objs = [o for o in cls.objects.values() if predicate is None or predicate(o)]
        if req.HasField("near_vector") or req.HasField("near_object"):
            fake = search_get_pb2.SearchRequest(collection=cls.name)
            if req.HasField("near_vector"):
                fake.near_vector.CopyFrom(req.near_vector)
            else:
                fake.near_object.CopyFrom(req.near_object)
            targets, combination = self._targets(cls, fake, True)
            queries = self._query_vectors(cls, fake, targets)
            near = req.near_vector if req.HasField("near_vector") else req.near_object
            ranked = self._vector_ranked(
                cls,
                objs,
                targets,
                queries,
                combination,
                near.certainty if near.HasField("certainty") else None,
                near.distance if near.HasField("distance") else None,
            )
            if req.HasField("object_limit"):
                ranked = ranked[: req.object_limit]
            objs = [o for o, _ in ranked]
        elif any(req.HasField(n) for n in _MODULE_SEARCHES):
            raise UnprocessableError(
                "no vectorizer module is enabled on this server, only 'none' is available"
            )
        elif req.HasField("hybrid"):
            objs = [
                o
                for o, _ in self._hybrid_ranked(
                    cls,
                    objs,
                    req.hybrid,
                    self._targets(
                        cls, search_get_pb2.SearchRequest(collection=cls.name, hybrid_search=req.hybrid), True
                    )[0],
                )
            ]
            if req.HasField("object_limit"):
                objs = objs[: req.object_limit]
        reply = aggregate_pb2.AggregateReply()
        if req.HasField("group_by"):
            name = req.group_by.property
            prop = cls.property(name)
            if prop is None:
                raise UnprocessableError(f"no such prop with name '{name}' found in class '{cls.name}'")
            groups: dict[Any, list[StoredObject]] = {}
            for obj in objs:
                value = obj.props.get(name)
                keys = value if isinstance(value, list) else [value]
                for key in keys:
                    if key is None:
                        continue
                    groups.setdefault(key, []).append(obj)
            ordered = sorted(groups.items(), key=lambda kv: -len(kv[1]))
            if req.HasField("limit"):
                ordered = ordered[: req.limit]
            for key, members in ordered:
                group = aggregate_pb2.AggregateReply.Group(grouped_by=_grouped_by(name, prop, key))
                if req.objects_count:
                    group.objects_count = len(members)
                group.aggregations.CopyFrom(self._aggregations(cls, members, req.aggregations))
                reply.grouped_results.groups.append(group)
            return reply
        if req.objects_count:
            reply.single_result.objects_count = len(objs)
        reply.single_result.aggregations.CopyFrom(self._aggregations(cls, objs, req.aggregations))
        return reply

    def _aggregations(
        self,
        cls: ClassState,
        objs: list[StoredObject],
        wanted: Sequence[aggregate_pb2.AggregateRequest.Aggregation],
    ) -> aggregate_pb2.AggregateReply.Aggregations:
        out = aggregate_pb2.AggregateReply.Aggregations()
        A = aggregate_pb2.AggregateReply.Aggregations.Aggregation
        for agg in wanted:
            prop = cls.property(agg.property)
            if prop is None:
                raise UnprocessableError(
                    f"no such prop with name '{agg.property}' found in class '{cls.name}' in the schema"
                )
            data_type = prop["dataType"][0]
            values: list[Any] = []
            for obj in objs:
                v = obj.props.get(agg.property)
                if v is None:
                    continue
                values.extend(v if isinstance(v, list) else [v])
            item = A(property=agg.property)
            kind = agg.WhichOneof("aggregation")
            if kind in ("int", "number"):
                if data_type not in ("int", "int[]", "number", "number[]"):
                    raise UnprocessableError(f"property {agg.property} is not numeric")
                req_metrics = getattr(agg, kind)
                target = item.int if kind == "int" else item.number
                target.SetInParent()
                cast: Callable[[Any], Any] = int if kind == "int" else float
                if req_metrics.count:
                    target.count = len(values)
                if req_metrics.type:
                    target.type = data_type
                if values:
                    if req_metrics.sum:
                        target.sum = cast(sum(values))
                    if req_metrics.mean:
                        target.mean = float(sum(values)) / len(values)
                    if req_metrics.median:
                        target.median = float(median(values))
                    if req_metrics.mode:
                        target.mode = cast(Counter(values).most_common(1)[0][0])
                    if req_metrics.maximum:
                        target.maximum = cast(max(values))
                    if req_metrics.minimum:
                        target.minimum = cast(min(values))
            elif kind == "text":
                item.text.SetInParent()
                if agg.text.count:
                    item.text.count = len(values)
                if agg.text.type:
                    item.text.type = data_type
                if agg.text.top_occurences:
                    limit = agg.text.top_occurences_limit if agg.text.HasField("top_occurences_limit") else 5
                    counts = sorted(Counter(map(str, values)).items(), key=lambda kv: (-kv[1], kv[0]))
                    for value, occurs in counts[:limit]:
                        item.text.top_occurences.items.add(value=value, occurs=occurs)
            elif kind == "boolean":
                item.boolean.SetInParent()
                trues = sum(1 for v in values if v is True)
                falses = sum(1 for v in values if v is False)
                if agg.boolean.count:
                    item.boolean.count = len(values)
                if agg.boolean.type:
                    item.boolean.type = data_type
                if agg.boolean.total_true:
                    item.boolean.total_true = trues
                if agg.boolean.total_false:
                    item.boolean.total_false = falses
                if values and agg.boolean.percentage_true:
                    item.boolean.percentage_true = trues / len(values)
                if values and agg.boolean.percentage_false:
                    item.boolean.percentage_false = falses / len(values)
            elif kind == "date":
                item.date.SetInParent()
                parsed = sorted(values, key=parse_date)
                if agg.date.count:
                    item.date.count = len(values)
                if agg.date.type:
                    item.date.type = data_type
                if parsed:
                    if agg.date.minimum:
                        item.date.minimum = parsed[0]
                    if agg.date.maximum:
                        item.date.maximum = parsed[-1]
                    if agg.date.median:
                        item.date.median = parsed[len(parsed) // 2]
                    if agg.date.mode:
                        item.date.mode = Counter(parsed).most_common(1)[0][0]
            else:
                raise UnprocessableError(f"aggregation of kind {kind} is not supported by this emulator")
            out.aggregations.append(item)
        return out

    # -- tenants -----------------------------------------------------------------------------

    @_handle
    def TenantsGet(self, request: tenants_pb2.TenantsGetRequest, context: grpc.ServicerContext) -> Any:
        cls = self.db.require_class(request.collection)
        raise UnprocessableError(f"multi-tenancy is not enabled for class {cls.name!r}")


# -- helpers ---------------------------------------------------------------------------------------


def _bisect_after(ordered: list[str], after: uuid_lib.UUID) -> int:
    key = after.bytes
    lo, hi = 0, len(ordered)
    while lo < hi:
        mid = (lo + hi) // 2
        if uuid_lib.UUID(ordered[mid]).bytes <= key:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _combine(per_target: list[np.ndarray], combination: tuple[int, list[float]] | None) -> np.ndarray:
    if len(per_target) == 1:
        return per_target[0]
    comb, weights = combination or (Combination.COMBINATION_METHOD_UNSPECIFIED, [])
    stacked = np.stack(per_target)
    if comb == Combination.COMBINATION_METHOD_TYPE_SUM:
        return np.asarray(stacked.sum(axis=0))
    if comb == Combination.COMBINATION_METHOD_TYPE_AVERAGE:
        return np.asarray(stacked.mean(axis=0))
    if comb == Combination.COMBINATION_METHOD_TYPE_MANUAL:
        return np.asarray((stacked * np.asarray(weights, dtype=np.float64)[:, None]).sum(axis=0))
    if comb == Combination.COMBINATION_METHOD_TYPE_RELATIVE_SCORE:
        lo = stacked.min(axis=1, keepdims=True)
        hi = stacked.max(axis=1, keepdims=True)
        span = np.where(hi > lo, hi - lo, 1.0)
        normalized = (stacked - lo) / span
        return np.asarray((normalized * np.asarray(weights, dtype=np.float64)[:, None]).sum(axis=0))
    # the server's default combination is the minimum distance
    return np.asarray(stacked.min(axis=0))


def _autocut(values: list[float], cut_off: int) -> int:
    n = len(values)
    if n <= 1:
        return n
    span = values[-1] - values[0]
    if span == 0:
        return n
    diff = [(v - values[0]) / span - i / (n - 1) for i, v in enumerate(values)]
    extrema = 0
    for i in range(1, n):
        if i == n - 1:
            is_peak = diff[i] > diff[i - 1] and (n < 3 or diff[i] > diff[i - 2])
        else:
            is_peak = diff[i] > diff[i - 1] and diff[i] > diff[i + 1]
        if is_peak:
            extrema += 1
            if extrema >= cut_off:
                return i
    return n


def _row_key(key: Callable[[StoredObject], Any]) -> Callable[[tuple[StoredObject, dict[str, Any]]], Any]:
    return lambda row: key(row[0])


def _uuid_sort_key(obj: StoredObject) -> Any:
    return uuid_lib.UUID(obj.uuid).bytes


def _attr_key(attr: str) -> Callable[[StoredObject], Any]:
    def key(obj: StoredObject) -> Any:
        return getattr(obj, attr)

    return key


def _sort_key(prop: dict[str, Any]) -> Callable[[StoredObject], Any]:
    name = prop["name"]
    data_type = prop["dataType"][0]

    def key(obj: StoredObject) -> Any:
        value = obj.props.get(name)
        if value is None:
            return None
        if data_type == "date":
            return parse_date(value)
        if isinstance(value, list):
            return tuple(value)
        return value

    return key


def _grouped_by(name: str, prop: dict[str, Any], key: Any) -> aggregate_pb2.AggregateReply.Group.GroupedBy:
    gb = aggregate_pb2.AggregateReply.Group.GroupedBy(path=[name])
    if isinstance(key, bool):
        gb.boolean = key
    elif isinstance(key, int):
        gb.int = key
    elif isinstance(key, float):
        gb.number = key
    else:
        gb.text = str(key)
    return gb


# -- health ----------------------------------------------------------------------------------------


def health_handler() -> grpc.GenericRpcHandler:
    """``grpc.health.v1.Health/Check``, answered with the messages of Weaviate's health proto."""

    def check(request: Any, context: grpc.ServicerContext) -> Any:
        return health_weaviate_pb2.WeaviateHealthCheckResponse(
            status=health_weaviate_pb2.WeaviateHealthCheckResponse.SERVING
        )

    return grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health",
        {
            "Check": grpc.unary_unary_rpc_method_handler(
                check,
                request_deserializer=health_weaviate_pb2.WeaviateHealthCheckRequest.FromString,
                response_serializer=health_weaviate_pb2.WeaviateHealthCheckResponse.SerializeToString,
            )
        },
    )
