"""Collection (class) definitions as a Weaviate 1.33 server validates, completes and returns them.

The rules follow the server's source (``usecases/schema``, ``entities/schema``): class names start
upper-case and are unique regardless of case, property names are GraphQL names whose first letter the
server lowers, ``id``/``_id``/``_additional`` are reserved, text properties get ``word`` tokenization
unless told otherwise, and every reply carries the complete defaults the Python client parses strictly.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from .errors import UnprocessableError

SERVER_VERSION = "1.33.18"
GRPC_MAX_MESSAGE_SIZE = 104858000

CLASS_NAME_RE = re.compile(r"^[A-Z][_0-9A-Za-z]{0,254}$")
PROPERTY_NAME_RE = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,230}$")
NESTED_PROPERTY_NAME_RE = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")
TARGET_VECTOR_NAME_RE = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,229}$")
RESERVED_PROPERTY_NAMES = ("_additional", "_id", "id")

PRIMITIVE_TYPES = frozenset(
    {
        "text",
        "text[]",
        "string",
        "string[]",
        "int",
        "int[]",
        "number",
        "number[]",
        "boolean",
        "boolean[]",
        "date",
        "date[]",
        "uuid",
        "uuid[]",
        "geoCoordinates",
        "phoneNumber",
        "blob",
        "object",
        "object[]",
    }
)
TEXT_TYPES = frozenset({"text", "text[]"})
TOKENIZATIONS = frozenset({"word", "lowercase", "whitespace", "field", "trigram"})
DISTANCES = frozenset({"cosine", "dot", "l2-squared", "manhattan", "hamming"})
VECTOR_INDEX_TYPES = frozenset({"hnsw", "flat", "dynamic"})

_CLASS_KEYS = (
    "class",
    "description",
    "invertedIndexConfig",
    "moduleConfig",
    "multiTenancyConfig",
    "properties",
    "replicationConfig",
    "shardingConfig",
    "vectorConfig",
    "vectorIndexConfig",
    "vectorIndexType",
    "vectorizer",
)
_PROPERTY_KEYS = (
    "dataType",
    "description",
    "indexFilterable",
    "indexInverted",
    "indexRangeFilters",
    "indexSearchable",
    "moduleConfig",
    "name",
    "nestedProperties",
    "tokenization",
)


def capitalize_class_name(name: str) -> str:
    """The server's ``UppercaseClassName``: only the first letter changes."""
    return name[:1].upper() + name[1:]


def lowercase_first_letter(name: str) -> str:
    """The server's ``LowercaseFirstLetter``, applied to every property name it receives."""
    return name[:1].lower() + name[1:]


def hnsw_defaults() -> dict[str, Any]:
    """The complete HNSW ``vectorIndexConfig`` of a 1.33 server (``entities/vectorindex/hnsw``)."""
    return {
        "skip": False,
        "cleanupIntervalSeconds": 300,
        "maxConnections": 32,
        "efConstruction": 128,
        "ef": -1,
        "dynamicEfMin": 100,
        "dynamicEfMax": 500,
        "dynamicEfFactor": 8,
        "vectorCacheMaxObjects": 1000000000000,
        "flatSearchCutoff": 40000,
        "distance": "cosine",
        "pq": {
            "enabled": False,
            "bitCompression": False,
            "segments": 0,
            "centroids": 256,
            "trainingLimit": 100000,
            "encoder": {"type": "kmeans", "distribution": "log-normal"},
        },
        "bq": {"enabled": False},
        "sq": {"enabled": False, "trainingLimit": 100000, "rescoreLimit": 20},
        "rq": {"enabled": False, "bits": 8, "rescoreLimit": 20},
        "filterStrategy": "sweeping",
        "multivector": {
            "enabled": False,
            "muvera": {"enabled": False, "ksim": 4, "dprojections": 16, "repetitions": 10},
            "aggregation": "maxSim",
        },
        "skipDefaultQuantization": False,
        "trackDefaultQuantization": False,
    }


def flat_defaults() -> dict[str, Any]:
    """The complete flat ``vectorIndexConfig`` (``entities/vectorindex/flat``)."""
    compression = {"enabled": False, "rescoreLimit": -1, "cache": False}
    return {
        "distance": "cosine",
        "vectorCacheMaxObjects": 1000000000000,
        "pq": dict(compression),
        "bq": dict(compression),
        "sq": dict(compression),
    }


def _merge(defaults: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(defaults)
    for key, value in given.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def vector_index_config(index_type: str, given: Any, where: str) -> dict[str, Any]:
    """Complete a vector index config the way the server's ``ParseUserConfig`` does."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise UnprocessableError(f"{where}: vectorIndexConfig must be an object")
    if index_type == "hnsw":
        out = _merge(hnsw_defaults(), given)
    elif index_type == "flat":
        out = _merge(flat_defaults(), given)
    elif index_type == "dynamic":
        out = {
            "distance": given.get("distance", "cosine"),
            "threshold": given.get("threshold", 10000),
            "hnsw": _merge(hnsw_defaults(), given.get("hnsw") or {}),
            "flat": _merge(flat_defaults(), given.get("flat") or {}),
        }
    else:
        raise UnprocessableError(f'{where}: unsupported vector index type "{index_type}"')
    distance = out.get("distance")
    if distance not in DISTANCES:
        raise UnprocessableError(f'{where}: unsupported distance type "{distance}"')
    if index_type == "hnsw":
        if out["maxConnections"] < 4 or out["maxConnections"] > 2047:
            raise UnprocessableError(f"{where}: maxConnections must be between 4 and 2047")
        if out["efConstruction"] < 4:
            raise UnprocessableError(f"{where}: efConstruction must be a positive integer >= 4")
        if out["multivector"].get("enabled"):
            raise UnprocessableError(f"{where}: multi-vector indexes are not supported by this emulator")
        if out["filterStrategy"] not in ("sweeping", "acorn"):
            raise UnprocessableError(f"{where}: filterStrategy must be 'sweeping' or 'acorn'")
    if index_type in ("hnsw", "dynamic"):
        hnsw = out if index_type == "hnsw" else out["hnsw"]
        enabled = [q for q in ("pq", "bq", "sq", "rq") if hnsw.get(q, {}).get("enabled")]
        if len(enabled) > 1:
            raise UnprocessableError(f"{where}: only one compression method can be enabled, got {enabled}")
    return out


def _vectorizer_name(vectorizer: Any, where: str) -> str:
    if not isinstance(vectorizer, dict) or len(vectorizer) != 1:
        raise UnprocessableError(f"{where}: vectorizer must be an object with exactly one module")
    name = str(next(iter(vectorizer)))
    if name != "none":
        raise UnprocessableError(f'{where}: vectorizer: no module with name "{name}" present')
    return name


def _validate_module_config(cls: dict[str, Any]) -> None:
    module_config = cls.get("moduleConfig")
    if not module_config:
        return
    if not isinstance(module_config, dict):
        raise UnprocessableError("moduleConfig must be an object")
    for name in module_config:
        if name != "none":
            raise UnprocessableError(f'module config: no module with name "{name}" present')


def _bool(value: Any, default: bool) -> bool:
    return default if value is None else bool(value)


def normalize_property(prop: Any) -> dict[str, Any]:
    """Validate one property and fill the server's defaults; raises ``UnprocessableError``."""
    if not isinstance(prop, dict):
        raise UnprocessableError("a property must be an object")
    name = prop.get("name")
    if not isinstance(name, str) or not name:
        raise UnprocessableError("property must contain name")
    name = lowercase_first_letter(name)
    if len(name) > 231:
        raise UnprocessableError(
            f"'{name}' is not a valid property name. Name should not be longer than 231 characters"
        )
    if not PROPERTY_NAME_RE.match(name):
        raise UnprocessableError(
            f"'{name}' is not a valid property name. Property names in Weaviate are restricted to valid "
            "GraphQL names, which must be “/[_A-Za-z][_0-9A-Za-z]{0,230}/”."
        )
    if name in RESERVED_PROPERTY_NAMES:
        raise UnprocessableError(f"'{name}' is a reserved property name")
    data_type = prop.get("dataType")
    if not isinstance(data_type, list) or not data_type or not all(isinstance(d, str) for d in data_type):
        raise UnprocessableError("property must contain dataType")
    if len(data_type) > 1 or data_type[0][:1].isupper():
        raise UnprocessableError(
            f"property '{name}': cross-references are not supported by this emulator (dataType {data_type})"
        )
    dt = data_type[0]
    if dt not in PRIMITIVE_TYPES:
        raise UnprocessableError(
            f"property '{name}': invalid dataType: {data_type}: dataType \"{dt}\" is not a valid data type"
        )
    # string/string[] were folded into text/text[] in 1.19; "word" became "whitespace" for them.
    tokenization = prop.get("tokenization") or None
    if dt in ("string", "string[]"):
        dt = "text" if dt == "string" else "text[]"
        if tokenization in (None, "word"):
            tokenization = "whitespace"
    out: dict[str, Any] = {"dataType": [dt], "name": name}
    if prop.get("description"):
        out["description"] = prop["description"]
    if dt in TEXT_TYPES:
        tokenization = tokenization or "word"
        if tokenization not in TOKENIZATIONS:
            raise UnprocessableError(f"tokenization '{tokenization}' is not allowed for data type '{dt}'")
        out["tokenization"] = tokenization
    elif tokenization:
        raise UnprocessableError(f"tokenization is not allowed for data type '{dt}'")
    inverted = prop.get("indexInverted")
    filterable = prop.get("indexFilterable")
    searchable = prop.get("indexSearchable")
    rangeable = prop.get("indexRangeFilters")
    if inverted is not None and filterable is None and searchable is None and rangeable is None:
        filterable = bool(inverted)
        searchable = bool(inverted) and dt in TEXT_TYPES
        rangeable = False
    out["indexFilterable"] = _bool(filterable, dt != "blob")
    out["indexSearchable"] = _bool(searchable, dt in TEXT_TYPES)
    out["indexRangeFilters"] = _bool(rangeable, False)
    if out["indexSearchable"] and dt not in TEXT_TYPES:
        raise UnprocessableError(
            "`indexSearchable` is not allowed for other than text/text[] data types, "
            f"got \"{dt}\" on '{name}'"
        )
    if out["indexRangeFilters"] and dt not in ("int", "number", "date"):
        raise UnprocessableError(
            f"`indexRangeFilters` is allowed only for number/int/date data types, got \"{dt}\" on '{name}'"
        )
    nested = prop.get("nestedProperties")
    if dt in ("object", "object[]"):
        if not nested:
            raise UnprocessableError(f"property '{name}': At least one nested property is required")
        out["nestedProperties"] = [_normalize_nested(p, name) for p in nested]
    elif nested:
        raise UnprocessableError(
            f"property '{name}': nestedProperties not allowed for data types other than object/object[]"
        )
    module_config = prop.get("moduleConfig")
    if module_config:
        if not isinstance(module_config, dict):
            raise UnprocessableError(f"{name} property config invalid")
        for module in module_config:
            if module != "none":
                raise UnprocessableError(f'vectorizer "{module}" not configured for any of target vectors')
        out["moduleConfig"] = copy.deepcopy(module_config)
    return out


def _normalize_nested(prop: Any, parent: str) -> dict[str, Any]:
    if not isinstance(prop, dict) or not isinstance(prop.get("name"), str):
        raise UnprocessableError(f"property '{parent}': nested property must contain name")
    name = prop["name"]
    if not NESTED_PROPERTY_NAME_RE.match(name):
        raise UnprocessableError(
            f"'{name}' is not a valid nested property name of '{parent}'. NestedProperty names in Weaviate "
            "are restricted to valid GraphQL names, which must be “/[_A-Za-z][_0-9A-Za-z]*/”"
        )
    data_type = prop.get("dataType")
    if not isinstance(data_type, list) or len(data_type) != 1 or data_type[0] not in PRIMITIVE_TYPES:
        raise UnprocessableError(f"property '{parent}.{name}': invalid dataType {data_type}")
    dt = data_type[0]
    out: dict[str, Any] = {"dataType": [dt], "name": name}
    if prop.get("description"):
        out["description"] = prop["description"]
    if dt in TEXT_TYPES:
        out["tokenization"] = prop.get("tokenization") or "word"
    out["indexFilterable"] = _bool(prop.get("indexFilterable"), dt != "blob")
    out["indexSearchable"] = _bool(prop.get("indexSearchable"), dt in TEXT_TYPES)
    out["indexRangeFilters"] = _bool(prop.get("indexRangeFilters"), False)
    if dt in ("object", "object[]"):
        out["nestedProperties"] = [
            _normalize_nested(p, f"{parent}.{name}") for p in prop.get("nestedProperties") or []
        ]
    return out


def _inverted_index_config(given: Any) -> dict[str, Any]:
    given = dict(given or {})
    bm25 = dict(given.get("bm25") or {})
    stopwords = dict(given.get("stopwords") or {})
    preset = stopwords.get("preset") or "en"
    if preset not in ("en", "none"):
        raise UnprocessableError(f'stopwordPreset "{preset}" not recognized')
    out: dict[str, Any] = {
        "bm25": {"b": float(bm25.get("b", 0.75)), "k1": float(bm25.get("k1", 1.2))},
        "cleanupIntervalSeconds": int(given.get("cleanupIntervalSeconds") or 60),
        "stopwords": {
            "additions": stopwords.get("additions"),
            "preset": preset,
            "removals": stopwords.get("removals"),
        },
        "usingBlockMaxWAND": True,
    }
    # omitempty booleans: a real server leaves them out when false.
    for key in ("indexNullState", "indexPropertyLength", "indexTimestamps"):
        if given.get(key):
            out[key] = True
    return out


def normalize_class(body: Any) -> dict[str, Any]:
    """Validate a class posted to ``/v1/schema`` and return it as the server stores and returns it."""
    if not isinstance(body, dict):
        raise UnprocessableError("the request body must be a class object")
    name = body.get("class")
    if not isinstance(name, str) or not name:
        raise UnprocessableError("'' is not a valid class name")
    name = capitalize_class_name(name)
    if len(name) > 255:
        raise UnprocessableError(
            f"'{name}' is not a valid class name. Name should not be longer than 255 characters"
        )
    if not CLASS_NAME_RE.match(name):
        raise UnprocessableError(f"'{name}' is not a valid class name")
    unknown = [k for k in body if k not in _CLASS_KEYS]
    if "objectTtlConfig" in unknown and body.get("objectTtlConfig"):
        raise UnprocessableError("objectTtlConfig is not supported by Weaviate 1.33")
    named = body.get("vectorConfig") or {}
    legacy = bool(body.get("vectorIndexType") or body.get("vectorIndexConfig") or body.get("vectorizer"))
    if named and legacy:
        raise UnprocessableError(
            "creating a class with both a class level vector index and named vectors is forbidden"
        )
    _validate_module_config(body)
    out: dict[str, Any] = {"class": name}
    if body.get("description"):
        out["description"] = body["description"]
    out["invertedIndexConfig"] = _inverted_index_config(body.get("invertedIndexConfig"))
    if body.get("moduleConfig"):
        out["moduleConfig"] = copy.deepcopy(body["moduleConfig"])
    mt = dict(body.get("multiTenancyConfig") or {})
    if mt.get("enabled"):
        raise UnprocessableError("multi-tenancy is not supported by this emulator")
    out["multiTenancyConfig"] = {
        "autoTenantActivation": bool(mt.get("autoTenantActivation", False)),
        "autoTenantCreation": bool(mt.get("autoTenantCreation", False)),
        "enabled": False,
    }
    props_in = body.get("properties") or []
    if not isinstance(props_in, list):
        raise UnprocessableError("properties must be a list")
    props: list[dict[str, Any]] = []
    seen: set[str] = set()
    for raw in props_in:
        prop = normalize_property(raw)
        if prop["name"].lower() in seen:
            raise UnprocessableError(
                f'class "{name}": conflict for property "{prop["name"]}": already in use or provided '
                "multiple times"
            )
        seen.add(prop["name"].lower())
        props.append(prop)
    out["properties"] = props
    repl = dict(body.get("replicationConfig") or {})
    factor = int(repl.get("factor") or 1)
    if factor != 1:
        raise UnprocessableError(
            f"could not find enough weaviate nodes for replication: {factor} replicas requested, 1 available"
        )
    out["replicationConfig"] = {
        "asyncEnabled": bool(repl.get("asyncEnabled", False)),
        "deletionStrategy": repl.get("deletionStrategy") or "NoAutomatedResolution",
        "factor": 1,
    }
    sharding = dict(body.get("shardingConfig") or {})
    desired = int(sharding.get("desiredCount") or 1)
    virtual = int(sharding.get("virtualPerPhysical") or 128)
    out["shardingConfig"] = {
        "actualCount": desired,
        "actualVirtualCount": desired * virtual,
        "desiredCount": desired,
        "desiredVirtualCount": desired * virtual,
        "function": "murmur3",
        "key": "_id",
        "strategy": "hash",
        "virtualPerPhysical": virtual,
    }
    if named:
        if not isinstance(named, dict):
            raise UnprocessableError("vectorConfig must be an object")
        vectors: dict[str, Any] = {}
        for vname, vcfg in named.items():
            where = f'target vector "{vname}"'
            if not TARGET_VECTOR_NAME_RE.match(vname):
                raise UnprocessableError(
                    f"{where}: invalid target vector name, must be “/[_A-Za-z][_0-9A-Za-z]{{0,229}}/”"
                )
            if not isinstance(vcfg, dict):
                raise UnprocessableError(f"{where}: config must be an object")
            _vectorizer_name(vcfg.get("vectorizer") or {"none": {}}, where)
            index_type = vcfg.get("vectorIndexType") or "hnsw"
            if index_type not in VECTOR_INDEX_TYPES:
                raise UnprocessableError(
                    f'{where}: unrecognized or unsupported vectorIndexType "{index_type}"'
                )
            vectors[vname] = {
                "vectorIndexConfig": vector_index_config(index_type, vcfg.get("vectorIndexConfig"), where),
                "vectorIndexType": index_type,
                "vectorizer": copy.deepcopy(vcfg.get("vectorizer") or {"none": {}}),
            }
        out["vectorConfig"] = vectors
    else:
        vectorizer = body.get("vectorizer") or "none"
        if vectorizer != "none":
            raise UnprocessableError(f'vectorizer: no module with name "{vectorizer}" present')
        index_type = body.get("vectorIndexType") or "hnsw"
        if index_type not in VECTOR_INDEX_TYPES:
            raise UnprocessableError(f'unrecognized or unsupported vectorIndexType "{index_type}"')
        out["vectorIndexConfig"] = vector_index_config(index_type, body.get("vectorIndexConfig"), "class")
        out["vectorIndexType"] = index_type
        out["vectorizer"] = "none"
    return out


_IMMUTABLE_INVERTED = ("indexNullState", "indexPropertyLength", "indexTimestamps")
#: What a vector index config update may not change (the server's ``ValidateUserConfigUpdate`` of
#: ``adapters/repos/db/vector/hnsw`` and ``.../flat``); ``ef``, the dynamic ef bounds,
#: ``flatSearchCutoff``, ``vectorCacheMaxObjects``, ``filterStrategy`` and compression stay mutable.
_IMMUTABLE_HNSW: tuple[tuple[str, Callable[[dict[str, Any]], Any]], ...] = (
    ("efConstruction", lambda c: c.get("efConstruction")),
    ("maxConnections", lambda c: c.get("maxConnections")),
    ("cleanupIntervalSeconds", lambda c: c.get("cleanupIntervalSeconds")),
    ("distance", lambda c: c.get("distance")),
    ("multivector enabled", lambda c: bool((c.get("multivector") or {}).get("enabled"))),
)
_IMMUTABLE_FLAT: tuple[tuple[str, Callable[[dict[str, Any]], Any]], ...] = (
    ("distance", lambda c: c.get("distance")),
    ("pq.cache", lambda c: bool((c.get("pq") or {}).get("cache"))),
    ("pq", lambda c: bool((c.get("pq") or {}).get("enabled"))),
    ("bq", lambda c: bool((c.get("bq") or {}).get("enabled"))),
)


def _check_index_update(index_type: str, old: dict[str, Any], new: dict[str, Any], where: str) -> None:
    """Refuse a change of an immutable index parameter, in the server's words."""
    fields = _IMMUTABLE_HNSW if index_type == "hnsw" else _IMMUTABLE_FLAT if index_type == "flat" else ()
    for name, read in fields:
        before, after = read(old), read(new)
        if before != after:
            raise UnprocessableError(
                f'{where}{name} is immutable: attempted change from "{_go(before)}" to "{_go(after)}"'
            )
    # A skipped HNSW vector has the noop index, whose UpdateUserConfig accepts only configs that keep
    # skip; the other way (skip turned on) is accepted and takes effect when the shard is next loaded.
    if index_type == "hnsw" and old.get("skip") and not new.get("skip"):
        raise UnprocessableError(
            "cannot update vector index config on a non-indexed class. Delete and re-create without "
            "skip property"
        )


def _go(value: Any) -> str:
    """``value`` as Go's ``%v`` prints it."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def update_class(current: dict[str, Any], body: Any) -> dict[str, Any]:
    """Apply a ``PUT /v1/schema/{class}``: validate immutable parts, return the new definition."""
    if not isinstance(body, dict):
        raise UnprocessableError("the request body must be a class object")
    if capitalize_class_name(str(body.get("class", ""))) != current["class"]:
        raise UnprocessableError(
            f'class name is immutable: attempted change from "{current["class"]}" to "{body.get("class")}"'
        )
    body = dict(body)
    # properties are changed through their own endpoint; an update must leave them as they are.
    given_props = {lowercase_first_letter(p.get("name", "")): p for p in body.get("properties") or []}
    current_props = {p["name"]: p for p in current["properties"]}
    if set(given_props) != set(current_props) or any(
        given_props[n].get("dataType") != current_props[n]["dataType"] for n in current_props
    ):
        raise UnprocessableError(
            "properties cannot be updated through updating the class. Use the add property feature "
            '(e.g. "POST /v1/schema/{className}/properties") to add additional properties'
        )
    body["properties"] = current["properties"]
    updated = normalize_class(body)
    for key in _IMMUTABLE_INVERTED:
        if bool(updated["invertedIndexConfig"].get(key)) != bool(current["invertedIndexConfig"].get(key)):
            raise UnprocessableError(f"{key} is immutable: attempted change")
    if ("vectorConfig" in updated) != ("vectorConfig" in current):
        raise UnprocessableError("vectorizer config is immutable")
    if "vectorConfig" in current:
        if not set(current["vectorConfig"]) <= set(updated["vectorConfig"]):
            raise UnprocessableError("named vectors can only be added, not removed or renamed")
        for vname, cfg in current["vectorConfig"].items():
            new = updated["vectorConfig"][vname]
            if new["vectorIndexType"] != cfg["vectorIndexType"]:
                raise UnprocessableError(f'vector index type of "{vname}" is immutable')
            _check_index_update(
                cfg["vectorIndexType"],
                cfg["vectorIndexConfig"],
                new["vectorIndexConfig"],
                f'invalid update for vector "{vname}": ',
            )
    else:
        if updated["vectorIndexType"] != current["vectorIndexType"]:
            raise UnprocessableError("vector index type is immutable")
        _check_index_update(
            current["vectorIndexType"],
            current["vectorIndexConfig"],
            updated["vectorIndexConfig"],
            "validate vector index config: ",
        )
    return updated
