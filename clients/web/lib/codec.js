/**
 * The value codec (docs/protocol.md section 3).
 *
 * Values ride on MessagePack, whose byte work @msgpack/msgpack does; what
 * lgserver adds is typed objects. A message class is registered under an
 * alias in a {@link Registry}, which numbers the classes; each side
 * describes its classes once, in the handshake, as a trait table. On the
 * wire a typed object is an array whose first element is a trait
 * reference (extension type 1) and whose other elements are the field
 * values, in order, without their names.
 *
 * Because a sender always encodes with its own table, the bytes of a
 * message do not depend on the connection ({@link Encoder}). Each
 * receiver decodes with the table its peer declared ({@link Decoder}),
 * mapping fields by name, so a newer peer may add fields, or whole
 * classes, that an older one does not know.
 *
 * How values look in JavaScript:
 *
 * - Integers: a number when it is safe (|n| <= 2^53 - 1), a BigInt
 *   beyond. Either may be encoded; a BigInt within the safe range is
 *   encoded like the number, in the shortest form.
 * - Floats: numbers. A whole number is encoded as an integer: JavaScript
 *   cannot tell 1.0 from 1 (section 3.2). Numbers that are not safe
 *   integers are encoded as 64-bit floats, so integers beyond 2^53 - 1
 *   must be given as BigInt.
 * - Strings, booleans, null: themselves. `undefined` is encoded as null.
 * - Bytes: Uint8Array (any typed array, DataView or ArrayBuffer encodes).
 * - Timestamps: Date, to the millisecond; finer nanoseconds are dropped.
 * - Lists: arrays.
 * - Maps decode to `Map`: a map's keys are kept in their order, which a
 *   plain object cannot do for keys such as "1", and a key such as
 *   "__proto__" stays an ordinary key. Both `Map` (string keys only) and
 *   plain objects (own enumerable string keys) encode as maps.
 * - Typed objects: instances of registered classes; a class the receiver
 *   lacks decodes to an {@link UnknownObject}.
 *
 * The decoder works in three steps. A scan over the bytes checks all of
 * section 3 that MessagePack alone does not: UTF-8, string map keys, the
 * extensions allowed, where trait references stand, field counts, and
 * the limits of section 3.6. @msgpack/msgpack then builds the values,
 * and a last walk turns them into the forms above and builds the typed
 * objects, checking their field types. The library is lenient where the
 * spec is strict (it decodes invalid UTF-8 without complaint, strips a
 * leading byte order mark, refuses a "__proto__" key, has no depth
 * limit), hence the scan: the library sees only input the scan accepted,
 * string values come out of it as raw bytes that the walk decodes, and
 * map keys are decoded by a key decoder of ours.
 *
 * The encoder likewise hands the library a value it writes our way:
 * typed objects become arrays that start with the trait reference,
 * integers beyond 32 bits become BigInts (the library would write such a
 * number as a float), and a map whose key order a plain object would
 * change becomes a proxy that lists its keys in order.
 *
 * @module codec
 */

import {
  DecodeError as MsgpackDecodeError,
  Decoder as MsgpackDecoder,
  Encoder as MsgpackEncoder,
  ExtData,
  ExtensionCodec,
} from "@msgpack/msgpack";

import { asBytes } from "./_bytes.js";
import { TIMESTAMP, TRAIT_REFERENCE, scan } from "./_scan.js";
import {
  MAX_FIELDS,
  UnknownObject,
  defaultOf,
  defineTrait,
  instantiate,
  isValidName,
  traitInfo,
} from "./_traits.js";
import {
  DecodeError,
  LimitExceeded,
  LocalProtocolError,
  ProtocolError,
  UnknownTrait,
} from "./errors.js";
import { BUILTIN_TRAITS } from "./messages.js";

export { FieldType, UnknownObject } from "./_traits.js";

/** Ids below this one are the protocol's own classes (section 3.4). */
export const FIRST_APPLICATION_TRAIT = 16;
export { TIMESTAMP, TRAIT_REFERENCE } from "./_scan.js";
/** The most entries a trait table may hold (section 3.5). */
export const MAX_TRAITS = 4096;

// Nesting the encoder accepts before it gives up on a value (a cycle, or
// a structure no peer would decode anyway).
const MAX_ENCODE_DEPTH = 512;
// The deepest nesting a decoder may be told to accept.
const MAX_DEPTH_LIMIT = MAX_ENCODE_DEPTH;
const TWO_64 = 1n << 64n;
const MIN_INT64 = -(1n << 63n);
const MIN_INT32 = -(2 ** 31);
const MAX_UINT32 = 2 ** 32 - 1;
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
// The range of a Date, in seconds (ECMA-262 "time values").
const MAX_DATE_SECONDS = 8_640_000_000_000n;
const MAX_DATE_MS = 8.64e15;

/**
 * Limits on decoded values (section 3.6); every one has a safe default.
 */
export class Limits {
  /**
   * @param {object} [limits]
   * @param {number} [limits.maxDepth] Containers (lists, maps, typed
   *   objects) that may enclose a value.
   * @param {number} [limits.maxStrLen] Bytes in one string.
   * @param {number} [limits.maxBinLen] Bytes in one bytes value.
   * @param {number} [limits.maxArrayLen] Elements in one list (the trait
   *   reference and fields of a typed object count).
   * @param {number} [limits.maxMapLen] Entries in one map.
   * @param {number} [limits.maxSize] Bytes in one encoded value.
   * @throws {LocalProtocolError} A limit is not a whole number >= 0, or
   *   maxDepth is over 512.
   */
  constructor({
    maxDepth = 32,
    maxStrLen = 256 * 1024,
    maxBinLen = 1 << 20,
    maxArrayLen = 64 * 1024,
    maxMapLen = 4096,
    maxSize = 1 << 20,
  } = {}) {
    const given = { maxDepth, maxStrLen, maxBinLen, maxArrayLen, maxMapLen, maxSize };
    for (const [name, value] of Object.entries(given)) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new LocalProtocolError(`limit ${name} must be a whole number`);
      }
    }
    // decoded values are walked recursively: keep the stack safe
    if (maxDepth > MAX_DEPTH_LIMIT) {
      throw new LocalProtocolError(`limit maxDepth is at most ${MAX_DEPTH_LIMIT}`);
    }
    Object.assign(this, given);
    Object.freeze(this);
  }
}

/**
 * A registered message class: its id, alias, class and field names.
 *
 * @typedef {object} Trait
 * @property {number} id
 * @property {string} alias
 * @property {Function} cls
 * @property {readonly string[]} fields
 */

function referenceData(id) {
  return id < 256 ? Uint8Array.of(id) : Uint8Array.of(id >> 8, id & 0xff);
}

/**
 * The message classes one side can send and receive.
 *
 * Every registry starts with the protocol's own classes (messages.js) at
 * their fixed ids; application classes get ids from 16 on, in the order
 * they are registered.
 */
export class Registry {
  /**
   * @param {{builtin?: boolean}} [options] Whether to start with the
   *   protocol's own classes (the default).
   */
  constructor({ builtin = true } = {}) {
    /** @type {Map<number, Trait>} */
    this._byId = new Map();
    /** @type {Map<string, Trait>} */
    this._byAlias = new Map();
    /** @type {Map<Function, Trait>} */
    this._byClass = new Map();
    this._nextId = FIRST_APPLICATION_TRAIT;
    this._encoder = null;
    this._table = null;
    if (builtin) {
      for (const [id, cls] of BUILTIN_TRAITS) {
        this._add(id, cls);
      }
    }
  }

  /**
   * Define a message class and register it under `alias` with the next
   * trait id.
   *
   * @param {string} alias The class alias, 1 to 128 characters.
   * @param {ReadonlyArray<string | {name: string, type?: unknown,
   *   default?: unknown}>} [fields] The fields in wire order: names, or
   *   declarations with a type and a default (see _traits.js).
   * @returns {Function} The class. `new cls({field: value, ...})` makes a
   *   frozen instance.
   * @throws {LocalProtocolError} The alias is taken or malformed, a field
   *   is malformed, or the registry is full.
   */
  register(alias, fields = []) {
    if (this._byAlias.has(alias)) {
      throw new LocalProtocolError(`${alias} is registered already`);
    }
    if (this._nextId - FIRST_APPLICATION_TRAIT >= MAX_TRAITS) {
      throw new LocalProtocolError("too many message classes");
    }
    const cls = defineTrait(alias, fields);
    this._add(this._nextId, cls);
    this._nextId++;
    return cls;
  }

  _add(id, cls) {
    const info = traitInfo(cls);
    const trait = Object.freeze({ id, alias: info.alias, cls, fields: info.names });
    this._byId.set(id, trait);
    this._byAlias.set(trait.alias, trait);
    this._byClass.set(cls, trait);
    this._table = null;
  }

  /** @returns {Iterator<Trait>} The traits in the order of their ids. */
  [Symbol.iterator]() {
    return [...this._byId.values()].sort((a, b) => a.id - b.id)[Symbol.iterator]();
  }

  /**
   * @param {string} alias
   * @returns {Trait | undefined} The trait registered as `alias`.
   */
  byAlias(alias) {
    return this._byAlias.get(alias);
  }

  /**
   * @param {Function} cls
   * @returns {Trait | undefined} The trait of class `cls`.
   */
  byClass(cls) {
    return this._byClass.get(cls);
  }

  /**
   * @param {number} id
   * @returns {Trait | undefined} The trait with id `id`.
   */
  byId(id) {
    return this._byId.get(id);
  }

  /**
   * The application traits as sent in the handshake (section 3.5): entry
   * `i` describes trait id `16 + i` as `[alias, [field, ...]]`.
   *
   * @returns {ReadonlyArray<readonly [string, readonly string[]]>}
   */
  traitTable() {
    if (this._table === null) {
      const table = [];
      for (const trait of this) {
        if (trait.id >= FIRST_APPLICATION_TRAIT) {
          table.push(Object.freeze([trait.alias, trait.fields]));
        }
      }
      this._table = Object.freeze(table);
    }
    return this._table;
  }

  /** An {@link Encoder} for this registry, made once. */
  get encoder() {
    if (this._encoder === null) {
      this._encoder = new Encoder(this);
    }
    return this._encoder;
  }

  /**
   * A {@link Decoder} for values a peer encoded with `peerTable`.
   *
   * @param {unknown[] | null} [peerTable] The peer's trait table; null
   *   before the handshake, when only the protocol's classes are known.
   * @param {Limits | object} [limits] The limits of section 3.6.
   * @returns {Decoder}
   * @throws {DecodeError} `peerTable` is malformed.
   */
  decoder(peerTable = null, limits = undefined) {
    return new Decoder(this, peerTable, limits);
  }
}

// -- encoding

function isArrayIndex(key) {
  return /^(?:0|[1-9]\d{0,9})$/.test(key) && Number(key) < 0xffffffff;
}

/**
 * A stand-in for a map whose keys must keep an order a plain object
 * would change (keys such as "1" come first in a plain object). The
 * MessagePack encoder lists keys with Object.keys, which the proxy
 * answers in the map's order.
 */
function orderedRecord(entries) {
  const table = new Map(entries);
  const keys = entries.map(([key]) => key);
  return new Proxy(Object.create(null), {
    ownKeys: () => keys,
    getOwnPropertyDescriptor: (_, key) =>
      table.has(key)
        ? {
            value: table.get(key),
            enumerable: true,
            configurable: true,
            writable: true,
          }
        : undefined,
    get: (_, key) => table.get(key),
  });
}

function wireRecord(entries) {
  if (entries.some(([key]) => isArrayIndex(key))) {
    return orderedRecord(entries);
  }
  const record = Object.create(null);
  for (const [key, value] of entries) {
    record[key] = value;
  }
  return record;
}

function isWellFormed(text) {
  return typeof text.isWellFormed === "function"
    ? text.isWellFormed()
    : !/\p{Surrogate}/u.test(text);
}

/**
 * Encode values to bytes with the traits of one {@link Registry}.
 *
 * The output depends only on the value and the registry, never on the
 * connection, so one encoding serves every peer.
 */
export class Encoder {
  /** @param {Registry} registry */
  constructor(registry) {
    this._registry = registry;
    /** @type {Map<Function, ExtData>} */
    this._references = new Map();
    this._packer = new MsgpackEncoder({
      useBigInt64: true,
      maxDepth: MAX_ENCODE_DEPTH + 1,
    });
  }

  /**
   * Encode `value` (see the module documentation for the forms a value
   * may take).
   *
   * @param {unknown} value
   * @returns {Uint8Array}
   * @throws {LocalProtocolError} The value holds something the codec
   *   cannot carry: an unregistered class, an invalid Date, an integer
   *   out of the 64-bit range, a string with a lone surrogate, a map key
   *   that is not a string, too deep a nesting.
   */
  encode(value) {
    const wire = this._wire(value, 0);
    try {
      return this._packer.encode(wire);
    } catch (error) {
      if (error instanceof ProtocolError) {
        throw error;
      }
      throw new LocalProtocolError(`cannot encode value: ${error.message}`);
    }
  }

  /** The value as @msgpack/msgpack must see it to write our bytes. */
  _wire(value, depth) {
    switch (typeof value) {
      case "undefined":
        return null;
      case "boolean":
        return value;
      case "number":
        // @msgpack/msgpack, told to write BigInts, writes numbers beyond
        // 32 bits as floats: hand it those integers as BigInts
        return Number.isSafeInteger(value) && (value < MIN_INT32 || value > MAX_UINT32)
          ? BigInt(value)
          : value;
      case "string":
        if (!isWellFormed(value)) {
          throw new LocalProtocolError("cannot encode a string with a lone surrogate");
        }
        return value;
      case "bigint":
        if (value < MIN_INT64 || value >= TWO_64) {
          throw new LocalProtocolError("integer out of the 64-bit range");
        }
        // within 32 bits, the number takes the shortest form; beyond, the
        // library writes uint64 or int64, the shortest forms there
        return value >= MIN_INT32 && value <= MAX_UINT32 ? Number(value) : value;
      case "object":
        if (value === null) {
          return null;
        }
        break;
      default:
        throw new LocalProtocolError(`cannot encode a ${typeof value}`);
    }

    if (depth >= MAX_ENCODE_DEPTH) {
      throw new LocalProtocolError("value nests too deep to encode");
    }
    if (ArrayBuffer.isView(value)) {
      return value;
    }
    if (value instanceof ArrayBuffer) {
      return new Uint8Array(value);
    }
    if (value instanceof Date) {
      if (Number.isNaN(value.getTime())) {
        throw new LocalProtocolError("cannot encode an invalid Date");
      }
      return value;
    }
    const next = depth + 1;
    if (Array.isArray(value)) {
      return value.map((item) => this._wire(item, next));
    }
    if (value instanceof Map) {
      const entries = [];
      for (const [key, item] of value) {
        if (typeof key !== "string") {
          throw new LocalProtocolError("map keys must be strings");
        }
        entries.push([key, this._wire(item, next)]);
      }
      return wireRecord(entries);
    }
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      return wireRecord(
        Object.keys(value).map((key) => [key, this._wire(value[key], next)]),
      );
    }
    return this._typed(value, proto.constructor, next);
  }

  _typed(value, cls, depth) {
    const trait = this._registry.byClass(cls);
    if (trait === undefined) {
      const what = value instanceof UnknownObject ? "an unknown object" : cls?.name;
      throw new LocalProtocolError(`cannot encode ${what || "this object"}`);
    }
    let reference = this._references.get(cls);
    if (reference === undefined) {
      reference = new ExtData(TRAIT_REFERENCE, referenceData(trait.id));
      this._references.set(cls, reference);
    }
    const wire = [reference];
    for (const name of trait.fields) {
      wire.push(this._wire(value[name], depth));
    }
    return wire;
  }
}

// -- decoding

/** What the MessagePack decoder returns for a trait reference. */
class TraitReference {
  constructor(id) {
    this.id = id;
  }
}

const textDecoder = new TextDecoder("utf-8", { ignoreBOM: true });

function decodeTimestamp(data) {
  const view = new DataView(data.buffer, data.byteOffset, data.length);
  let seconds;
  let nanoseconds = 0;
  if (data.length === 4) {
    seconds = BigInt(view.getUint32(0));
  } else if (data.length === 8) {
    const high = view.getUint32(0);
    nanoseconds = high >>> 2;
    seconds = (BigInt(high & 0x3) << 32n) | BigInt(view.getUint32(4));
  } else {
    nanoseconds = view.getUint32(0);
    seconds = view.getBigInt64(4);
  }
  if (nanoseconds >= 1e9) {
    throw new DecodeError("timestamp with too many nanoseconds");
  }
  if (seconds > MAX_DATE_SECONDS || seconds < -MAX_DATE_SECONDS) {
    throw new DecodeError("timestamp out of range");
  }
  const ms = Number(seconds) * 1000 + Math.floor(nanoseconds / 1e6);
  if (Math.abs(ms) > MAX_DATE_MS) {
    throw new DecodeError("timestamp out of range");
  }
  return new Date(ms);
}

function decodeReference(data) {
  return new TraitReference(data.length === 1 ? data[0] : (data[0] << 8) | data[1]);
}

const extensions = new ExtensionCodec();
extensions.register({ type: TIMESTAMP, encode: () => null, decode: decodeTimestamp });
extensions.register({
  type: TRAIT_REFERENCE,
  encode: () => null,
  decode: decodeReference,
});

// Map keys reach the MessagePack decoder's objects with this prefix, so
// that no key is an array index (which a plain object would move to the
// front) or "__proto__" (which the library refuses); the last walk takes
// it off again as it builds the Map.
const KEY_PREFIX = "#";
const keyDecoder = {
  canBeCached: () => true,
  decode: (bytes, offset, length) =>
    KEY_PREFIX + textDecoder.decode(bytes.subarray(offset, offset + length)),
};

/**
 * How to turn the field values of one peer trait into a local object.
 *
 * @typedef {object} Entry
 * @property {string} alias
 * @property {number} size The number of fields the peer sends.
 * @property {readonly string[]} peerFields
 * @property {Function | null} cls The local class, if any.
 * @property {readonly import("./_traits.js").FieldSpec[]} fields The local
 *   class's fields.
 * @property {readonly number[] | null} positions For a peer trait laid out
 *   exactly as the local class, null; otherwise per local field, the
 *   index of its value among the peer's, or -1 when the peer lacks it.
 */

function makeEntry(registry, alias, peerFields) {
  const trait = registry.byAlias(alias);
  if (trait === undefined) {
    return {
      alias,
      size: peerFields.length,
      peerFields,
      cls: null,
      fields: [],
      positions: null,
    };
  }
  const local = traitInfo(trait.cls);
  const same =
    local.names.length === peerFields.length &&
    local.names.every((name, i) => name === peerFields[i]);
  const positions = same ? null : local.names.map((name) => peerFields.indexOf(name));
  return {
    alias,
    size: peerFields.length,
    peerFields,
    cls: trait.cls,
    fields: local.fields,
    positions,
  };
}

function checkTableEntry(item) {
  if (!Array.isArray(item) || item.length !== 2) {
    throw new DecodeError("malformed trait table entry");
  }
  const [alias, fields] = item;
  if (!isValidName(alias)) {
    throw new DecodeError("malformed trait alias");
  }
  if (!Array.isArray(fields) || fields.length > MAX_FIELDS) {
    throw new DecodeError("malformed field list");
  }
  if (!fields.every(isValidName) || new Set(fields).size !== fields.length) {
    throw new DecodeError("malformed field name");
  }
  return [alias, Object.freeze([...fields])];
}

/**
 * Decode values a peer encoded with its trait table.
 */
export class Decoder {
  /**
   * @param {Registry} registry The local message classes.
   * @param {unknown[] | null} [peerTable] The peer's trait table (section
   *   3.5); null before the handshake.
   * @param {Limits | object} [limits] The limits of section 3.6.
   * @throws {DecodeError} `peerTable` is malformed.
   */
  constructor(registry, peerTable = null, limits = undefined) {
    /** @type {Limits} */
    this.limits = limits instanceof Limits ? limits : new Limits(limits);
    this._registry = registry;
    /** @type {Map<number, Entry>} */
    this._entries = new Map();
    for (const trait of registry) {
      if (trait.id < FIRST_APPLICATION_TRAIT) {
        this._entries.set(trait.id, makeEntry(registry, trait.alias, trait.fields));
      }
    }
    const { maxStrLen, maxBinLen, maxArrayLen, maxMapLen } = this.limits;
    this._unpacker = new MsgpackDecoder({
      extensionCodec: extensions,
      useBigInt64: true,
      rawStrings: true,
      keyDecoder,
      maxStrLength: maxStrLen,
      maxBinLength: Math.max(maxStrLen, maxBinLen),
      maxArrayLength: maxArrayLen,
      maxMapLength: maxMapLen,
    });
    if (peerTable !== null && peerTable !== undefined) {
      this.setPeerTable(peerTable);
    }
  }

  /**
   * Adopt the trait table the peer declared in its handshake, in place of
   * any table adopted before.
   *
   * @param {unknown[]} table `[[alias, [field, ...]], ...]`; entry `i` is
   *   trait id `16 + i`.
   * @throws {DecodeError} The table is malformed or over the limits of
   *   section 3.5; the table in force is then unchanged.
   */
  setPeerTable(table) {
    if (!Array.isArray(table) || table.length > MAX_TRAITS) {
      throw new DecodeError("malformed trait table");
    }
    const entries = table.map(checkTableEntry);
    for (const id of [...this._entries.keys()]) {
      if (id >= FIRST_APPLICATION_TRAIT) {
        this._entries.delete(id);
      }
    }
    entries.forEach(([alias, fields], index) => {
      const entry = makeEntry(this._registry, alias, fields);
      this._entries.set(FIRST_APPLICATION_TRAIT + index, entry);
    });
  }

  /**
   * Decode one value that fills `data` exactly.
   *
   * @param {Uint8Array | ArrayBuffer | ArrayBufferView} data
   * @returns {unknown} The value; it shares no memory with `data`.
   * @throws {DecodeError} `data` is not one valid value (INVALID_DATA);
   *   its subclasses UnknownTrait and LimitExceeded name the usual
   *   causes.
   */
  decode(data) {
    const bytes = asBytes(data);
    const strings = scan(bytes, this.limits, this._entries);
    let raw;
    try {
      raw = this._unpacker.decode(bytes);
    } catch (error) {
      // the scan let through only what the library reads without a fault;
      // should it still refuse, the value is malformed all the same
      if (error instanceof MsgpackDecodeError || error instanceof RangeError) {
        throw new DecodeError("malformed value");
      }
      throw error;
    }
    return this._build(raw, bytes.byteOffset, strings);
  }

  /** Turn what @msgpack/msgpack built into our values (see the module). */
  _build(value, base, strings) {
    switch (typeof value) {
      case "bigint":
        return value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value;
      case "object":
        break;
      default:
        return value;
    }
    if (value === null || value instanceof Date) {
      return value;
    }
    if (value instanceof Uint8Array) {
      if (strings.has(value.byteOffset - base)) {
        return textDecoder.decode(value);
      }
      return value.slice();
    }
    if (Array.isArray(value)) {
      if (value.length > 0 && value[0] instanceof TraitReference) {
        return this._buildTyped(value, base, strings);
      }
      for (let i = 0; i < value.length; i++) {
        value[i] = this._build(value[i], base, strings);
      }
      return value;
    }
    const map = new Map();
    for (const key of Object.keys(value)) {
      map.set(key.slice(KEY_PREFIX.length), this._build(value[key], base, strings));
    }
    return map;
  }

  _buildTyped(array, base, strings) {
    const entry = this._entries.get(array[0].id);
    const values = [];
    for (let i = 1; i < array.length; i++) {
      values.push(this._build(array[i], base, strings));
    }
    if (entry.cls === null) {
      const fields = new Map(entry.peerFields.map((name, i) => [name, values[i]]));
      return new UnknownObject(entry.alias, fields);
    }

    // lay the peer's values out as the local class wants them (section 3.5)
    const { fields, positions } = entry;
    let local = values;
    if (positions !== null) {
      local = fields.map((field, i) => {
        if (positions[i] >= 0) {
          return values[positions[i]];
        }
        if (!field.hasDefault) {
          throw new DecodeError(`${entry.alias}: field ${field.name} is missing`);
        }
        return defaultOf(field);
      });
    }
    for (let i = 0; i < fields.length; i++) {
      const check = fields[i].check;
      if (check !== null && !check(local[i])) {
        throw new DecodeError(`${entry.alias}: a field has the wrong type`);
      }
    }
    return instantiate(entry.cls, local);
  }
}
