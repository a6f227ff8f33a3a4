/**
 * The client role of a session (docs/protocol.md section 6), sans-I/O.
 *
 * A session numbers every message it sends, keeps it in a replay buffer
 * until the server acknowledges it, and delivers what it receives to its
 * application exactly once and in order. It outlives its connections:
 * when one drops, the session is detached for the grace window; the
 * client comes back on a new connection with RESUME, both sides send
 * again what the other did not acknowledge, and the applications notice
 * nothing.
 *
 * {@link ClientSession} never touches a socket, a clock or a timer. An
 * adapter (a WebSocket wrapper in the browser, a TLS one in Node):
 *
 * 1. calls {@link ClientSession#connectionMade} when a connection opens,
 *    {@link ClientSession#receiveMessage} with each WebSocket message (or
 *    {@link ClientSession#receiveData} with each chunk of a stream), and
 *    {@link ClientSession#connectionLost} when the transport ends;
 * 2. after each call, writes every frame {@link ClientSession#dataToSend}
 *    returns, reads the events with {@link ClientSession#nextEvent}, and
 *    sets its one timer to {@link ClientSession#getTimer}, calling
 *    {@link ClientSession#handleTimer} when it fires;
 * 3. closes the transport on a ConnectionLost event whose `code` is not
 *    null (the session gave the connection up) and reconnects, and closes
 *    it for good, once the frames are written, on SessionEnded.
 *
 * Every call that may change the state takes the current time `now`, in
 * seconds, from any monotonic clock (`performance.now() / 1000`).
 *
 * Events are frozen plain objects with a `type`:
 *
 * - `SessionEstablished {session, welcome}`: the HELLO was welcomed.
 * - `SessionResumed {replayed}`: a RESUME was welcomed; `replayed`
 *   counts the messages this side sent again.
 * - `MessageReceived {value, channel, seq}`: `seq` is 0 when volatile.
 * - `MediaReceived {track, flags, timestamp, group, data}`.
 * - `ConnectionLost {code}`: the session has no connection any more.
 *   `code` is null when the adapter reported the loss, or the reason the
 *   session gave the connection up: HEARTBEAT_TIMEOUT or
 *   HANDSHAKE_TIMEOUT. A welcomed session then waits, for the grace
 *   window, for a new connection to resume on; one never welcomed says
 *   HELLO again on the next connection.
 * - `SessionEnded {code, reason, remote}`: the session is over; `remote`
 *   tells whether the server ended it with a CLOSE frame.
 *
 * @module session
 */

import { Registry } from "./codec.js";
import { CloseCode, LocalProtocolError, RemoteProtocolError } from "./errors.js";
import {
  DEFAULT_MAX_FRAME_SIZE,
  FrameDecoder,
  FrameKind,
  MAX_FRAME_SIZE_LIMIT,
  MessageFlags,
  Opcode,
  decodeFrame,
  decodeMedia,
  encodeControl,
  encodeMedia,
  encodeMessage,
  readU64,
} from "./frames.js";
import { Hello, PROTOCOL_VERSION, Resume, Welcome } from "./messages.js";

/** The smallest frame limit a side may announce (section 2.5). */
export const MIN_FRAME_SIZE = 4096;
/** The longest CLOSE reason, in UTF-8 bytes (section 2.2). */
export const MAX_REASON_BYTES = 123;
// Bounds on what a WELCOME may announce, in seconds: beyond them a
// server is broken, not slow.
const MAX_HEARTBEAT = 3600;
const MAX_GRACE = 86400;

/** Where a session stands. */
export const SessionState = Object.freeze({
  /** No connection, and never welcomed. */
  IDLE: "idle",
  /** HELLO or RESUME sent; waiting for the WELCOME. */
  HANDSHAKE: "handshake",
  /** Welcomed and connected: messages flow. */
  OPEN: "open",
  /** Welcomed before, no connection now: the grace window runs. */
  DETACHED: "detached",
  /** Over; nothing more is sent or received. */
  CLOSED: "closed",
});

/** The `type` of each event (see the module documentation). */
export const EventType = Object.freeze({
  SESSION_ESTABLISHED: "SessionEstablished",
  SESSION_RESUMED: "SessionResumed",
  MESSAGE_RECEIVED: "MessageReceived",
  MEDIA_RECEIVED: "MediaReceived",
  CONNECTION_LOST: "ConnectionLost",
  SESSION_ENDED: "SessionEnded",
});

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

function event(type, fields) {
  return Object.freeze({ type, ...fields });
}

function u64(value) {
  const body = new Uint8Array(8);
  const view = new DataView(body.buffer);
  view.setUint32(0, Math.floor(value / 2 ** 32));
  view.setUint32(4, value >>> 0);
  return body;
}

function readBodyU64(body) {
  if (body.length !== 8) {
    throw new RemoteProtocolError("control frame body of the wrong size");
  }
  return readU64(new DataView(body.buffer, body.byteOffset, 8), 0);
}

/** CLOSE's body: the code, then the reason cut to 123 bytes of UTF-8. */
function closeBody(code, reason) {
  let raw = utf8.encode(reason);
  if (raw.length > MAX_REASON_BYTES) {
    // cut at a character boundary: never before a continuation byte
    let end = MAX_REASON_BYTES;
    while (end > 0 && (raw[end] & 0xc0) === 0x80) {
      end--;
    }
    raw = raw.subarray(0, end);
  }
  const body = new Uint8Array(2 + raw.length);
  new DataView(body.buffer).setUint16(0, code);
  body.set(raw, 2);
  return body;
}

function checkNumber(value, what, { min = 0, integer = false, max = Infinity } = {}) {
  const ok = integer ? Number.isSafeInteger(value) : Number.isFinite(value);
  if (!ok || value < min || value > max) {
    throw new LocalProtocolError(`${what} out of range`);
  }
  return value;
}

/**
 * The client role: opens a session with HELLO, resumes it with RESUME.
 */
export class ClientSession {
  /**
   * @param {object} options
   * @param {Registry} options.registry The client's message classes.
   * @param {string} options.build The client's build, which the server
   *   may refuse (BUILD_REFUSED).
   * @param {Map<string, unknown> | object | null} [options.auth]
   *   Credentials, as the server defines them.
   * @param {number} [options.maxFrame] The largest frame the client
   *   accepts, announced in HELLO and RESUME (default 1 MiB, at least
   *   4096).
   * @param {number} [options.heartbeat] Seconds; used until a WELCOME
   *   announces the server's (default 5).
   * @param {number} [options.grace] Seconds; used until a WELCOME
   *   announces the server's (default 15).
   * @param {number} [options.handshakeTimeout] Seconds allowed for HELLO
   *   or RESUME to be answered (default 10).
   * @param {number} [options.replayLimit] Unacknowledged messages kept
   *   (default 4096).
   * @param {number} [options.replayBytes] Bytes of unacknowledged frames
   *   kept (default 4 MiB).
   * @param {import("./codec.js").Limits | object} [options.limits] Limits
   *   on decoded values (section 3.6).
   * @throws {LocalProtocolError} An option is out of range.
   */
  constructor({
    registry,
    build,
    auth = null,
    maxFrame = DEFAULT_MAX_FRAME_SIZE,
    heartbeat = 5,
    grace = 15,
    handshakeTimeout = 10,
    replayLimit = 4096,
    replayBytes = 4 << 20,
    limits = undefined,
  }) {
    if (!(registry instanceof Registry)) {
      throw new LocalProtocolError("a session needs a Registry");
    }
    if (typeof build !== "string") {
      throw new LocalProtocolError("build must be a string");
    }
    this.registry = registry;
    this.build = build;
    this.auth = auth;
    this.maxFrame = checkNumber(maxFrame, "maxFrame", {
      min: MIN_FRAME_SIZE,
      max: MAX_FRAME_SIZE_LIMIT,
      integer: true,
    });
    this.handshakeTimeout = checkNumber(handshakeTimeout, "handshakeTimeout");
    this.replayLimit = checkNumber(replayLimit, "replayLimit", {
      min: 1,
      integer: true,
    });
    this.replayBytes = checkNumber(replayBytes, "replayBytes", {
      min: 1,
      integer: true,
    });

    /** @type {string} One of {@link SessionState}. */
    this.state = SessionState.IDLE;
    /** @type {string | null} The session id of the last WELCOME. */
    this.sessionId = null;
    /** The last WELCOME, or null before the first. */
    this.welcome = null;

    this._encoder = registry.encoder;
    this._decoder = registry.decoder(null, limits);
    this._frames = new FrameDecoder(this.maxFrame);
    this._connected = false;
    /** @type {Uint8Array[]} */
    this._out = [];
    this._events = [];
    this._now = 0;

    // the server's announcements, once known
    this._peerMaxFrame = DEFAULT_MAX_FRAME_SIZE;
    this._heartbeat = checkNumber(heartbeat, "heartbeat", { min: Number.MIN_VALUE });
    this._grace = checkNumber(grace, "grace");
    this._token = null;

    // sending: the last seq used, and what is not acknowledged yet
    this._sent = 0;
    /** @type {{seq: number, frame: Uint8Array}[]} */
    this._replay = [];
    this._replayBytes = 0;

    // receiving: the last seq delivered, and the last one acknowledged
    this._received = 0;
    this._acked = 0;

    // timers
    this._lastSent = 0;
    this._lastReceived = 0;
    this._handshakeDeadline = null;
    this._graceDeadline = null;
    this._pingNonce = 0;
  }

  // -- the adapter's side

  /** Whether the session has a connection now. */
  get connected() {
    return this._connected;
  }

  /** How many sent messages wait for the server's acknowledgement. */
  get unacknowledged() {
    return this._replay.length;
  }

  /**
   * Start the handshake on a new connection: HELLO, or RESUME (with the
   * token of the last WELCOME and the last seq received) when the session
   * was welcomed before (sections 6.1 and 6.4).
   *
   * @param {number} now
   * @throws {LocalProtocolError} The session is closed or still connected.
   */
  connectionMade(now) {
    if (this.state === SessionState.CLOSED) {
      throw new LocalProtocolError("the session is closed");
    }
    if (this._connected) {
      throw new LocalProtocolError("the session has a connection already");
    }
    this._connected = true;
    this._now = this._lastReceived = this._lastSent = now;
    this._out = [];
    this._frames = new FrameDecoder(this.maxFrame);
    this.state = SessionState.HANDSHAKE;
    this._handshakeDeadline = now + this.handshakeTimeout;

    let message;
    let opcode;
    if (this.welcome === null) {
      opcode = Opcode.HELLO;
      message = new Hello({
        version: PROTOCOL_VERSION,
        build: this.build,
        auth: this.auth,
        max_frame: this.maxFrame,
        traits: this.registry.traitTable(),
      });
    } else {
      opcode = Opcode.RESUME;
      message = new Resume({
        version: PROTOCOL_VERSION,
        build: this.build,
        token: this._token,
        last_seq: this._received,
        max_frame: this.maxFrame,
      });
    }
    this._write(encodeControl(opcode, this._encoder.encode(message)));
  }

  /**
   * Feed bytes read from a stream transport (TLS, WebTransport), split
   * anywhere. Data for a connection the session no longer has is
   * ignored.
   *
   * @param {Uint8Array | ArrayBuffer | ArrayBufferView} data
   * @param {number} now
   */
  receiveData(data, now) {
    if (!this._connected) {
      return;
    }
    this._now = this._lastReceived = now;
    try {
      let frames;
      try {
        frames = this._frames.feed(data);
      } catch (error) {
        frames = [];
        if (!(error instanceof RemoteProtocolError)) {
          throw error;
        }
      }
      for (const frame of frames) {
        this._handleFrame(frame);
        if (!this._connected) {
          return;
        }
      }
      if (this._frames.error !== null) {
        throw this._frames.error;
      }
    } catch (error) {
      if (!(error instanceof RemoteProtocolError)) {
        throw error;
      }
      this._fail(error);
      return;
    }
    this._queueAck();
  }

  /**
   * Feed one message of a message transport (WebSocket), which must hold
   * exactly one whole frame (section 2.6): otherwise the session ends with
   * TRUNCATED_FRAME. A text message (a string) ends it with
   * PROTOCOL_ERROR.
   *
   * @param {Uint8Array | ArrayBuffer | ArrayBufferView | string} data
   * @param {number} now
   */
  receiveMessage(data, now) {
    if (!this._connected) {
      return;
    }
    this._now = this._lastReceived = now;
    try {
      if (typeof data === "string") {
        throw new RemoteProtocolError("text messages are not allowed");
      }
      this._handleFrame(decodeFrame(data, this.maxFrame));
    } catch (error) {
      if (!(error instanceof RemoteProtocolError)) {
        throw error;
      }
      this._fail(error);
      return;
    }
    this._queueAck();
  }

  /**
   * Tell the session its transport ended without a CLOSE frame. It
   * reports ConnectionLost; calling it again, or after the session gave
   * the connection up itself, does nothing.
   *
   * @param {number} now
   */
  connectionLost(now) {
    this._now = now;
    if (this._connected) {
      this._detach(null);
    }
  }

  /**
   * The frames to write to the current connection, and forget them. Each
   * element is one whole frame: write each as one WebSocket message, or
   * all of them, in order, to a stream.
   *
   * @returns {Uint8Array[]}
   */
  dataToSend() {
    const out = this._out;
    this._out = [];
    return out;
  }

  /**
   * The oldest event not read yet, or null.
   *
   * @returns {Readonly<{type: string}> | null}
   */
  nextEvent() {
    return this._events.length > 0 ? this._events.shift() : null;
  }

  /**
   * When {@link ClientSession#handleTimer} must be called next, on the
   * clock of `now`, or null when no deadline is set.
   *
   * @returns {number | null}
   */
  getTimer() {
    if (this.state === SessionState.CLOSED) {
      return null;
    }
    const deadlines = [this._handshakeDeadline, this._graceDeadline].filter(
      (deadline) => deadline !== null,
    );
    if (this.state === SessionState.OPEN && this._connected) {
      deadlines.push(this._lastSent + this._heartbeat);
      deadlines.push(this._lastReceived + 2 * this._heartbeat);
    }
    return deadlines.length > 0 ? Math.min(...deadlines) : null;
  }

  /**
   * Act on the deadlines that have passed by `now`: the grace window
   * (SessionEnded with SESSION_EXPIRED), the handshake timeout and a dead
   * connection (ConnectionLost), the heartbeat (a PING), in that order of
   * precedence (section 6.6).
   *
   * @param {number} now
   */
  handleTimer(now) {
    this._now = now;
    if (this.state === SessionState.CLOSED) {
      return;
    }
    if (this._graceDeadline !== null && now >= this._graceDeadline) {
      this._end(CloseCode.SESSION_EXPIRED, "grace window passed", false);
      return;
    }
    if (this._handshakeDeadline !== null && now >= this._handshakeDeadline) {
      this._detach(CloseCode.HANDSHAKE_TIMEOUT);
      return;
    }
    if (this.state === SessionState.OPEN && this._connected) {
      if (now >= this._lastReceived + 2 * this._heartbeat) {
        this._detach(CloseCode.HEARTBEAT_TIMEOUT);
      } else if (now >= this._lastSent + this._heartbeat) {
        this._pingNonce++;
        this._write(encodeControl(Opcode.PING, u64(this._pingNonce)));
      }
    }
  }

  // -- the application's side

  /**
   * Send a value to the server's application (section 6.3).
   *
   * A numbered message sent with no connection, or before the WELCOME,
   * waits in the replay buffer and goes out after the next WELCOME; a
   * volatile one is dropped. When the replay buffer overflows, the
   * session ends with REPLAY_OVERFLOW (a SessionEnded event).
   *
   * @param {unknown} value See codec.js for the forms a value may take.
   * @param {object} [options]
   * @param {number} [options.channel] 0-65535, for the application.
   * @param {boolean} [options.volatile] Not numbered, acknowledged or
   *   replayed (section 2.3).
   * @param {number} [options.now] The current time; by default the time
   *   of the last call that gave one.
   * @returns {number} The message's sequence number, 0 when volatile.
   * @throws {LocalProtocolError} The session is closed, or the value
   *   cannot be encoded or is larger than the server accepts.
   */
  send(value, options = {}) {
    if (this.state === SessionState.CLOSED) {
      throw new LocalProtocolError("the session is closed");
    }
    return this.sendEncoded(this._encoder.encode(value), options);
  }

  /**
   * Send a value encoded already (with this session's registry's
   * encoder). Takes, returns and throws as {@link ClientSession#send}.
   *
   * @param {Uint8Array} payload
   * @param {{channel?: number, volatile?: boolean, now?: number}} [options]
   * @returns {number}
   */
  sendEncoded(payload, { channel = 0, volatile = false, now = undefined } = {}) {
    if (this.state === SessionState.CLOSED) {
      throw new LocalProtocolError("the session is closed");
    }
    if (now !== undefined) {
      this._now = now;
    }
    if (12 + payload.length > this._peerMaxFrame) {
      throw new LocalProtocolError("message larger than the server accepts");
    }
    const open = this.state === SessionState.OPEN && this._connected;
    if (volatile) {
      const frame = encodeMessage(0, payload, {
        channel,
        flags: MessageFlags.VOLATILE,
      });
      if (open) {
        this._write(frame);
      }
      return 0;
    }
    const frame = encodeMessage(this._sent + 1, payload, { channel });
    const seq = ++this._sent;
    this._replay.push({ seq, frame });
    this._replayBytes += frame.length;
    if (
      this._replay.length > this.replayLimit ||
      this._replayBytes > this.replayBytes
    ) {
      this._end(CloseCode.REPLAY_OVERFLOW, "replay buffer full", false);
      return seq;
    }
    if (open) {
      this._write(frame);
    }
    return seq;
  }

  /**
   * Send one media chunk (section 2.4) if the session is open; media is
   * never queued or replayed.
   *
   * @param {number} track 0-65535.
   * @param {number | bigint} timestamp Microseconds.
   * @param {number} group
   * @param {Uint8Array} data
   * @param {{flags?: number, now?: number}} [options] MediaFlags.
   * @returns {boolean} Whether the chunk was sent.
   * @throws {LocalProtocolError} The session is closed, a field is out of
   *   range, or the frame is larger than the server accepts.
   */
  sendMedia(track, timestamp, group, data, { flags = 0, now = undefined } = {}) {
    if (this.state === SessionState.CLOSED) {
      throw new LocalProtocolError("the session is closed");
    }
    if (now !== undefined) {
      this._now = now;
    }
    const frame = encodeMedia(track, timestamp, group, data, { flags });
    if (frame.length - 4 > this._peerMaxFrame) {
      throw new LocalProtocolError("media larger than the server accepts");
    }
    if (this.state !== SessionState.OPEN || !this._connected) {
      return false;
    }
    this._write(frame);
    return true;
  }

  /**
   * End the session (section 6.7): send CLOSE if connected and report
   * SessionEnded. The reason is cut to 123 bytes of UTF-8 on the wire.
   * Does nothing on a closed session.
   *
   * @param {number} [code] A close code (default NORMAL).
   * @param {string} [reason]
   * @throws {LocalProtocolError} The code is not a u16.
   */
  close(code = CloseCode.NORMAL, reason = "") {
    checkNumber(code, "close code", { integer: true, max: 0xffff });
    if (this.state !== SessionState.CLOSED) {
      this._end(code, String(reason), false);
    }
  }

  // -- frames

  _handleFrame(frame) {
    switch (frame.kind) {
      case FrameKind.MESSAGE:
        this._handleMessage(frame);
        break;
      case FrameKind.CONTROL:
        this._handleControl(frame.channel, frame.payload);
        break;
      default: {
        if (this.state !== SessionState.OPEN) {
          throw new RemoteProtocolError("media before WELCOME");
        }
        const { timestamp, group, data } = decodeMedia(frame.payload);
        this._events.push(
          event(EventType.MEDIA_RECEIVED, {
            track: frame.channel,
            flags: frame.flags,
            timestamp,
            group,
            data,
          }),
        );
      }
    }
  }

  _handleMessage(frame) {
    if (this.state !== SessionState.OPEN) {
      throw new RemoteProtocolError("message before WELCOME");
    }
    if (frame.flags & MessageFlags.VOLATILE) {
      const value = this._decoder.decode(frame.payload);
      this._events.push(
        event(EventType.MESSAGE_RECEIVED, { value, channel: frame.channel, seq: 0 }),
      );
      return;
    }

    // section 6.3: deliver the next one, drop duplicates, refuse a gap
    const seq = frame.seq;
    if (seq <= this._received) {
      return;
    }
    if (seq !== this._received + 1) {
      throw new RemoteProtocolError("message sequence skipped ahead");
    }
    const value = this._decoder.decode(frame.payload);
    this._received = seq;
    this._events.push(
      event(EventType.MESSAGE_RECEIVED, { value, channel: frame.channel, seq }),
    );
  }

  _handleControl(opcode, body) {
    switch (opcode) {
      case Opcode.ACK:
        this._handleAck(readBodyU64(body));
        break;
      case Opcode.PING:
        readBodyU64(body);
        this._write(encodeControl(Opcode.PONG, body));
        break;
      case Opcode.PONG:
        readBodyU64(body);
        break;
      case Opcode.CLOSE:
        this._handleClose(body);
        break;
      case Opcode.WELCOME:
        if (this.state !== SessionState.HANDSHAKE) {
          throw new RemoteProtocolError("unexpected handshake frame");
        }
        this._handleWelcome(body);
        break;
      case Opcode.HELLO:
      case Opcode.RESUME:
        throw new RemoteProtocolError("unexpected handshake frame");
      default:
        throw new RemoteProtocolError(`unknown opcode ${opcode}`);
    }
  }

  _handleAck(seq) {
    if (this.state !== SessionState.OPEN) {
      throw new RemoteProtocolError("ACK before WELCOME");
    }
    if (seq > this._sent) {
      throw new RemoteProtocolError("ACK of a message never sent");
    }
    this._dropAcknowledged(seq);
  }

  _handleClose(body) {
    if (body.length < 2) {
      throw new RemoteProtocolError("CLOSE without a code");
    }
    const code = (body[0] << 8) | body[1];
    // section 2.2: a reason that is not UTF-8 is ignored
    let reason = "";
    try {
      reason = strictUtf8.decode(body.subarray(2));
    } catch (error) {
      if (!(error instanceof TypeError)) {
        throw error;
      }
    }
    this._end(code, reason, true);
  }

  _handleWelcome(body) {
    const welcome = this._decoder.decode(body);
    if (!(welcome instanceof Welcome)) {
      throw new RemoteProtocolError("handshake frame of the wrong type");
    }
    const resuming = this.welcome !== null;
    if (welcome.resumed !== resuming) {
      throw new RemoteProtocolError("WELCOME does not answer what was asked");
    }
    // section 6.4: last_seq is an ACK, between what the server acknowledged
    // before (the replay buffer holds everything after it) and the last sent
    const lastSeq = welcome.last_seq;
    const acked = this._replay.length > 0 ? this._replay[0].seq - 1 : this._sent;
    if (lastSeq < acked || lastSeq > this._sent) {
      throw new RemoteProtocolError("WELCOME resumes from an unknown point");
    }
    const heartbeat = Number(welcome.heartbeat);
    const grace = Number(welcome.grace);
    if (!(
      heartbeat > 0 &&
      heartbeat <= MAX_HEARTBEAT &&
      grace >= 0 &&
      grace <= MAX_GRACE
    )) {
      throw new RemoteProtocolError("WELCOME timers out of range");
    }
    const maxFrame = welcome.max_frame;
    if (!(maxFrame >= MIN_FRAME_SIZE && maxFrame <= MAX_FRAME_SIZE_LIMIT)) {
      throw new RemoteProtocolError("max_frame out of range");
    }
    if (!resuming) {
      // the first table stays in force: a resume's WELCOME carries none
      this._decoder.setPeerTable(welcome.traits);
    }

    this._peerMaxFrame = Number(maxFrame);
    this._heartbeat = heartbeat;
    this._grace = grace;
    this.welcome = welcome;
    this.sessionId = welcome.session;
    this._token = welcome.token;
    this.state = SessionState.OPEN;
    this._handshakeDeadline = this._graceDeadline = null;
    this._dropAcknowledged(Number(lastSeq));

    // an ACK at once shows the server that this WELCOME arrived, then
    // everything not acknowledged goes again, in order
    this._acked = this._received;
    this._write(encodeControl(Opcode.ACK, u64(this._received)));
    for (const { frame } of this._replay) {
      this._write(frame);
    }
    if (resuming) {
      this._events.push(
        event(EventType.SESSION_RESUMED, { replayed: this._replay.length }),
      );
    } else {
      this._events.push(
        event(EventType.SESSION_ESTABLISHED, { session: welcome.session, welcome }),
      );
    }
  }

  _dropAcknowledged(seq) {
    let count = 0;
    while (count < this._replay.length && this._replay[count].seq <= seq) {
      this._replayBytes -= this._replay[count].frame.length;
      count++;
    }
    if (count > 0) {
      this._replay.splice(0, count);
    }
  }

  // -- writing and state changes

  _write(frame) {
    this._out.push(frame);
    this._lastSent = this._now;
  }

  /** One ACK for everything a call delivered (section 6.3). */
  _queueAck() {
    if (this._received > this._acked && this.state === SessionState.OPEN) {
      this._acked = this._received;
      this._write(encodeControl(Opcode.ACK, u64(this._acked)));
    }
  }

  _detach(code) {
    this._connected = false;
    this._out = [];
    this._handshakeDeadline = null;
    this._frames = new FrameDecoder(this.maxFrame);
    if (this.welcome !== null) {
      // the window runs from the first loss until a resume succeeds
      this.state = SessionState.DETACHED;
      if (this._graceDeadline === null) {
        this._graceDeadline = this._now + this._grace;
      }
    } else {
      // no session yet: the next connection says HELLO again
      this.state = SessionState.IDLE;
    }
    this._events.push(event(EventType.CONNECTION_LOST, { code }));
  }

  _fail(error) {
    this._end(error.code, error.reason, false);
  }

  _end(code, reason, remote) {
    if (this._connected && !remote) {
      this._write(encodeControl(Opcode.CLOSE, closeBody(code, reason)));
    }
    this.state = SessionState.CLOSED;
    this._connected = false;
    this._handshakeDeadline = this._graceDeadline = null;
    this._replay = [];
    this._replayBytes = 0;
    this._events.push(event(EventType.SESSION_ENDED, { code, reason, remote }));
  }
}
