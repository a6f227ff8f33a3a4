"""Write ``values.json`` and ``frames.json``, the shared protocol vectors.

Run it by hand from anywhere, with no arguments; the test suites only read
the files it writes. The bytes come from the small encoder below, written
from ``docs/protocol.md`` alone and sharing no code with lgserver, so that
the vectors check the implementations instead of echoing one of them.
Vectors whose bytes are not what a conforming encoder produces (a longer
marker than needed, a 32-bit float, an unknown object) are spelled out in
hex and marked ``decode_only``; error vectors are spelled out in hex too.

Values are written in the tagged JSON form of ``README.md`` and encoded
from that form directly. Integral floats are left to ``decode_only``
vectors: a JavaScript encoder sends them as integers (section 3.2).
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FIRST_TRAIT = 16

# The protocol's own traits (section 3.4): alias -> (id, fields).
BUILTIN = {
    "lg.Hello": (0, ["version", "build", "auth", "max_frame", "traits"]),
    "lg.Welcome": (
        1,
        [
            "session",
            "token",
            "resumed",
            "last_seq",
            "max_frame",
            "heartbeat",
            "grace",
            "traits",
        ],
    ),
    "lg.Resume": (2, ["version", "build", "token", "last_seq", "max_frame"]),
    "lg.Call": (3, ["id", "method", "params"]),
    "lg.Result": (4, ["id", "value"]),
    "lg.Error": (5, ["id", "code", "message", "data"]),
    "lg.Event": (6, ["name", "data"]),
}

WIDE_FIELDS = [f"f{i}" for i in range(20)]
NUMBERED = 300

# The trait table the vectors are encoded with; entry i is trait id 16 + i.
# Enough numbered one-field traits follow the named ones that ids above 255
# (two-byte trait references) are in use. The last entry is a class the
# test registries do not define: it decodes to an unknown object.
TRAITS: list[list[Any]] = [
    ["test.Point", ["x", "y"]],
    ["test.Chat", ["chat", "id", "sender", "text", "sent_at", "tags"]],
    ["test.Wrapper", ["inner"]],
    ["test.Empty", []],
    ["test.Wide", WIDE_FIELDS],
    *[[f"test.T{n}", ["v"]] for n in range(NUMBERED)],
    ["test.Future", ["note", "level"]],
]
UNREGISTERED = ["test.Future"]

# Field types the test registries declare; fields not listed take any value.
FIELD_TYPES = {
    "test.Point": {"x": "int", "y": "int"},
    "test.Chat": {
        "chat": "int",
        "id": "int",
        "sender": "str",
        "text": "str",
        "sent_at": "timestamp",
        "tags": "list",
    },
}

TRAIT_IDS = {
    alias: (FIRST_TRAIT + i, fields) for i, (alias, fields) in enumerate(TRAITS)
}
TRAIT_IDS.update(BUILTIN)


# -- the tagged JSON form


def big(n: int) -> Any:
    """An integer, tagged when JSON cannot carry it exactly."""
    return n if abs(n) <= 2**53 else {"$int": str(n)}


def flt(x: float) -> dict[str, Any]:
    if math.isnan(x):
        return {"$float": "nan"}
    if math.isinf(x):
        return {"$float": "inf" if x > 0 else "-inf"}
    return {"$float": x}


def bts(data: bytes) -> dict[str, Any]:
    return {"$bytes": data.hex()}


def ts(seconds: int, nanoseconds: int = 0) -> dict[str, Any]:
    return {"$timestamp": [seconds, nanoseconds]}


def mp(*pairs: tuple[str, Any]) -> dict[str, Any]:
    return {"$map": [[k, v] for k, v in pairs]}


def obj(alias: str, *values: Any) -> dict[str, Any]:
    _, names = TRAIT_IDS[alias]
    assert len(names) == len(values), alias
    tag = "$unknown" if alias in UNREGISTERED else "$object"
    return {tag: alias, "fields": [[n, v] for n, v in zip(names, values, strict=True)]}


# -- an encoder written from section 3


def _int(n: int) -> bytes:
    if 0 <= n <= 0x7F:
        return bytes([n])
    if -32 <= n < 0:
        return struct.pack(">b", n)
    if n >= 0:
        for marker, fmt, top in (
            (0xCC, ">B", 0xFF),
            (0xCD, ">H", 0xFFFF),
            (0xCE, ">I", 0xFFFFFFFF),
            (0xCF, ">Q", 2**64 - 1),
        ):
            if n <= top:
                return bytes([marker]) + struct.pack(fmt, n)
    for marker, fmt, bottom in (
        (0xD0, ">b", -(2**7)),
        (0xD1, ">h", -(2**15)),
        (0xD2, ">i", -(2**31)),
        (0xD3, ">q", -(2**63)),
    ):
        if n >= bottom:
            return bytes([marker]) + struct.pack(fmt, n)
    raise ValueError(n)


def _sized(size: int, fix: tuple[int, int] | None, markers: list[int]) -> bytes:
    if fix is not None and size <= fix[1]:
        return bytes([fix[0] | size])
    tops = (0xFF, 0xFFFF, 2**32 - 1)
    for marker, fmt, top in zip(markers, (">B", ">H", ">I"), tops, strict=True):
        if marker and size <= top:
            return bytes([marker]) + struct.pack(fmt, size)
    raise ValueError(size)


def _str(text: str) -> bytes:
    data = text.encode()
    return _sized(len(data), (0xA0, 31), [0xD9, 0xDA, 0xDB]) + data


def _array(items: list[bytes]) -> bytes:
    return _sized(len(items), (0x90, 15), [0, 0xDC, 0xDD]) + b"".join(items)


def trait_ref(trait_id: int) -> bytes:
    if trait_id < 256:
        return bytes([0xD4, 0x01, trait_id])
    return bytes([0xD5, 0x01]) + struct.pack(">H", trait_id)


def _timestamp(seconds: int, nanoseconds: int) -> bytes:
    if seconds >> 34 == 0:
        if nanoseconds == 0 and seconds >> 32 == 0:
            return b"\xd6\xff" + struct.pack(">I", seconds)
        return b"\xd7\xff" + struct.pack(">Q", nanoseconds << 34 | seconds)
    return b"\xc7\x0c\xff" + struct.pack(">Iq", nanoseconds, seconds)


def encode(value: Any) -> bytes:
    """Encode a value given in the tagged JSON form."""
    if value is None:
        return b"\xc0"
    if value is True:
        return b"\xc3"
    if value is False:
        return b"\xc2"
    if isinstance(value, int):
        return _int(value)
    if isinstance(value, str):
        return _str(value)
    if isinstance(value, list):
        return _array([encode(item) for item in value])
    assert isinstance(value, dict), value
    if "$int" in value:
        return _int(int(value["$int"]))
    if "$float" in value:
        return b"\xcb" + struct.pack(">d", float(value["$float"]))
    if "$bytes" in value:
        data = bytes.fromhex(value["$bytes"])
        return _sized(len(data), None, [0xC4, 0xC5, 0xC6]) + data
    if "$timestamp" in value:
        return _timestamp(*value["$timestamp"])
    if "$map" in value:
        pairs = value["$map"]
        head = _sized(len(pairs), (0x80, 15), [0, 0xDE, 0xDF])
        return head + b"".join(_str(k) + encode(v) for k, v in pairs)
    alias = value.get("$object", value.get("$unknown"))
    trait_id, names = TRAIT_IDS[alias]
    assert [name for name, _ in value["fields"]] == names, alias
    fields = [encode(v) for _, v in value["fields"]]
    return _array([trait_ref(trait_id), *fields])


# -- value vectors

_values: list[dict[str, Any]] = []
POINT = obj("test.Point", 1, 2)
UNKNOWN_REF = trait_ref(TRAIT_IDS["test.Future"][0]).hex()


def good(name: str, value: Any) -> None:
    _values.append({"name": name, "value": value, "hex": encode(value).hex()})


def decode_only(name: str, hex_: str, value: Any) -> None:
    hex_ = hex_.replace(" ", "")
    _values.append({"name": name, "value": value, "hex": hex_, "decode_only": True})


def bad(name: str, hex_: str | bytes, error: str) -> None:
    if isinstance(hex_, bytes):
        hex_ = hex_.hex()
    _values.append({"name": name, "hex": hex_.replace(" ", ""), "error": error})


def _constants() -> None:
    """Null and booleans."""
    good("null", None)
    good("false", False)
    good("true", True)


def _integers() -> None:
    """Integers at every marker boundary."""
    for n in (0, 1, 127, 128, 255, 256, 300, 65535, 65536, 2**32 - 1, 2**32):
        good(f"int {n}", n)
    for n in (2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1):
        good(f"int {n}", big(n))
    for n in (-1, -32, -33, -128, -129, -(2**15), -(2**15) - 1):
        good(f"int {n}", n)
    for n in (-(2**31), -(2**31) - 1, -(2**53), -(2**53) - 1, -(2**63)):
        good(f"int {n}", big(n))
    decode_only("int 1 as uint8", "cc 01", 1)
    decode_only("int 1 as uint64", "cf 0000000000000001", 1)
    decode_only("int 0 as int8", "d0 00", 0)
    decode_only("int -1 as int64", "d3 ffffffffffffffff", -1)
    decode_only("int 256 as int16", "d1 0100", 256)
    decode_only("int 2^63-1 as int64", "d3 7fffffffffffffff", big(2**63 - 1))


def _floats() -> None:
    """Floats: 64-bit only when encoding; whole numbers decode only."""
    for x in (1.5, -2.25, 0.1, math.pi, 5e-324, -1.5e-300, 1.25e-7):
        good(f"float {x!r}", flt(x))
    good("float nan", flt(math.nan))
    good("float inf", flt(math.inf))
    good("float -inf", flt(-math.inf))
    for x in (1.0, -0.0, 1e300, -(2.0**70)):
        decode_only(f"float {x!r}", "cb" + struct.pack(">d", x).hex(), flt(x))
    decode_only("float32 1.5", "ca 3fc00000", flt(1.5))
    decode_only("float32 -0.25", "ca be800000", flt(-0.25))
    decode_only("float32 inf", "ca 7f800000", flt(math.inf))
    decode_only("float32 nan", "ca 7fc00000", flt(math.nan))


def _strings() -> None:
    """Strings: lengths count bytes, not characters."""
    for size in (0, 1, 31, 32, 255, 256, 300):
        good(f"string of {size} bytes", "".join(chr(97 + i % 26) for i in range(size)))
    good("string with NUL", "a\x00b")
    good("string two-byte UTF-8", "hé")
    good("string three-byte UTF-8", "日本語")
    good("string four-byte UTF-8", "\U0001f600")
    good("string 31 bytes of mixed UTF-8", "é" * 15 + "x")
    good("string 32 bytes of two-byte UTF-8", "é" * 16)
    good("string 256 bytes of four-byte UTF-8", "\U0001f44b" * 64)
    decode_only("string in str8", "d9 03 616263", "abc")
    decode_only("string in str16", "da 0003 616263", "abc")
    decode_only("string in str32", "db 00000003 616263", "abc")
    decode_only("empty string in str32", "db 00000000", "")


def _bytes() -> None:
    """Bytes."""
    for size in (0, 1, 255, 256):
        good(f"bytes of {size}", bts(bytes(i % 256 for i in range(size))))
    good("bytes 00ff", bts(b"\x00\xff"))
    decode_only("bytes in bin16", "c5 0002 00ff", bts(b"\x00\xff"))
    decode_only("bytes in bin32", "c6 00000002 00ff", bts(b"\x00\xff"))


def _timestamps() -> None:
    """Timestamps: 32-, 64- and 96-bit forms, to the millisecond."""
    good("timestamp epoch", ts(0))
    good("timestamp 2023-11-14T22:13:20Z", ts(1700000000))
    good("timestamp 2026-12-03T00:00:00Z", ts(1796256000))
    good("timestamp last of 32-bit form", ts(2**32 - 1))
    good("timestamp first whole second of 64-bit form", ts(2**32))
    good("timestamp with milliseconds", ts(1700000000, 123000000))
    good("timestamp epoch plus 1 ms", ts(0, 1000000))
    good("timestamp last of 64-bit form", ts(2**34 - 1, 999000000))
    good("timestamp first of 96-bit form", ts(2**34))
    good("timestamp one second before the epoch", ts(-1))
    good("timestamp half a second before the epoch", ts(-1, 500000000))
    good("timestamp 0001-01-01T00:00:00Z", ts(-62135596800))
    good("timestamp 9999-12-31T23:59:59.999Z", ts(253402300799, 999000000))
    decode_only("timestamp in 64-bit form", "d7ff 000000006553f100", ts(1700000000))
    decode_only(
        "timestamp in 96-bit form",
        "c70cff 00000000 000000006553f100",
        ts(1700000000),
    )


def _lists() -> None:
    """Lists."""
    good("empty list", [])
    good("list", [1, "a", None, True, flt(0.5)])
    good("nested lists", [1, [2, [3, []]]])
    good("list of 15", list(range(15)))
    good("list of 16", list(range(16)))
    good("list of 300", [i % 100 for i in range(300)])
    decode_only("list in array16", "dc 0001 01", [1])
    decode_only("list in array32", "dd 00000001 01", [1])
    deep: Any = 0
    for _ in range(32):
        deep = [deep]
    good("32 nested lists", deep)


def _maps() -> None:
    """Maps: string keys, order kept."""
    good("empty map", mp())
    good("map", mp(("a", None)))
    good("spec example list and map", [1, mp(("a", None))])
    good("map order kept", mp(("b", 1), ("a", 2), ("c", 3)))
    good("map with empty key", mp(("", 0)))
    good("map with unicode key", mp(("clé", "valeur")))
    good("map of 15", mp(*[(f"k{i}", i) for i in range(15)]))
    good("map of 16", mp(*[(f"k{i}", i) for i in range(16)]))
    good("nested maps", mp(("a", mp(("b", mp(("c", [mp()])))))))
    decode_only("map in map16", "de 0001 a161 01", mp(("a", 1)))
    decode_only("map in map32", "df 00000001 a161 01", mp(("a", 1)))
    deep: Any = 0
    for i in range(32):
        deep = mp((f"d{i}", deep))
    good("32 nested maps", deep)


def _typed_objects() -> None:
    """Typed objects."""
    good("spec-like typed object", POINT)
    good("typed object with larger ints", obj("test.Point", -300, big(2**64 - 1)))
    good("typed object with no fields", obj("test.Empty"))
    good(
        "typed object with every kind of field",
        obj(
            "test.Chat",
            7,
            big(2**53 + 1),
            "alice",
            "hi \U0001f44b",
            ts(1700000000, 250000000),
            ["vip", "fr"],
        ),
    )
    good("typed object in a typed object", obj("test.Wrapper", POINT))
    good(
        "typed objects nested three deep",
        obj("test.Wrapper", obj("test.Wrapper", obj("test.Empty"))),
    )
    good("typed object holding null", obj("test.Wrapper", None))
    good("typed objects in a list", [POINT, obj("test.Point", 3, 4), 5])
    good("typed objects in a map", mp(("p", POINT), ("e", obj("test.Empty"))))
    good(
        "typed object holding a list and a map",
        obj("test.Wrapper", [mp(("p", POINT)), bts(b"\x01")]),
    )
    good(
        "typed object with 20 fields",
        obj("test.Wide", *range(10), *[str(i) for i in range(10)]),
    )
    good("trait id 21", obj("test.T0", "first"))
    good("trait id 255, last one-byte reference", obj("test.T234", 255))
    good("trait id 256, first two-byte reference", obj("test.T235", 256))
    good("trait id 320", obj("test.T299", [obj("test.T298", None)]))
    deep: Any = POINT
    for _ in range(31):
        deep = [deep]
    good("typed object in 31 nested lists", deep)


def _protocol_objects() -> None:
    """The protocol's own traits."""
    good(
        "lg.Hello",
        obj(
            "lg.Hello",
            1,
            "web-1.4.2",
            mp(("token", "s3cr3t")),
            1048576,
            [["chat.Message", ["chat", "text"]]],
        ),
    )
    good("lg.Hello without credentials", obj("lg.Hello", 1, "cli-0.1", None, 4096, []))
    good(
        "lg.Welcome",
        obj(
            "lg.Welcome",
            "s-8f2a",
            bts(bytes(range(32))),
            False,
            0,
            1048576,
            flt(2.5),
            flt(15.5),
            [["test.Point", ["x", "y"]]],
        ),
    )
    good(
        "lg.Welcome with whole seconds sent as integers",
        obj("lg.Welcome", "s-8f2a", bts(b"\x01\x02"), True, 42, 65536, 5, 15, []),
    )
    good(
        "lg.Resume",
        obj("lg.Resume", 1, "web-1.4.2", bts(bytes(range(32))), 17, 1048576),
    )
    good("lg.Call", obj("lg.Call", 1, "chat.send", mp(("chat", 7), ("text", "hi"))))
    good("lg.Call holding a typed object", obj("lg.Call", 2, "draw", POINT))
    good("lg.Result", obj("lg.Result", 1, None))
    good("lg.Error", obj("lg.Error", 3, 404, "no such chat", mp(("chat", 9))))
    good("lg.Event", obj("lg.Event", "typing", mp(("chat", 7), ("who", "bob"))))


def _unknown_objects() -> None:
    """Unknown objects: an alias of the table that has no local class."""
    future = obj("test.Future", "hello", 3)
    decode_only("unknown object", f"93 {UNKNOWN_REF} a568656c6c6f 03", future)
    decode_only(
        "unknown object holding a typed object",
        f"93 {UNKNOWN_REF} 93d401100102 c0",
        obj("test.Future", POINT, None),
    )
    decode_only(
        "unknown object in a list",
        f"92 93 {UNKNOWN_REF} a0 c3 05",
        [obj("test.Future", "", True), 5],
    )


def _bad_utf8() -> None:
    """Errors: strings that are not UTF-8."""
    bad("string with a bad continuation byte", "a2 c3 28", "INVALID_DATA")
    bad("string with an overlong encoding", "a2 c0 80", "INVALID_DATA")
    bad("string with an encoded surrogate", "a3 eda080", "INVALID_DATA")
    bad("string cut inside a character", "a1 c3", "INVALID_DATA")
    bad("string with byte ff", "a1 ff", "INVALID_DATA")
    bad("map key with invalid UTF-8", "81 a1ff 01", "INVALID_DATA")


def _bad_lengths() -> None:
    """Errors: truncated values and trailing bytes."""
    bad("empty input", "", "INVALID_DATA")
    bad("truncated uint16", "cd 01", "INVALID_DATA")
    bad("truncated float", "cb 3ff8", "INVALID_DATA")
    bad("truncated string", "a3 6162", "INVALID_DATA")
    bad("truncated bytes", "c4 05 0102", "INVALID_DATA")
    bad("truncated list", "92 01", "INVALID_DATA")
    bad("truncated map", "82 a161 01", "INVALID_DATA")
    bad("truncated timestamp", "d6 ff 0000", "INVALID_DATA")
    bad("truncated typed object", "93 d40110 01", "INVALID_DATA")
    bad("truncated trait reference", "91 d401", "INVALID_DATA")
    bad("two values", "c0 c0", "INVALID_DATA")
    bad("trailing byte after a typed object", "93d401100102 00", "INVALID_DATA")


def _bad_references() -> None:
    """Errors: trait references."""
    bad("trait id 7, reserved", "91 d40107", "UNKNOWN_TRAIT")
    bad("trait id 15, reserved", "91 d4010f", "UNKNOWN_TRAIT")
    past = FIRST_TRAIT + len(TRAITS)
    bad("trait id just past the table", b"\x91" + trait_ref(past), "UNKNOWN_TRAIT")
    bad("trait id 65535", "91 d501ffff", "UNKNOWN_TRAIT")
    bad("bare trait reference", "d40110", "INVALID_DATA")
    bad("trait reference as second element", "92 01 d40110", "INVALID_DATA")
    bad("trait reference as a map value", "81 a161 d40110", "INVALID_DATA")
    bad("trait reference as a field", "92 d40112 d40110", "INVALID_DATA")
    bad("trait reference in a nested list", "91 92 c0 d40110", "INVALID_DATA")
    bad("trait reference with 3 bytes", "91 c7030100 0010", "INVALID_DATA")
    bad("trait reference with 4 bytes", "91 d601 00000010", "INVALID_DATA")
    bad("trait reference with no bytes", "91 c70001", "INVALID_DATA")
    bad("trait reference with 16 bytes", "91 d801" + "00" * 16, "INVALID_DATA")


def _bad_fields() -> None:
    """Errors: fields."""
    bad("typed object with too few fields", "92 d40110 01", "INVALID_DATA")
    bad("typed object with too many fields", "94 d40110 010203", "INVALID_DATA")
    bad("typed object with no fields given one", "92 d40113 c0", "INVALID_DATA")
    bad(
        "unknown object with too few fields",
        f"92 {UNKNOWN_REF} a0",
        "INVALID_DATA",
    )
    bad("integer field holding a string", "93 d40110 a178 02", "INVALID_DATA")
    bad(
        "integer field holding a float",
        "93 d40110 01 cb3ff8000000000000",
        "INVALID_DATA",
    )
    bad("integer field holding null", "93 d40110 c0 02", "INVALID_DATA")
    bad("integer field holding a list", "93 d40110 90 02", "INVALID_DATA")
    chat = encode(obj("test.Chat", 1, 2, "a", "b", ts(0), [])).hex()
    assert chat.count("d6ff00000000") == 1
    bad(
        "timestamp field holding an integer",
        chat.replace("d6ff00000000", "00"),
        "INVALID_DATA",
    )
    bad("list field holding a map", chat[:-2] + "80", "INVALID_DATA")


def _bad_maps() -> None:
    """Errors: maps."""
    bad("map with an integer key", "81 01 02", "INVALID_DATA")
    bad("map with a bytes key", "81 c40161 01", "INVALID_DATA")
    bad("map with a null key", "81 c0 01", "INVALID_DATA")
    bad("map with a list key", "81 90 01", "INVALID_DATA")
    bad("nested map with an integer key", "81 a161 81 01 02", "INVALID_DATA")


def _bad_nesting() -> None:
    """Errors: nesting beyond the default limit of 32 (section 3.6)."""
    bad("33 nested lists", "91" * 33 + "00", "LIMIT_EXCEEDED")
    bad("33 nested maps", "81a0" * 33 + "00", "LIMIT_EXCEEDED")
    bad(
        "typed object in 32 nested lists",
        "91" * 32 + "93d401100102",
        "LIMIT_EXCEEDED",
    )
    bad("33 nested typed objects", "92d40112" * 33 + "00", "LIMIT_EXCEEDED")


def _bad_markers() -> None:
    """Errors: markers and extensions outside section 3.2."""
    bad("reserved marker c1", "c1", "INVALID_DATA")
    bad("reserved marker c1 in a list", "92 01 c1", "INVALID_DATA")
    bad("extension type 5", "d4 05 00", "INVALID_DATA")
    bad("extension type 0", "c7 00 00", "INVALID_DATA")
    bad("extension type -2", "d5 fe 0000", "INVALID_DATA")
    bad("extension type 5 with 16 bytes", "d8 05" + "00" * 16, "INVALID_DATA")
    bad("timestamp of 1 byte", "d4 ff 00", "INVALID_DATA")
    bad(
        "timestamp with a billion nanoseconds",
        "c70cff 3b9aca00 0000000000000000",
        "INVALID_DATA",
    )


def value_vectors() -> list[dict[str, Any]]:
    _values.clear()
    for section in (
        _constants,
        _integers,
        _floats,
        _strings,
        _bytes,
        _timestamps,
        _lists,
        _maps,
        _typed_objects,
        _protocol_objects,
        _unknown_objects,
        _bad_utf8,
        _bad_lengths,
        _bad_references,
        _bad_fields,
        _bad_maps,
        _bad_nesting,
        _bad_markers,
    ):
        section()
    return list(_values)


# -- frames (section 2)


def header(length: int, kind: int, flags: int, channel: int) -> bytes:
    return struct.pack(">IBBH", length, kind, flags, channel)


_frames: list[dict[str, Any]] = []


def frame(name: str, kind: int, flags: int, channel: int, body: bytes) -> None:
    """A valid frame; ``body`` is all that follows the header."""
    seq = struct.unpack_from(">Q", body)[0] if kind == 1 else 0
    payload = body[8:] if kind == 1 else body
    fields = {"kind": kind, "flags": flags, "channel": channel, "seq": seq}
    data = header(4 + len(body), kind, flags, channel) + body
    _frames.append(
        {"name": name, "hex": data.hex(), "frame": {**fields, "payload": payload.hex()}}
    )


def control(name: str, opcode: int, body: bytes) -> None:
    frame(name, 0, 0, opcode, body)


def message(name: str, channel: int, seq: int, value: bytes, flags: int = 0) -> None:
    frame(name, 1, flags, channel, struct.pack(">Q", seq) + value)


def media(
    name: str, track: int, flags: int, head: tuple[int, int], data: bytes
) -> None:
    frame(name, 2, flags, track, struct.pack(">QI", *head) + data)


def bad_frame(name: str, data: bytes, error: str, max_frame_size: int) -> None:
    _frames.append(
        {
            "name": name,
            "hex": data.hex(),
            "error": error,
            "max_frame_size": max_frame_size,
        }
    )


def _control_frames() -> None:
    """CONTROL frames of every opcode (section 2.2)."""
    traits = [["chat.Message", ["chat", "text"]]]
    token = bts(b"\xaa" * 16)
    hello = obj("lg.Hello", 1, "web-1.4.2", None, 1048576, traits)
    welcome = obj(
        "lg.Welcome", "s-1", token, False, 0, 1048576, flt(2.5), flt(15.5), []
    )
    resume = obj("lg.Resume", 1, "web-1.4.2", token, 3, 1048576)
    control("CONTROL HELLO", 1, encode(hello))
    control("CONTROL WELCOME", 2, encode(welcome))
    control("CONTROL RESUME", 3, encode(resume))
    control("CONTROL ACK", 4, struct.pack(">Q", 5))
    control("CONTROL PING", 5, bytes.fromhex("0123456789abcdef"))
    control("CONTROL PONG", 6, bytes.fromhex("0123456789abcdef"))
    control("CONTROL CLOSE with a reason", 7, struct.pack(">H", 1000) + b"bye")
    control("CONTROL CLOSE without a reason", 7, struct.pack(">H", 4002))
    reason = "trop tôt".encode()
    control("CONTROL CLOSE with a UTF-8 reason", 7, struct.pack(">H", 1002) + reason)


def _message_frames() -> None:
    """MESSAGE frames (section 2.3), the first one that of section 4."""
    message("MESSAGE of section 4", 0, 1, bytes.fromhex("93d4011007a26869"))
    message("MESSAGE on channel 65535", 65535, 7, b"\xc0")
    message("MESSAGE with a large seq", 3, 2**53 - 1, encode(mp(("a", [1, 2]))))
    message("MESSAGE with a 300-byte value", 1, 2, encode("x" * 297))
    message("MESSAGE volatile", 2, 0, encode("typing…"), flags=1)


def _media_frames() -> None:
    """MEDIA frames (section 2.4)."""
    media("MEDIA keyframe", 3, 1, (33366, 2), bytes(range(8)))
    media("MEDIA discardable", 1, 2, (2**40, 2**32 - 1), b"\x7f")
    media("MEDIA with no data", 0, 0, (0, 0), b"")


def _bad_frames() -> None:
    """Headers a receiver refuses as soon as their 8 bytes are in."""
    default = 1 << 20
    too_large = "FRAME_TOO_LARGE"
    bad_frame("length over the limit", header(4097, 1, 0, 0), too_large, 4096)
    bad_frame("length 2^32-1", header(2**32 - 1, 0, 0, 1), too_large, default)
    with_data = header(65537, 2, 1, 1) + bytes(20)
    bad_frame("MEDIA over the limit with some data", with_data, too_large, 65536)
    bad_frame("kind 3", header(4, 3, 0, 0), "UNKNOWN_KIND", default)
    kind_255 = header(12, 255, 0, 0) + bytes(8)
    bad_frame("kind 255", kind_255, "UNKNOWN_KIND", default)
    for name, data in (
        ("MESSAGE of length 11", header(11, 1, 0, 0) + bytes(7)),
        ("MESSAGE of length 4", header(4, 1, 0, 0)),
        ("MEDIA of length 15", header(15, 2, 0, 0) + bytes(11)),
        ("CONTROL of length 3", header(3, 0, 0, 1)),
        ("CONTROL of length 0", header(0, 0, 0, 1)),
    ):
        bad_frame(name, data, "MALFORMED_FRAME", default)


def frame_vectors() -> list[dict[str, Any]]:
    _frames.clear()
    for section in (_control_frames, _message_frames, _media_frames, _bad_frames):
        section()
    return list(_frames)


def write(name: str, document: dict[str, Any]) -> None:
    """Write ``document`` as JSON with one vector or table entry a line."""

    def dump(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    lines = ["{"]
    for i, (key, value) in enumerate(document.items()):
        comma = "," if i < len(document) - 1 else ""
        if isinstance(value, list) and value:
            lines.append(f" {dump(key)}: [")
            lines.extend(f"  {dump(item)}," for item in value)
            lines[-1] = lines[-1][:-1]
            lines.append(f" ]{comma}")
        else:
            lines.append(f" {dump(key)}: {dump(value)}{comma}")
    lines.append("}")
    (HERE / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    values = value_vectors()
    frames = frame_vectors()
    for vectors in (values, frames):
        names = [v["name"] for v in vectors]
        assert len(names) == len(set(names)), "vector names must be unique"
    write(
        "values.json",
        {
            "description": (
                "Value vectors (docs/protocol.md section 3), encoded with the"
                " trait table below. The test registries define a class for"
                " every alias of the table except those in 'unregistered';"
                " 'field_types' lists the declared type of the fields that"
                " have one (int, str, timestamp, list); other fields take any"
                " value. Written by generate.py."
            ),
            "traits": TRAITS,
            "unregistered": UNREGISTERED,
            "field_types": FIELD_TYPES,
            "vectors": values,
        },
    )
    write(
        "frames.json",
        {
            "description": (
                "Frame vectors (docs/protocol.md section 2). A valid vector"
                " decodes with the default limit of 1048576. Written by"
                " generate.py."
            ),
            "vectors": frames,
        },
    )


if __name__ == "__main__":
    main()
