/**
 * Visitor ids and whether the server accepts them (docs/protocol.md
 * section 6.8: 22 to 64 characters of `[A-Za-z0-9_-]`), for the tests of
 * the call button and the chat window, which must never use an id the
 * server refuses; tests/server/test_auth.py holds the server to the same.
 */

const WIDGET = "Qx3_vT9kLm2-Zp8RwY5nAe";

/** `[id, accepted]` pairs. */
export const VISITOR_CASES = Object.freeze([
  [WIDGET, true],
  ["A".repeat(22), true],
  ["-_".repeat(32), true],
  ["", false],
  [WIDGET.slice(0, -1), false],
  ["v-1234abcd", false],
  [`${WIDGET}=`, false],
  [`${WIDGET.slice(0, -1)}+`, false],
  [`${WIDGET.slice(0, -1)}é`, false],
  [`${WIDGET} `, false],
  [`${WIDGET}\n`, false],
  ["x".repeat(65), false],
]);
