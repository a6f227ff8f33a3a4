/**
 * A session over WebSocket or WebTransport, kept alive across dropped
 * connections: the I/O adapter of {@link ClientSession} for browsers (and
 * Node, given a WebSocket or WebTransport class).
 *
 * Over WebSocket each binary message holds one frame (docs/protocol.md
 * section 2.6): every frame the session produces goes out as one
 * `send()`, every message that comes in is fed whole to
 * {@link ClientSession#receiveMessage}. Over WebTransport (section 2.7)
 * the connection opens one bidirectional stream on the session at `/wt`
 * and the frames follow each other on it as over TLS: what is read is
 * fed to {@link ClientSession#receiveData}, split anywhere. One timer follows
 * {@link ClientSession#getTimer} for the heartbeat, the handshake timeout
 * and the grace window.
 *
 * When a socket closes while the session lives on (the network dropped,
 * or the heartbeat found the connection dead), the session is detached
 * (section 6.5) and the connection opens a new socket, at once and then
 * after a delay that doubles from 50 ms to 1 s, until one is welcomed
 * with RESUME (section 6.4) or the grace window ends the session
 * (SESSION_EXPIRED). While the browser says it is offline no socket is
 * tried; its `online` event brings the next try forward. The session
 * replays what the server missed, so calls in flight keep waiting and
 * are answered after the resume: their callers notice a delay, nothing
 * more. Only the end of the session fails them, with
 * {@link SessionClosed}.
 *
 * Answers to calls (`lg.Result`, `lg.Error`) settle the promise of their
 * call; every other message (and media chunk) is queued for
 * {@link Connection#receive}, or for a `for await` loop over the
 * connection.
 *
 * @module connection
 */

import { CloseCode, LocalProtocolError, ProtocolError } from "./errors.js";
import { Call, CallError, Result } from "./messages.js";
import { ClientSession, EventType, SessionState } from "./session.js";

/** The first wait between two tries to reconnect, in seconds. */
export const MIN_RECONNECT_DELAY = 0.05;
/** The longest wait between two tries to reconnect, in seconds. */
export const MAX_RECONNECT_DELAY = 1;

// The WebSocket API lets a client close with 1000 or 3000-4999 only: the
// session's own CLOSE frame says why, the socket just ends.
const SOCKET_NORMAL = 1000;

/** The session ended; `code` and `reason` say why (section 7). */
export class SessionClosed extends ProtocolError {
  /**
   * @param {number} code
   * @param {string} reason
   */
  constructor(code, reason) {
    super(`session closed: ${code} ${reason}`.trimEnd());
    /** @type {number} */
    this.code = code;
    /** @type {string} */
    this.reason = reason;
  }
}
SessionClosed.prototype.name = "SessionClosed";

/**
 * The first connection closed before the session was welcomed: the
 * server could not be reached, or did not answer the HELLO in time.
 * Nothing was lost; {@link Connection#connect} may be called again.
 */
export class ConnectionFailed extends ProtocolError {
  /**
   * @param {number} code The WebSocket's close code (1006 when it never
   *   opened), or HANDSHAKE_TIMEOUT.
   */
  constructor(code) {
    super(`connection failed: ${code}`);
    /** @type {number} */
    this.code = code;
  }
}
ConnectionFailed.prototype.name = "ConnectionFailed";

/** The server answered a call with an `lg.Error` (section 5). */
export class RemoteCallError extends ProtocolError {
  /**
   * @param {number} code An ErrorCode, or an application's from 1000 on.
   * @param {string} message For people.
   * @param {unknown} [data] For programs.
   */
  constructor(code, message, data = null) {
    super(message);
    /** @type {number} */
    this.code = code;
    /** @type {unknown} */
    this.data = data;
  }
}
RemoteCallError.prototype.name = "RemoteCallError";

function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

/** How long a closing WebTransport session waits for the server's end. */
const WEBTRANSPORT_CLOSE_LINGER_MS = 1000;

/**
 * `value` as the bytes of a SHA-256: a Uint8Array, an ArrayBuffer or a
 * hex string (colons allowed, as `lgserver cert show` prints it).
 */
function hashBytes(value) {
  if (typeof value === "string") {
    const hex = value.replaceAll(":", "");
    if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
      throw new LocalProtocolError(`not a SHA-256 in hex: ${value}`);
    }
    return Uint8Array.from(hex.match(/../g), (pair) => parseInt(pair, 16));
  }
  const bytes = ArrayBuffer.isView(value)
    ? new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
    : new Uint8Array(value);
  if (bytes.length !== 32) {
    throw new LocalProtocolError("a SHA-256 is 32 bytes");
  }
  return bytes;
}

/**
 * One WebTransport session and its one bidirectional stream, with the
 * handlers of a WebSocket: `onopen()` once the stream is open,
 * `onmessage(chunk)` with each chunk read from it, `onclose(code)` once
 * it is over (1006: it never opened, or was cut).
 */
class StreamSocket {
  constructor(WebTransportClass, url, options) {
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this._writer = null;
    this._closing = false;
    this._over = false;
    this._transport = new WebTransportClass(url, options);
    // a refused or lost session rejects these; the read loop says so
    this._transport.ready.catch(() => {});
    this._transport.closed.catch(() => {});
    this._run();
  }

  async _run() {
    try {
      await this._transport.ready;
      const stream = await this._transport.createBidirectionalStream();
      this._writer = stream.writable.getWriter();
      const reader = stream.readable.getReader();
      if (!this._closing) {
        this.onopen?.();
      }
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          break;
        }
        this.onmessage?.(value);
      }
    } catch {
      // the session was refused, or it ended: both are a close
    }
    this._end();
  }

  /** Queue one frame on the stream. */
  send(frame) {
    this._writer?.write(frame).catch(() => {});
  }

  /**
   * End the stream after what is queued; the session closes when the
   * server has ended its side, or a moment later.
   */
  close() {
    if (this._closing || this._over) {
      return;
    }
    this._closing = true;
    if (this._writer === null) {
      this._closeSession();
      return;
    }
    this._writer.close().catch(() => {});
    setTimeout(() => this._closeSession(), WEBTRANSPORT_CLOSE_LINGER_MS);
  }

  _closeSession() {
    try {
      this._transport.close({ closeCode: 0, reason: "" });
    } catch {
      // closed already
    }
  }

  _end() {
    if (this._over) {
      return;
    }
    this._over = true;
    this._closeSession();
    this.onclose?.(1006);
  }
}

function defaultEventTarget() {
  return typeof globalThis.addEventListener === "function" ? globalThis : null;
}

/**
 * A client's session with an lgserver over WebSocket or WebTransport.
 */
export class Connection {
  /**
   * @param {object} options
   * @param {string | URL} options.url The server's endpoint:
   *   `wss://host:port/ws`, or `https://host:port/wt` for WebTransport.
   * @param {"websocket" | "webtransport"} [options.transport] How frames
   *   travel; `"websocket"` by default.
   * @param {Array<Uint8Array | ArrayBuffer | string>} [options.certificateHashes]
   *   Over WebTransport: SHA-256 hashes of certificates trusted without a
   *   CA (the development certificate, whose hash `/wt-cert` gives).
   * @param {import("./codec.js").Registry} options.registry The client's
   *   message classes.
   * @param {string} options.build The client's build, sent in HELLO.
   * @param {Map<string, unknown> | object | null} [options.auth]
   *   Credentials, as the server defines them.
   * @param {object} [options.session] Further options of
   *   {@link ClientSession} (maxFrame, handshakeTimeout, limits, ...).
   * @param {typeof WebSocket} [options.WebSocket] The WebSocket class;
   *   `globalThis.WebSocket` by default (Node 20 has none).
   * @param {Function} [options.WebTransport] The WebTransport class;
   *   `globalThis.WebTransport` by default.
   * @param {() => number} [options.clock] A monotonic clock in seconds;
   *   `performance.now() / 1000` by default.
   * @param {(callback: () => void, ms: number) => unknown} [options.setTimer]
   *   `setTimeout` by default.
   * @param {(handle: unknown) => void} [options.clearTimer]
   *   `clearTimeout` by default.
   * @param {EventTarget | null} [options.onlineEvents] Where `online`
   *   events fire: the global object in a page or a worker.
   * @param {() => boolean} [options.isOnline] Whether the network may be
   *   reachable: `navigator.onLine`, true where there is no navigator.
   * @throws {LocalProtocolError} An unknown transport, no class for it,
   *   a malformed certificate hash, or a session option out of range.
   */
  constructor({
    url,
    registry,
    build,
    auth = null,
    session = {},
    transport = "websocket",
    certificateHashes = [],
    WebSocket = globalThis.WebSocket,
    WebTransport = globalThis.WebTransport,
    clock = () => performance.now() / 1000,
    setTimer = (callback, ms) => setTimeout(callback, ms),
    clearTimer = (handle) => clearTimeout(handle),
    onlineEvents = defaultEventTarget(),
    isOnline = () => globalThis.navigator?.onLine !== false,
  }) {
    if (transport === "webtransport") {
      if (typeof WebTransport !== "function") {
        throw new LocalProtocolError(
          "no WebTransport class: pass options.WebTransport",
        );
      }
    } else if (transport !== "websocket") {
      throw new LocalProtocolError(`unknown transport: ${transport}`);
    } else if (typeof WebSocket !== "function") {
      throw new LocalProtocolError("no WebSocket class: pass options.WebSocket");
    }
    this.url = String(url);
    /** `"websocket"` or `"webtransport"`. */
    this.transport = transport;
    this._hashes = certificateHashes.map((value) => ({
      algorithm: "sha-256",
      value: hashBytes(value),
    }));
    /** The session this connection carries. */
    this.session = new ClientSession({ ...session, registry, build, auth });
    /**
     * The SessionEnded event once the session is over, else null.
     * @type {Readonly<{type: string, code: number, reason: string,
     *   remote: boolean}> | null}
     */
    this.ended = null;
    /** How many times the session was resumed on a new socket. */
    this.resumes = 0;

    this._WebSocket = WebSocket;
    this._WebTransport = WebTransport;
    this._clock = clock;
    this._setTimer = setTimer;
    this._clearTimer = clearTimer;
    this._onlineEvents = onlineEvents;
    this._isOnline = isOnline;
    this._onOnline = () => this._online();
    this._listening = false;

    // the socket: at most one, opening or open
    this._socket = null;
    this._opened = false;
    this._timer = null;
    this._retryTimer = null;
    this._retryDelay = 0;

    // the application's side
    this._established = null;
    this._nextId = 1;
    /** @type {Map<number, {resolve: Function, reject: Function}>} */
    this._calls = new Map();
    this._inbox = [];
    this._receivers = [];
  }

  /** One of {@link SessionState}. */
  get state() {
    return this.session.state;
  }

  /** Whether the session has an open, welcomed socket now. */
  get open() {
    return this.session.state === SessionState.OPEN;
  }

  /**
   * Open the session: a socket, then HELLO (section 6.1). Calling it
   * again returns the same promise, unless the last try failed.
   *
   * @returns {Promise<void>} Settles on the WELCOME.
   * @throws {SessionClosed} (rejects) The server refused the HELLO
   *   (AUTH_FAILED, BUILD_REFUSED, ...), or the session had ended.
   * @throws {ConnectionFailed} (rejects) No socket opened, or it closed
   *   before the WELCOME.
   */
  connect() {
    if (this.ended !== null) {
      return Promise.reject(new SessionClosed(this.ended.code, this.ended.reason));
    }
    if (this._established === null) {
      this._established = deferred();
      const { promise } = this._established;
      this._listen();
      if (this._socket === null) {
        try {
          this._openSocket();
        } catch (error) {
          this._established = null;
          return Promise.reject(error);
        }
      }
      return promise;
    }
    return this._established.promise;
  }

  /**
   * Call a method of the server (section 5). The call survives dropped
   * connections: it is answered after the resume.
   *
   * @param {string} method
   * @param {unknown} [params]
   * @returns {Promise<unknown>} The `value` of the `lg.Result`.
   * @throws {RemoteCallError} (rejects) The server answered `lg.Error`.
   * @throws {SessionClosed} (rejects) The session ended first.
   * @throws {LocalProtocolError} (rejects) The params cannot be encoded
   *   or are larger than the server accepts.
   */
  async call(method, params = null) {
    this._checkOpen();
    const id = this._nextId++;
    const answer = new Promise((resolve, reject) => {
      this._calls.set(id, { resolve, reject });
    });
    try {
      this.session.send(new Call({ id, method, params }), { now: this._clock() });
    } catch (error) {
      this._calls.delete(id);
      throw error;
    }
    this._after();
    return answer;
  }

  /**
   * Send a message that expects no answer (section 6.3). Sent with no
   * socket, it waits for the resume; a volatile one is dropped.
   *
   * @param {unknown} value
   * @param {{channel?: number, volatile?: boolean}} [options]
   * @returns {number} Its sequence number, 0 when volatile.
   * @throws {SessionClosed} The session has ended.
   * @throws {LocalProtocolError} The value cannot be encoded or is too
   *   large.
   */
  send(value, { channel = 0, volatile = false } = {}) {
    this._checkOpen();
    const now = this._clock();
    const seq = this.session.send(value, { channel, volatile, now });
    this._after();
    return seq;
  }

  /**
   * The next event from the server that does not answer a call: a
   * MessageReceived `{value, channel, seq}` or a MediaReceived, in the
   * order they came.
   *
   * @returns {Promise<Readonly<{type: string}>>}
   * @throws {SessionClosed} (rejects) The session has ended and every
   *   event before its end has been received.
   */
  receive() {
    if (this._inbox.length > 0) {
      return Promise.resolve(this._inbox.shift());
    }
    if (this.ended !== null) {
      return Promise.reject(new SessionClosed(this.ended.code, this.ended.reason));
    }
    return new Promise((resolve, reject) => {
      this._receivers.push({ resolve, reject });
    });
  }

  /**
   * `for await (const event of connection)`: the events of
   * {@link Connection#receive} until the session ends; then the loop
   * stops, and {@link Connection#ended} says why.
   */
  async *[Symbol.asyncIterator]() {
    for (;;) {
      let event;
      try {
        event = await this.receive();
      } catch (error) {
        if (error instanceof SessionClosed) {
          return;
        }
        throw error;
      }
      yield event;
    }
  }

  /**
   * End the session (section 6.7): CLOSE goes out if a socket is open,
   * then the socket closes. Calls still waiting fail with
   * {@link SessionClosed}. Does nothing once the session is over.
   *
   * @param {number} [code] A close code (NORMAL by default).
   * @param {string} [reason]
   * @throws {LocalProtocolError} The code is not a u16.
   */
  close(code = CloseCode.NORMAL, reason = "") {
    this.session.close(code, reason);
    this._after();
  }

  // -- the socket

  _openSocket() {
    let socket;
    if (this.transport === "webtransport") {
      const options = this._hashes.length
        ? { serverCertificateHashes: this._hashes }
        : {};
      socket = new StreamSocket(this._WebTransport, this.url, options);
      socket.onmessage = (chunk) => this._dataReceived(socket, chunk);
      socket.onclose = (code) => this._socketClosed(socket, code);
    } else {
      socket = new this._WebSocket(this.url);
      socket.binaryType = "arraybuffer";
      socket.onmessage = (message) => this._messageReceived(socket, message.data);
      socket.onclose = (closing) => this._socketClosed(socket, closing.code);
    }
    socket.onopen = () => this._socketOpened(socket);
    this._socket = socket;
    this._opened = false;
  }

  _dataReceived(socket, chunk) {
    if (socket !== this._socket) {
      return;
    }
    this.session.receiveData(chunk, this._clock());
    this._after();
  }

  _socketOpened(socket) {
    if (socket !== this._socket) {
      return;
    }
    this._opened = true;
    this.session.connectionMade(this._clock());
    this._after();
  }

  _messageReceived(socket, data) {
    if (socket !== this._socket) {
      return;
    }
    const message = typeof data === "string" ? data : new Uint8Array(data);
    this.session.receiveMessage(message, this._clock());
    this._after();
  }

  _socketClosed(socket, code) {
    if (socket !== this._socket) {
      return;
    }
    this._socket = null;
    this._opened = false;
    if (this.session.connected) {
      // the ConnectionLost event that follows decides what comes next
      this.session.connectionLost(this._clock());
      this._after();
    } else {
      this._socketGone(code ?? 1006);
    }
  }

  /** Forget the socket and close it: the session has given it up. */
  _dropSocket() {
    const socket = this._socket;
    this._socket = null;
    this._opened = false;
    if (socket !== null) {
      socket.onopen = socket.onmessage = socket.onclose = null;
      socket.close(SOCKET_NORMAL);
    }
  }

  _socketGone(code) {
    if (this.session.state === SessionState.CLOSED) {
      return;
    }
    if (this.session.welcome === null) {
      // never welcomed: nothing to resume, the caller of connect() decides
      const established = this._established;
      this._established = null;
      established?.reject(new ConnectionFailed(code));
      return;
    }
    this._retryLater();
  }

  // -- reconnecting

  _retryLater() {
    if (this._retryTimer !== null || this._socket !== null) {
      return;
    }
    const delay = this._retryDelay;
    this._retryDelay = Math.min(
      Math.max(delay * 2, MIN_RECONNECT_DELAY),
      MAX_RECONNECT_DELAY,
    );
    this._retryTimer = this._setTimer(() => {
      this._retryTimer = null;
      this._retry();
    }, delay * 1000);
  }

  _retry() {
    if (this.ended !== null || this._socket !== null) {
      return;
    }
    if (!this._isOnline()) {
      // no try is worth making offline; the online event comes sooner
      this._retryLater();
      return;
    }
    try {
      this._openSocket();
    } catch {
      this._retryLater();
    }
  }

  _online() {
    if (this._retryTimer === null) {
      return;
    }
    this._clearTimer(this._retryTimer);
    this._retryTimer = null;
    this._retry();
  }

  _listen() {
    if (!this._listening && this._onlineEvents !== null) {
      this._onlineEvents.addEventListener("online", this._onOnline);
      this._listening = true;
    }
  }

  _unlisten() {
    if (this._listening) {
      this._onlineEvents.removeEventListener("online", this._onOnline);
      this._listening = false;
    }
  }

  // -- the session's output

  _after() {
    const frames = this.session.dataToSend();
    if (this._opened) {
      for (const frame of frames) {
        this._socket.send(frame);
      }
    }
    for (let e = this.session.nextEvent(); e !== null; e = this.session.nextEvent()) {
      this._handle(e);
    }
    this._schedule();
  }

  _handle(event) {
    switch (event.type) {
      case EventType.MESSAGE_RECEIVED:
        if (!this._answer(event.value)) {
          this._deliver(event);
        }
        break;
      case EventType.MEDIA_RECEIVED:
        this._deliver(event);
        break;
      case EventType.SESSION_ESTABLISHED:
        this._retryDelay = 0;
        this._established?.resolve();
        break;
      case EventType.SESSION_RESUMED:
        this._retryDelay = 0;
        this.resumes++;
        break;
      case EventType.CONNECTION_LOST:
        // with a code the session gave the socket up (section 6.6);
        // without one the socket had closed already
        if (event.code !== null) {
          this._dropSocket();
        }
        this._socketGone(event.code ?? 1006);
        break;
      case EventType.SESSION_ENDED:
        this._ended(event);
        break;
    }
  }

  _answer(value) {
    if (!(value instanceof Result || value instanceof CallError)) {
      return false;
    }
    const call = this._calls.get(value.id);
    if (call === undefined) {
      return false;
    }
    this._calls.delete(value.id);
    if (value instanceof Result) {
      call.resolve(value.value);
    } else {
      call.reject(new RemoteCallError(value.code, value.message, value.data));
    }
    return true;
  }

  _deliver(event) {
    const receiver = this._receivers.shift();
    if (receiver !== undefined) {
      receiver.resolve(event);
    } else {
      this._inbox.push(event);
    }
  }

  _ended(event) {
    this.ended = event;
    const failure = () => new SessionClosed(event.code, event.reason);
    for (const call of this._calls.values()) {
      call.reject(failure());
    }
    this._calls.clear();
    for (const receiver of this._receivers.splice(0)) {
      receiver.reject(failure());
    }
    this._established?.reject(failure());

    // the CLOSE frame, if any, was written before the events were read
    if (this._retryTimer !== null) {
      this._clearTimer(this._retryTimer);
      this._retryTimer = null;
    }
    this._unlisten();
    this._dropSocket();
  }

  _schedule() {
    if (this._timer !== null) {
      this._clearTimer(this._timer);
      this._timer = null;
    }
    const deadline = this.session.getTimer();
    if (deadline === null) {
      return;
    }
    const delay = Math.max(0, deadline - this._clock());
    this._timer = this._setTimer(() => {
      this._timer = null;
      this.session.handleTimer(this._clock());
      this._after();
    }, delay * 1000);
  }

  _checkOpen() {
    if (this.ended !== null) {
      throw new SessionClosed(this.ended.code, this.ended.reason);
    }
  }
}
