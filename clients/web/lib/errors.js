/**
 * Errors of the protocol core and the close codes they map to.
 *
 * Every error thrown by this library derives from {@link ProtocolError}.
 * The hierarchy says who was at fault:
 *
 * - {@link LocalProtocolError}: the calling code misused the API (sending
 *   on a closed session, encoding a value the codec cannot carry, a
 *   message larger than the peer accepts). Nothing goes on the wire.
 * - {@link RemoteProtocolError}: the peer broke the protocol. It carries
 *   the close code that ends the connection and a short reason that is
 *   safe to send to the peer: it never holds internals.
 *
 * Subclasses of RemoteProtocolError exist where a caller may want to tell
 * the usual cases apart; each fixes its default close code. The close
 * codes are those of docs/protocol.md section 7.
 *
 * @module errors
 */

/**
 * Why a session or connection ended (section 7). Codes 1000-1999 are
 * about the wire, codes 4000-4999 about the session and server policy.
 */
export const CloseCode = Object.freeze({
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_VERSION: 1003,
  FRAME_TOO_LARGE: 1004,
  MALFORMED_FRAME: 1005,
  UNKNOWN_KIND: 1006,
  INVALID_DATA: 1007,
  UNKNOWN_TRAIT: 1008,
  LIMIT_EXCEEDED: 1009,
  HANDSHAKE_TIMEOUT: 1010,
  INTERNAL_ERROR: 1011,
  TRUNCATED_FRAME: 1012,
  HEARTBEAT_TIMEOUT: 1013,
  RATE_LIMITED: 1014,
  REPLAY_OVERFLOW: 1015,

  AUTH_FAILED: 4000,
  RESUME_REJECTED: 4001,
  SESSION_EXPIRED: 4002,
  SESSION_REPLACED: 4003,
  BUILD_REFUSED: 4004,
  ORIGIN_REFUSED: 4005,
  TOO_MANY_CONNECTIONS: 4006,
  CAPTCHA_REQUIRED: 4007,
});

const codeNames = new Map(
  Object.entries(CloseCode).map(([name, code]) => [code, name]),
);

/**
 * The spec's name of a close code, or null for a code it does not list.
 *
 * @param {number} code
 * @returns {string | null}
 */
export function closeCodeName(code) {
  return codeNames.get(code) ?? null;
}

/** Root of every error thrown by the protocol core. */
export class ProtocolError extends Error {}
ProtocolError.prototype.name = "ProtocolError";

/** The calling code misused the API; nothing was sent to the peer. */
export class LocalProtocolError extends ProtocolError {}
LocalProtocolError.prototype.name = "LocalProtocolError";

/**
 * The peer broke the protocol.
 *
 * Each subclass sets `defaultCode`, the code used when none is given.
 */
export class RemoteProtocolError extends ProtocolError {
  /**
   * @param {string} reason A short explanation, safe to send to the peer.
   * @param {number} [code] The close code that ends the connection.
   */
  constructor(reason, code) {
    super(reason);
    /** @type {string} */
    this.reason = reason;
    /** @type {number} */
    this.code = code ?? new.target.defaultCode;
  }
}
RemoteProtocolError.defaultCode = CloseCode.PROTOCOL_ERROR;
RemoteProtocolError.prototype.name = "RemoteProtocolError";

/** A frame header announced more bytes than the receiver accepts. */
export class FrameTooLarge extends RemoteProtocolError {}
FrameTooLarge.defaultCode = CloseCode.FRAME_TOO_LARGE;
FrameTooLarge.prototype.name = "FrameTooLarge";

/** A payload is not a valid encoded value (section 3). */
export class DecodeError extends RemoteProtocolError {}
DecodeError.defaultCode = CloseCode.INVALID_DATA;
DecodeError.prototype.name = "DecodeError";

/** A typed object refers to a trait the sender never declared. */
export class UnknownTrait extends DecodeError {}
UnknownTrait.defaultCode = CloseCode.UNKNOWN_TRAIT;
UnknownTrait.prototype.name = "UnknownTrait";

/** A value nests too deep or holds too long a string, list or map. */
export class LimitExceeded extends DecodeError {}
LimitExceeded.defaultCode = CloseCode.LIMIT_EXCEEDED;
LimitExceeded.prototype.name = "LimitExceeded";
