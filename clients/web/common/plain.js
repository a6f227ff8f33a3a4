/**
 * Values from the wire in the plain form the user interfaces work with.
 *
 * The codec decodes maps to `Map` (any string key, order kept),
 * timestamps to `Date` and large integers to `BigInt`. The chat API's
 * data are maps with fixed keys, times in seconds and small numbers, so
 * {@link plain} turns maps into objects without a prototype (a key such
 * as `__proto__` stays an ordinary key), dates into seconds and big
 * integers into numbers.
 *
 * @module plain
 */

/**
 * @param {unknown} value A decoded value.
 * @param {number} [depth] How deep the value sits; beyond 32 levels the
 *   rest is dropped (the codec refuses deeper values anyway).
 * @returns {unknown}
 */
export function plain(value, depth = 0) {
  if (depth > 32) {
    return null;
  }
  if (value instanceof Map) {
    const object = Object.create(null);
    for (const [key, item] of value) {
      object[String(key)] = plain(item, depth + 1);
    }
    return object;
  }
  if (value instanceof Date) {
    return value.getTime() / 1000;
  }
  if (typeof value === "bigint") {
    return Number(value);
  }
  if (Array.isArray(value)) {
    return value.map((item) => plain(item, depth + 1));
  }
  if (value !== null && typeof value === "object" && !(value instanceof Uint8Array)) {
    const object = Object.create(null);
    for (const [key, item] of Object.entries(value)) {
      object[key] = plain(item, depth + 1);
    }
    return object;
  }
  return value;
}

/** A string field of a plain object, or `fallback`. */
export function text(object, key, fallback = "") {
  const value = object?.[key];
  return typeof value === "string" ? value : fallback;
}

/** A finite number field of a plain object, or `fallback`. */
export function number(object, key, fallback = null) {
  const value = object?.[key];
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}

/** A list field of a plain object, or an empty list. */
export function list(object, key) {
  const value = object?.[key];
  return Array.isArray(value) ? value : [];
}
