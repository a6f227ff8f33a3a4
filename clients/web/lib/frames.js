/**
 * Frames: the unit of the byte stream (docs/protocol.md section 2).
 *
 * Every frame starts with the same 8-byte header, big-endian:
 *
 *     length:u32  kind:u8  flags:u8  channel:u16
 *
 * `length` counts the bytes after the length field itself, so a frame
 * takes `4 + length` bytes. For a CONTROL frame the 16-bit field is the
 * opcode; for MESSAGE and MEDIA frames it is the channel (the track, for
 * media). A MESSAGE body then starts with its sequence number (u64), a
 * MEDIA body with its timestamp (u64, microseconds) and group (u32).
 *
 * {@link FrameDecoder} is a streaming parser: it accepts the input split
 * anywhere, checks every header against the size limit before it buffers
 * a single byte of that frame's payload, and never rescans what it has
 * parsed, so input fed one byte at a time costs linear time.
 *
 * @module frames
 */

import {
  CloseCode,
  FrameTooLarge,
  LocalProtocolError,
  RemoteProtocolError,
} from "./errors.js";
import { asBytes } from "./_bytes.js";

// A frame of 1 MiB holds any chat message and a video keyframe of a few
// hundred kilobytes; larger media is split by the sender.
export const DEFAULT_MAX_FRAME_SIZE = 1 << 20;
export const MAX_FRAME_SIZE_LIMIT = 0xffffffff;
export const HEADER_SIZE = 8;

/** The `kind` byte of a frame header (section 2.1). */
export const FrameKind = Object.freeze({ CONTROL: 0, MESSAGE: 1, MEDIA: 2 });

/** What a CONTROL frame is (section 2.2); carried in the channel field. */
export const Opcode = Object.freeze({
  HELLO: 1,
  WELCOME: 2,
  RESUME: 3,
  ACK: 4,
  PING: 5,
  PONG: 6,
  CLOSE: 7,
});

/** Flags of a MESSAGE frame (section 2.3). */
export const MessageFlags = Object.freeze({ VOLATILE: 0x01 });

/** Flags of a MEDIA frame (section 2.4). */
export const MediaFlags = Object.freeze({ KEYFRAME: 0x01, DISCARDABLE: 0x02 });

// The smallest `length` each kind allows: the rest of the common header
// plus the kind's own prefix.
const MIN_LENGTH = [4, 4 + 8, 4 + 12];
const TWO_32 = 2 ** 32;
// The high word of the largest u64 that is still a safe JavaScript number.
const SAFE_HIGH_WORD = 0x1fffff;
const EMPTY = new Uint8Array(0);
// An emptied buffer larger than this is released rather than kept for
// the next frame, so one large frame does not pin its memory.
const RETAINED_BUFFER = 64 * 1024;

/**
 * One decoded frame.
 *
 * `channel` is the opcode for CONTROL frames. `seq` is the sequence number
 * of a MESSAGE frame and 0 for the other kinds. `payload` is the body
 * after the kind-specific prefix: the encoded value of a MESSAGE, the
 * whole body (timestamp, group and data) of a MEDIA frame.
 *
 * @typedef {object} Frame
 * @property {number} kind
 * @property {number} flags
 * @property {number} channel
 * @property {number} seq
 * @property {Uint8Array} payload
 */

function checkUint(value, max, what) {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new LocalProtocolError(`${what} out of range`);
  }
}

function writeU64(view, offset, value, what) {
  if (typeof value === "bigint") {
    if (value < 0n || value >= 1n << 64n) {
      throw new LocalProtocolError(`${what} out of range`);
    }
    view.setBigUint64(offset, value);
    return;
  }
  checkUint(value, Number.MAX_SAFE_INTEGER, what);
  view.setUint32(offset, Math.floor(value / TWO_32));
  view.setUint32(offset + 4, value >>> 0);
}

/**
 * Read a u64: a number when it is safe, a BigInt beyond 2^53 - 1.
 *
 * @param {DataView} view
 * @param {number} offset
 * @returns {number | bigint}
 */
export function readU64(view, offset) {
  const high = view.getUint32(offset);
  if (high > SAFE_HIGH_WORD) {
    return view.getBigUint64(offset);
  }
  return high * TWO_32 + view.getUint32(offset + 4);
}

function frameBuffer(size, length, kind, flags, channel) {
  if (length > MAX_FRAME_SIZE_LIMIT) {
    throw new LocalProtocolError("frame too large");
  }
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, length);
  bytes[4] = kind;
  bytes[5] = flags;
  view.setUint16(6, channel);
  return [bytes, view];
}

/**
 * Encode a MESSAGE frame around an already encoded value (section 2.3).
 *
 * @param {number | bigint} seq The sequence number, 0 for a volatile one.
 * @param {Uint8Array} payload The encoded value (see codec.js).
 * @param {{channel?: number, flags?: number}} [options] The channel
 *   (0-65535) and the MessageFlags.
 * @returns {Uint8Array}
 * @throws {LocalProtocolError} A field is out of range.
 */
export function encodeMessage(seq, payload, { channel = 0, flags = 0 } = {}) {
  const body = asBytes(payload);
  checkUint(channel, 0xffff, "channel");
  checkUint(flags, 0xff, "flags");
  const [bytes, view] = frameBuffer(
    16 + body.length,
    12 + body.length,
    FrameKind.MESSAGE,
    flags,
    channel,
  );
  writeU64(view, 8, seq, "seq");
  bytes.set(body, 16);
  return bytes;
}

/**
 * Encode a CONTROL frame with the given opcode and body (section 2.2).
 *
 * @param {number} opcode An Opcode.
 * @param {Uint8Array} [body]
 * @returns {Uint8Array}
 * @throws {LocalProtocolError} The opcode is out of range.
 */
export function encodeControl(opcode, body = EMPTY) {
  const data = asBytes(body);
  checkUint(opcode, 0xffff, "opcode");
  const [bytes] = frameBuffer(
    8 + data.length,
    4 + data.length,
    FrameKind.CONTROL,
    0,
    opcode,
  );
  bytes.set(data, 8);
  return bytes;
}

/**
 * Encode a MEDIA frame carrying one encoded audio or video chunk.
 *
 * @param {number} track The track id, 0-65535.
 * @param {number | bigint} timestamp Presentation time in microseconds.
 * @param {number} group The group the chunk belongs to (u32), section 2.4.
 * @param {Uint8Array} data The opaque encoded chunk.
 * @param {{flags?: number}} [options] The MediaFlags.
 * @returns {Uint8Array}
 * @throws {LocalProtocolError} A field is out of range.
 */
export function encodeMedia(track, timestamp, group, data, { flags = 0 } = {}) {
  const chunk = asBytes(data);
  checkUint(track, 0xffff, "track");
  checkUint(group, 0xffffffff, "group");
  checkUint(flags, 0xff, "flags");
  const [bytes, view] = frameBuffer(
    20 + chunk.length,
    16 + chunk.length,
    FrameKind.MEDIA,
    flags,
    track,
  );
  writeU64(view, 8, timestamp, "timestamp");
  view.setUint32(16, group);
  bytes.set(chunk, 20);
  return bytes;
}

/**
 * Split the payload of a MEDIA frame into its fixed part and its data.
 *
 * @param {Uint8Array} payload The `payload` of a MEDIA {@link Frame}.
 * @returns {{timestamp: number | bigint, group: number, data: Uint8Array}}
 *   The timestamp is a BigInt beyond 2^53 - 1; `data` is a view into
 *   `payload`.
 * @throws {LocalProtocolError} The payload is shorter than 12 bytes.
 */
export function decodeMedia(payload) {
  const bytes = asBytes(payload);
  if (bytes.length < 12) {
    throw new LocalProtocolError("not the payload of a MEDIA frame");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  return {
    timestamp: readU64(view, 0),
    group: view.getUint32(8),
    data: bytes.subarray(12),
  };
}

/**
 * The error a header deserves, or null when it is acceptable (section 2.1).
 *
 * @param {number} length
 * @param {number} kind
 * @param {number} maxFrameSize
 * @returns {RemoteProtocolError | null}
 */
function checkHeader(length, kind, maxFrameSize) {
  if (length > maxFrameSize) {
    return new FrameTooLarge(
      `frame of ${length} bytes over the limit of ${maxFrameSize}`,
    );
  }
  const minimum = MIN_LENGTH[kind];
  if (minimum === undefined) {
    return new RemoteProtocolError(
      `unknown frame kind ${kind}`,
      CloseCode.UNKNOWN_KIND,
    );
  }
  if (length < minimum) {
    return new RemoteProtocolError(
      `frame length ${length} too short for its kind`,
      CloseCode.MALFORMED_FRAME,
    );
  }
  return null;
}

function seqError() {
  return new RemoteProtocolError("sequence number out of range");
}

/**
 * Build the frame that starts at `pos` and ends at `end` of `view`.
 * Returns a RemoteProtocolError instead when its seq is over 2^53 - 1:
 * no session ever numbers that many messages.
 */
function makeFrame(bytes, view, pos, end) {
  const kind = bytes[pos + 4];
  const flags = bytes[pos + 5];
  const channel = view.getUint16(pos + 6);
  let seq = 0;
  let start = pos + 8;
  if (kind === FrameKind.MESSAGE) {
    const high = view.getUint32(pos + 8);
    if (high > SAFE_HIGH_WORD) {
      return seqError();
    }
    seq = high * TWO_32 + view.getUint32(pos + 12);
    start = pos + 16;
  }
  const payload = bytes.slice(start, end);
  return Object.freeze({ kind, flags, channel, seq, payload });
}

function checkMaxFrameSize(value) {
  if (!Number.isInteger(value) || value < 16 || value > MAX_FRAME_SIZE_LIMIT) {
    throw new LocalProtocolError("maxFrameSize out of range");
  }
}

/**
 * Decode a message of a message transport (WebSocket), which must hold
 * exactly one whole frame (section 2.6).
 *
 * @param {Uint8Array} data The message.
 * @param {number} [maxFrameSize] The largest `length` accepted.
 * @returns {Frame} The frame; its payload is a copy.
 * @throws {RemoteProtocolError} The header is bad (FRAME_TOO_LARGE,
 *   UNKNOWN_KIND, MALFORMED_FRAME), the message holds more or less than
 *   the frame (TRUNCATED_FRAME), or the seq is out of range.
 */
export function decodeFrame(data, maxFrameSize = DEFAULT_MAX_FRAME_SIZE) {
  checkMaxFrameSize(maxFrameSize);
  const bytes = asBytes(data);
  if (bytes.length < HEADER_SIZE) {
    throw new RemoteProtocolError(
      "message shorter than a frame header",
      CloseCode.TRUNCATED_FRAME,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const length = view.getUint32(0);
  const error = checkHeader(length, bytes[4], maxFrameSize);
  if (error !== null) {
    throw error;
  }
  if (4 + length !== bytes.length) {
    throw new RemoteProtocolError(
      "a message must hold exactly one frame",
      CloseCode.TRUNCATED_FRAME,
    );
  }
  const frame = makeFrame(bytes, view, 0, bytes.length);
  if (frame instanceof RemoteProtocolError) {
    throw frame;
  }
  return frame;
}

/**
 * Parse frames out of a byte stream split at arbitrary points.
 *
 * {@link FrameDecoder#feed} returns the frames completed by the new bytes.
 * When a bad header (or an out-of-range seq) follows good frames in the
 * same input, the good frames are returned first and the error is kept
 * in {@link FrameDecoder#error}; it is thrown by the next call to feed.
 * When no good frame precedes it, it is thrown at once. After an error
 * the decoder stays failed.
 */
export class FrameDecoder {
  /**
   * @param {number} [maxFrameSize] The largest `length` field accepted
   *   (16 to 2^32 - 1). A header that announces more fails at once,
   *   before any of its payload is buffered.
   * @throws {LocalProtocolError} maxFrameSize is out of range.
   */
  constructor(maxFrameSize = DEFAULT_MAX_FRAME_SIZE) {
    checkMaxFrameSize(maxFrameSize);
    /** The largest `length` accepted; may be changed between feeds. */
    this.maxFrameSize = maxFrameSize;
    /** @type {RemoteProtocolError | null} */
    this.error = null;
    this._buffer = EMPTY;
    this._length = 0;
    // Bytes the buffer must hold before parsing can make progress, so
    // input trickling in is appended without being rescanned.
    this._need = HEADER_SIZE;
  }

  /** How many bytes of an incomplete frame are held. */
  get buffered() {
    return this._length;
  }

  /**
   * Add bytes from the stream and return the frames they complete.
   *
   * @param {Uint8Array | ArrayBuffer | ArrayBufferView} data
   * @returns {Frame[]} The frames, with payloads of their own.
   * @throws {RemoteProtocolError} The stream is not valid (see the class
   *   documentation for when it is thrown).
   */
  feed(data) {
    if (this.error !== null) {
      throw this.error;
    }
    const input = asBytes(data);
    let frames;
    if (this._length === 0) {
      frames = this._parse(input, input.length, true);
    } else {
      this._append(input);
      if (this._length < this._need) {
        return [];
      }
      frames = this._parse(this._buffer, this._length, false);
    }
    if (this.error !== null && frames.length === 0) {
      throw this.error;
    }
    return frames;
  }

  _parse(bytes, size, external) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, size);
    const frames = [];
    const limit = this.maxFrameSize;
    let pos = 0;

    while (size - pos >= HEADER_SIZE) {
      const length = view.getUint32(pos);
      const error = checkHeader(length, bytes[pos + 4], limit);
      if (error !== null) {
        this._fail(error);
        return frames;
      }
      const end = pos + 4 + length;
      if (end > size) {
        break;
      }
      const frame = makeFrame(bytes, view, pos, end);
      if (frame instanceof RemoteProtocolError) {
        this._fail(frame);
        return frames;
      }
      frames.push(frame);
      pos = end;
    }

    // keep the incomplete tail and remember how much it still needs
    const rest = size - pos;
    this._need = rest >= HEADER_SIZE ? 4 + view.getUint32(pos) : HEADER_SIZE;
    if (external) {
      this._length = 0;
      this._append(bytes.subarray(pos, size));
    } else {
      bytes.copyWithin(0, pos, size);
      this._length = rest;
    }
    if (rest === 0 && this._buffer.length > RETAINED_BUFFER) {
      this._buffer = EMPTY;
    }
    return frames;
  }

  _append(data) {
    const needed = this._length + data.length;
    if (needed > this._buffer.length) {
      const grown = new Uint8Array(Math.max(needed, 2 * this._buffer.length));
      grown.set(this._buffer.subarray(0, this._length));
      this._buffer = grown;
    }
    this._buffer.set(data, this._length);
    this._length = needed;
  }

  _fail(error) {
    this.error = error;
    this._buffer = EMPTY;
    this._length = 0;
  }
}
