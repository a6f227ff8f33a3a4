// The chat window's address, visitor id and font size.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  SCALE,
  loadScale,
  parseQuery,
  saveScale,
  stepScale,
  visitorId,
} from "../chat/query.js";
import { plain } from "../common/plain.js";
import { clockDuration, minutesUp, randomId } from "../common/format.js";
import { VISITOR_CASES } from "../testing/visitors.js";

class MemoryStorage {
  constructor() {
    this.items = new Map();
  }
  getItem(key) {
    return this.items.get(key) ?? null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
}

describe("parseQuery", () => {
  test("takes what the widget sends", () => {
    const query = parseQuery(
      "?department=sales&visitor=Qx3_vT9kLm2-Zp8RwY5nAe&url=https%3A%2F%2Fshop.example%2Fp&lang=de-AT&name=Ann",
    );
    assert.deepEqual(
      { ...query },
      {
        department: "sales",
        visitor: "Qx3_vT9kLm2-Zp8RwY5nAe",
        url: "https://shop.example/p",
        lang: "de-AT",
        name: "Ann",
      },
    );
  });

  test("drops what is malformed", () => {
    const query = parseQuery(
      "?department=a%0Ab&visitor=<x>&url=javascript%3Aalert(1)&lang=<script>",
    );
    assert.equal(query.department, null);
    assert.equal(query.visitor, null);
    assert.equal(query.url, null);
    assert.equal(query.lang, null);
    assert.equal(parseQuery("").department, null);
  });
});

describe("visitorId and font size", () => {
  test("the given id, else the kept one, else a new kept one", () => {
    const storage = new MemoryStorage();
    const given = "Qx3_vT9kLm2-Zp8RwY5nAe";
    assert.equal(visitorId(given, storage), given);
    const made = visitorId(null, storage);
    assert.match(made, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(visitorId(null, storage), made);
    assert.match(visitorId("bad", null), /^[A-Za-z0-9_-]{22}$/);
  });

  test("an id the server would refuse is never used", () => {
    // docs/protocol.md 6.8: 22 to 64 of [A-Za-z0-9_-]
    for (const [id, kept] of VISITOR_CASES) {
      assert.equal(
        parseQuery(`?visitor=${encodeURIComponent(id)}`).visitor,
        kept ? id : null,
      );
      const used = visitorId(id, new MemoryStorage());
      assert.equal(used === id, kept, id);
      assert.match(used, /^[A-Za-z0-9_-]{22,64}$/);
    }
  });

  test("the scale steps within bounds and is remembered", () => {
    const storage = new MemoryStorage();
    assert.equal(loadScale(storage), 1);
    let scale = 1;
    for (let i = 0; i < 20; i++) scale = stepScale(scale, 1);
    assert.equal(scale, SCALE.max);
    saveScale(storage, scale);
    assert.equal(loadScale(storage), SCALE.max);
    for (let i = 0; i < 20; i++) scale = stepScale(scale, -1);
    assert.equal(scale, SCALE.min);
    storage.setItem("lgserver.chat.fontScale", "NaN");
    assert.equal(loadScale(storage), 1);
    storage.setItem("lgserver.chat.fontScale", "99");
    assert.equal(loadScale(storage), SCALE.max);
  });
});

describe("plain values and formats", () => {
  test("maps become objects without a prototype; dates seconds", () => {
    const value = plain(
      new Map([
        ["__proto__", new Map([["x", 1]])],
        ["at", new Date(1500)],
        ["big", 2n ** 40n],
        ["list", [new Map([["a", null]])]],
      ]),
    );
    assert.equal(Object.getPrototypeOf(value), null);
    assert.equal(value.__proto__.x, 1);
    assert.equal(value.at, 1.5);
    assert.equal(value.big, 2 ** 40);
    assert.equal(value.list[0].a, null);
    assert.equal({}.x, undefined, "no prototype was touched");
  });

  test("durations and ids", () => {
    assert.equal(clockDuration(65), "1:05");
    assert.equal(clockDuration(3725), "1:02:05");
    assert.equal(clockDuration(-3), "0:00");
    assert.equal(clockDuration(NaN), "0:00");
    assert.equal(minutesUp(61), 2);
    assert.equal(minutesUp(0), 1);
    assert.match(randomId(), /^[A-Za-z0-9_-]{22}$/);
    assert.notEqual(randomId(), randomId());
  });
});
