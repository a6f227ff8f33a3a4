"""Tests of :mod:`lgserver.protocol.codec` (``docs/protocol.md`` section 3)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lgserver.protocol.codec import (
    FIRST_APPLICATION_TRAIT,
    Decoder,
    Limits,
    Registry,
    Trait,
    UnknownObject,
)
from lgserver.protocol.errors import (
    CloseCode,
    DecodeError,
    LimitExceeded,
    LocalProtocolError,
    UnknownTrait,
)
from lgserver.protocol.messages import Call, CallError, Event, Hello, Welcome

from .vectors import from_json, load, make_registry, same, to_json

VALUES = load("values.json")
TABLE: list[Any] = VALUES["traits"]
REGISTRY = make_registry(VALUES)
ENCODER = REGISTRY.encoder
VALID = [v for v in VALUES["vectors"] if "error" not in v]
ENCODABLE = [v for v in VALID if not v.get("decode_only")]
INVALID = [v for v in VALUES["vectors"] if "error" in v]


def trait_of(alias: str, registry: Registry = REGISTRY) -> Trait:
    trait = registry.by_alias(alias)
    assert trait is not None, alias
    return trait


Point = trait_of("test.Point").cls
Chat = trait_of("test.Chat").cls
Wrapper = trait_of("test.Wrapper").cls
Empty = trait_of("test.Empty").cls
Wide = trait_of("test.Wide").cls
NUMBERED = [t.cls for t in REGISTRY if t.alias.startswith("test.T")]


def name_of(vector: dict[str, Any]) -> str:
    return str(vector["name"])


def decoder(limits: Limits | None = None) -> Decoder:
    return REGISTRY.decoder(TABLE, limits)


SHARED = decoder()


def nested(depth: int, inner: Any = 0) -> Any:
    """``inner`` inside ``depth`` lists."""
    for _ in range(depth):
        inner = [inner]
    return inner


def assert_works(decoder_: Decoder) -> None:
    """The decoder still decodes a valid value."""
    assert decoder_.decode(bytes.fromhex("92c3a161")) == [True, "a"]


# -- the shared vectors


def test_vector_file_is_consistent() -> None:
    names = [v["name"] for v in VALUES["vectors"]]
    assert len(names) == len(set(names))
    assert {v["error"] for v in INVALID} <= set(CloseCode.__members__)
    # the unregistered aliases close the table, so the other ids match it
    registered = len(TABLE) - len(VALUES["unregistered"])
    assert REGISTRY.trait_table() == TABLE[:registered]
    assert trait_of("test.T234").id == 255
    assert trait_of("test.T235").id == 256


@pytest.mark.parametrize("vector", VALID, ids=name_of)
def test_decode_vector(vector: dict[str, Any]) -> None:
    value = decoder().decode(bytes.fromhex(vector["hex"]))
    assert same(value, from_json(vector["value"], REGISTRY))


@pytest.mark.parametrize("vector", ENCODABLE, ids=name_of)
def test_encode_vector(vector: dict[str, Any]) -> None:
    value = from_json(vector["value"], REGISTRY)
    assert ENCODER.encode(value).hex() == vector["hex"]


@pytest.mark.parametrize("vector", VALID, ids=name_of)
def test_json_form_round_trip(vector: dict[str, Any]) -> None:
    value = from_json(vector["value"], REGISTRY)
    assert to_json(value, REGISTRY) == vector["value"]


@pytest.mark.parametrize("vector", INVALID, ids=name_of)
def test_decode_invalid_vector(vector: dict[str, Any]) -> None:
    with pytest.raises(DecodeError) as info:
        decoder().decode(bytes.fromhex(vector["hex"]))
    assert info.value.code == CloseCode[vector["error"]]


def test_one_decoder_through_every_vector() -> None:
    # a failure must leave nothing behind that spoils the next value
    shared = decoder()
    for vector in VALUES["vectors"] * 2:
        data = bytes.fromhex(vector["hex"])
        if "error" in vector:
            with pytest.raises(DecodeError):
                shared.decode(data)
        else:
            assert same(shared.decode(data), from_json(vector["value"], REGISTRY))


def test_decode_from_memoryview() -> None:
    data = b"\x00\x00" + bytes.fromhex("93d401100102")
    assert decoder().decode(memoryview(data)[2:]) == Point(1, 2)


# -- marker boundaries too large for the vector files


@pytest.mark.parametrize(
    ("value", "prefix"),
    [
        ("a" * 65535, "daffff"),
        ("a" * 65536, "db00010000"),
        (b"\x01" * 65535, "c5ffff"),
        (b"\x01" * 65536, "c600010000"),
        ([0] * 65535, "dcffff"),
        ([0] * 65536, "dd00010000"),
        ({f"{i:04}": 0 for i in range(4096)}, "de1000"),
    ],
    ids=["str16", "str32", "bin16", "bin32", "array16", "array32", "map16"],
)
def test_long_value_markers(value: Any, prefix: str) -> None:
    data = ENCODER.encode(value)
    assert data[: len(prefix) // 2].hex() == prefix
    assert same(decoder().decode(data), value)


# -- round trips of arbitrary values

INTEGERS = st.integers(-(2**63), 2**64 - 1)
DATETIMES = st.datetimes(timezones=st.just(dt.UTC))
SCALARS = (
    st.none()
    | st.booleans()
    | INTEGERS
    | st.floats()
    | st.text()
    | st.binary()
    | DATETIMES
)


def _numbered(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One-field objects, some of them with two-byte trait references."""
    pairs = st.tuples(st.sampled_from(NUMBERED), children)
    return pairs.map(lambda pair: pair[0](pair[1]))


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        st.lists(children, max_size=6)
        | st.dictionaries(st.text(max_size=8), children, max_size=6)
        | st.builds(Wrapper, children)
        | st.builds(
            Chat,
            INTEGERS,
            INTEGERS,
            st.text(),
            st.text(),
            DATETIMES,
            st.lists(children, max_size=3),
        )
        | _numbered(children)
    )


OBJECTS = st.builds(Point, INTEGERS, INTEGERS) | st.builds(Empty)
VALUES_ = st.recursive(SCALARS | OBJECTS, _containers, max_leaves=20)


@given(VALUES_)
@settings(max_examples=1000, deadline=None)
def test_round_trip(value: Any) -> None:
    data = ENCODER.encode(value)
    back = SHARED.decode(data)
    assert same(back, value)
    # the bytes depend only on the value
    assert ENCODER.encode(back) == data


@given(st.lists(SCALARS, min_size=20, max_size=20))
@settings(max_examples=50, deadline=None)
def test_round_trip_wide_object(fields: list[Any]) -> None:
    value = Wide(*fields)
    assert same(SHARED.decode(ENCODER.encode(value)), value)


# -- only DecodeError escapes the decoder

SMALL_LIMITS = Limits(
    max_depth=4,
    max_str_len=8,
    max_bin_len=8,
    max_array_len=8,
    max_map_len=4,
    max_size=64,
)

# pieces of valid and nearly valid encodings, to reach deeper than random
# bytes do: markers with their lengths, trait references known and not
_FRAGMENT_HEX = """
90 91 92 93 95 9f dc0001 dc0010 dd00000002 80 81 82 de0001 df00000001
c0 c2 c3 00 7f ff e0 cc80 cdffff ce00000001 cf0000000000000001 d080
d1ff7f d2ffffffff d3ffffffffffffffff ca3fc00000 cb3ff8000000000000 a0
a161 a3616263 a2c328 d903616263 da0001 db00000001 c400 c40101 c50001
c600000001 d6ff00000000 d7ff0000000000000000
c70cff000000000000000000000000 d4ff00 d40110 d40111 d40112 d40113
d40114 d40115 d501014b d5010141 d5010142 d40100 d40103 d40105 d40107
d50100ff c7030100 d40500 c1 c7000100 d80100
"""
FRAGMENTS = [bytes.fromhex(piece) for piece in _FRAGMENT_HEX.split()]
# decoders are made once: the checks after each example show that a
# refused value leaves nothing behind
FUZZ_DECODERS = st.sampled_from([SHARED, decoder(SMALL_LIMITS)])


def decode_or_refuse(decoder_: Decoder, data: bytes) -> None:
    try:
        decoder_.decode(data)
    except DecodeError as exc:
        assert isinstance(exc.code, CloseCode)
    assert_works(decoder_)


@given(st.binary(max_size=96), FUZZ_DECODERS)
@settings(max_examples=3000, deadline=None)
def test_random_bytes(data: bytes, decoder_: Decoder) -> None:
    decode_or_refuse(decoder_, data)


@given(st.lists(st.sampled_from(FRAGMENTS), max_size=24), FUZZ_DECODERS)
@settings(max_examples=5000, deadline=None)
def test_fragments(pieces: list[bytes], decoder_: Decoder) -> None:
    decode_or_refuse(decoder_, b"".join(pieces))


EDITS = st.lists(
    st.tuples(
        st.sampled_from(["replace", "insert", "delete", "truncate"]),
        st.integers(0, 1 << 16),
        st.integers(0, 255),
    ),
    min_size=1,
    max_size=4,
)


@given(st.sampled_from(VALUES["vectors"]), EDITS)
@settings(max_examples=4000, deadline=None)
def test_mutated_vectors(vector: dict[str, Any], edits: list[Any]) -> None:
    data = bytearray.fromhex(vector["hex"])
    for edit, position, byte in edits:
        where = position % (len(data) + 1)
        if edit == "insert":
            data.insert(where, byte)
        elif where < len(data):
            if edit == "replace":
                data[where] = byte
            elif edit == "delete":
                del data[where]
            else:
                del data[where:]
    decode_or_refuse(SHARED, bytes(data))


JSONISH = st.recursive(
    st.none() | st.integers() | st.text(max_size=10) | st.sampled_from(["x", "y"]),
    lambda children: st.lists(children, max_size=5),
    max_leaves=12,
)
TABLES = st.lists(
    st.tuples(
        st.sampled_from(["test.Point", "test.Wrapper", "test.Other", "lg.Call"])
        | st.text(max_size=4),
        st.lists(st.sampled_from(["x", "y", "inner", "id", "z", ""]), max_size=4)
        | JSONISH,
    ).map(list)
    | JSONISH,
    max_size=4,
)


@given(TABLES, st.lists(st.sampled_from(FRAGMENTS), max_size=16))
@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_peer_tables(table: list[Any], pieces: list[bytes]) -> None:
    try:
        peer = REGISTRY.decoder(table)
    except DecodeError:
        return
    decode_or_refuse(peer, b"".join(pieces))


# -- limits (section 3.6)


def test_default_limits_are_those_of_the_spec() -> None:
    limits = Limits()
    assert limits.max_depth == 32
    assert limits.max_str_len == 262144
    assert limits.max_bin_len == 1048576
    assert limits.max_array_len == 65536
    assert limits.max_map_len == 4096


def wrapped(depth: int, inner: Any = 0) -> Any:
    for _ in range(depth):
        inner = Wrapper(inner)
    return inner


def mapped(depth: int, inner: Any = 0) -> Any:
    for _ in range(depth):
        inner = {"k": inner}
    return inner


def mixed(depth: int, inner: Any = 0) -> Any:
    """Lists, maps and typed objects in turn."""
    for i in range(depth):
        if i % 3 == 0:
            inner = [inner]
        elif i % 3 == 1:
            inner = {"k": inner}
        else:
            inner = Wrapper(inner)
    return inner


@pytest.mark.parametrize("build", [nested, mapped, wrapped, mixed])
@pytest.mark.parametrize("max_depth", [1, 2, 7, 32])
def test_depth_limit(build: Callable[[int], Any], max_depth: int) -> None:
    limits = None if max_depth == 32 else Limits(max_depth=max_depth)
    shared = decoder(limits)
    at_limit = build(max_depth)
    assert same(shared.decode(ENCODER.encode(at_limit)), at_limit)
    with pytest.raises(LimitExceeded) as info:
        shared.decode(ENCODER.encode(build(max_depth + 1)))
    assert info.value.code == CloseCode.LIMIT_EXCEEDED
    assert_works(shared)


@pytest.mark.parametrize(
    "inner",
    ["93d401100102", "91d40113", "93d5010141a0c0"],
    ids=["point", "empty", "unknown"],
)
def test_depth_counts_every_typed_object(inner: str) -> None:
    # a typed object is a container even when its fields are all scalars
    limits = Limits(max_depth=3)
    value = decoder(limits).decode(bytes.fromhex("9191" + inner))
    assert type(value[0][0]) in (Point, Empty, UnknownObject)
    with pytest.raises(LimitExceeded):
        decoder(limits).decode(bytes.fromhex("919191" + inner))


def test_very_deep_nesting_is_refused() -> None:
    with pytest.raises(LimitExceeded):
        decoder().decode(b"\x91" * 100_000 + b"\x00")


@pytest.mark.parametrize(
    ("limits", "at_limit", "over"),
    [
        (Limits(max_str_len=10), "a" * 10, "a" * 11),
        (Limits(max_str_len=10), "é" * 5, "é" * 5 + "a"),
        (Limits(max_str_len=10), {"k" * 10: 1}, {"k" * 11: 1}),
        (Limits(max_bin_len=10), b"b" * 10, b"b" * 11),
        (Limits(max_array_len=5), [0] * 5, [0] * 6),
        (Limits(max_array_len=5), [[0] * 5] * 3, [[0] * 3, [0] * 6]),
        (Limits(max_map_len=3), dict.fromkeys("abc", 0), dict.fromkeys("abcd", 0)),
        (Limits(max_map_len=3), [dict.fromkeys("ab", 0)], [dict.fromkeys("wxyz", 0)]),
        (Limits(max_size=32), b"b" * 30, b"b" * 31),
        (Limits(max_size=32), [0] * 29, [0] * 30),
    ],
    ids=[
        "str",
        "str-utf8-bytes",
        "map-key",
        "bin",
        "array",
        "inner-array",
        "map",
        "inner-map",
        "size-bin",
        "size-array",
    ],
)
def test_length_limits(limits: Limits, at_limit: Any, over: Any) -> None:
    shared = decoder(limits)
    data = ENCODER.encode(at_limit)
    assert same(shared.decode(data), at_limit)
    # a limit bounds each value, not the values decoded so far
    assert same(shared.decode(data), at_limit)
    with pytest.raises(LimitExceeded) as info:
        shared.decode(ENCODER.encode(over))
    assert info.value.code == CloseCode.LIMIT_EXCEEDED
    assert same(shared.decode(data), at_limit)


def test_typed_object_fields_count_against_the_array_limit() -> None:
    wide = Wide(*range(20))
    assert decoder(Limits(max_array_len=21)).decode(ENCODER.encode(wide)) == wide
    with pytest.raises(LimitExceeded):
        decoder(Limits(max_array_len=16)).decode(ENCODER.encode(wide))


@pytest.mark.parametrize(
    ("at_limit", "over"),
    [
        ("s" * 262144, "s" * 262145),
        ([0] * 65536, [0] * 65537),
        ({str(i): 0 for i in range(4096)}, {str(i): 0 for i in range(4097)}),
    ],
    ids=["str", "array", "map"],
)
def test_default_length_limits(at_limit: Any, over: Any) -> None:
    shared = decoder()
    assert same(shared.decode(ENCODER.encode(at_limit)), at_limit)
    with pytest.raises(LimitExceeded):
        shared.decode(ENCODER.encode(over))


# -- trait tables and how messages evolve (section 3.5)


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    age: int = 0
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ProfileV2:
    name: str
    age: int = 0
    tags: list[str] = field(default_factory=list)
    email: str = ""


@dataclass(frozen=True, slots=True)
class ProfileV0:
    name: str


@dataclass(frozen=True, slots=True)
class ProfileReordered:
    tags: list[str]
    name: str
    age: int


@dataclass(frozen=True, slots=True)
class ProfileNameless:
    age: int


@dataclass(frozen=True, slots=True)
class ProfileTextAge:
    age: str
    name: str


@dataclass(frozen=True, slots=True)
class Badge:
    label: str
    level: int


def peer(*classes: type[Any]) -> Registry:
    """A peer's registry holding ``classes``, each under its own alias."""
    registry = Registry()
    for cls in classes:
        registry.register("test.Badge" if cls is Badge else "test.Profile")(cls)
    return registry


LOCAL = peer(Profile)


def from_peer(sender: Registry, value: Any) -> Any:
    return LOCAL.decoder(sender.trait_table()).decode(sender.encoder.encode(value))


def test_peer_with_an_extra_field() -> None:
    sent = ProfileV2("ann", 41, ["a"], "ann@example.org")
    assert from_peer(peer(ProfileV2), sent) == Profile("ann", 41, ["a"])


def test_peer_with_fewer_fields() -> None:
    assert from_peer(peer(ProfileV0), ProfileV0("bob")) == Profile("bob", 0, [])


def test_peer_with_fields_reordered() -> None:
    sent = ProfileReordered(["x"], "cy", 7)
    assert from_peer(peer(ProfileReordered), sent) == Profile("cy", 7, ["x"])


def test_peer_without_a_field_that_has_no_default() -> None:
    with pytest.raises(DecodeError) as info:
        from_peer(peer(ProfileNameless), ProfileNameless(3))
    assert info.value.code == CloseCode.INVALID_DATA


def test_reordered_fields_are_type_checked() -> None:
    with pytest.raises(DecodeError):
        from_peer(peer(ProfileTextAge), ProfileTextAge("old", "dee"))


def test_peer_alias_without_a_local_class() -> None:
    sender = peer(Badge, ProfileV0)
    value = [Badge("gold", 3), ProfileV0("eve")]
    expected = [
        UnknownObject("test.Badge", {"label": "gold", "level": 3}),
        Profile("eve"),
    ]
    assert from_peer(sender, value) == expected


def test_same_bytes_read_with_the_sender_table() -> None:
    # trait id 16 is Profile for one peer and Badge for another
    data = bytes.fromhex("93 d40110 a3616263 05".replace(" ", ""))
    as_badge = LOCAL.decoder([["test.Badge", ["label", "level"]]]).decode(data)
    assert as_badge == UnknownObject("test.Badge", {"label": "abc", "level": 5})
    as_profile = LOCAL.decoder([["test.Profile", ["name", "age"]]]).decode(data)
    assert as_profile == Profile("abc", 5)


def test_trait_table_travels_in_hello() -> None:
    hello = Hello(1, "test", None, 65536, REGISTRY.trait_table())
    received = Registry().decoder().decode(ENCODER.encode(hello))
    assert received == hello
    value = [
        Point(1, 2),
        Chat(1, 2, "a", "b", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), []),
    ]
    assert REGISTRY.decoder(received.traits).decode(ENCODER.encode(value)) == value


@pytest.mark.parametrize(
    "value",
    [
        Call(1, "m", {"a": [1]}),
        CallError(2, 404, "gone"),
        Event("e"),
        Welcome("s", b"t", False, 0, 4096, 5, 15.5),
    ],
    ids=["call", "error", "event", "welcome"],
)
def test_protocol_traits_known_before_the_handshake(value: Any) -> None:
    assert Registry().decoder().decode(ENCODER.encode(value)) == value


def test_application_traits_unknown_before_the_handshake() -> None:
    with pytest.raises(UnknownTrait) as info:
        Registry().decoder().decode(ENCODER.encode(Event("e", Point(1, 2))))
    assert info.value.code == CloseCode.UNKNOWN_TRAIT


LONG = "n" * 128
TOO_LONG = "n" * 129


@pytest.mark.parametrize(
    "table",
    [
        {"test.Point": ["x", "y"]},
        "test.Point",
        ["test.Point"],
        [["test.Point"]],
        [["test.Point", ["x", "y"], "extra"]],
        [[7, ["x"]]],
        [["", ["x"]]],
        [[TOO_LONG, ["x"]]],
        [[None, ["x"]]],
        [["test.Point", "xy"]],
        [["test.Point", None]],
        [["test.Point", ["x", 1]]],
        [["test.Point", ["x", ""]]],
        [["test.Point", ["x", TOO_LONG]]],
        [["test.Point", ["x", "x"]]],
        [["test.Many", [f"f{i}" for i in range(65)]]],
        [["test.Point", ["x", "y"]], "oops"],
        [["test.T", ["v"]]] * 4097,
    ],
    ids=[
        "map",
        "string",
        "entry-not-a-pair",
        "entry-of-one",
        "entry-of-three",
        "alias-int",
        "alias-empty",
        "alias-too-long",
        "alias-null",
        "fields-string",
        "fields-null",
        "field-int",
        "field-empty",
        "field-too-long",
        "field-twice",
        "65-fields",
        "second-entry-bad",
        "4097-entries",
    ],
)
def test_malformed_trait_table(table: Any) -> None:
    with pytest.raises(DecodeError) as info:
        REGISTRY.decoder(table)
    assert info.value.code == CloseCode.INVALID_DATA
    with pytest.raises(DecodeError):
        REGISTRY.decoder().set_peer_table(table)


def test_trait_table_at_its_limits() -> None:
    table = [[LONG, [LONG, *[f"f{i}" for i in range(63)]]]]
    table += [[f"test.X{i}", ["v"]] for i in range(4095)]
    last = FIRST_APPLICATION_TRAIT + 4095
    data = bytes.fromhex(f"92 d501 {last:04x} 01")
    assert REGISTRY.decoder(table).decode(data) == UnknownObject("test.X4094", {"v": 1})


# -- encoding errors


@dataclass(frozen=True, slots=True)
class Unregistered:
    x: int


# a subclass of a registered class is not registered itself
PointChild = type("PointChild", (Point,), {"__slots__": ()})


@pytest.mark.parametrize(
    "value",
    [
        Unregistered(1),
        PointChild(1, 2),
        UnknownObject("test.Point", {"x": 1, "y": 2}),
        object(),
        dt.datetime(2026, 1, 1),
        [1, 2, dt.datetime(2026, 1, 1)],
        2**64,
        -(2**63) - 1,
        {"deep": [2**64]},
        "\ud800",
        Wrapper(Unregistered(1)),
    ],
    ids=[
        "unregistered",
        "subclass",
        "unknown-object",
        "object",
        "naive-datetime",
        "naive-datetime-in-list",
        "2^64",
        "-2^63-1",
        "2^64-in-map",
        "surrogate",
        "unregistered-field",
    ],
)
def test_encoding_errors(value: Any) -> None:
    with pytest.raises(LocalProtocolError):
        ENCODER.encode(value)
    # the encoder is left clean
    assert ENCODER.encode([1, "a", Point(3, 4)]).hex() == "9301a16193d401100304"


def test_self_containing_value_is_refused() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(LocalProtocolError):
        ENCODER.encode(loop)
    assert ENCODER.encode([]) == b"\x90"


# -- registering message classes


def test_registry_numbers_classes_from_16() -> None:
    registry = Registry()
    assert [(t.id, t.alias) for t in registry][:3] == [
        (0, "lg.Hello"),
        (1, "lg.Welcome"),
        (2, "lg.Resume"),
    ]
    registry.register("a.B")(Unregistered)
    trait = registry.by_class(Unregistered)
    assert trait is not None and trait.id == FIRST_APPLICATION_TRAIT == 16
    assert registry.by_id(16) is trait and registry.by_alias("a.B") is trait
    assert registry.trait_table() == [["a.B", ["x"]]]
    assert list(Registry(builtin=False)) == []


def _plain_class() -> type[Any]:
    class Plain:
        __slots__ = ("x",)

    return Plain


def _unfrozen() -> type[Any]:
    @dataclass(slots=True)
    class Unfrozen:
        x: int

    return Unfrozen


def _unslotted() -> type[Any]:
    @dataclass(frozen=True)
    class Unslotted:
        x: int

    return Unslotted


def _wide_class() -> type[Any]:
    names = [(f"f{i}", int) for i in range(65)]
    return dataclasses.make_dataclass("TooWide", names, frozen=True, slots=True)


def _taken(registry: Registry) -> type[Any]:
    return trait_of("test.Point", registry).cls


@pytest.mark.parametrize(
    ("alias", "make"),
    [
        ("a.Plain", lambda _: _plain_class()),
        ("a.Unfrozen", lambda _: _unfrozen()),
        ("a.Unslotted", lambda _: _unslotted()),
        ("a.Wide", lambda _: _wide_class()),
        ("", lambda _: Badge),
        (TOO_LONG, lambda _: Badge),
        ("test.Point", lambda _: Badge),
        ("a.Again", _taken),
        ("lg.Call", lambda _: Badge),
    ],
    ids=[
        "plain",
        "unfrozen",
        "unslotted",
        "65-fields",
        "empty-alias",
        "long-alias",
        "alias-taken",
        "class-taken",
        "builtin-alias",
    ],
)
def test_register_refuses(alias: str, make: Callable[[Registry], type[Any]]) -> None:
    registry = make_registry(VALUES)
    before = list(registry.trait_table())
    cls = make(registry)
    with pytest.raises(LocalProtocolError):
        registry.register(alias)(cls)
    # nothing was taken: the next class gets the next id
    assert registry.trait_table() == before
    registry.register("a.Next")(Unregistered)
    assert trait_of("a.Next", registry).id == FIRST_APPLICATION_TRAIT + len(before)


def test_register_at_most_4096_traits() -> None:
    registry = Registry()
    for i in range(4096 - FIRST_APPLICATION_TRAIT):
        cls = dataclasses.make_dataclass(f"C{i}", [], frozen=True, slots=True)
        registry.register(f"c.C{i}")(cls)
    with pytest.raises(LocalProtocolError):
        registry.register("c.Last")(Unregistered)


def test_trait_reference_must_take_its_shortest_form() -> None:
    with pytest.raises(DecodeError) as info:
        decoder().decode(bytes.fromhex("94d5010003") + b"\x01\xa1m\xc0")
    assert info.value.code == CloseCode.INVALID_DATA
    assert isinstance(
        decoder().decode(bytes.fromhex("94d40103") + b"\x01\xa1m\xc0"), Call
    )


def test_a_boolean_is_not_an_integer() -> None:
    point = trait_of("test.Point")
    data = ENCODER.encode(point.cls(1, 2))
    forged = data.replace(b"\x01\x02", b"\xc3\x02")
    assert forged != data
    with pytest.raises(DecodeError) as info:
        decoder().decode(forged)
    assert info.value.code == CloseCode.INVALID_DATA


class Status(enum.IntEnum):
    AWAY = 2


def test_enumerations_tuples_and_keyword_fields() -> None:
    registry = Registry()

    @registry.register("test.Status")
    @dataclass(frozen=True, slots=True)
    class Report:
        status: Status
        tags: tuple[str, ...]
        pair: tuple[int, int] | None = None

    sent = Report(Status.AWAY, ("a", "b"), (1, 2))
    received = registry.decoder(registry.trait_table()).decode(
        registry.encoder.encode(sent)
    )
    assert received == sent
    assert type(received.tags) is tuple and hash(received) == hash(sent)

    # a peer without the last field: the mapped path converts tuples too
    older = registry.decoder([["test.Status", ["status", "tags"]]])
    mapped = older.decode(bytes.fromhex("93d4011002") + b"\x91\xa1a")
    assert mapped == Report(Status.AWAY, ("a",))
    assert type(mapped.tags) is tuple

    with pytest.raises(LocalProtocolError):

        @registry.register("test.KeywordOnly")
        @dataclass(frozen=True, slots=True, kw_only=True)
        class KeywordOnly:
            value: int


def test_post_init_checks_run_on_decoded_objects() -> None:
    registry = Registry()

    @registry.register("test.Positive")
    @dataclass(frozen=True, slots=True)
    class Positive:
        value: int

        def __post_init__(self) -> None:
            if self.value <= 0:
                raise ValueError("not positive")

    decoder_ = registry.decoder(registry.trait_table())
    assert decoder_.decode(bytes.fromhex("92d4011005")) == Positive(5)
    with pytest.raises(DecodeError):
        decoder_.decode(bytes.fromhex("92d40110ff"))
    assert decoder_.decode(bytes.fromhex("92d4011007")) == Positive(7)


def test_decoders_share_their_unpacker_and_tables_yet_decode_apart() -> None:
    registry = Registry()

    @registry.register("test.Pair")
    @dataclass(frozen=True, slots=True)
    class Pair:
        left: int
        right: int

    same_a = registry.decoder([["test.Pair", ["left", "right"]]])
    same_b = registry.decoder([["test.Pair", ["left", "right"]]])
    swapped = registry.decoder([["test.Pair", ["right", "left"]]])
    assert same_a._references is same_b._references
    assert same_a._engine is swapped._engine

    data = bytes.fromhex("93d401100102")
    for _ in range(3):  # interleaved: each decode uses its own table
        assert same_a.decode(data) == Pair(1, 2)
        assert swapped.decode(data) == Pair(2, 1)
    with pytest.raises(DecodeError):
        swapped.decode(b"\x93\xd4\x01\x10\x01")  # truncated
    assert same_b.decode(data) == Pair(1, 2)
