/**
 * Message classes: how a typed object (docs/protocol.md section 3.3) is
 * made in JavaScript.
 *
 * {@link defineTrait} makes a class from an alias and a list of fields.
 * Its instances hold one own, read-only property a field and are frozen.
 * The constructor takes an object of fields by name: a field left out (or
 * given as `undefined`) takes its default, and a field with no default
 * must be given. The decoder builds instances without the constructor
 * (see {@link instantiate}) once it has checked the field values against
 * the declared types.
 *
 * A field is declared by its name, or as `{name, type, default}`:
 *
 * - `type` is one of the names of {@link FieldType}, a message class (its
 *   instances only), or an array of these (any of them). Without a type
 *   a field takes any value. Types are checked when decoding, as section
 *   3.5 asks, not when an application builds an object.
 * - `default` is the value a field takes when it is not given, or when a
 *   peer's class lacks it (section 3.5). A function is called for each
 *   object instead, so that a list or map default is not shared.
 *
 * @module _traits
 */

import { LocalProtocolError } from "./errors.js";

export const MAX_FIELDS = 64;
export const MAX_NAME_LENGTH = 128;

/**
 * The declared types of fields, named as the vectors in tests/vectors/
 * name them. `float` also takes integers: a JavaScript peer sends whole
 * numbers as integers (section 3.2).
 */
export const FieldType = Object.freeze({
  ANY: "any",
  NULL: "null",
  BOOL: "bool",
  INT: "int",
  FLOAT: "float",
  STR: "str",
  BYTES: "bytes",
  TIMESTAMP: "timestamp",
  LIST: "list",
  MAP: "map",
});

const TYPE_CHECKS = new Map([
  ["null", (v) => v === null],
  ["bool", (v) => typeof v === "boolean"],
  ["int", (v) => Number.isInteger(v) || typeof v === "bigint"],
  ["float", (v) => typeof v === "number" || typeof v === "bigint"],
  ["str", (v) => typeof v === "string"],
  ["bytes", (v) => v instanceof Uint8Array],
  ["timestamp", (v) => v instanceof Date],
  ["list", (v) => Array.isArray(v)],
  ["map", (v) => v instanceof Map],
]);

/**
 * What the codec knows of a message class.
 *
 * @typedef {object} FieldSpec
 * @property {string} name
 * @property {((value: unknown) => boolean) | null} check Null for any value.
 * @property {boolean} hasDefault
 * @property {unknown} default A value, or a function that makes one.
 *
 * @typedef {object} TraitInfo
 * @property {string} alias
 * @property {readonly FieldSpec[]} fields
 * @property {readonly string[]} names
 */

/** @type {WeakMap<Function, TraitInfo>} */
const traits = new WeakMap();

/**
 * The alias and fields of a message class, or undefined for any other
 * function.
 *
 * @param {Function} cls
 * @returns {TraitInfo | undefined}
 */
export function traitInfo(cls) {
  return traits.get(cls);
}

/**
 * The length of a name in characters (code points), as section 3.5
 * counts it.
 *
 * @param {string} name
 * @returns {number}
 */
export function nameLength(name) {
  if (name.length <= MAX_NAME_LENGTH) {
    return name.length;
  }
  let count = 0;
  for (const _ of name) {
    count++;
  }
  return count;
}

/**
 * Whether `name` may be an alias or a field name (section 3.5).
 *
 * @param {unknown} name
 * @returns {boolean}
 */
export function isValidName(name) {
  if (typeof name !== "string") {
    return false;
  }
  const length = nameLength(name);
  return length >= 1 && length <= MAX_NAME_LENGTH;
}

function compileType(type, alias) {
  if (Array.isArray(type)) {
    const checks = type.map((item) => compileType(item, alias));
    if (checks.includes(null)) {
      return null;
    }
    return (value) => checks.some((check) => check(value));
  }
  if (typeof type === "function") {
    if (!traits.has(type)) {
      throw new LocalProtocolError(`${alias}: a field type is not a message class`);
    }
    return (value) => value instanceof type;
  }
  if (type === "any") {
    return null;
  }
  const check = TYPE_CHECKS.get(type);
  if (check === undefined) {
    throw new LocalProtocolError(`${alias}: unknown field type ${String(type)}`);
  }
  return check;
}

function compileField(spec, alias) {
  const field = typeof spec === "string" ? { name: spec } : spec;
  if (field === null || typeof field !== "object" || !isValidName(field.name)) {
    throw new LocalProtocolError(`${alias}: bad field declaration`);
  }
  return Object.freeze({
    name: field.name,
    check: field.type === undefined ? null : compileType(field.type, alias),
    hasDefault: Object.hasOwn(field, "default"),
    default: field.default,
  });
}

/**
 * The default value of a field: its `default`, or what that function
 * makes.
 *
 * @param {FieldSpec} field
 * @returns {unknown}
 */
export function defaultOf(field) {
  return typeof field.default === "function" ? field.default() : field.default;
}

function setFields(object, fields, values) {
  for (let i = 0; i < fields.length; i++) {
    Object.defineProperty(object, fields[i].name, {
      value: values[i],
      enumerable: true,
      writable: false,
      configurable: false,
    });
  }
  return Object.freeze(object);
}

/**
 * Build an instance of a message class from its field values in order,
 * without the checks of its constructor.
 *
 * @param {Function} cls A class made by {@link defineTrait}.
 * @param {unknown[]} values One value a field, in the class's order.
 * @returns {object}
 */
export function instantiate(cls, values) {
  return setFields(Object.create(cls.prototype), traits.get(cls).fields, values);
}

function className(alias) {
  const last = alias.slice(alias.lastIndexOf(".") + 1);
  return /^[A-Za-z_$][\w$]*$/.test(last) ? last : "TypedObject";
}

/**
 * Make a message class.
 *
 * @param {string} alias The class alias, such as `chat.Message`.
 * @param {ReadonlyArray<string | {name: string, type?: unknown,
 *   default?: unknown}>} fields The fields in wire order.
 * @returns {Function} The class; `cls.alias` and `cls.fields` (the names)
 *   describe it.
 * @throws {LocalProtocolError} The alias or a field is malformed, a name
 *   is used twice, or there are more than 64 fields.
 */
export function defineTrait(alias, fields = []) {
  if (!isValidName(alias)) {
    throw new LocalProtocolError(`bad alias ${String(alias)}`);
  }
  if (!Array.isArray(fields) || fields.length > MAX_FIELDS) {
    throw new LocalProtocolError(`${alias}: give at most ${MAX_FIELDS} fields`);
  }
  const specs = Object.freeze(fields.map((field) => compileField(field, alias)));
  const names = Object.freeze(specs.map((field) => field.name));
  const known = new Set(names);
  if (known.size !== names.length) {
    throw new LocalProtocolError(`${alias}: a field name is used twice`);
  }

  const cls = class {
    constructor(values = {}) {
      if (values === null || typeof values !== "object") {
        throw new LocalProtocolError(`${alias}: give the fields as an object`);
      }
      for (const key of Object.keys(values)) {
        if (!known.has(key)) {
          throw new LocalProtocolError(`${alias} has no field ${key}`);
        }
      }
      const list = specs.map((field) => {
        const value = values[field.name];
        if (value !== undefined && Object.hasOwn(values, field.name)) {
          return value;
        }
        if (field.hasDefault) {
          return defaultOf(field);
        }
        throw new LocalProtocolError(`${alias}: field ${field.name} is missing`);
      });
      setFields(this, specs, list);
    }
  };
  Object.defineProperty(cls, "name", { value: className(alias) });
  Object.defineProperty(cls, "alias", { value: alias, enumerable: true });
  Object.defineProperty(cls, "fields", { value: names, enumerable: true });
  traits.set(cls, Object.freeze({ alias, fields: specs, names }));
  return cls;
}

/**
 * A typed object whose alias the receiver has no class for.
 *
 * A newer peer may send classes an older one does not know; they decode
 * to this, with the fields by name in the peer's order, and the
 * application can ignore them. Unknown objects cannot be encoded.
 */
export class UnknownObject {
  /**
   * @param {string} alias
   * @param {Map<string, unknown>} fields
   */
  constructor(alias, fields) {
    /** @type {string} */
    this.alias = alias;
    /** @type {Map<string, unknown>} */
    this.fields = fields;
    Object.freeze(this);
  }
}
