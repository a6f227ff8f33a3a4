/**
 * The browser clients' session with lgserver: a {@link Connection} over a
 * WebSocket to the page's own server, with the chat API's events handed
 * over as plain `{name, data}` objects (see plain.js).
 *
 * The connection resumes by itself after a network drop (docs/protocol.md
 * section 6.5); what the page sees of it is {@link LiveSession#link}:
 * `"connecting"`, `"open"`, `"reconnecting"` (the grace window runs) or
 * `"closed"`, reported to `onLink` whenever it changes.
 *
 * @module client
 */

import { Connection, Event, Registry, RemoteCallError } from "../lib/index.js";
import { plain } from "./plain.js";

/** The build the browser clients announce in HELLO. */
export const BUILD = "web-1.0.0";

const LINK_POLL_MS = 500;

/**
 * The state of the link as the page shows it.
 *
 * @param {string} sessionState A SessionState.
 * @returns {"connecting" | "open" | "reconnecting" | "closed"}
 */
export function linkState(sessionState) {
  switch (sessionState) {
    case "open":
      return "open";
    case "detached":
      return "reconnecting";
    case "closed":
      return "closed";
    default:
      return "connecting";
  }
}

/** The error code of a failed call: the server's, or null. */
export function errorCode(error) {
  return error instanceof RemoteCallError ? error.code : null;
}

export class LiveSession {
  /**
   * @param {object} options
   * @param {object} options.auth HELLO credentials.
   * @param {(event: {name: string, data: any}) => void} options.onEvent
   * @param {(link: string) => void} [options.onLink]
   * @param {(ended: {code: number, reason: string}) => void} [options.onEnd]
   * @param {string} [options.url] The WebSocket URL; the page's server's
   *   `/ws` by default.
   */
  constructor({ auth, onEvent, onLink = () => {}, onEnd = () => {}, url }) {
    this.connection = new Connection({
      url: url ?? `wss://${location.host}/ws`,
      registry: new Registry(),
      build: BUILD,
      auth,
    });
    this._onEvent = onEvent;
    this._onLink = onLink;
    this._onEnd = onEnd;
    this.link = "connecting";
    this._poll = null;
  }

  /**
   * Open the session.
   *
   * @throws {import("../lib/index.js").SessionClosed} (rejects) Refused.
   * @throws {import("../lib/index.js").ConnectionFailed} (rejects) No
   *   connection could be made.
   */
  async open() {
    await this.connection.connect();
    this._update();
    this._poll = setInterval(() => this._update(), LINK_POLL_MS);
    this._pump();
  }

  /**
   * Call a method; its result in plain form.
   *
   * @throws {RemoteCallError} (rejects) The server refused.
   * @throws {import("../lib/index.js").SessionClosed} (rejects) Over.
   */
  async call(method, params = {}) {
    return plain(await this.connection.call(method, params));
  }

  /**
   * Send an event; volatile ones are dropped while there is no
   * connection. Returns false when the session is over.
   */
  emit(name, data, { volatile = false } = {}) {
    try {
      this.connection.send(new Event({ name, data }), { volatile });
      return true;
    } catch {
      return false;
    }
  }

  /** End the session on purpose. */
  close() {
    this.connection.close(1000, "");
    this._update();
  }

  _update() {
    const link = linkState(this.connection.state);
    if (link !== this.link) {
      this.link = link;
      this._onLink(link);
    }
    if (link === "closed" && this._poll !== null) {
      clearInterval(this._poll);
      this._poll = null;
    }
  }

  async _pump() {
    for await (const received of this.connection) {
      const value = received.value;
      if (value instanceof Event) {
        this._onEvent({ name: value.name, data: plain(value.data) ?? {} });
      }
    }
    this._update();
    const ended = this.connection.ended;
    this._onEnd({ code: ended?.code ?? 1006, reason: ended?.reason ?? "" });
  }
}
