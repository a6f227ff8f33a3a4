/**
 * The tagged JSON form of values that tests/vectors/ uses (its README),
 * turned into our values and compared with them.
 *
 * This lives beside clients/web/test/ rather than in it: the test runner
 * takes every script of that folder for a test file.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import { CloseCode, Registry, UnknownObject } from "../lib/index.js";

/** The folder of the shared vectors, relative to this file. */
export const VECTORS = new URL("../../../tests/vectors/", import.meta.url);

/**
 * Read one JSON file of tests/vectors/.
 *
 * @param {string} name
 * @returns {any}
 */
export function loadVectors(name) {
  return JSON.parse(readFileSync(new URL(name, VECTORS), "utf-8"));
}

export function fromHex(hex) {
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

/** Join byte arrays, as `dataToSend()` returns them, into one. */
export function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function toHex(bytes) {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("hex");
}

/**
 * A registry with a class for every alias of a values.json table, at the
 * ids the table gives them, except the unregistered ones (which must come
 * last so that the ids of the others do not move).
 */
export function vectorRegistry(document) {
  const registry = new Registry();
  const types = document.field_types ?? {};
  for (const [alias, fields] of document.traits) {
    if (document.unregistered?.includes(alias)) {
      continue;
    }
    const declared = types[alias] ?? {};
    registry.register(
      alias,
      fields.map((name) => (name in declared ? { name, type: declared[name] } : name)),
    );
  }
  return registry;
}

function integer(n) {
  return Number.isSafeInteger(n) ? n : BigInt(n);
}

function float(x) {
  return { nan: NaN, inf: Infinity, "-inf": -Infinity }[x] ?? x;
}

function milliseconds([seconds, nanoseconds]) {
  return seconds * 1000 + Math.floor(nanoseconds / 1e6);
}

/**
 * The value a tagged JSON value stands for.
 *
 * @param {any} json
 * @param {Registry} registry For typed objects.
 */
export function fromTagged(json, registry) {
  if (json === null || typeof json === "boolean" || typeof json === "string") {
    return json;
  }
  if (typeof json === "number") {
    return Number.isInteger(json) ? integer(json) : json;
  }
  if (Array.isArray(json)) {
    return json.map((item) => fromTagged(item, registry));
  }
  if ("$int" in json) {
    const n = BigInt(json.$int);
    return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(n)
      : n;
  }
  if ("$float" in json) {
    return float(json.$float);
  }
  if ("$bytes" in json) {
    return fromHex(json.$bytes);
  }
  if ("$timestamp" in json) {
    return new Date(milliseconds(json.$timestamp));
  }
  if ("$map" in json) {
    return new Map(json.$map.map(([key, value]) => [key, fromTagged(value, registry)]));
  }
  const fields = json.fields.map(([name, value]) => [
    name,
    fromTagged(value, registry),
  ]);
  if ("$unknown" in json) {
    return new UnknownObject(json.$unknown, new Map(fields));
  }
  const trait = registry.byAlias(json.$object);
  assert.ok(trait, `no class for ${json.$object}`);
  return new trait.cls(Object.fromEntries(fields));
}

/**
 * Assert that a decoded value is the one a tagged JSON value describes,
 * to the precision JavaScript has: whole floats are numbers like
 * integers, timestamps are compared to the millisecond, and the order of
 * map entries and fields counts.
 */
export function assertTagged(actual, json, path = "value") {
  if (json === null || typeof json === "boolean" || typeof json === "string") {
    assert.equal(actual, json, path);
    return;
  }
  if (typeof json === "number" || (typeof json === "object" && "$int" in json)) {
    const expected = typeof json === "number" ? integer(json) : fromTagged(json);
    assert.equal(typeof actual, typeof expected, `${path}: type`);
    assert.equal(actual, expected, path);
    return;
  }
  if (Array.isArray(json)) {
    assert.ok(Array.isArray(actual), `${path}: not a list`);
    assert.equal(actual.length, json.length, `${path}: length`);
    json.forEach((item, i) => assertTagged(actual[i], item, `${path}[${i}]`));
    return;
  }
  if ("$float" in json) {
    assert.equal(typeof actual, "number", `${path}: type`);
    assert.ok(Object.is(actual, float(json.$float)), `${path}: ${actual}`);
    return;
  }
  if ("$bytes" in json) {
    assert.ok(actual instanceof Uint8Array, `${path}: not bytes`);
    assert.equal(toHex(actual), json.$bytes, path);
    return;
  }
  if ("$timestamp" in json) {
    assert.ok(actual instanceof Date, `${path}: not a Date`);
    assert.equal(actual.getTime(), milliseconds(json.$timestamp), path);
    return;
  }
  if ("$map" in json) {
    assert.ok(actual instanceof Map, `${path}: not a Map`);
    assert.deepEqual(
      [...actual.keys()],
      json.$map.map(([key]) => key),
      `${path}: keys`,
    );
    for (const [key, value] of json.$map) {
      assertTagged(actual.get(key), value, `${path}.get(${JSON.stringify(key)})`);
    }
    return;
  }
  if ("$unknown" in json) {
    assert.ok(actual instanceof UnknownObject, `${path}: not an unknown object`);
    assert.equal(actual.alias, json.$unknown, `${path}: alias`);
    assert.deepEqual(
      [...actual.fields.keys()],
      json.fields.map(([name]) => name),
      `${path}: fields`,
    );
    for (const [name, value] of json.fields) {
      assertTagged(actual.fields.get(name), value, `${path}.${name}`);
    }
    return;
  }
  assert.ok(actual !== null && typeof actual === "object", `${path}: not an object`);
  assert.equal(actual.constructor.alias, json.$object, `${path}: alias`);
  assert.deepEqual(
    Object.keys(actual),
    json.fields.map(([name]) => name),
    `${path}: fields`,
  );
  for (const [name, value] of json.fields) {
    assertTagged(actual[name], value, `${path}.${name}`);
  }
}

/**
 * Assert that `fn` throws a protocol error with the close code named
 * `name` (a key of CloseCode).
 */
export function assertCloses(fn, name, message) {
  const code = CloseCode[name];
  assert.ok(code !== undefined, `unknown close code ${name}`);
  assert.throws(
    fn,
    (error) => {
      assert.equal(error.code, code, `${message}: ${error.name} ${error.message}`);
      return true;
    },
    message,
  );
}
