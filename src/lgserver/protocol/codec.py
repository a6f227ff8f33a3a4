"""The value codec (``docs/protocol.md`` section 3).

Values ride on MessagePack, whose C implementation does the byte work;
what lgserver adds is the AMF-like part: *typed objects*. A message class
is a frozen, slotted dataclass registered under an alias. Each side numbers
its classes in a :class:`Registry` and describes them once, in the
handshake, as a trait table (alias and field names per trait id). On the
wire a typed object is then a MessagePack array: a *trait reference* (a
small extension holding the trait id) followed by the field values, without
any field names. The C unpacker reads the whole value in one pass; two
hooks turn each reference into its table entry, and each array that starts
with one into an instance of the class.

Because a sender always encodes with its own table, the bytes of a message
do not depend on the connection: a message fanned out to many peers is
encoded once (:class:`Encoder`). Each receiver decodes with the table its
peer declared (:class:`Decoder`), mapping fields by name, so a newer peer
may add fields, or whole classes, that an older one does not know.

The decoder checks every field against the annotated type of the local
class and enforces the limits of section 3.6 (depth, string, bytes, list
and map lengths); any violation is a :class:`~.errors.DecodeError`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import operator
import threading
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import msgpack

from .errors import DecodeError, LimitExceeded, LocalProtocolError, UnknownTrait

__all__ = [
    "FIRST_APPLICATION_TRAIT",
    "Decoder",
    "Encoder",
    "Limits",
    "Registry",
    "Trait",
    "UnknownObject",
]

# Trait ids below this one are the protocol's own classes (section 3.4);
# they are fixed by the spec and never appear in a trait table.
FIRST_APPLICATION_TRAIT = 16
# The MessagePack extension type of a trait reference (section 3.3).
TRAIT_REFERENCE = 1
MAX_TRAITS = 4096
# Distinct peer trait tables whose decoding is kept; one build declares one.
MAX_TABLES = 64
MAX_FIELDS = 64
MAX_NAME_LENGTH = 128

T = TypeVar("T")

_SCALARS = frozenset({type(None), bool, int, float, str, bytes, _dt.datetime})


@dataclasses.dataclass(frozen=True, slots=True)
class UnknownObject:
    """A typed object whose alias the receiver has no class for.

    A newer peer may send classes an older one does not know; they decode
    to this, with the fields by name, and the application can ignore them.
    """

    alias: str
    fields: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Limits on decoded values (section 3.6); every one has a safe default.

    Args:
        max_depth: Containers (lists, maps, typed objects) that may enclose
            a value.
        max_str_len: Bytes in one string.
        max_bin_len: Bytes in one bytes value.
        max_array_len: Elements in one list.
        max_map_len: Entries in one map.
        max_size: Bytes in one encoded value (at most the frame size).
    """

    max_depth: int = 32
    max_str_len: int = 256 * 1024
    max_bin_len: int = 1 << 20
    max_array_len: int = 64 * 1024
    max_map_len: int = 4096
    max_size: int = 1 << 20


def _remote_error(exc: BaseException) -> BaseException:
    """The :class:`DecodeError` that stands for a failure of the unpacker."""
    if isinstance(exc, DecodeError) or not isinstance(exc, Exception):
        return exc
    if isinstance(exc, UnicodeDecodeError):
        return DecodeError("string is not valid UTF-8")
    if isinstance(exc, msgpack.OutOfData):
        return DecodeError("value is truncated")
    if isinstance(exc, msgpack.StackError | msgpack.BufferFull):
        return LimitExceeded("value nests too deep or is too large")
    if isinstance(exc, ValueError) and "max_ext_len" in str(exc):
        # No extension of section 3.2 holds more than 12 bytes: a longer one
        # is malformed, not over a limit of section 3.6.
        return DecodeError("malformed extension")
    if isinstance(exc, ValueError) and "exceeds max" in str(exc):
        return LimitExceeded("value over a length limit")
    if isinstance(exc, ValueError | TypeError | OverflowError | RecursionError):
        return DecodeError("malformed value")
    return exc


@dataclasses.dataclass(frozen=True, slots=True)
class Trait:
    """A registered message class: its id, alias and field names."""

    id: int
    alias: str
    cls: type[Any]
    fields: tuple[str, ...]


def _runtime_types(hint: Any, registry: Registry) -> tuple[type, ...]:
    """The types ``isinstance`` checks for a field annotated ``hint``."""
    if hint is Any or hint is object:
        return (object,)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        found: list[type] = []
        for arg in typing.get_args(hint):
            found.extend(_runtime_types(arg, registry))
        return tuple(dict.fromkeys(found))
    if origin is not None:
        hint = origin
    if hint is None or hint is type(None):
        return (type(None),)
    if hint is float:
        return (float, int)
    if hint in (list, tuple, Sequence):
        return (list,)
    if hint is dict or hint is typing.Mapping:
        return (dict,)
    if isinstance(hint, type):
        # enumerations travel as their values and arrive as plain ones
        for base in (int, str):
            if issubclass(hint, base) and hint is not bool:
                return (base,)
        return (hint,)
    return (object,)


# What a builder returns when the fast path does not apply.
_REFUSED = object()


def _builder(
    cls: type[Any], types_: tuple[tuple[type, ...], ...]
) -> Callable[[list[Any]], Any]:
    """A function that turns a typed object's array (its trait entry, then
    the field values) into an instance of ``cls``, or returns ``_REFUSED``
    when the array does not fit, for the slow path to say why.

    It is generated once per class, because this is the decoder's hot path.
    The values come from the unpacker and the decoder's hooks, so their
    types are exact: a check of ``__class__`` says all that ``isinstance``
    would, without letting a boolean pass for an integer. A frozen
    dataclass's ``__init__`` sets each field through ``object.__setattr__``,
    looked up anew for every field; setting the slots directly takes half
    the time. A class with a ``__post_init__`` keeps its ``__init__``, so
    that its own checks run.
    """
    names = [f.name for f in dataclasses.fields(cls)]
    namespace: dict[str, Any] = {
        "_new": object.__new__,
        "_cls": cls,
        "_refused": _REFUSED,
    }
    params = ["values", "_new=_new", "_cls=_cls", "_refused=_refused"]
    lines = [f"    if len(values) != {len(names) + 1}:", "        return _refused"]
    variables = [f"v{i}" for i in range(len(names))]
    lines.append(f"    _, {''.join(v + ', ' for v in variables)}= values")

    # a check per field that does not take any value
    for i, allowed in enumerate(types_):
        if object in allowed:
            continue
        tests = []
        for k, kind in enumerate(allowed):
            namespace[f"_t{i}_{k}"] = kind
            params.append(f"_t{i}_{k}=_t{i}_{k}")
            tests.append(f"v{i}.__class__ is not _t{i}_{k}")
        lines.append(f"    if {' and '.join(tests)}:")
        lines.append("        return _refused")

    if hasattr(cls, "__post_init__"):
        lines.append(f"    return _cls({', '.join(variables)})")
    else:
        lines.append("    obj = _new(_cls)")
        for i, name in enumerate(names):
            namespace[f"_slot{i}"] = vars(cls)[name]
            params.append(f"_set{i}=_slot{i}.__set__")
            lines.append(f"    _set{i}(obj, v{i})")
        lines.append("    return obj")
    source = f"def build({', '.join(params)}):\n" + "\n".join(lines) + "\n"
    exec(source, namespace)
    return namespace["build"]  # type: ignore[no-any-return]


def _is_tuple(hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_is_tuple(arg) for arg in typing.get_args(hint))
    return hint is tuple or origin is tuple


class Registry:
    """The message classes one side can send and receive.

    Every registry starts with the protocol's own classes
    (:mod:`lgserver.protocol.messages`) at their fixed ids; application
    classes get ids from :data:`FIRST_APPLICATION_TRAIT` on, in the order
    they are registered.
    """

    def __init__(self, *, builtin: bool = True) -> None:
        self._by_id: dict[int, Trait] = {}
        self._by_class: dict[type[Any], Trait] = {}
        self._by_alias: dict[str, Trait] = {}
        self._next_id = FIRST_APPLICATION_TRAIT
        self._encoder: Encoder | None = None
        self._frozen_table: list[list[Any]] | None = None
        self._builders: dict[type[Any], Callable[[list[Any]], Any]] = {}
        self._tables: dict[
            tuple[tuple[str, tuple[str, ...]], ...], dict[bytes, _Entry]
        ] = {}
        self._nested: dict[type[Any], tuple[str, ...]] = {}
        if builtin:
            from .messages import BUILTIN_TRAITS

            for trait_id, cls, alias in BUILTIN_TRAITS:
                self._add(trait_id, alias, cls, protocol=True)

    def register(self, alias: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: register a frozen, slotted dataclass as ``alias``.

        Raises:
            LocalProtocolError: The class is not a frozen slotted dataclass,
                or the alias or class is already registered.
        """

        def decorate(cls: type[T]) -> type[T]:
            self._add(self._next_id, alias, cls, protocol=False)
            self._next_id += 1
            return cls

        return decorate

    def _add(self, trait_id: int, alias: str, cls: type[Any], protocol: bool) -> None:
        params = getattr(cls, "__dataclass_params__", None)
        if params is None or not params.frozen or "__slots__" not in vars(cls):
            raise LocalProtocolError(f"{cls!r} is not a frozen slotted dataclass")
        if not protocol and trait_id >= MAX_TRAITS:
            raise LocalProtocolError("too many message classes")
        if alias in self._by_alias or cls in self._by_class:
            raise LocalProtocolError(f"{alias!r} is registered already")
        if not alias or len(alias) > MAX_NAME_LENGTH:
            raise LocalProtocolError(f"bad alias {alias!r}")
        fields = dataclasses.fields(cls)
        if any(not f.init or f.kw_only for f in fields):
            raise LocalProtocolError(f"{alias!r}: every field must be positional")
        try:
            typing.get_type_hints(cls)
        except (NameError, TypeError) as exc:
            message = f"{alias!r}: unresolvable annotation: {exc}"
            raise LocalProtocolError(message) from None
        names = tuple(f.name for f in fields)
        if len(names) > MAX_FIELDS:
            raise LocalProtocolError(f"{alias!r} has too many fields")
        trait = Trait(trait_id, alias, cls, names)
        self._by_id[trait_id] = trait
        self._by_class[cls] = trait
        self._by_alias[alias] = trait
        self._encoder = None
        self._frozen_table = None
        self._tables.clear()

    def __iter__(self) -> typing.Iterator[Trait]:
        return iter(sorted(self._by_id.values(), key=operator.attrgetter("id")))

    def references(
        self, table: tuple[tuple[str, tuple[str, ...]], ...]
    ) -> dict[bytes, _Entry]:
        """How a decoder reads trait references of a peer that declared
        ``table`` (checked already): the protocol's own traits and the
        table's, by their encoded reference. Made once per table."""
        references = self._tables.get(table)
        if references is None:
            references = {}
            for trait in self:
                if trait.id < FIRST_APPLICATION_TRAIT:
                    references[_pack_trait_id(trait.id)] = self._entry(
                        trait.alias, trait.fields
                    )
            for index, (alias, fields) in enumerate(table):
                reference = _pack_trait_id(FIRST_APPLICATION_TRAIT + index)
                references[reference] = self._entry(alias, fields)
            # a bounded cache: a hostile peer may declare tables at will
            if len(self._tables) >= MAX_TABLES:
                self._tables.pop(next(iter(self._tables)))
            self._tables[table] = references
        return references

    def nested(self, cls: type[Any]) -> tuple[str, ...]:
        """The fields of registered class ``cls`` that may hold containers,
        the only ones the decoder's depth check must visit."""
        found = self._nested.get(cls)
        if found is None:
            trait = self._by_class[cls]
            hints = typing.get_type_hints(cls)
            found = self._nested[cls] = tuple(
                name
                for name in trait.fields
                if not set(_runtime_types(hints[name], self)) <= _SCALARS
            )
        return found

    def _entry(self, alias: str, fields: tuple[str, ...]) -> _Entry:
        trait = self._by_alias.get(alias)
        if trait is None:
            return _Entry(alias, len(fields), None, (), None, fields)
        hints = typing.get_type_hints(trait.cls)
        types_ = tuple(_runtime_types(hints[n], self) for n in trait.fields)
        positions: tuple[int, ...] | None = None
        if fields != trait.fields:
            index = {name: i for i, name in enumerate(fields)}
            positions = tuple(index.get(name, -1) for name in trait.fields)
        tuples = tuple(
            i for i, name in enumerate(trait.fields) if _is_tuple(hints[name])
        )
        return _Entry(
            alias,
            len(fields),
            trait.cls,
            tuple(t[0] if len(t) == 1 else t for t in types_),
            positions,
            fields,
            _bool_refused(types_),
            tuples,
            # only entries that need no more than checks take the fast path
            None if positions or tuples else self.builder(trait.cls, types_),
        )

    def builder(
        self, cls: type[Any], types_: tuple[tuple[type, ...], ...]
    ) -> Callable[[list[Any]], Any]:
        """The decoder's fast builder of registered class ``cls``."""
        build = self._builders.get(cls)
        if build is None:
            build = self._builders[cls] = _builder(cls, types_)
        return build

    def by_alias(self, alias: str) -> Trait | None:
        """The trait registered as ``alias``, if any."""
        return self._by_alias.get(alias)

    def by_class(self, cls: type[Any]) -> Trait | None:
        """The trait of class ``cls``, if it is registered."""
        return self._by_class.get(cls)

    def by_id(self, trait_id: int) -> Trait | None:
        """The trait with id ``trait_id``, if any."""
        return self._by_id.get(trait_id)

    def trait_table(self) -> list[list[Any]]:
        """The application traits as sent in the handshake (section 3.5).

        Entry ``i`` describes trait id ``FIRST_APPLICATION_TRAIT + i`` as
        ``[alias, [field, ...]]``.
        """
        if self._frozen_table is None:
            self._frozen_table = [
                [t.alias, list(t.fields)]
                for t in self
                if t.id >= FIRST_APPLICATION_TRAIT
            ]
        return self._frozen_table

    @property
    def encoder(self) -> Encoder:
        """An :class:`Encoder` for this registry, made once."""
        if self._encoder is None:
            self._encoder = Encoder(self)
        return self._encoder

    def decoder(
        self, peer_table: Sequence[Any] | None = None, limits: Limits | None = None
    ) -> Decoder:
        """A :class:`Decoder` for values a peer encoded with ``peer_table``."""
        return Decoder(self, peer_table, limits)


class Encoder:
    """Encode values to bytes with the traits of one :class:`Registry`.

    The output depends only on the value and the registry, never on the
    connection, so one encoding serves every peer.
    """

    def __init__(self, registry: Registry) -> None:
        self._plans: dict[type[Any], tuple[Any, Callable[[Any], Any]]] = {}
        for trait in registry:
            reference = msgpack.ExtType(TRAIT_REFERENCE, _pack_trait_id(trait.id))
            self._plans[trait.cls] = (reference, _field_getter(trait.fields))
        self._packer = msgpack.Packer(default=self._default, datetime=True)

    def encode(self, value: Any) -> bytes:
        """Encode ``value``.

        Maps must have string keys and integers fit in 64 bits; timezone-
        aware datetimes are sent as timestamps (section 3.2).

        Raises:
            LocalProtocolError: The value holds something the codec cannot
                carry (an unregistered class, a naive datetime, an integer
                out of range, too deep a nesting).
        """
        try:
            return self._packer.pack(value)  # type: ignore[no-any-return]
        except LocalProtocolError:
            raise
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise LocalProtocolError(f"cannot encode value: {exc}") from None

    def _default(self, value: Any) -> tuple[Any, ...]:
        plan = self._plans.get(type(value))
        if plan is None:
            raise LocalProtocolError(f"cannot encode {type(value).__name__}")
        reference, getter = plan
        return (reference, *getter(value))


def _pack_trait_id(trait_id: int) -> bytes:
    return trait_id.to_bytes(1 if trait_id < 256 else 2, "big")


def _field_getter(names: tuple[str, ...]) -> Callable[[Any], Any]:
    if len(names) > 1:
        return operator.attrgetter(*names)
    if len(names) == 1:
        name = names[0]
        return lambda value: (getattr(value, name),)
    return lambda value: ()


@dataclasses.dataclass(slots=True, eq=False)
class _Entry:
    """How to turn the field values of one peer trait into a local object.

    The decoder's extension hook returns the entry itself for a trait
    reference; the array hook then finds it as the array's first element.
    """

    alias: str
    size: int
    cls: type[Any] | None
    # per field, what ``isinstance`` checks: a lone type where one will
    # do, since a tuple of one costs more
    types: tuple[type | tuple[type, ...], ...]
    # For a peer trait laid out exactly as the local class, None; otherwise
    # per local field, the index in the peer's values or -1 when absent.
    positions: tuple[int, ...] | None
    peer_fields: tuple[str, ...]
    # Local fields that take integers but not booleans, which Python counts
    # as integers.
    no_bool: tuple[int, ...] = ()
    # Local fields declared as tuples, which arrive as lists.
    tuples: tuple[int, ...] = ()
    make: Callable[[list[Any]], Any] | None = None


def _bool_refused(types: tuple[tuple[type, ...], ...]) -> tuple[int, ...]:
    return tuple(
        i
        for i, allowed in enumerate(types)
        if int in allowed and bool not in allowed and object not in allowed
    )


class _Engine:
    """An unpacker and the state its hooks share.

    An unpacker costs about 40 KiB, so decoders do not each own one: every
    decoder of one thread with the same limits shares an engine, and hands
    it its trait references at the start of each decode. Decoding is never
    reentrant, so one engine serves them all in turn.
    """

    __slots__ = ("built", "containers", "options", "references", "seen", "unpacker")

    def __init__(self, limits: Limits) -> None:
        self.references: dict[bytes, _Entry] = {}
        self.seen = self.built = self.containers = 0
        self.options: dict[str, Any] = {
            "ext_hook": self.ext_hook,
            "list_hook": self.list_hook,
            "object_pairs_hook": self.map_hook,
            "timestamp": 3,
            "strict_map_key": True,
            "max_str_len": limits.max_str_len,
            "max_bin_len": limits.max_bin_len,
            "max_array_len": limits.max_array_len,
            "max_map_len": limits.max_map_len,
            "max_ext_len": 12,
            "max_buffer_size": limits.max_size,
            # the buffer grows as values need it; start it small
            "read_size": min(4096, limits.max_size),
        }
        self.unpacker = msgpack.Unpacker(**self.options)

    def reset(self) -> None:
        """Drop whatever a failed value left in the unpacker."""
        self.unpacker = msgpack.Unpacker(**self.options)

    def map_hook(self, pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
        self.containers += 1
        for key, _ in pairs:
            if type(key) is not str:
                raise DecodeError("map keys must be strings")
        return dict(pairs)

    def ext_hook(self, code: int, data: bytes) -> _Entry:
        if code != TRAIT_REFERENCE:
            raise DecodeError(f"unknown extension type {code}")
        self.seen += 1
        entry = self.references.get(data)
        if entry is None:
            if len(data) not in (1, 2):
                raise DecodeError("malformed trait reference")
            trait_id = int.from_bytes(data, "big")
            if len(data) == 2 and trait_id < 256:
                raise DecodeError("trait reference not in its shortest form")
            raise UnknownTrait(f"unknown trait {trait_id}")
        return entry

    def list_hook(self, values: list[Any]) -> Any:
        # plain lists count here, typed objects as they are built
        entry = values[0] if values else None
        if entry.__class__ is not _Entry:
            self.containers += 1
            return values
        self.built += 1
        build = entry.make
        if build is not None:
            obj = build(values)
            if obj is not _REFUSED:
                return obj
        del values[0]
        return _build_slowly(entry, values)


_engines = threading.local()


def _engine(limits: Limits) -> _Engine:
    cache: dict[Limits, _Engine] | None = getattr(_engines, "cache", None)
    if cache is None:
        cache = _engines.cache = {}
    engine = cache.get(limits)
    if engine is None:
        engine = cache[limits] = _Engine(limits)
    return engine


class Decoder:
    """Decode values a peer encoded with its trait table.

    A decoder is used by one thread at a time, like the session it serves.

    Args:
        registry: The local message classes.
        peer_table: The peer's trait table (section 3.5); None before the
            handshake, when only the protocol's own classes are known.
        limits: The limits of section 3.6.

    Raises:
        DecodeError: ``peer_table`` is malformed.
    """

    def __init__(
        self,
        registry: Registry,
        peer_table: Sequence[Any] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.limits = limits = limits or Limits()
        self._max_depth = limits.max_depth
        self._registry = registry
        self._engine = _engine(limits)
        self._references = registry.references(())
        if peer_table is not None:
            self.set_peer_table(peer_table)

    def set_peer_table(self, table: Sequence[Any]) -> None:
        """Adopt the trait table the peer declared in its handshake.

        Peers of one build declare the same table; their decoders share
        what is made of it.

        Raises:
            DecodeError: The table is malformed or over the limits.
        """
        if not isinstance(table, list) or len(table) > MAX_TRAITS:
            raise DecodeError("malformed trait table")
        checked = tuple(_check_table_entry(item) for item in table)
        self._references = self._registry.references(checked)

    def decode(self, data: bytes | memoryview) -> Any:
        """Decode one value that fills ``data`` exactly.

        Raises:
            DecodeError: ``data`` is not one valid value; its subclasses
                :class:`~.errors.UnknownTrait` and
                :class:`~.errors.LimitExceeded` name the usual causes.
        """
        engine = self._engine
        engine.references = self._references
        engine.seen = engine.built = engine.containers = 0
        unpacker = engine.unpacker
        start = unpacker.tell()
        try:
            unpacker.feed(data)
            value = unpacker.unpack()
            if unpacker.tell() - start != len(data):
                raise DecodeError("trailing bytes after the value")
        except BaseException as exc:
            # the unpacker may hold the rest of a bad value: start afresh
            engine.reset()
            raise _remote_error(exc) from None
        if type(value) in _SCALARS:
            return value
        if engine.seen != engine.built:
            raise DecodeError("trait reference outside a typed object")
        # a value of n containers nests at most n deep: walk it only when
        # the count alone does not settle the question
        if engine.containers + engine.built > self._max_depth:
            self._check_nesting(value, 0)
        return value

    def _check_nesting(self, value: Any, depth: int) -> None:
        """Enforce the depth limit and string map keys over the whole value."""
        kind = type(value)
        children: Iterable[Any]
        if kind is list:
            children = value
        elif kind is dict:
            if not all(type(key) is str for key in value):
                raise DecodeError("map keys must be strings")
            children = value.values()
        elif kind is UnknownObject:
            children = value.fields.values()
        else:
            names = self._registry.nested(kind)
            if not names:
                # a typed object is a container even when it holds scalars only
                if depth >= self.limits.max_depth:
                    raise LimitExceeded("value nests too deep")
                return
            children = [getattr(value, name) for name in names]
        depth += 1
        if depth > self.limits.max_depth:
            raise LimitExceeded("value nests too deep")
        for child in children:
            if type(child) not in _SCALARS:
                if type(child) is _Entry:
                    raise DecodeError("trait reference outside a typed object")
                self._check_nesting(child, depth)


def _build_slowly(entry: _Entry, values: list[Any]) -> Any:
    if len(values) != entry.size:
        raise DecodeError(f"{entry.alias}: {len(values)} values, not {entry.size}")
    if entry.cls is None:
        return UnknownObject(
            entry.alias, dict(zip(entry.peer_fields, values, strict=True))
        )
    if entry.positions is not None:
        return _build_mapped(entry, values)
    if not all(map(isinstance, values, entry.types)):
        raise DecodeError(f"{entry.alias}: a field has the wrong type")
    for index in entry.no_bool:
        if values[index].__class__ is bool:
            raise DecodeError(f"{entry.alias}: a field has the wrong type")
    for index in entry.tuples:
        if values[index] is not None:
            values[index] = tuple(values[index])
    return entry.cls(*values)


def _build_mapped(entry: _Entry, values: list[Any]) -> Any:
    assert entry.cls is not None and entry.positions is not None
    kwargs: dict[str, Any] = {}
    for field, position in zip(
        dataclasses.fields(entry.cls), entry.positions, strict=True
    ):
        if position >= 0:
            kwargs[field.name] = values[position]
        elif (
            field.default is dataclasses.MISSING
            and field.default_factory is dataclasses.MISSING
        ):
            raise DecodeError(f"{entry.alias}: field {field.name!r} is missing")
    try:
        obj = entry.cls(**kwargs)
    except (TypeError, ValueError):
        raise DecodeError(f"{entry.alias}: fields do not fit") from None
    values = [getattr(obj, f) for f in _fields_of(entry.cls)]
    if not all(map(isinstance, values, entry.types)) or any(
        values[index].__class__ is bool for index in entry.no_bool
    ):
        raise DecodeError(f"{entry.alias}: a field has the wrong type")
    if any(type(values[index]) is list for index in entry.tuples):
        changes = {
            name: tuple(values[index])
            for index, name in enumerate(_fields_of(entry.cls))
            if index in entry.tuples and type(values[index]) is list
        }
        obj = dataclasses.replace(obj, **changes)
    return obj


def _fields_of(cls: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _check_table_entry(item: Any) -> tuple[str, tuple[str, ...]]:
    if not isinstance(item, list) or len(item) != 2:
        raise DecodeError("malformed trait table entry")
    alias, fields = item
    if not isinstance(alias, str) or not 0 < len(alias) <= MAX_NAME_LENGTH:
        raise DecodeError("malformed trait alias")
    if not isinstance(fields, list) or len(fields) > MAX_FIELDS:
        raise DecodeError(f"malformed field list for {alias!r}")
    for name in fields:
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_LENGTH:
            raise DecodeError(f"malformed field name in {alias!r}")
    if len(set(fields)) != len(fields):
        raise DecodeError(f"duplicate field name in {alias!r}")
    return alias, tuple(fields)
