// The value codec (docs/protocol.md section 3) beyond the shared vectors:
// the registry, how JavaScript values map to the wire, field mapping
// between differing trait tables, and the limits.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  Call,
  CloseCode,
  DecodeError,
  FIRST_APPLICATION_TRAIT,
  Hello,
  LimitExceeded,
  Limits,
  LocalProtocolError,
  Registry,
  UnknownObject,
  UnknownTrait,
  Welcome,
} from "../lib/index.js";
import { fromHex, toHex } from "../testing/tagged.js";

function roundTrip(registry, value) {
  return registry.decoder(registry.traitTable()).decode(registry.encoder.encode(value));
}

describe("Registry", () => {
  test("starts with the protocol's classes at their ids", () => {
    const registry = new Registry();
    assert.deepEqual(
      [...registry].map((t) => [t.id, t.alias]),
      [
        [0, "lg.Hello"],
        [1, "lg.Welcome"],
        [2, "lg.Resume"],
        [3, "lg.Call"],
        [4, "lg.Result"],
        [5, "lg.Error"],
        [6, "lg.Event"],
      ],
    );
    assert.equal(registry.byId(0).cls, Hello);
    assert.equal(registry.byClass(Welcome).id, 1);
    assert.deepEqual(registry.traitTable(), []);
    assert.deepEqual([...new Registry({ builtin: false })], []);
  });

  test("numbers application classes from 16 and lists them", () => {
    const registry = new Registry();
    const Point = registry.register("test.Point", ["x", "y"]);
    const Empty = registry.register("test.Empty");
    assert.equal(registry.byClass(Point).id, FIRST_APPLICATION_TRAIT);
    assert.equal(registry.byAlias("test.Empty").cls, Empty);
    assert.deepEqual(registry.traitTable(), [
      ["test.Point", ["x", "y"]],
      ["test.Empty", []],
    ]);
    assert.equal(Point.alias, "test.Point");
    assert.deepEqual(Point.fields, ["x", "y"]);
    assert.equal(Point.name, "Point");
  });

  test("makes frozen objects from fields by name", () => {
    const registry = new Registry();
    const Item = registry.register("test.Item", [
      "id",
      { name: "tags", type: "list", default: () => [] },
      { name: "note", default: null },
    ]);
    const item = new Item({ id: 1, note: undefined });
    assert.deepEqual({ ...item }, { id: 1, tags: [], note: null });
    assert.ok(Object.isFrozen(item));
    assert.throws(() => {
      "use strict";
      item.id = 2;
    }, TypeError);
    assert.notEqual(new Item({ id: 1 }).tags, item.tags, "a fresh default each time");
    assert.throws(() => new Item({}), LocalProtocolError);
    assert.throws(() => new Item({ id: 1, colour: "red" }), LocalProtocolError);
    assert.throws(() => new Item(3), LocalProtocolError);
    assert.deepEqual(
      { ...new Call({ id: 1, method: "m" }) },
      { id: 1, method: "m", params: null },
    );
  });

  test("refuses malformed declarations", () => {
    const registry = new Registry();
    registry.register("test.A", ["x"]);
    assert.throws(() => registry.register("test.A", ["x"]), LocalProtocolError);
    assert.throws(() => registry.register("", []), LocalProtocolError);
    assert.throws(() => registry.register("a".repeat(129), []), LocalProtocolError);
    assert.throws(() => registry.register("test.B", ["x", "x"]), LocalProtocolError);
    assert.throws(() => registry.register("test.C", [""]), LocalProtocolError);
    assert.throws(
      () => registry.register("test.D", [{ name: "x", type: "colour" }]),
      LocalProtocolError,
    );
    assert.throws(
      () => registry.register("test.E", [{ name: "x", type: Date }]),
      LocalProtocolError,
    );
    const many = Array.from({ length: 65 }, (_, i) => `f${i}`);
    assert.throws(() => registry.register("test.F", many), LocalProtocolError);
    // 128 characters, counted as code points
    registry.register("\u{1f600}".repeat(128), []);
  });
});

describe("Encoder", () => {
  const registry = new Registry();
  const Point = registry.register("test.Point", ["x", "y"]);
  const encode = (value) => toHex(registry.encoder.encode(value));

  test("writes integers in the shortest form, numbers or BigInts", () => {
    assert.equal(encode(5n), "05");
    assert.equal(encode(-33n), "d0df");
    assert.equal(encode(2 ** 32), "cf0000000100000000");
    assert.equal(encode(2n ** 32n), "cf0000000100000000");
    assert.equal(encode(-(2 ** 31)), "d280000000");
    assert.equal(encode(-(2 ** 31) - 1), "d3ffffffff7fffffff");
    assert.equal(encode(2n ** 64n - 1n), "cfffffffffffffffff");
    assert.equal(encode(-(2n ** 63n)), "d38000000000000000");
    assert.throws(() => encode(2n ** 64n), LocalProtocolError);
    assert.throws(() => encode(-(2n ** 63n) - 1n), LocalProtocolError);
  });

  test("writes floats as 64-bit, whole numbers as integers", () => {
    assert.equal(encode(1.5), "cb3ff8000000000000");
    assert.equal(encode(1.0), "01");
    assert.equal(encode(-0), "00");
    assert.equal(encode(2 ** 60), "cb43b0000000000000", "beyond 2^53: give a BigInt");
  });

  test("writes maps in their order, from Maps or plain objects", () => {
    const ordered = new Map([
      ["b", 1],
      ["1", 2],
      ["__proto__", 3],
    ]);
    assert.equal(encode(ordered), "83a16201a13102a95f5f70726f746f5f5f03");
    assert.equal(encode({ b: 1, a: 2 }), "82a16201a16102");
    const bare = Object.create(null);
    bare.k = null;
    assert.equal(encode(bare), "81a16bc0");
    assert.throws(() => encode(new Map([[1, 2]])), LocalProtocolError);
  });

  test("writes bytes from any binary form, and undefined as null", () => {
    assert.equal(encode(Uint8Array.of(1, 2)), "c4020102");
    assert.equal(encode(Uint8Array.of(1, 2).buffer), "c4020102");
    assert.equal(encode(new Uint16Array([0x0102])).length, 8);
    assert.equal(encode(undefined), "c0");
    assert.equal(encode([undefined]), "91c0");
  });

  test("writes Dates as timestamps", () => {
    assert.equal(encode(new Date(0)), "d6ff00000000");
    assert.equal(encode(new Date(-500)), "c70cff1dcd6500ffffffffffffffff");
    assert.throws(() => encode(new Date(NaN)), LocalProtocolError);
  });

  test("writes typed objects as the spec's example", () => {
    const registry = new Registry();
    const Message = registry.register("chat.Message", ["chat", "text"]);
    assert.equal(
      toHex(registry.encoder.encode(new Message({ chat: 7, text: "hi" }))),
      "93d4011007a26869",
    );
    assert.equal(encode([new Point({ x: 1, y: 2 })]), "9193d401100102");
  });

  test("refuses what the codec cannot carry", () => {
    const other = new Registry().register("test.Other", []);
    assert.throws(() => encode(new other()), LocalProtocolError);
    assert.throws(
      () => encode(new UnknownObject("x.Y", new Map())),
      LocalProtocolError,
    );
    assert.throws(() => encode(new Set([1])), LocalProtocolError);
    assert.throws(() => encode(() => 1), LocalProtocolError);
    assert.throws(() => encode("\ud800"), LocalProtocolError);
    const cycle = [];
    cycle.push(cycle);
    assert.throws(() => encode(cycle), LocalProtocolError);
  });
});

describe("Decoder", () => {
  const registry = new Registry();
  const decoder = registry.decoder();
  const decode = (hex) => decoder.decode(fromHex(hex));

  test("gives integers as numbers when safe, BigInts beyond", () => {
    assert.equal(decode("cf0000000000000001"), 1);
    assert.equal(decode("d3ffffffffffffffff"), -1);
    assert.equal(decode("cf001fffffffffffff"), 2 ** 53 - 1);
    assert.equal(decode("cf0020000000000000"), 2n ** 53n);
    assert.equal(decode("d3ffe0000000000000"), -(2n ** 53n));
  });

  test("keeps map keys in order, whatever they look like", () => {
    const map = decode("83a16201a13102a95f5f70726f746f5f5f03");
    assert.ok(map instanceof Map);
    assert.deepEqual(
      [...map],
      [
        ["b", 1],
        ["1", 2],
        ["__proto__", 3],
      ],
    );
    assert.equal(Object.getPrototypeOf(map), Map.prototype);
  });

  test("keeps a leading byte order mark and checks long strings", () => {
    const text = "\ufeff" + "x".repeat(300);
    assert.equal(roundTrip(registry, text), text);
    const long = registry.encoder.encode("é".repeat(150));
    long[200] = 0xff;
    assert.throws(
      () => decoder.decode(long),
      (e) => e.code === CloseCode.INVALID_DATA,
    );
    const key = registry.encoder.encode(new Map([["é".repeat(150), 1]]));
    key[100] = 0x41;
    assert.throws(
      () => decoder.decode(key),
      (e) => e.code === CloseCode.INVALID_DATA,
    );
  });

  test("gives bytes of their own", () => {
    const input = fromHex("c403010203");
    const bytes = decoder.decode(input);
    input.fill(0);
    assert.deepEqual([...bytes], [1, 2, 3]);
  });

  test("gives timestamps to the millisecond, rounding down", () => {
    assert.equal(decode("d7ff000f4240" + "00000000").getTime(), 0 + 0);
    // 1.9999999 s, and 0.5 ms before the epoch
    assert.equal(decode("c70cff" + "3b9ac9ff" + "0000000000000001").getTime(), 1999);
    assert.equal(decode("c70cff" + "3b8b87c0" + "ffffffffffffffff").getTime(), -1);
    assert.throws(() => decode("c70cff00000000" + "7fffffffffffffff"), DecodeError);
  });

  test("refuses a two-byte reference to a one-byte id", () => {
    assert.throws(
      () => decode("94d5010003" + "01" + "a16d" + "c0"),
      (error) => error instanceof DecodeError && error.code === CloseCode.INVALID_DATA,
    );
  });

  test("knows the protocol's classes before any table", () => {
    assert.ok(decode("94d40103" + "01" + "a16d" + "c0") instanceof Call);
    assert.throws(() => decode("91d40107"), UnknownTrait);
    assert.throws(() => decode("91d40110"), UnknownTrait);
  });

  test("recovers after an error", () => {
    assert.throws(() => decode("92c1"), DecodeError);
    assert.deepEqual(decode("920102"), [1, 2]);
  });

  test("accepts ArrayBuffer input", () => {
    assert.equal(decoder.decode(fromHex("a161").buffer), "a");
  });
});

describe("limits", () => {
  const registry = new Registry();
  const encode = (value) => registry.encoder.encode(value);
  const over = (limits, value) =>
    assert.throws(
      () => registry.decoder(null, limits).decode(encode(value)),
      (e) => e instanceof LimitExceeded && e.code === CloseCode.LIMIT_EXCEEDED,
    );

  test("have the defaults of section 3.6", () => {
    assert.deepEqual(
      { ...new Limits() },
      {
        maxDepth: 32,
        maxStrLen: 262144,
        maxBinLen: 1048576,
        maxArrayLen: 65536,
        maxMapLen: 4096,
        maxSize: 1048576,
      },
    );
    assert.throws(() => new Limits({ maxDepth: -1 }), LocalProtocolError);
    assert.throws(() => new Limits({ maxDepth: 513 }), LocalProtocolError);
  });

  test("bound each length, counting bytes", () => {
    over({ maxStrLen: 3 }, "éé");
    over({ maxBinLen: 3 }, new Uint8Array(4));
    over({ maxArrayLen: 3 }, [1, 2, 3, 4]);
    over({ maxMapLen: 1 }, { a: 1, b: 2 });
    over({ maxSize: 10 }, "x".repeat(10));
    const at = registry.decoder(null, { maxStrLen: 4, maxArrayLen: 2 });
    assert.equal(at.decode(encode("éé")), "éé");
    assert.deepEqual(at.decode(encode([1, 2])), [1, 2]);
  });

  test("bound the depth, typed objects and empty containers included", () => {
    over({ maxDepth: 2 }, [[[]]]);
    over({ maxDepth: 2 }, [{ a: {} }]);
    over({ maxDepth: 1 }, [new Call({ id: 1, method: "m" })]);
    const two = registry.decoder(null, { maxDepth: 2 });
    assert.deepEqual(two.decode(encode([[1]])), [[1]]);
    assert.throws(
      () => registry.decoder(null, { maxDepth: 0 }).decode(encode([])),
      LimitExceeded,
    );
  });

  test("refuse a deep value without building it", () => {
    const deep = new Uint8Array(1 << 20).fill(0x91);
    deep[deep.length - 1] = 0;
    assert.throws(() => registry.decoder().decode(deep), LimitExceeded);
  });
});

describe("trait tables that differ", () => {
  // The local classes, and a peer whose classes evolved differently.
  const local = new Registry();
  const Message = local.register("chat.Message", [
    { name: "chat", type: "int" },
    { name: "text", type: "str" },
    { name: "edited", type: "bool", default: false },
  ]);
  const Strict = local.register("chat.Strict", ["a", "b"]);
  const Box = local.register("chat.Box", [{ name: "item", type: [Message, "null"] }]);

  const peer = new Registry();
  const PeerMessage = peer.register("chat.Message", ["text", "chat", "reactions"]);
  const PeerStrict = peer.register("chat.Strict", ["a"]);
  const PeerBox = peer.register("chat.Box", ["item"]);
  const PeerOther = peer.register("chat.Other", ["x"]);
  const decoder = local.decoder(peer.traitTable());
  const decode = (value) => decoder.decode(peer.encoder.encode(value));

  test("map fields by name: extra ignored, missing defaulted", () => {
    const message = decode(new PeerMessage({ text: "hi", chat: 3, reactions: ["+1"] }));
    assert.ok(message instanceof Message);
    assert.deepEqual({ ...message }, { chat: 3, text: "hi", edited: false });
  });

  test("a missing field with no default makes the object invalid", () => {
    assert.throws(
      () => decode(new PeerStrict({ a: 1 })),
      (e) => e.code === CloseCode.INVALID_DATA,
    );
  });

  test("check the declared types after mapping", () => {
    assert.throws(
      () => decode(new PeerMessage({ text: 5, chat: 3, reactions: null })),
      (e) => e.code === CloseCode.INVALID_DATA,
    );
    const message = new PeerMessage({ text: "a", chat: 1, reactions: null });
    assert.ok(decode(new PeerBox({ item: message })).item instanceof Message);
    assert.equal(decode(new PeerBox({ item: null })).item, null);
    assert.throws(() => decode(new PeerBox({ item: 3 })), DecodeError);
    assert.throws(
      () => decode(new PeerBox({ item: new PeerOther({ x: 1 }) })),
      DecodeError,
    );
  });

  test("an alias with no local class is an unknown object", () => {
    const other = decode(new PeerOther({ x: [1] }));
    assert.ok(other instanceof UnknownObject);
    assert.equal(other.alias, "chat.Other");
    assert.deepEqual([...other.fields], [["x", [1]]]);
    assert.ok(Object.isFrozen(other));
  });

  test("a malformed table is refused and the one in force kept", () => {
    const fresh = local.decoder(peer.traitTable());
    const bad = [
      "not a list",
      [["chat.Message"]],
      [["", []]],
      [["x".repeat(129), []]],
      [["a", "b"]],
      [["a", ["x", "x"]]],
      [["a", [1]]],
      [["a", Array.from({ length: 65 }, (_, i) => `f${i}`)]],
      Array.from({ length: 4097 }, () => ["a", []]),
    ];
    for (const table of bad) {
      assert.throws(
        () => fresh.setPeerTable(table),
        (e) => e instanceof DecodeError && e.code === CloseCode.INVALID_DATA,
        JSON.stringify(table).slice(0, 40),
      );
    }
    assert.ok(
      fresh.decode(peer.encoder.encode(new PeerOther({ x: 1 }))) instanceof
        UnknownObject,
    );
    fresh.setPeerTable([]);
    assert.throws(
      () => fresh.decode(peer.encoder.encode(new PeerOther({ x: 1 }))),
      UnknownTrait,
    );
    void Strict;
  });
});
