"""The REST API of the emulated server (``/v1/...``), on the standard library's threading HTTP server.

Status codes follow the server's handlers: validation errors are 422 with
``{"error": [{"message": ...}]}``, unknown objects 404, ``PATCH``/``DELETE``/``HEAD`` on objects 204.
"""

from __future__ import annotations

import json
import uuid as uuid_lib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
from weaviate.proto.v1 import base_pb2

from .data import (
    LEGACY,
    QUERY_DEFAULTS_LIMIT,
    ClassState,
    IncomingObject,
    StoredObject,
    validate_value,
)
from .errors import BadRequestError, EmulatorError, NotFoundError, UnprocessableError
from .filters import compile_filter
from .schema import CLASS_NAME_RE, GRPC_MAX_MESSAGE_SIZE, SERVER_VERSION, capitalize_class_name, update_class

if TYPE_CHECKING:
    from .server import WeaviateEmulator


def object_json(cls: ClassState, obj: StoredObject, *, include_vector: bool) -> dict[str, Any]:
    """An object as the REST API returns it."""
    out: dict[str, Any] = {
        "class": cls.name,
        "creationTimeUnix": obj.created,
        "id": obj.uuid,
        "lastUpdateTimeUnix": obj.updated,
        "properties": dict(obj.props),
    }
    if include_vector:
        if cls.named_vectors:
            out["vectors"] = {name: cls.indexes[name].get(row).tolist() for name, row in obj.rows.items()}
        elif LEGACY in obj.rows:
            out["vector"] = cls.indexes[LEGACY].get(obj.rows[LEGACY]).tolist()
    return out


_REST_OPERATORS = {
    "And": base_pb2.Filters.OPERATOR_AND,
    "Or": base_pb2.Filters.OPERATOR_OR,
    "Not": base_pb2.Filters.OPERATOR_NOT,
    "Equal": base_pb2.Filters.OPERATOR_EQUAL,
    "NotEqual": base_pb2.Filters.OPERATOR_NOT_EQUAL,
    "GreaterThan": base_pb2.Filters.OPERATOR_GREATER_THAN,
    "GreaterThanEqual": base_pb2.Filters.OPERATOR_GREATER_THAN_EQUAL,
    "LessThan": base_pb2.Filters.OPERATOR_LESS_THAN,
    "LessThanEqual": base_pb2.Filters.OPERATOR_LESS_THAN_EQUAL,
    "Like": base_pb2.Filters.OPERATOR_LIKE,
    "IsNull": base_pb2.Filters.OPERATOR_IS_NULL,
    "ContainsAny": base_pb2.Filters.OPERATOR_CONTAINS_ANY,
    "ContainsAll": base_pb2.Filters.OPERATOR_CONTAINS_ALL,
    "ContainsNone": base_pb2.Filters.OPERATOR_CONTAINS_NONE,
    "WithinGeoRange": base_pb2.Filters.OPERATOR_WITHIN_GEO_RANGE,
}


def rest_where_to_pb(where: Any) -> base_pb2.Filters:
    """Translate a REST ``where`` object into the gRPC filter the evaluator understands."""
    if not isinstance(where, dict) or where.get("operator") not in _REST_OPERATORS:
        raise UnprocessableError(f"invalid where filter: {where!r}")
    out = base_pb2.Filters(operator=_REST_OPERATORS[where["operator"]])
    if where["operator"] in ("And", "Or", "Not"):
        out.filters.extend(rest_where_to_pb(w) for w in where.get("operands") or [])
        return out
    path = where.get("path") or []
    if isinstance(path, str):
        path = [path]
    out.target.property = path[-1] if len(path) == 1 else "/".join(path)
    for key, value in where.items():
        if key == "valueText" or key == "valueString" or key == "valueDate":
            out.value_text = value
        elif key == "valueInt":
            out.value_int = int(value)
        elif key == "valueNumber":
            out.value_number = float(value)
        elif key == "valueBoolean":
            out.value_boolean = bool(value)
        elif key in ("valueTextArray", "valueStringArray", "valueDateArray"):
            out.value_text_array.values.extend(value)
        elif key == "valueIntArray":
            out.value_int_array.values.extend(int(v) for v in value)
        elif key == "valueNumberArray":
            out.value_number_array.values.extend(float(v) for v in value)
        elif key == "valueBooleanArray":
            out.value_boolean_array.values.extend(bool(v) for v in value)
        elif key == "valueGeoRange":
            geo = value.get("geoCoordinates", {})
            out.value_geo.latitude = geo.get("latitude", 0.0)
            out.value_geo.longitude = geo.get("longitude", 0.0)
            out.value_geo.distance = value.get("distance", {}).get("max", 0.0)
    return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body go out as separate writes: without TCP_NODELAY each reply waits ~40 ms for
    # the client's delayed ACK
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    # -- plumbing ---------------------------------------------------------------------------

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return None
        raw = self.rfile.read(length)
        try:
            return json.loads(raw)
        except ValueError:
            raise BadRequestError("the request body is not valid JSON") from None

    def _send(self, status: int, payload: Any = None) -> None:
        body = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _dispatch(self) -> None:
        emulator = self.server.emulator
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        segments = [unquote(s) for s in parts.path.split("/") if s]
        try:
            if segments[:1] != ["v1"]:
                raise NotFoundError(f"no route for {parts.path}")
            emulator.rest_calls[f"{self.command} /{'/'.join(segments[:2])}"] += 1
            status, payload = _route(emulator, self.command, segments[1:], query, self._body())
        except EmulatorError as exc:
            status, payload = exc.status, {"error": [{"message": exc.message}]}
        self._send(status, payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], emulator: WeaviateEmulator) -> None:
        super().__init__(address, _Handler)
        self.emulator = emulator


def make_http_server(emulator: WeaviateEmulator, host: str = "127.0.0.1", port: int = 0) -> _Server:
    """A threading HTTP server bound to ``host:port`` (0 picks a free port)."""
    return _Server((host, port), emulator)


# -- routes ----------------------------------------------------------------------------------------


def _route(
    emu: WeaviateEmulator, method: str, seg: list[str], query: dict[str, str], body: Any
) -> tuple[int, Any]:
    if seg == ["meta"] and method == "GET":
        return 200, {
            "hostname": f"http://[::]:{emu.http_port}",
            "modules": {},
            "version": SERVER_VERSION,
            "grpcMaxMessageSize": GRPC_MAX_MESSAGE_SIZE,
        }
    if seg[:1] == [".well-known"]:
        if seg[1:] in (["ready"], ["live"]) and method in ("GET", "HEAD"):
            return 200, None
        if seg[1:] == ["openid-configuration"]:
            raise NotFoundError("OIDC is not configured")
    if seg[:1] == ["schema"]:
        return _schema_route(emu, method, seg[1:], body)
    if seg[:1] == ["nodes"] and method == "GET":
        return 200, _nodes(emu, seg[1:2], query.get("output", "minimal"))
    if seg[:1] == ["objects"]:
        return _objects_route(emu, method, seg[1:], query, body)
    if seg[:1] == ["aliases"]:
        return _aliases_route(emu, method, seg[1:], query, body)
    if seg == ["batch", "objects"]:
        if method == "POST":
            return _batch_objects(emu, body)
        if method == "DELETE":
            return _batch_delete(emu, body)
    if seg == ["graphql"]:
        raise UnprocessableError("GraphQL is not supported by this emulator; use the gRPC API")
    raise NotFoundError(f"no route for {method} /v1/{'/'.join(seg)}")


def _schema_route(emu: WeaviateEmulator, method: str, seg: list[str], body: Any) -> tuple[int, Any]:
    db = emu.db
    if not seg:
        if method == "GET":
            with db.lock:
                return 200, {"classes": [c.definition for c in db.classes.values()]}
        if method == "POST":
            return 200, db.create_class(body)
        raise BadRequestError(f"method {method} not allowed")
    name = capitalize_class_name(seg[0])
    rest = seg[1:]
    with db.lock:
        cls = db.get_class(name)
        if not rest:
            if method == "GET":
                if cls is None:
                    raise NotFoundError(f"class {name} not found")
                return 200, cls.definition
            if method == "DELETE":
                db.delete_class(name)
                return 200, None
            if method == "PUT":
                if cls is None:
                    raise NotFoundError(f"class {name} not found")
                cls.set_definition(update_class(cls.definition, body))
                return 200, cls.definition
        if cls is None:
            raise NotFoundError(f"class {name} not found")
        if rest == ["properties"] and method == "POST":
            return 200, db.add_property(name, body)
        if rest == ["shards"] and method == "GET":
            return 200, [{"name": _shard_name(cls), "status": "READY", "vectorQueueSize": 0}]
        if len(rest) == 2 and rest[0] == "shards" and method == "PUT":
            status = (body or {}).get("status", "READY")
            if status not in ("READY", "READONLY"):
                raise UnprocessableError(f"invalid shard status {status!r}")
            return 200, {"status": status}
    raise NotFoundError(f"no route for {method} /v1/schema/{'/'.join(seg)}")


def _aliases_route(
    emu: WeaviateEmulator, method: str, seg: list[str], query: dict[str, str], body: Any
) -> tuple[int, Any]:
    db = emu.db
    with db.lock:
        if not seg:
            if method == "GET":
                only = capitalize_class_name(query["class"]) if query.get("class") else None
                items = [{"alias": a, "class": c} for a, c in sorted(db.aliases.items()) if only in (None, c)]
                return 200, {"aliases": items}
            if method == "POST":
                alias = capitalize_class_name(str((body or {}).get("alias", "")))
                target = db.classes.get(capitalize_class_name(str((body or {}).get("class", ""))))
                if not CLASS_NAME_RE.match(alias):
                    raise UnprocessableError(f"'{alias}' is not a valid alias name")
                if target is None:
                    raise UnprocessableError(f"create alias: class {body.get('class')} does not exist")
                if any(n.lower() == alias.lower() for n in [*db.aliases, *db.classes]):
                    raise UnprocessableError(f"create alias: alias {alias} already exists")
                db.aliases[alias] = target.name
                return 200, {"alias": alias, "class": target.name}
        elif len(seg) == 1:
            alias = capitalize_class_name(seg[0])
            if alias not in db.aliases:
                return 404, None
            if method == "GET":
                return 200, {"alias": alias, "class": db.aliases[alias]}
            if method == "DELETE":
                del db.aliases[alias]
                return 204, None
            if method == "PUT":
                target = db.classes.get(capitalize_class_name(str((body or {}).get("class", ""))))
                if target is None:
                    raise UnprocessableError(f"replace alias: class {body.get('class')} does not exist")
                db.aliases[alias] = target.name
                return 200, {"alias": alias, "class": target.name}
    raise NotFoundError(f"no route for {method} /v1/aliases/{'/'.join(seg)}")


def _shard_name(cls: ClassState) -> str:
    return uuid_lib.uuid5(uuid_lib.NAMESPACE_DNS, cls.name).hex[:12]


def _nodes(emu: WeaviateEmulator, only: list[str], output: str) -> dict[str, Any]:
    db = emu.db
    with db.lock:
        classes = [c for c in db.classes.values() if not only or c.name == capitalize_class_name(only[0])]
        objects = sum(len(c.objects) for c in classes)
        node: dict[str, Any] = {
            "batchStats": {"queueLength": 0, "ratePerSecond": int(emu.grpc_service.rate_per_second)},
            "gitHash": "emulator",
            "name": "node1",
            "status": "HEALTHY",
            "version": SERVER_VERSION,
            "stats": {"objectCount": objects, "shardCount": len(classes)},
            "shards": None,
        }
        if output == "verbose":
            node["shards"] = [
                {
                    "class": c.name,
                    "name": _shard_name(c),
                    "objectCount": len(c.objects),
                    "vectorIndexingStatus": "READY",
                    "vectorQueueLength": 0,
                    "compressed": False,
                    "loaded": True,
                }
                for c in classes
            ]
    return {"nodes": [node]}


def _incoming(body: Any, class_name: str | None = None, uid: str | None = None) -> IncomingObject:
    if not isinstance(body, dict):
        raise UnprocessableError("the request body must be an object")
    name = class_name or body.get("class")
    if not name:
        raise UnprocessableError("the object has no class")
    given_id = body.get("id")
    if uid is not None and given_id and str(given_id).lower() != uid.lower():
        raise UnprocessableError("invalid update: field 'id' is immutable")
    object_id = uid or given_id or str(uuid_lib.uuid4())
    vector = body.get("vector")
    vectors = body.get("vectors") or {}
    if vectors and not isinstance(vectors, dict):
        raise UnprocessableError("vectors must be an object of named vectors")
    for vname, vec in vectors.items():
        if vec and isinstance(vec[0], list):
            raise UnprocessableError(f"multi-vector {vname!r} is not supported by this emulator")
    return IncomingObject(
        capitalize_class_name(str(name)),
        str(object_id),
        body.get("properties") or {},
        np.asarray(vector, dtype=np.float32) if vector else None,
        {k: np.asarray(v, dtype=np.float32) for k, v in vectors.items() if v},
    )


def _find(emu: WeaviateEmulator, class_name: str | None, uid: str) -> tuple[ClassState, StoredObject]:
    try:
        canonical = str(uuid_lib.UUID(uid))
    except ValueError:
        raise NotFoundError(f"object {uid} not found") from None
    db = emu.db
    candidates = [db.get_class(class_name)] if class_name else list(db.classes.values())
    for cls in candidates:
        if cls is not None and canonical in cls.objects:
            return cls, cls.objects[canonical]
    raise NotFoundError(f"object {uid} not found")


def _objects_route(
    emu: WeaviateEmulator, method: str, seg: list[str], query: dict[str, str], body: Any
) -> tuple[int, Any]:
    db = emu.db
    include_vector = "vector" in query.get("include", "").split(",")
    if query.get("tenant"):
        raise UnprocessableError("multi-tenancy is not supported by this emulator")
    if not seg:
        if method == "POST":
            obj = db.put_object(_incoming(body), mode="create")
            cls = db.get_class(capitalize_class_name(str(body["class"])))
            assert cls is not None
            return 200, object_json(cls, obj, include_vector=True)
        if method == "GET":
            return 200, _list_objects(emu, query, include_vector)
    if seg == ["validate"] and method == "POST":
        incoming = _incoming(body)
        with db.lock:
            cls = db.get_class(incoming.class_name)
            if cls is None:
                raise UnprocessableError(f"class {incoming.class_name} not found")
            for key, value in (incoming.properties or {}).items():
                if value is not None:
                    validate_value(cls, key[:1].lower() + key[1:], value)
        return 200, None
    if len(seg) in (1, 2):
        class_name = capitalize_class_name(seg[0]) if len(seg) == 2 else None
        uid = seg[-1]
        if method in ("GET", "HEAD"):
            with db.lock:
                try:
                    cls, obj = _find(emu, class_name, uid)
                except NotFoundError:
                    return 404, None
                if method == "HEAD":
                    return 204, None
                return 200, object_json(cls, obj, include_vector=include_vector)
        if method == "DELETE":
            with db.lock:
                try:
                    cls, obj = _find(emu, class_name, uid)
                except NotFoundError:
                    return 404, None
                cls.remove(obj.uuid)
            return 204, None
        if class_name is None:
            raise NotFoundError("updates need /v1/objects/{className}/{id}")
        if method == "PUT":
            obj = db.put_object(_incoming(body, class_name, uid), mode="replace")
            cls = db.get_class(class_name)
            assert cls is not None
            return 200, object_json(cls, obj, include_vector=True)
        if method == "PATCH":
            db.merge_object(_incoming(body, class_name, uid))
            return 204, None
    raise NotFoundError(f"no route for {method} /v1/objects/{'/'.join(seg)}")


def _list_objects(emu: WeaviateEmulator, query: dict[str, str], include_vector: bool) -> dict[str, Any]:
    db = emu.db
    limit = int(query.get("limit") or QUERY_DEFAULTS_LIMIT)
    offset = int(query.get("offset") or 0)
    with db.lock:
        if query.get("class"):
            classes = [db.get_class(query["class"])]
            if classes[0] is None:
                raise NotFoundError(f"class {query['class']} not found")
        else:
            classes = list(db.classes.values())
        rows: list[tuple[ClassState, StoredObject]] = []
        for cls in classes:
            assert cls is not None
            if query.get("after"):
                ordered = cls.sorted_ids()
                after = uuid_lib.UUID(query["after"]).bytes
                rows.extend((cls, cls.objects[u]) for u in ordered if uuid_lib.UUID(u).bytes > after)
            else:
                rows.extend((cls, o) for o in cls.objects.values())
        page = rows[offset : offset + limit]
        return {
            "deprecations": None,
            "objects": [object_json(c, o, include_vector=include_vector) for c, o in page],
            "totalResults": len(page),
        }


def _batch_objects(emu: WeaviateEmulator, body: Any) -> tuple[int, Any]:
    objects = (body or {}).get("objects")
    if not isinstance(objects, list):
        raise UnprocessableError("batch: objects must be a list")
    out = []
    for raw in objects:
        entry = dict(raw) if isinstance(raw, dict) else {}
        try:
            incoming = _incoming(raw)
            obj = emu.db.put_object(incoming, mode="upsert")
            entry.update(id=obj.uuid, creationTimeUnix=obj.created, lastUpdateTimeUnix=obj.updated)
            entry["result"] = {"status": "SUCCESS"}
        except EmulatorError as exc:
            entry["result"] = {"errors": {"error": [{"message": exc.message}]}, "status": "FAILED"}
        out.append(entry)
    return 200, out


def _batch_delete(emu: WeaviateEmulator, body: Any) -> tuple[int, Any]:
    body = body or {}
    match = body.get("match") or {}
    cls = emu.db.get_class(str(match.get("class", "")))
    if cls is None:
        raise UnprocessableError(f"could not find class {match.get('class')} in schema")
    if not match.get("where"):
        raise UnprocessableError("validate: invalid 'where' filter: no filters in batch delete request")
    dry_run = bool(body.get("dryRun"))
    verbose = body.get("output") == "verbose"
    with emu.db.lock:
        predicate = compile_filter(rest_where_to_pb(match["where"]), cls)
        matched = [o for o in cls.objects.values() if predicate(o)]
        done = matched[: emu.db.query_maximum_results]
        if not dry_run:
            for obj in done:
                cls.remove(obj.uuid)
    results: dict[str, Any] = {
        "failed": 0,
        "limit": emu.db.query_maximum_results,
        "matches": len(matched),
        "successful": len(done),
    }
    if verbose:
        results["objects"] = [{"id": o.uuid, "status": "DRYRUN" if dry_run else "SUCCESS"} for o in done]
    return 200, {
        "dryRun": dry_run,
        "match": match,
        "output": body.get("output", "minimal"),
        "results": results,
    }
