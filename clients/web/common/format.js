/**
 * Durations and clock times for people.
 *
 * @module format
 */

/**
 * `m:ss`, or `h:mm:ss` from an hour on; negative and non-finite values
 * count as 0.
 *
 * @param {number} seconds
 * @returns {string}
 */
export function clockDuration(seconds) {
  const whole = Number.isFinite(seconds) && seconds > 0 ? Math.floor(seconds) : 0;
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const s = String(whole % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/**
 * Whole minutes, rounded up, at least 1: an estimated wait.
 *
 * @param {number} seconds
 * @returns {number}
 */
export function minutesUp(seconds) {
  if (!Number.isFinite(seconds) || seconds <= 0) {
    return 1;
  }
  return Math.max(1, Math.ceil(seconds / 60));
}

/**
 * The time of day of `at` (seconds since the epoch) in the language's
 * form, hours and minutes.
 *
 * @param {number} at
 * @param {string} lang
 * @returns {string}
 */
export function timeOfDay(at, lang) {
  if (!Number.isFinite(at)) {
    return "";
  }
  try {
    return new Date(at * 1000).toLocaleTimeString(lang, {
      hour: "2-digit",
      minute: "2-digit",
    });
  } catch {
    return new Date(at * 1000).toISOString().slice(11, 16);
  }
}

/**
 * A message id of the sender's own: 22 random characters of
 * `[A-Za-z0-9_-]`, unique enough to be sent again after a reconnection
 * and recognized.
 *
 * @param {(bytes: Uint8Array) => Uint8Array} [fill] Fills with random
 *   bytes; `crypto.getRandomValues` by default.
 * @returns {string}
 */
export function randomId(fill = (bytes) => globalThis.crypto.getRandomValues(bytes)) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const bytes = fill(new Uint8Array(22));
  let id = "";
  for (const byte of bytes) {
    id += alphabet[byte & 63];
  }
  return id;
}
