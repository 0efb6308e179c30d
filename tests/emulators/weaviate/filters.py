"""Where-filters as a Weaviate 1.33 server evaluates them, compiled from the gRPC ``Filters`` message.

Semantics follow the server's inverted-index searcher (``adapters/repos/db/inverted``):

* text values are tokenized with the property's tokenization; a filter value of several tokens is the
  AND of one single-token filter per token (for ``word`` tokenization stopwords are skipped, and a value
  of stopwords only is an error);
* ``NotEqual`` is a deny list, the complement of ``Equal`` over all objects, so objects that lack the
  property match it; ``ContainsNone`` is the complement of ``ContainsAny``;
* on array properties a value filter matches when any element matches;
* ``IsNull`` needs ``indexNullState``: a missing value, an empty string and an empty array are null;
* ``len(prop)`` needs ``indexPropertyLength``; ``_creationTimeUnix``/``_lastUpdateTimeUnix`` need
  ``indexTimestamps``; filtering a property needs one of its inverted indexes.

Filter errors are raised at compile time, before any object is looked at, as the server does.
"""

from __future__ import annotations

import math
import re
import uuid as uuid_lib
from collections.abc import Callable
from typing import Any

from weaviate.proto.v1 import base_pb2

from .data import ClassState, StoredObject, parse_date, property_length
from .errors import UnprocessableError, no_such_prop

Predicate = Callable[[StoredObject], bool]
Op = base_pb2.Filters.Operator

_EN = "a an and are as at be but by for if in into is it no not of on or such that the their then there these"
ENGLISH_STOPWORDS = frozenset([*_EN.split(" "), "they", "this", "to", "was", "will", "with"])

ONLY_STOPWORDS = (
    "invalid search term, only stopwords provided. Stopwords can be configured in "
    "class.invertedIndexConfig.stopwords"
)

_OPERATOR_NAMES: dict[int, str] = {
    Op.OPERATOR_EQUAL: "Equal",
    Op.OPERATOR_NOT_EQUAL: "NotEqual",
    Op.OPERATOR_GREATER_THAN: "GreaterThan",
    Op.OPERATOR_GREATER_THAN_EQUAL: "GreaterThanEqual",
    Op.OPERATOR_LESS_THAN: "LessThan",
    Op.OPERATOR_LESS_THAN_EQUAL: "LessThanEqual",
    Op.OPERATOR_LIKE: "Like",
    Op.OPERATOR_IS_NULL: "IsNull",
    Op.OPERATOR_CONTAINS_ANY: "ContainsAny",
    Op.OPERATOR_CONTAINS_ALL: "ContainsAll",
    Op.OPERATOR_CONTAINS_NONE: "ContainsNone",
    Op.OPERATOR_WITHIN_GEO_RANGE: "WithinGeoRange",
}
_CONTAINS = (Op.OPERATOR_CONTAINS_ANY, Op.OPERATOR_CONTAINS_ALL, Op.OPERATOR_CONTAINS_NONE)
_GO_ARRAY = {"text": "string", "uuid": "string", "date": "string", "number": "float64"}
_RANGE = (
    Op.OPERATOR_GREATER_THAN,
    Op.OPERATOR_GREATER_THAN_EQUAL,
    Op.OPERATOR_LESS_THAN,
    Op.OPERATOR_LESS_THAN_EQUAL,
)


# -- tokenization ----------------------------------------------------------------------------------


def _split_space(text: str) -> list[str]:
    return text.split()


def tokenize(tokenization: str, text: str) -> list[str]:
    """Tokenize like the server's ``tokenizer.Tokenize`` for the tokenizations it ships enabled."""
    if tokenization == "word":
        return [t.lower() for t in re.findall(r"[^\W_]+", text)]
    if tokenization == "lowercase":
        return [t.lower() for t in _split_space(text)]
    if tokenization == "whitespace":
        return _split_space(text)
    if tokenization == "field":
        return [text.strip()]
    if tokenization == "trigram":
        clean = "".join(c for c in text.lower() if c.isalnum())
        if len(clean) < 3:
            return [clean] if clean else []
        return [clean[i : i + 3] for i in range(len(clean) - 2)]
    raise UnprocessableError(f"unsupported tokenization {tokenization!r}")


def tokenize_with_wildcards(tokenization: str, text: str) -> list[str]:
    """Tokenization of a ``Like`` value: ``*`` and ``?`` survive as part of the tokens."""
    if tokenization in ("word", "trigram"):
        return [t.lower() for t in re.findall(r"(?:[^\W_]|[*?])+", text)]
    return tokenize(tokenization, text)


def _like_regex(pattern: str) -> re.Pattern[str]:
    escaped = re.escape(pattern).replace(r"\?", ".").replace(r"\*", ".*")
    return re.compile("^" + escaped + "$", re.DOTALL)


def _stopwords(cls: ClassState) -> frozenset[str]:
    config = cls.definition["invertedIndexConfig"]["stopwords"]
    words = set(ENGLISH_STOPWORDS if config.get("preset", "en") == "en" else ())
    words |= set(config.get("additions") or ())
    words -= set(config.get("removals") or ())
    return frozenset(words)


# -- compilation -----------------------------------------------------------------------------------


def compile_filter(flt: base_pb2.Filters, cls: ClassState) -> Predicate:
    """Turn a gRPC filter into a predicate over the objects of ``cls``; errors are raised now."""
    op = flt.operator
    if op in (Op.OPERATOR_AND, Op.OPERATOR_OR, Op.OPERATOR_NOT):
        children = [compile_filter(f, cls) for f in flt.filters]
        if op == Op.OPERATOR_AND:
            return lambda o: all(c(o) for c in children)
        if op == Op.OPERATOR_OR:
            return lambda o: any(c(o) for c in children)
        if not children:
            raise UnprocessableError("operator Not requires an operand")
        return lambda o: not all(c(o) for c in children)
    if op not in _OPERATOR_NAMES:
        raise UnprocessableError(f"unknown filter operator {op}")
    prop = _target_property(flt)
    kind = flt.WhichOneof("test_value")
    if kind is None:
        raise UnprocessableError("unknown value type <nil>")
    value = _raw_value(flt, kind)
    if prop == "_id" or prop == "id":
        return _id_filter(op, value, kind)
    if prop in ("_creationTimeUnix", "_lastUpdateTimeUnix"):
        return _timestamp_filter(cls, prop, op, value)
    length_of = re.fullmatch(r"len\((.+)\)", prop)
    if length_of:
        return _length_filter(cls, length_of.group(1), op, value)
    schema_prop = cls.property(prop)
    if schema_prop is None:
        raise no_such_prop(prop, cls.name)
    data_type = schema_prop["dataType"][0]
    base_type = data_type[:-2] if data_type.endswith("[]") else data_type
    if op == Op.OPERATOR_IS_NULL:
        return _null_filter(cls, prop, value, kind)
    value = _coerce_number(value, base_type, op)
    if op in _CONTAINS:
        return _contains_filter(cls, schema_prop, base_type, op, value)
    return _single_filter(cls, schema_prop, base_type, op, value)


def _target_property(flt: base_pb2.Filters) -> str:
    if flt.HasField("target"):
        which = flt.target.WhichOneof("target")
        if which != "property":
            raise UnprocessableError("filters on cross-references are not supported by this emulator")
        return str(flt.target.property)
    if len(flt.on) != 1:
        if len(flt.on) % 2 != 1:
            raise UnprocessableError(
                "paths needs to have a uneven number of components: property, class, property, ...., "
                f"got {list(flt.on)}"
            )
        raise UnprocessableError("filters on cross-references are not supported by this emulator")
    return str(flt.on[0])


def _raw_value(flt: base_pb2.Filters, kind: str) -> Any:
    if kind == "value_text":
        return flt.value_text
    if kind == "value_int":
        return int(flt.value_int)
    if kind == "value_boolean":
        return bool(flt.value_boolean)
    if kind == "value_number":
        return float(flt.value_number)
    if kind == "value_geo":
        return (flt.value_geo.latitude, flt.value_geo.longitude, flt.value_geo.distance)
    arr = getattr(flt, kind).values
    if kind == "value_int_array":
        return [int(v) for v in arr]
    if kind == "value_number_array":
        return [float(v) for v in arr]
    if kind == "value_boolean_array":
        return [bool(v) for v in arr]
    return [str(v) for v in arr]


def _coerce_number(value: Any, base_type: str, op: int) -> Any:
    """The server's int/float convenience conversion (``adapters/handlers/grpc/v1/filters.go``)."""
    if base_type == "number":
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if (
            isinstance(value, list)
            and op in _CONTAINS
            and value
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            return [float(v) for v in value]
    if base_type == "int":
        if isinstance(value, float):
            if not value.is_integer():
                raise UnprocessableError(
                    f"filtering for integer, but received a floating point number {value}"
                )
            return int(value)
        if isinstance(value, list) and op in _CONTAINS and value and all(isinstance(v, float) for v in value):
            for v in value:
                if not v.is_integer():
                    raise UnprocessableError(
                        f"filtering for integer, but received a floating point number {v}"
                    )
            return [int(v) for v in value]
    return value


def _go_type_of_filter_value(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        inner = _go_type_of_filter_value(value[0]) if value else "interface {}"
        return "[]" + inner
    return type(value).__name__


def _check_filterable(prop: dict[str, Any]) -> None:
    if not (prop.get("indexFilterable") or prop.get("indexSearchable") or prop.get("indexRangeFilters")):
        name = prop["name"]
        raise UnprocessableError(
            f"Filtering by property '{name}' requires inverted index. "
            f"Is `indexFilterable` option of property '{name}' enabled? Set it to `true` or leave empty"
        )


def _id_filter(op: int, value: Any, kind: str) -> Predicate:
    if op in _CONTAINS:
        if kind != "value_text_array":
            raise UnprocessableError(
                'using ["_id"] to filter by uuid: must use "valueText" to specify the id'
            )
        wanted = {_canonical(v) for v in value}
        if op == Op.OPERATOR_CONTAINS_ANY:
            return lambda o: o.uuid in wanted
        if op == Op.OPERATOR_CONTAINS_NONE:
            return lambda o: o.uuid not in wanted
        return lambda o: len(wanted) == 1 and o.uuid in wanted
    if kind != "value_text":
        raise UnprocessableError('using ["_id"] to filter by uuid: must use "valueText" to specify the id')
    target = _canonical(value)
    return _compare_scalar(op, target, lambda o: [o.uuid])


def _canonical(value: str) -> str:
    try:
        return str(uuid_lib.UUID(value))
    except ValueError:
        return value


def _timestamp_filter(cls: ClassState, prop: str, op: int, value: Any) -> Predicate:
    if not cls.definition["invertedIndexConfig"].get("indexTimestamps"):
        raise UnprocessableError(
            "Timestamps must be indexed to be filterable! Add `IndexTimestamps: true` to the "
            f"InvertedIndexConfig in {cls.name}"
        )
    values = value if isinstance(value, list) else [value]
    stamps = []
    for v in values:
        if not isinstance(v, str):
            raise UnprocessableError(f"expected value to be string, got '{_go_type_of_filter_value(v)}'")
        if v.isdigit():
            stamps.append(int(v))
        else:
            try:
                stamps.append(int(parse_date(v).timestamp() * 1000))
            except ValueError:
                raise UnprocessableError(f"expected value to be timestamp, got '{v}'") from None
    attr = "created" if prop == "_creationTimeUnix" else "updated"
    if op in _CONTAINS:
        wanted = set(stamps)
        if op == Op.OPERATOR_CONTAINS_ANY:
            return lambda o: getattr(o, attr) in wanted
        if op == Op.OPERATOR_CONTAINS_NONE:
            return lambda o: getattr(o, attr) not in wanted
        return lambda o: len(wanted) == 1 and getattr(o, attr) in wanted
    return _compare_scalar(op, stamps[0], lambda o: [getattr(o, attr)])


def _length_filter(cls: ClassState, name: str, op: int, value: Any) -> Predicate:
    prop = cls.property(name)
    if prop is None:
        raise no_such_prop(name, cls.name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise UnprocessableError(
            f'Filtering for property length requires IntValue, got "{_value_name(value)}" instead'
        )
    if op not in (Op.OPERATOR_EQUAL, Op.OPERATOR_NOT_EQUAL, *_RANGE):
        raise UnprocessableError(
            "Filtering for property length supports operators (not) equal and greater/less than (equal), "
            f'got "{_OPERATOR_NAMES.get(op, op)}" instead'
        )
    if value < 0:
        raise UnprocessableError(f"Can only filter for positive property length got {value} instead")
    if not cls.definition["invertedIndexConfig"].get("indexPropertyLength"):
        raise UnprocessableError(
            "Property length must be indexed to be filterable! add `IndexPropertyLength: true` to the "
            f"invertedIndexConfig in {cls.name}.  Geo-coordinates, phone numbers and data blobs are not "
            "supported by property length."
        )
    return _compare_scalar(op, value, lambda o: [max(property_length(o.props.get(name)), 0)])


def _value_name(value: Any) -> str:
    if isinstance(value, bool):
        return "valueBoolean"
    if isinstance(value, int):
        return "valueInt"
    if isinstance(value, float):
        return "valueNumber"
    return "valueText"


def _null_filter(cls: ClassState, name: str, value: Any, kind: str) -> Predicate:
    if kind != "value_boolean":
        raise UnprocessableError(f"expected value to be bool, got {_go_type_of_filter_value(value)}")
    if not cls.definition["invertedIndexConfig"].get("indexNullState"):
        raise UnprocessableError(
            "Nullstate must be indexed to be filterable! "
            "Add `indexNullState: true` to the invertedIndexConfig"
        )
    want = bool(value)
    return lambda o: (property_length(o.props.get(name)) == 0) == want


def _compare_scalar(op: int, target: Any, values_of: Callable[[StoredObject], list[Any]]) -> Predicate:
    if op == Op.OPERATOR_EQUAL:
        return lambda o: any(v == target for v in values_of(o))
    if op == Op.OPERATOR_NOT_EQUAL:
        return lambda o: not any(v == target for v in values_of(o))
    if op == Op.OPERATOR_GREATER_THAN:
        return lambda o: any(v > target for v in values_of(o))
    if op == Op.OPERATOR_GREATER_THAN_EQUAL:
        return lambda o: any(v >= target for v in values_of(o))
    if op == Op.OPERATOR_LESS_THAN:
        return lambda o: any(v < target for v in values_of(o))
    if op == Op.OPERATOR_LESS_THAN_EQUAL:
        return lambda o: any(v <= target for v in values_of(o))
    if op == Op.OPERATOR_LIKE:
        if not isinstance(target, str):
            raise UnprocessableError("operator Like requires a text value")
        regex = _like_regex(target)
        return lambda o: any(isinstance(v, str) and regex.match(v) for v in values_of(o))
    raise UnprocessableError(f"operator {_OPERATOR_NAMES.get(op, op)} is not supported on this property")


def _element_values(name: str) -> Callable[[StoredObject], list[Any]]:
    def values(o: StoredObject) -> list[Any]:
        v = o.props.get(name)
        if v is None:
            return []
        return v if isinstance(v, list) else [v]

    return values


def _token_values(name: str, tokenization: str) -> Callable[[StoredObject], list[Any]]:
    def values(o: StoredObject) -> list[Any]:
        v = o.props.get(name)
        if v is None:
            return []
        items = v if isinstance(v, list) else [v]
        out: list[str] = []
        for item in items:
            out.extend(tokenize(tokenization, item))
        return out

    return values


def _byte_key(value: str) -> bytes:
    return value.encode("utf-8")


def _byte_tokens(tokens_of: Callable[[StoredObject], list[Any]]) -> Callable[[StoredObject], list[Any]]:
    # range filters on text compare the tokens' bytes, as the inverted index's keys are ordered
    return lambda o: [_byte_key(t) for t in tokens_of(o)]


def _single_filter(cls: ClassState, prop: dict[str, Any], base_type: str, op: int, value: Any) -> Predicate:
    name = prop["name"]
    if base_type == "geoCoordinates":
        if op != Op.OPERATOR_WITHIN_GEO_RANGE or not isinstance(value, tuple):
            raise UnprocessableError(f"geo props only support WithinGeoRange, got {_OPERATOR_NAMES.get(op)}")
        lat, lon, distance = value
        return lambda o: name in o.props and _haversine(o.props[name], lat, lon) <= distance
    if op == Op.OPERATOR_WITHIN_GEO_RANGE:
        raise UnprocessableError(f"property '{name}' is not of type geoCoordinates")
    if base_type == "text":
        if not isinstance(value, str):
            raise UnprocessableError(f"expected value to be string, got '{_go_type_of_filter_value(value)}'")
        _check_filterable(prop)
        tokenization = prop.get("tokenization", "word")
        terms = (
            tokenize_with_wildcards(tokenization, value)
            if op == Op.OPERATOR_LIKE
            else tokenize(tokenization, value)
        )
        if tokenization == "word":
            stop = _stopwords(cls)
            terms = [t for t in terms if t not in stop]
        if not terms:
            raise UnprocessableError(ONLY_STOPWORDS)
        tokens_of = _token_values(name, tokenization)
        preds: list[Predicate] = []
        for term in terms:
            if op in _RANGE:
                key = _byte_key(term)
                preds.append(_compare_scalar(op, key, _byte_tokens(tokens_of)))
            else:
                preds.append(_compare_scalar(op, term, tokens_of))
        if len(preds) == 1:
            return preds[0]
        return lambda o: all(p(o) for p in preds)
    if base_type == "uuid":
        if not isinstance(value, str):
            raise UnprocessableError(
                f'property "{name}" is of type "uuid" or "uuid[]": specify uuid as string using "valueText"'
            )
        if op == Op.OPERATOR_LIKE:
            raise UnprocessableError('operator "Like" cannot be used on uuid/uuid[] props')
        _check_filterable(prop)
        return _compare_scalar(op, _canonical(value), _element_values(name))
    if base_type in ("int", "number", "boolean", "date"):
        target = _typed_filter_value(base_type, value)
        _check_filterable(prop)
        if op == Op.OPERATOR_LIKE:
            raise UnprocessableError(
                f"operator Like is not supported on property '{name}' of type {base_type}"
            )
        if base_type == "date":
            getter = _element_values(name)
            return _compare_scalar(op, target, lambda o: [parse_date(v) for v in getter(o)])
        return _compare_scalar(op, target, _element_values(name))
    raise UnprocessableError(f'data type "{base_type}" not supported in query')


def _typed_filter_value(base_type: str, value: Any) -> Any:
    if base_type == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise UnprocessableError(f"expected value to be int, got {_go_type_of_filter_value(value)}")
        return value
    if base_type == "number":
        if not isinstance(value, float):
            raise UnprocessableError(f"expected value to be float64, got {_go_type_of_filter_value(value)}")
        return value
    if base_type == "boolean":
        if not isinstance(value, bool):
            raise UnprocessableError(f"expected value to be bool, got {_go_type_of_filter_value(value)}")
        return value
    if not isinstance(value, str):
        raise UnprocessableError(
            "expected value to be time.Time (or parseable string) or string (not parseable, "
            f"but error message must be returned), got {_go_type_of_filter_value(value)}"
        )
    try:
        return parse_date(value)
    except ValueError:
        raise UnprocessableError(f"parsing time {value!r} as RFC3339 failed") from None


def _contains_filter(cls: ClassState, prop: dict[str, Any], base_type: str, op: int, value: Any) -> Predicate:
    if not isinstance(value, list):
        raise UnprocessableError(
            f"value type should be []{_GO_ARRAY.get(base_type, base_type)} "
            f"but is {_go_type_of_filter_value(value)}"
        )
    expected = {
        "text": str,
        "uuid": str,
        "date": str,
        "int": int,
        "number": float,
        "boolean": bool,
    }.get(base_type)
    if expected is None:
        raise UnprocessableError(f"unsupported type '{base_type}' for '{_OPERATOR_NAMES[op]}' operator")
    for i, v in enumerate(value):
        ok = isinstance(v, expected) and not (expected is int and isinstance(v, bool))
        if not ok:
            raise UnprocessableError(
                f"value[{i}] type should be {expected.__name__} but is {_go_type_of_filter_value(v)}"
            )
    parts: list[Predicate] = []
    for v in value:
        try:
            parts.append(_single_filter(cls, prop, base_type, Op.OPERATOR_EQUAL, v))
        except UnprocessableError as exc:
            # a value of stopwords only is dropped from ContainsAny, an error elsewhere
            if exc.message == ONLY_STOPWORDS and op == Op.OPERATOR_CONTAINS_ANY:
                continue
            raise
    if not parts:
        raise UnprocessableError(ONLY_STOPWORDS)
    if op == Op.OPERATOR_CONTAINS_ALL:
        return lambda o: all(p(o) for p in parts)
    if op == Op.OPERATOR_CONTAINS_ANY:
        return lambda o: any(p(o) for p in parts)
    return lambda o: not any(p(o) for p in parts)


def _haversine(point: dict[str, float], lat: float, lon: float) -> float:
    radius = 6371000.0
    phi1, phi2 = math.radians(point["latitude"]), math.radians(lat)
    dphi = math.radians(lat - point["latitude"])
    dlmb = math.radians(lon - point["longitude"])
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * radius * math.asin(math.sqrt(a))
