// The WebSocket adapter (lib/connection.js) against a scripted server:
// a fake WebSocket class, a fake clock and fake timers, no network. The
// test drives the network itself: it lets queued socket events happen
// (`settle`), moves time on (`advance`), and drops or refuses sockets.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  Call,
  CallError,
  CloseCode,
  Connection,
  ConnectionFailed,
  ErrorCode,
  FrameKind,
  Hello,
  LocalProtocolError,
  Opcode,
  ProtocolError,
  Registry,
  RemoteCallError,
  Result,
  Resume,
  SessionClosed,
  SessionState,
  Welcome,
  decodeFrame,
  encodeControl,
  encodeMessage,
} from "../lib/index.js";
import { Event as LgEvent } from "../lib/messages.js";
import { concat } from "../testing/tagged.js";

const client = new Registry();
const Note = client.register("chat.Note", [{ name: "text", type: "str" }]);
const server = new Registry();
const ServerNote = server.register("chat.Note", ["text"]);

const TOKEN = Uint8Array.from({ length: 32 }, (_, i) => i);

function u64(n) {
  const body = new Uint8Array(8);
  new DataView(body.buffer).setBigUint64(0, BigInt(n));
  return body;
}

function closeFrame(code, reason = "") {
  const head = Uint8Array.of(code >> 8, code & 0xff);
  return encodeControl(Opcode.CLOSE, concat([head, new TextEncoder().encode(reason)]));
}

/**
 * The server's side, written frame by frame: it welcomes HELLO and
 * RESUME, numbers what it sends and sends again, on a resume, whatever
 * the client did not receive; it drops duplicates, acknowledges every
 * message and answers calls to `echo` and `fail` (unless holding them).
 */
class ScriptedServer {
  constructor(world) {
    this.world = world;
    this.decoder = server.decoder(client.traitTable());
    this.socket = null;
    this.sent = [];
    this.received = 0;
    this.hellos = [];
    this.resumes = [];
    this.calls = [];
    this.notes = [];
    this.closes = [];
    this.held = [];
    this.hold = false;
    this.refuse = null;
    this.silent = false;
    this.deaf = new Set();
    this.grace = 15;
  }

  receive(socket, bytes) {
    if (socket !== this.socket || this.silent || this.deaf.has(socket)) {
      return;
    }
    const frame = decodeFrame(bytes);
    if (frame.kind === FrameKind.CONTROL) {
      this.control(socket, frame.channel, frame.payload);
      return;
    }
    assert.equal(frame.kind, FrameKind.MESSAGE);
    if (frame.seq <= this.received) {
      return;
    }
    assert.equal(frame.seq, this.received + 1, "no gap");
    this.received = frame.seq;
    this.write(encodeControl(Opcode.ACK, u64(this.received)));
    const value = this.decoder.decode(frame.payload);
    if (!(value instanceof Call)) {
      this.notes.push(value);
    } else if (this.hold) {
      this.calls.push(value);
      this.held.push(value);
    } else {
      this.calls.push(value);
      this.answer(value);
    }
  }

  control(socket, opcode, body) {
    if (opcode === Opcode.HELLO) {
      this.hellos.push(this.decoder.decode(body));
      if (this.refuse !== null) {
        this.write(closeFrame(this.refuse, "refused"));
        socket.serverClose();
      } else {
        this.write(this.welcome(false));
      }
    } else if (opcode === Opcode.RESUME) {
      const resume = this.decoder.decode(body);
      this.resumes.push(resume);
      this.write(this.welcome(true));
      for (const frame of this.sent.slice(Number(resume.last_seq))) {
        this.write(frame);
      }
    } else if (opcode === Opcode.PING) {
      this.write(encodeControl(Opcode.PONG, body));
    } else if (opcode === Opcode.CLOSE) {
      const code = (body[0] << 8) | body[1];
      this.closes.push({ code, reason: new TextDecoder().decode(body.subarray(2)) });
    }
  }

  welcome(resumed) {
    const welcome = new Welcome({
      session: "s-1",
      token: TOKEN,
      resumed,
      last_seq: this.received,
      max_frame: 1 << 20,
      heartbeat: 5,
      grace: this.grace,
      traits: resumed ? [] : server.traitTable(),
    });
    return encodeControl(Opcode.WELCOME, server.encoder.encode(welcome));
  }

  answer(call) {
    if (call.method === "echo") {
      this.push(new Result({ id: call.id, value: call.params }));
    } else {
      const data = { method: call.method };
      this.push(
        new CallError({ id: call.id, code: ErrorCode.NOT_FOUND, message: "no", data }),
      );
    }
  }

  release() {
    for (const call of this.held.splice(0)) {
      this.answer(call);
    }
  }

  /** Send a numbered message: now if connected, on the next resume if not. */
  push(value) {
    const seq = this.sent.length + 1;
    const frame = encodeMessage(seq, server.encoder.encode(value));
    this.sent.push(frame);
    this.write(frame);
  }

  write(frame) {
    const socket = this.socket;
    if (socket !== null) {
      this.world.post(() => socket.deliver(frame));
    }
  }
}

/** A WebSocket of the WHATWG API, on the world's pretend network. */
class FakeSocket {
  constructor(world, url) {
    this.world = world;
    this.url = url;
    this.readyState = 0;
    this.binaryType = "blob";
    this.closedWith = null;
    this.createdAt = world.ms;
    this.onopen = this.onmessage = this.onclose = null;
    world.sockets.push(this);
    world.post(() => world.meet(this));
  }

  send(data) {
    assert.equal(this.readyState, 1, "send on an open socket only");
    assert.ok(data instanceof Uint8Array);
    const copy = data.slice();
    this.world.post(() => this.world.server.receive(this, copy));
  }

  close(code) {
    if (this.readyState >= 2) {
      return;
    }
    // what was sent before still arrives, then the socket closes
    this.closedWith = code;
    this.readyState = 2;
    this.world.post(() => {
      this.leave();
      this.ended(code);
    });
  }

  // -- the network's side

  open() {
    this.readyState = 1;
    this.world.server.socket = this;
    this.onopen?.({ type: "open" });
  }

  fail() {
    this.ended(1006);
  }

  deliver(frame) {
    if (this.readyState !== 1) {
      return;
    }
    assert.equal(this.binaryType, "arraybuffer");
    this.onmessage?.({ data: frame.slice().buffer });
  }

  /** The connection is cut: neither side hears from the other again. */
  lose() {
    if (this.readyState === 3) {
      return;
    }
    this.readyState = 3;
    this.leave();
    this.world.post(() => this.onclose?.({ code: 1006 }));
  }

  serverClose() {
    this.leave();
    this.world.post(() => this.ended(1000));
  }

  leave() {
    if (this.world.server.socket === this) {
      this.world.server.socket = null;
    }
  }

  ended(code) {
    this.readyState = 3;
    this.onclose?.({ code });
  }
}

/** The clock, the timers and the network of one test. */
class World {
  constructor() {
    this.ms = 0;
    this.timers = new Set();
    this.tasks = [];
    this.sockets = [];
    this.online = true;
    this.onlineEvents = new EventTarget();
    this.policy = "accept";
    this.server = new ScriptedServer(this);
    const world = this;
    this.WebSocket = class extends FakeSocket {
      constructor(url) {
        super(world, url);
      }
    };
  }

  get now() {
    return this.ms / 1000;
  }

  connection(options = {}) {
    return new Connection({
      url: "wss://chat.example/ws",
      registry: client,
      build: "web-test",
      auth: { visitor: "v-1" },
      WebSocket: this.WebSocket,
      clock: () => this.now,
      setTimer: (callback, ms) => {
        // whole milliseconds, never early: the clock never drifts
        const timer = { at: this.ms + Math.ceil(ms), callback };
        this.timers.add(timer);
        return timer;
      },
      clearTimer: (timer) => this.timers.delete(timer),
      onlineEvents: this.onlineEvents,
      isOnline: () => this.online,
      ...options,
    });
  }

  /** What a new socket meets: "accept", "fail" or "hold" (never answered). */
  meet(socket) {
    if (socket.readyState !== 0) {
      return;
    }
    if (this.policy === "accept") {
      socket.open();
    } else if (this.policy === "fail") {
      socket.fail();
    }
  }

  post(task) {
    this.tasks.push(task);
  }

  /** Let every socket event happen, and every promise settle. */
  async settle() {
    for (let round = 0; round < 100_000; round++) {
      await new Promise((resolve) => setImmediate(resolve));
      const task = this.tasks.shift();
      if (task === undefined) {
        return;
      }
      task();
    }
    throw new Error("the network never went quiet");
  }

  /** Move the clock on, firing the timers that come due in turn. */
  async advance(seconds) {
    const end = this.ms + Math.round(seconds * 1000);
    await this.settle();
    for (;;) {
      let next = null;
      for (const timer of this.timers) {
        if (timer.at <= end && (next === null || timer.at < next.at)) {
          next = timer;
        }
      }
      if (next === null) {
        break;
      }
      this.timers.delete(next);
      this.ms = Math.max(this.ms, next.at);
      next.callback();
      await this.settle();
    }
    this.ms = end;
    await this.settle();
  }

  /** Cut the current connection, as a network failure would. */
  drop() {
    this.server.socket?.lose();
  }

  get socket() {
    return this.sockets.at(-1);
  }
}

/** The settled state of a promise, without waiting for it. */
function watch(promise) {
  const state = { done: false, value: undefined, error: undefined };
  promise.then(
    (value) => Object.assign(state, { done: true, value }),
    (error) => Object.assign(state, { done: true, error }),
  );
  return state;
}

async function connected(world, options = {}) {
  const connection = world.connection(options);
  const opening = connection.connect();
  await world.settle();
  await opening;
  return connection;
}

describe("opening", () => {
  test("connect resolves on the WELCOME", async () => {
    const world = new World();
    const connection = world.connection();
    const opening = watch(connection.connect());
    assert.equal(world.sockets.length, 1);
    assert.equal(world.socket.url, "wss://chat.example/ws");
    assert.equal(world.socket.binaryType, "arraybuffer");
    await world.settle();
    assert.deepEqual(opening, { done: true, value: undefined, error: undefined });
    assert.equal(connection.state, SessionState.OPEN);
    assert.equal(connection.open, true);
    assert.equal(connection.session.sessionId, "s-1");
    assert.equal(connection.ended, null);

    const [hello] = world.server.hellos;
    assert.ok(hello instanceof Hello);
    assert.equal(hello.build, "web-test");
    assert.deepEqual([...hello.auth], [["visitor", "v-1"]]);
    assert.deepEqual(hello.traits, [["chat.Note", ["text"]]]);
  });

  test("connect twice is one connection", async () => {
    const world = new World();
    const connection = world.connection();
    const first = connection.connect();
    assert.equal(connection.connect(), first);
    await world.settle();
    await first;
    assert.equal(world.sockets.length, 1);
    await connection.connect();
  });

  test("a refused HELLO rejects connect with the close code", async () => {
    const world = new World();
    world.server.refuse = CloseCode.AUTH_FAILED;
    const connection = world.connection();
    const opening = watch(connection.connect());
    await world.settle();
    assert.ok(opening.error instanceof SessionClosed);
    assert.ok(opening.error instanceof ProtocolError);
    assert.equal(opening.error.code, CloseCode.AUTH_FAILED);
    assert.equal(opening.error.reason, "refused");
    assert.equal(connection.ended.code, CloseCode.AUTH_FAILED);
    assert.equal(connection.ended.remote, true);
    assert.equal(connection.state, SessionState.CLOSED);
    assert.equal(world.socket.closedWith, 1000);

    // no reconnecting, and nothing more to call
    await world.advance(30);
    assert.equal(world.sockets.length, 1);
    await assert.rejects(connection.call("echo", 1), SessionClosed);
    assert.throws(() => connection.send("x"), SessionClosed);
    await assert.rejects(connection.connect(), { code: CloseCode.AUTH_FAILED });
  });

  test("a server out of reach rejects connect; connect may try again", async () => {
    const world = new World();
    world.policy = "fail";
    const connection = world.connection();
    const opening = watch(connection.connect());
    await world.advance(5);
    assert.ok(opening.error instanceof ConnectionFailed);
    assert.equal(opening.error.code, 1006);
    assert.equal(world.sockets.length, 1, "no retry before a session exists");
    assert.equal(connection.state, SessionState.IDLE);

    world.policy = "accept";
    const again = connection.connect();
    await world.settle();
    await again;
    assert.equal(connection.state, SessionState.OPEN);
  });

  test("no WELCOME in time rejects connect with HANDSHAKE_TIMEOUT", async () => {
    const world = new World();
    world.server.silent = true;
    const connection = world.connection({ session: { handshakeTimeout: 3 } });
    const opening = watch(connection.connect());
    await world.advance(2.9);
    assert.equal(opening.done, false);
    await world.advance(0.1);
    assert.equal(opening.error.code, CloseCode.HANDSHAKE_TIMEOUT);
    assert.equal(world.socket.closedWith, 1000);
  });

  test("a WebSocket class is required", () => {
    assert.throws(
      () => new Connection({ url: "wss://x/ws", registry: client, build: "b" }),
      LocalProtocolError,
    );
  });
});

describe("calls and messages", () => {
  test("a call resolves with the value of its Result", async () => {
    const world = new World();
    const connection = await connected(world);
    const value = { nested: [1, "two", { three: 3.5 }] };
    const answer = connection.call("echo", value);
    await world.settle();
    const got = await answer;
    assert.ok(got instanceof Map);
    const [one, two, three] = got.get("nested");
    assert.deepEqual([one, two, [...three]], [1, "two", [["three", 3.5]]]);
    assert.equal(world.server.calls[0].method, "echo");
  });

  test("an lg.Error rejects the call with a RemoteCallError", async () => {
    const world = new World();
    const connection = await connected(world);
    const answer = watch(connection.call("missing", [1]));
    await world.settle();
    const error = answer.error;
    assert.ok(error instanceof RemoteCallError);
    assert.ok(error instanceof ProtocolError);
    assert.equal(error.code, ErrorCode.NOT_FOUND);
    assert.equal(error.message, "no");
    assert.equal(error.data.get("method"), "missing");
  });

  test("calls are answered by id, in whatever order", async () => {
    const world = new World();
    const connection = await connected(world);
    world.server.hold = true;
    const first = watch(connection.call("echo", "first"));
    const second = watch(connection.call("echo", "second"));
    await world.settle();
    const [a, b] = world.server.held.splice(0);
    world.server.answer(b);
    world.server.answer(a);
    await world.settle();
    assert.equal(first.value, "first");
    assert.equal(second.value, "second");
  });

  test("params that cannot be encoded reject the call", async () => {
    const world = new World();
    const connection = await connected(world);
    await assert.rejects(connection.call("echo", Symbol("no")), LocalProtocolError);
    const answer = connection.call("echo", 2);
    await world.settle();
    assert.equal(await answer, 2);
  });

  test("other messages come through receive and for await", async () => {
    const world = new World();
    const connection = await connected(world);
    const waiting = connection.receive();
    world.server.push(new ServerNote({ text: "one" }));
    world.server.push(new LgEvent({ name: "tick", data: 2 }));
    world.server.push(new Result({ id: 999, value: "unasked" }));
    await world.settle();
    const first = await waiting;
    assert.equal(first.type, "MessageReceived");
    assert.ok(first.value instanceof Note);
    assert.equal(first.value.text, "one");
    assert.equal(first.seq, 1);

    connection.close();
    const rest = [];
    for await (const event of connection) {
      rest.push(event.value);
    }
    assert.equal(rest.length, 2);
    assert.ok(rest[0] instanceof LgEvent);
    assert.equal(rest[1].id, 999);
    await assert.rejects(connection.receive(), SessionClosed);
  });

  test("send numbers its messages; the server receives them", async () => {
    const world = new World();
    const connection = await connected(world);
    assert.equal(connection.send(new Note({ text: "a" })), 1);
    assert.equal(connection.send(new Note({ text: "b" }), { channel: 3 }), 2);
    assert.equal(connection.send("gone", { volatile: true }), 0);
    await world.settle();
    assert.deepEqual(
      world.server.notes.map((note) => note.text),
      ["a", "b"],
    );
  });

  test("close sends CLOSE, closes the socket and fails what waits", async () => {
    const world = new World();
    const connection = await connected(world);
    world.server.hold = true;
    const answer = watch(connection.call("echo", 1));
    const waiting = watch(connection.receive());
    await world.settle();
    connection.close(CloseCode.GOING_AWAY, "bye");
    await world.settle();
    assert.deepEqual(world.server.closes, [
      { code: CloseCode.GOING_AWAY, reason: "bye" },
    ]);
    assert.equal(world.socket.closedWith, 1000);
    assert.equal(answer.error.code, CloseCode.GOING_AWAY);
    assert.equal(waiting.error.code, CloseCode.GOING_AWAY);
    assert.equal(connection.ended.remote, false);
    connection.close();
    assert.equal(connection.ended.code, CloseCode.GOING_AWAY);
  });
});

describe("dropped connections", () => {
  test("a drop resumes; the call in flight is answered after it", async () => {
    const world = new World();
    const connection = await connected(world);
    world.server.hold = true;
    const before = watch(connection.call("echo", "before"));
    await world.settle();
    assert.equal(world.server.calls.length, 1);

    // the answer goes out while the connection is cut, and a call is
    // made while the session is detached
    world.drop();
    world.server.release();
    await world.settle();
    assert.equal(connection.state, SessionState.DETACHED);
    world.server.hold = false;
    const during = watch(connection.call("echo", "during"));

    await world.advance(0);
    assert.equal(world.sockets.length, 2);
    assert.equal(connection.state, SessionState.OPEN);
    assert.equal(connection.resumes, 1);
    const [resume] = world.server.resumes;
    assert.ok(resume instanceof Resume);
    assert.deepEqual(resume.token, TOKEN);
    assert.equal(resume.last_seq, 0);
    assert.equal(before.value, "before");
    assert.equal(during.value, "during");
    assert.deepEqual(
      world.server.calls.map((call) => call.params),
      ["before", "during"],
      "each call reached the server once",
    );
  });

  test("reconnecting waits 50 ms, doubling to 1 s, between tries", async () => {
    const world = new World();
    const connection = await connected(world);
    world.policy = "fail";
    const dropped = world.ms;
    world.drop();
    await world.advance(5);
    // the first try at once, then the waits
    const opened = world.sockets.slice(1).map((socket) => socket.createdAt);
    assert.equal(opened[0], dropped);
    const waits = opened.slice(1).map((at, i) => at - opened[i]);
    assert.deepEqual(waits, [50, 100, 200, 400, 800, 1000, 1000, 1000]);
    assert.equal(connection.state, SessionState.DETACHED);

    world.policy = "accept";
    await world.advance(1);
    assert.equal(connection.state, SessionState.OPEN);
    assert.equal(connection.resumes, 1);
  });

  test("offline, no socket is tried; the online event tries at once", async () => {
    const world = new World();
    const connection = await connected(world);
    world.online = false;
    world.drop();
    await world.advance(3);
    assert.equal(world.sockets.length, 1);
    assert.equal(connection.state, SessionState.DETACHED);

    world.online = true;
    world.onlineEvents.dispatchEvent(new globalThis.Event("online"));
    assert.equal(world.sockets.length, 2, "tried without waiting for the timer");
    await world.settle();
    assert.equal(connection.state, SessionState.OPEN);
  });

  test("a silent server is given up by the heartbeat and resumed", async () => {
    const world = new World();
    const connection = await connected(world);
    const answer = watch(connection.call("echo", "late"));
    world.server.deaf.add(world.socket);
    await world.advance(9.9);
    assert.equal(connection.state, SessionState.OPEN);
    assert.equal(answer.done, false);
    await world.advance(0.1);
    // two intervals without a frame: the socket is closed, a new one opened
    assert.equal(world.sockets[0].closedWith, 1000);
    assert.equal(world.sockets.length, 2);
    await world.advance(0);
    assert.equal(connection.resumes, 1);
    assert.equal(answer.value, "late");
    assert.equal(world.server.calls.length, 1);
  });

  test("a resume refused ends the session and fails the calls", async () => {
    const world = new World();
    const connection = await connected(world);
    world.server.hold = true;
    const answer = watch(connection.call("echo", 1));
    await world.settle();
    world.drop();
    world.server.control = (socket, opcode) => {
      if (opcode === Opcode.RESUME) {
        world.server.write(closeFrame(CloseCode.RESUME_REJECTED));
        socket.serverClose();
      }
    };
    await world.advance(1);
    assert.equal(answer.error.code, CloseCode.RESUME_REJECTED);
    assert.equal(connection.ended.code, CloseCode.RESUME_REJECTED);
    assert.equal(world.sockets.length, 2);
  });

  test("the grace window ends the session: SESSION_EXPIRED", async () => {
    const world = new World();
    world.server.grace = 4;
    const connection = await connected(world);
    world.server.hold = true;
    const answer = watch(connection.call("echo", 1));
    await world.settle();
    world.policy = "fail";
    world.drop();
    await world.advance(3.9);
    assert.equal(answer.done, false);
    const tries = world.sockets.length;
    assert.ok(tries > 3);

    await world.advance(0.1);
    assert.ok(answer.error instanceof SessionClosed);
    assert.equal(answer.error.code, CloseCode.SESSION_EXPIRED);
    assert.equal(connection.ended.code, CloseCode.SESSION_EXPIRED);
    assert.equal(connection.ended.remote, false);
    assert.equal(connection.state, SessionState.CLOSED);

    // no more tries, and the online event is not listened to any more
    world.policy = "accept";
    world.onlineEvents.dispatchEvent(new globalThis.Event("online"));
    await world.advance(10);
    assert.equal(world.sockets.length, tries);
    assert.equal(world.timers.size, 0);
  });
});
