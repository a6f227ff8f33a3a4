"""The shared vectors of ``tests/vectors/`` as Python values.

The vector files write values in a tagged JSON form (``README.md`` there).
:func:`from_json` turns that form into what the codec decodes to and
:func:`to_json` turns such a value back. :func:`same` compares two values
strictly: types must match (``True`` is not ``1``, ``1.0`` is not ``1``),
NaN equals NaN, and the sign of zero and the order of map keys count.

:func:`make_registry` builds the message classes of a vector file's trait
table as frozen, slotted dataclasses with the field types the file declares,
so that field type checks can fail where a vector expects them to.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from functools import cache
from pathlib import Path
from typing import Any

from lgserver.protocol.codec import Registry, UnknownObject

VECTORS = Path(__file__).resolve().parent.parent / "vectors"
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# the type names a vector file may give in "field_types"
FIELD_TYPES: dict[str, Any] = {
    "int": int,
    "float": float,
    "str": str,
    "bytes": bytes,
    "bool": bool,
    "timestamp": dt.datetime,
    "list": list[Any],
    "map": dict[str, Any],
}

_SPECIAL_FLOATS = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


@cache
def load(name: str) -> dict[str, Any]:
    """The parsed vector file ``name``; callers must not change it."""
    with (VECTORS / name).open(encoding="utf-8") as file:
        document: dict[str, Any] = json.load(file)
    return document


def make_registry(document: dict[str, Any]) -> Registry:
    """A registry with a class for each alias of the document's trait table.

    Aliases listed in ``unregistered`` get no class; they come last in the
    table, so every other alias gets the trait id the table gives it.
    """
    registry = Registry()
    unregistered = set(document.get("unregistered", ()))
    declared = document.get("field_types", {})
    for alias, fields in document["traits"]:
        if alias in unregistered:
            continue
        types = declared.get(alias, {})
        spec = [
            (name, FIELD_TYPES[types[name]] if name in types else Any)
            for name in fields
        ]
        name = alias.rpartition(".")[2]
        cls = dataclasses.make_dataclass(name, spec, frozen=True, slots=True)
        registry.register(alias)(cls)
    return registry


def from_json(value: Any, registry: Registry) -> Any:
    """The Python value that the tagged JSON ``value`` stands for."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, list):
        return [from_json(item, registry) for item in value]
    if not isinstance(value, dict):
        raise ValueError(f"untagged JSON value {value!r}")
    if "$int" in value:
        return int(value["$int"])
    if "$float" in value:
        number = value["$float"]
        return _SPECIAL_FLOATS[number] if isinstance(number, str) else float(number)
    if "$bytes" in value:
        return bytes.fromhex(value["$bytes"])
    if "$timestamp" in value:
        seconds, nanoseconds = value["$timestamp"]
        if nanoseconds % 1000:
            raise ValueError("timestamps in vectors are whole microseconds")
        delta = dt.timedelta(seconds=seconds, microseconds=nanoseconds // 1000)
        return EPOCH + delta
    if "$map" in value:
        return {key: from_json(item, registry) for key, item in value["$map"]}
    fields = {name: from_json(item, registry) for name, item in value["fields"]}
    if "$unknown" in value:
        return UnknownObject(value["$unknown"], fields)
    trait = registry.by_alias(value["$object"])
    if trait is None or list(fields) != list(trait.fields):
        raise ValueError(f"{value['$object']} does not match the registry")
    return trait.cls(**fields)


def to_json(value: Any, registry: Registry) -> Any:
    """The tagged JSON form of ``value``; the inverse of :func:`from_json`."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value if abs(value) <= 2**53 else {"$int": str(value)}
    if isinstance(value, float):
        if math.isnan(value):
            return {"$float": "nan"}
        if math.isinf(value):
            return {"$float": "inf" if value > 0 else "-inf"}
        return {"$float": value}
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, dt.datetime):
        delta = value - EPOCH
        seconds = delta.days * 86400 + delta.seconds
        return {"$timestamp": [seconds, delta.microseconds * 1000]}
    if isinstance(value, list):
        return [to_json(item, registry) for item in value]
    if isinstance(value, dict):
        return {"$map": [[k, to_json(v, registry)] for k, v in value.items()]}
    if isinstance(value, UnknownObject):
        fields = _fields(value.fields, registry)
        return {"$unknown": value.alias, "fields": fields}
    trait = registry.by_class(type(value))
    if trait is None:
        raise ValueError(f"{type(value).__name__} is not registered")
    fields = _fields({name: getattr(value, name) for name in trait.fields}, registry)
    return {"$object": trait.alias, "fields": fields}


def _fields(fields: dict[str, Any], registry: Registry) -> list[list[Any]]:
    return [[name, to_json(item, registry)] for name, item in fields.items()]


def same(a: Any, b: Any) -> bool:
    """Whether two values are equal, type for type (see the module text)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[key], b[key]) for key in a)
    if isinstance(a, UnknownObject):
        return a.alias == b.alias and same(a.fields, b.fields)
    if isinstance(a, dt.datetime):
        return bool(a == b and a.utcoffset() == b.utcoffset())
    if dataclasses.is_dataclass(a):
        return all(
            same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
    return bool(a == b)
