/**
 * What wss.html and wt.html expose as `window.lg`, for a test to call
 * through page.evaluate. Values cross to the test as JSON, so answers
 * are turned into a tagged plain form first ({@link plain}).
 *
 * The page's `<html data-transport>` picks the transport: a WebSocket at
 * `/ws` by default, or WebTransport at `/wt` with the certificate hash
 * the server gives at `/wt-cert`.
 */

import { Connection, Event as LgEvent, Registry } from "../lib/index.js";

const registry = new Registry();
/** @type {Connection | null} */
let connection = null;
const ticks = [];
const others = [];
const counted = [];
const pushed = [];
let issued = 0;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A value in a form JSON keeps whole: maps (and plain objects, which the
 * codec sends as maps) become `{$map: [[key, value], ...]}`, bytes
 * `{$bytes}`, big integers `{$int}` and timestamps `{$date}`.
 */
function plain(value) {
  if (value instanceof Map) {
    return { $map: [...value].map(([key, item]) => [key, plain(item)]) };
  }
  if (value instanceof Uint8Array) {
    return { $bytes: [...value] };
  }
  if (value instanceof Date) {
    return { $date: value.toISOString() };
  }
  if (typeof value === "bigint") {
    return { $int: value.toString() };
  }
  if (Array.isArray(value)) {
    return value.map(plain);
  }
  if (value !== null && typeof value === "object") {
    return { $map: Object.entries(value).map(([key, item]) => [key, plain(item)]) };
  }
  return value;
}

function failure(error) {
  return { name: error.name, code: error.code ?? null, message: error.message };
}

/** Keep every outcome of a call: there must be exactly one. */
function track(promise) {
  const outcomes = [];
  const done = promise.then(
    (value) => outcomes.push({ value: plain(value) }),
    (error) => outcomes.push({ error: failure(error) }),
  );
  return { outcomes, done };
}

async function consume(current) {
  for await (const event of current) {
    if (event.value instanceof LgEvent && event.value.name === "tick") {
      ticks.push(event.value.data);
    } else {
      others.push(plain(event.value));
    }
  }
}

/** Where and how to connect, as options of a Connection. */
async function endpoint() {
  if (document.documentElement.dataset.transport !== "webtransport") {
    return { url: `wss://${location.host}/ws` };
  }
  const response = await fetch("/wt-cert", { cache: "no-store" });
  const { sha256, port } = await response.json();
  return {
    transport: "webtransport",
    url: `https://${location.hostname}:${port}/wt`,
    certificateHashes: [sha256],
  };
}

function show() {
  document.getElementById("state").textContent = connection?.state ?? "none";
}

window.lg = {
  /** Open a session; its id, or the failure. */
  async connect(auth = { visitor: "wss-test-page-visitor1" }) {
    connection = new Connection({
      ...(await endpoint()),
      registry,
      build: "web-test",
      auth,
    });
    try {
      await connection.connect();
    } catch (error) {
      return { error: failure(error) };
    } finally {
      show();
    }
    consume(connection);
    return { session: connection.session.sessionId };
  },

  /** One call, awaited: `{value}` or `{error}`. */
  async call(method, params = null) {
    const { outcomes, done } = track(connection.call(method, params));
    await done;
    return outcomes[0];
  },

  /** Echo a value of every kind; what went and what came back. */
  async echoNested() {
    const value = {
      text: "héllo ✓",
      numbers: [0, -1, 2.5, 2 ** 40, 2n ** 60n],
      flags: [true, false, null],
      bytes: Uint8Array.of(0, 1, 254, 255),
      when: new Date(Date.UTC(2026, 11, 3, 12, 30, 15, 250)),
      deep: { a: [{ b: new Map([["c", [[]]]]) }] },
    };
    const answer = await connection.call("echo", value);
    return {
      sent: plain(value),
      got: plain(answer),
      kinds: [
        answer instanceof Map,
        answer.get("bytes") instanceof Uint8Array,
        typeof answer.get("numbers")[4],
        answer.get("when") instanceof Date,
      ],
    };
  },

  /**
   * Call `count` with 1..n, `gap` ms apart, and `push` (5 ticks) after
   * every tenth; returns at once.
   */
  startCounting(n, gap) {
    (async () => {
      for (let i = 1; i <= n; i++) {
        counted.push(track(connection.call("count", i)));
        if (i % 10 === 0) {
          pushed.push(track(connection.call("push", 5)));
        }
        issued = i;
        await sleep(gap);
      }
    })();
  },

  /** How many of the calls of startCounting have been made. */
  issued: () => issued,

  /** Every outcome of every call of startCounting, once all are in. */
  async settled() {
    await Promise.all([...counted, ...pushed].map((call) => call.done));
    return {
      counted: counted.map((call) => call.outcomes),
      pushed: pushed.map((call) => call.outcomes),
    };
  },

  /** Where the connection stands. */
  status() {
    show();
    return {
      state: connection.state,
      resumes: connection.resumes,
      ended: connection.ended && { code: connection.ended.code },
      ticks: [...ticks],
      others: [...others],
    };
  },

  close(code, reason) {
    connection.close(code, reason);
    show();
  },
};
document.getElementById("state").textContent = "ready";
