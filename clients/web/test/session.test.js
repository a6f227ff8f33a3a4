// The client session (docs/protocol.md section 6) against a small
// scripted server: no socket, no clock; the test says what the server
// sends and when, and reads what the client wrote.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  ClientSession,
  CloseCode,
  FrameDecoder,
  FrameKind,
  Hello,
  LocalProtocolError,
  MediaFlags,
  MessageFlags,
  Opcode,
  Registry,
  Resume,
  SessionState,
  UnknownObject,
  Welcome,
  decodeMedia,
  encodeControl,
  encodeMedia,
  encodeMessage,
} from "../lib/index.js";
import { concat } from "../testing/tagged.js";

// The client's classes. The server's table (below) lists the same
// aliases with the fields in another order, an extra field the client
// lacks, and a class the client does not know.
const client = new Registry();
const Chat = client.register("chat.Message", [
  { name: "chat", type: "int" },
  { name: "text", type: "str" },
  { name: "mood", default: "calm" },
]);
const Typing = client.register("chat.Typing", [{ name: "chat", type: "int" }]);

const server = new Registry();
const ServerChat = server.register("chat.Message", [
  "text",
  "chat",
  { name: "sender", default: null },
]);
const ServerNotice = server.register("chat.Notice", ["text"]);
const ServerTyping = server.register("chat.Typing", ["chat"]);

const TOKEN = Uint8Array.from({ length: 32 }, (_, i) => i);

function u64(n) {
  const body = new Uint8Array(8);
  new DataView(body.buffer).setBigUint64(0, BigInt(n));
  return body;
}

/** What the scripted server writes: frames it encodes by hand. */
const say = {
  welcome({
    resumed = false,
    lastSeq = 0,
    heartbeat = 5,
    grace = 15,
    maxFrame = 1 << 20,
    token = TOKEN,
    traits = resumed ? [] : server.traitTable(),
  } = {}) {
    const welcome = new Welcome({
      session: "s-1",
      token,
      resumed,
      last_seq: lastSeq,
      max_frame: maxFrame,
      heartbeat,
      grace,
      traits,
    });
    return encodeControl(Opcode.WELCOME, server.encoder.encode(welcome));
  },
  message(seq, value, { channel = 0, volatile = false } = {}) {
    const flags = volatile ? MessageFlags.VOLATILE : 0;
    return encodeMessage(volatile ? 0 : seq, server.encoder.encode(value), {
      channel,
      flags,
    });
  },
  raw(seq, hex) {
    return encodeMessage(seq, Uint8Array.from(Buffer.from(hex, "hex")));
  },
  ack: (n) => encodeControl(Opcode.ACK, u64(n)),
  ping: (n) => encodeControl(Opcode.PING, u64(n)),
  pong: (n) => encodeControl(Opcode.PONG, u64(n)),
  close(code, reason = "") {
    return encodeControl(
      Opcode.CLOSE,
      concat([Uint8Array.of(code >> 8, code & 0xff), new TextEncoder().encode(reason)]),
    );
  },
};

/** The server's view of what the client wrote since the last look. */
function written(session) {
  const out = session.dataToSend();
  const frames = new FrameDecoder().feed(concat(out));
  assert.equal(frames.length, out.length, "one frame an element");
  const decoder = server.decoder(client.traitTable());
  return frames.map((frame) => {
    if (frame.kind === FrameKind.MESSAGE) {
      const value = decoder.decode(frame.payload);
      return {
        kind: "MESSAGE",
        seq: frame.seq,
        flags: frame.flags,
        channel: frame.channel,
        value,
      };
    }
    if (frame.kind === FrameKind.MEDIA) {
      return { kind: "MEDIA", track: frame.channel, ...decodeMedia(frame.payload) };
    }
    const opcode = Object.keys(Opcode).find((name) => Opcode[name] === frame.channel);
    const body = frame.payload;
    if (opcode === "HELLO" || opcode === "RESUME") {
      return { kind: opcode, value: decoder.decode(body) };
    }
    if (opcode === "CLOSE") {
      const reason = new TextDecoder().decode(body.subarray(2));
      return { kind: opcode, code: (body[0] << 8) | body[1], reason };
    }
    const view = new DataView(body.buffer, body.byteOffset, body.length);
    return { kind: opcode, n: Number(view.getBigUint64(0)) };
  });
}

function kinds(frames) {
  return frames.map((frame) =>
    frame.n === undefined ? frame.kind : `${frame.kind} ${frame.n}`,
  );
}

function events(session) {
  const all = [];
  for (let e = session.nextEvent(); e !== null; e = session.nextEvent()) {
    all.push(e);
  }
  return all;
}

function newSession(options = {}) {
  return new ClientSession({
    registry: client,
    build: "web-test",
    auth: { token: "s3cr3t" },
    ...options,
  });
}

/** A session welcomed at time 0, with its output and events read. */
function openSession(options = {}, welcome = {}) {
  const session = newSession(options);
  session.connectionMade(0);
  session.receiveData(say.welcome(welcome), 0);
  written(session);
  events(session);
  return session;
}

function assertEnded(session, code, { remote = false, closeFrame = !remote } = {}) {
  const ended = events(session).filter((e) => e.type === "SessionEnded");
  assert.equal(ended.length, 1, "one SessionEnded");
  assert.equal(ended[0].code, code);
  assert.equal(ended[0].remote, remote);
  assert.equal(session.state, SessionState.CLOSED);
  const frames = written(session);
  if (closeFrame) {
    assert.deepEqual(frames.at(-1).kind, "CLOSE");
    assert.equal(frames.at(-1).code, code);
  } else {
    assert.ok(!frames.some((frame) => frame.kind === "CLOSE"));
  }
  assert.equal(session.getTimer(), null);
}

describe("handshake", () => {
  test("HELLO carries the build, credentials, limit and trait table", () => {
    const session = newSession({ maxFrame: 65536 });
    assert.equal(session.state, SessionState.IDLE);
    assert.equal(session.getTimer(), null);
    session.connectionMade(100);
    const [hello] = written(session);
    assert.equal(hello.kind, "HELLO");
    assert.ok(hello.value instanceof Hello);
    assert.equal(hello.value.version, 1);
    assert.equal(hello.value.build, "web-test");
    assert.deepEqual([...hello.value.auth], [["token", "s3cr3t"]]);
    assert.equal(hello.value.max_frame, 65536);
    assert.deepEqual(hello.value.traits, [
      ["chat.Message", ["chat", "text", "mood"]],
      ["chat.Typing", ["chat"]],
    ]);
    assert.equal(session.state, SessionState.HANDSHAKE);
    assert.equal(session.getTimer(), 110);
  });

  test("WELCOME establishes the session and is acknowledged at once", () => {
    const session = newSession();
    session.connectionMade(0);
    written(session);
    session.receiveData(say.welcome({ heartbeat: 2.5, grace: 30 }), 1);
    const [established] = events(session);
    assert.equal(established.type, "SessionEstablished");
    assert.equal(established.session, "s-1");
    assert.ok(established.welcome instanceof Welcome);
    assert.equal(established.welcome.heartbeat, 2.5);
    assert.equal(session.state, SessionState.OPEN);
    assert.equal(session.sessionId, "s-1");
    assert.deepEqual(kinds(written(session)), ["ACK 0"]);
    assert.equal(session.getTimer(), 1 + 2.5);
  });

  test("messages sent before the WELCOME go out after it", () => {
    const session = newSession();
    assert.equal(session.send(new Chat({ chat: 1, text: "early" })), 1);
    session.connectionMade(0);
    assert.equal(session.send(new Chat({ chat: 1, text: "still early" })), 2);
    assert.equal(session.send("gone", { volatile: true }), 0);
    assert.deepEqual(kinds(written(session)), ["HELLO"]);
    session.receiveData(say.welcome(), 0);
    const frames = written(session);
    assert.deepEqual(kinds(frames), ["ACK 0", "MESSAGE", "MESSAGE"]);
    assert.equal(frames[1].value.text, "early");
    assert.equal(frames[2].seq, 2);
  });

  test("a lost handshake says HELLO again on the next connection", () => {
    const session = newSession();
    session.connectionMade(0);
    written(session);
    session.connectionLost(1);
    assert.deepEqual(events(session), [{ type: "ConnectionLost", code: null }]);
    assert.equal(session.state, SessionState.IDLE);
    assert.equal(session.getTimer(), null);
    session.connectionMade(2);
    assert.deepEqual(kinds(written(session)), ["HELLO"]);
  });

  test("no WELCOME within the handshake timeout gives the connection up", () => {
    const session = newSession({ handshakeTimeout: 3 });
    session.connectionMade(0);
    written(session);
    session.handleTimer(2.9);
    assert.deepEqual(events(session), []);
    session.handleTimer(3);
    assert.deepEqual(events(session), [
      { type: "ConnectionLost", code: CloseCode.HANDSHAKE_TIMEOUT },
    ]);
    assert.equal(session.connected, false);
    assert.deepEqual(written(session), []);
    // late bytes of the old connection are ignored
    session.receiveData(say.welcome(), 4);
    assert.deepEqual(events(session), []);
  });

  test("the server may refuse with CLOSE", () => {
    const session = newSession();
    session.connectionMade(0);
    written(session);
    session.receiveData(say.close(CloseCode.BUILD_REFUSED, "stale build"), 0);
    const [ended] = events(session);
    assert.deepEqual(ended, {
      type: "SessionEnded",
      code: CloseCode.BUILD_REFUSED,
      reason: "stale build",
      remote: true,
    });
    assert.deepEqual(written(session), []);
    assert.throws(() => session.connectionMade(1), LocalProtocolError);
    assert.throws(() => session.send(1), LocalProtocolError);
  });

  test("connecting twice is a mistake of the caller", () => {
    const session = newSession();
    session.connectionMade(0);
    assert.throws(() => session.connectionMade(0), LocalProtocolError);
  });
});

describe("messages", () => {
  test("numbered messages go out in order and wait for their ACK", () => {
    const session = openSession();
    assert.equal(session.send(new Chat({ chat: 7, text: "hi" }), { channel: 3 }), 1);
    assert.equal(session.send([1, 2]), 2);
    const frames = written(session);
    assert.deepEqual(
      frames.map((f) => [f.seq, f.channel]),
      [
        [1, 3],
        [2, 0],
      ],
    );
    // the server maps the client's fields by name: chat, text, no sender
    assert.equal(frames[0].value.constructor, ServerChat);
    assert.equal(frames[0].value.chat, 7);
    assert.equal(session.unacknowledged, 2);
    session.receiveData(say.ack(1), 1);
    assert.equal(session.unacknowledged, 1);
    session.receiveData(say.ack(2), 1);
    assert.equal(session.unacknowledged, 0);
    // an ACK below an earlier one is ignored
    session.receiveData(say.ack(1), 1);
    assert.equal(session.state, SessionState.OPEN);
    assert.deepEqual(written(session), []);
  });

  test("received messages are delivered in order with one ACK a feed", () => {
    const session = openSession();
    const bytes = concat([
      say.message(1, new ServerChat({ text: "a", chat: 1, sender: "op" })),
      say.message(2, new ServerNotice({ text: "queued" }), { channel: 9 }),
      say.message(3, new ServerTyping({ chat: 1 })),
    ]);
    session.receiveData(bytes, 1);
    const [chat, notice, typing] = events(session);
    assert.equal(chat.type, "MessageReceived");
    assert.equal(chat.seq, 1);
    // mapped by name: the extra field dropped, the missing one defaulted
    assert.ok(chat.value instanceof Chat);
    assert.deepEqual({ ...chat.value }, { chat: 1, text: "a", mood: "calm" });
    // a class the client lacks is an unknown object
    assert.ok(notice.value instanceof UnknownObject);
    assert.equal(notice.value.alias, "chat.Notice");
    assert.equal(notice.value.fields.get("text"), "queued");
    assert.equal(notice.channel, 9);
    assert.ok(typing.value instanceof Typing);
    assert.deepEqual(kinds(written(session)), ["ACK 3"]);
  });

  test("a message split across feeds and fed byte by byte", () => {
    const session = openSession();
    const bytes = concat([say.message(1, "x".repeat(100)), say.message(2, "y")]);
    for (let i = 0; i < bytes.length; i++) {
      session.receiveData(bytes.subarray(i, i + 1), 1);
    }
    assert.deepEqual(
      events(session).map((e) => e.value),
      ["x".repeat(100), "y"],
    );
    assert.deepEqual(kinds(written(session)), ["ACK 1", "ACK 2"]);
  });

  test("duplicates are dropped silently and not acknowledged again", () => {
    const session = openSession();
    session.receiveData(say.message(1, "one"), 1);
    events(session);
    written(session);
    session.receiveData(say.message(1, "one again"), 2);
    assert.deepEqual(events(session), []);
    assert.deepEqual(written(session), []);
  });

  test("volatile messages are delivered with seq 0 and not acknowledged", () => {
    const session = openSession();
    session.receiveData(say.message(0, "typing…", { volatile: true }), 1);
    assert.deepEqual(events(session), [
      { type: "MessageReceived", value: "typing…", channel: 0, seq: 0 },
    ]);
    assert.deepEqual(written(session), []);
    assert.equal(session.send("preview", { volatile: true, channel: 2 }), 0);
    const [frame] = written(session);
    assert.equal(frame.flags, MessageFlags.VOLATILE);
    assert.equal(frame.seq, 0);
    assert.equal(session.unacknowledged, 0);
  });

  test("WebSocket messages carry one frame each", () => {
    const session = openSession();
    session.receiveMessage(say.message(1, "a"), 1);
    session.receiveMessage(say.message(2, "b"), 1);
    assert.deepEqual(
      events(session).map((e) => e.value),
      ["a", "b"],
    );
    assert.deepEqual(kinds(written(session)), ["ACK 1", "ACK 2"]);
  });

  test("media goes both ways, unnumbered", () => {
    const session = openSession();
    const chunk = Uint8Array.of(1, 2, 3);
    assert.equal(
      session.sendMedia(2, 33366, 4, chunk, { flags: MediaFlags.KEYFRAME }),
      true,
    );
    const [frame] = written(session);
    assert.deepEqual(
      { ...frame, data: [...frame.data] },
      { kind: "MEDIA", track: 2, timestamp: 33366, group: 4, data: [1, 2, 3] },
    );
    session.receiveData(
      encodeMedia(5, 10, 1, chunk, { flags: MediaFlags.DISCARDABLE }),
      1,
    );
    const [media] = events(session);
    assert.equal(media.type, "MediaReceived");
    assert.equal(media.track, 5);
    assert.equal(media.flags, MediaFlags.DISCARDABLE);
    assert.equal(media.timestamp, 10);
    assert.equal(media.group, 1);
    assert.deepEqual([...media.data], [1, 2, 3]);
    assert.deepEqual(written(session), []);
  });

  test("nothing larger than the server accepts is sent", () => {
    const session = openSession({}, { maxFrame: 4096 });
    assert.throws(() => session.send("x".repeat(5000)), LocalProtocolError);
    assert.equal(session.unacknowledged, 0);
    assert.equal(session.send("x".repeat(4000)), 1);
    assert.throws(
      () => session.sendMedia(0, 0, 0, new Uint8Array(4081)),
      LocalProtocolError,
    );
  });

  test("a value the codec cannot carry is refused before numbering", () => {
    const session = openSession();
    assert.throws(() => session.send(new Map([[1, 2]])), LocalProtocolError);
    assert.throws(() => session.send(Symbol("no")), LocalProtocolError);
    assert.equal(session.send("ok"), 1);
  });
});

describe("resume", () => {
  /** Open, exchange a little, then lose the connection at time 5. */
  function detached() {
    const session = openSession();
    session.send(new Chat({ chat: 1, text: "m1" }));
    session.send(new Chat({ chat: 1, text: "m2" }));
    session.send(new Chat({ chat: 1, text: "m3" }));
    session.receiveData(
      concat([say.message(1, "s1"), say.message(2, "s2"), say.ack(1)]),
      1,
    );
    written(session);
    events(session);
    session.connectionLost(5);
    return session;
  }

  test("a lost connection starts the grace window", () => {
    const session = detached();
    assert.deepEqual(events(session), [{ type: "ConnectionLost", code: null }]);
    assert.equal(session.state, SessionState.DETACHED);
    assert.equal(session.getTimer(), 5 + 15);
    // a second report changes nothing
    session.connectionLost(6);
    assert.deepEqual(events(session), []);
  });

  test("sends wait in the replay buffer; volatile ones are dropped", () => {
    const session = detached();
    assert.equal(session.send("while away"), 4);
    assert.equal(session.send("stale", { volatile: true }), 0);
    assert.deepEqual(written(session), []);
    assert.equal(session.unacknowledged, 3);
  });

  test("RESUME replays what the server did not acknowledge", () => {
    const session = detached();
    session.send("while away");
    events(session);
    session.connectionMade(6);
    const [resume] = written(session);
    assert.equal(resume.kind, "RESUME");
    assert.ok(resume.value instanceof Resume);
    assert.deepEqual([...resume.value.token], [...TOKEN]);
    assert.equal(resume.value.last_seq, 2);
    assert.equal(resume.value.build, "web-test");

    // the server had received m1 and m2; it replays s2 (a duplicate) and s3
    const newToken = Uint8Array.of(9, 9, 9);
    session.receiveData(
      concat([
        say.welcome({ resumed: true, lastSeq: 2, token: newToken }),
        say.message(2, "s2"),
        say.message(3, "s3"),
      ]),
      7,
    );
    const frames = written(session);
    assert.deepEqual(kinds(frames), ["ACK 2", "MESSAGE", "MESSAGE", "ACK 3"]);
    assert.deepEqual(
      frames.filter((f) => f.kind === "MESSAGE").map((f) => f.seq),
      [3, 4],
    );
    assert.deepEqual(events(session), [
      { type: "SessionResumed", replayed: 2 },
      { type: "MessageReceived", value: "s3", channel: 0, seq: 3 },
    ]);
    assert.equal(session.state, SessionState.OPEN);
    assert.equal(session.unacknowledged, 2);

    // the next resume uses the new token
    session.connectionLost(8);
    session.connectionMade(9);
    assert.deepEqual([...written(session)[0].value.token], [9, 9, 9]);
  });

  test("a failed resume attempt does not restart the window", () => {
    const session = detached();
    session.connectionMade(10);
    session.connectionLost(12);
    session.connectionMade(14);
    written(session);
    events(session);
    assert.equal(session.getTimer(), 20);
    session.handleTimer(20);
    // the grace window passed while a RESUME was waiting: CLOSE it
    assertEnded(session, CloseCode.SESSION_EXPIRED);
  });

  test("no resume within the grace window ends the session", () => {
    const session = detached();
    events(session);
    session.handleTimer(19.9);
    assert.deepEqual(events(session), []);
    session.handleTimer(20);
    assertEnded(session, CloseCode.SESSION_EXPIRED, { closeFrame: false });
    assert.equal(session.unacknowledged, 0);
    assert.throws(() => session.connectionMade(21), LocalProtocolError);
  });

  test("the server may refuse the resume", () => {
    const session = detached();
    session.connectionMade(6);
    written(session);
    events(session);
    session.receiveData(say.close(CloseCode.RESUME_REJECTED, "unknown token"), 6);
    assertEnded(session, CloseCode.RESUME_REJECTED, { remote: true });
  });

  test("a resumed WELCOME must say so, and a new one must not", () => {
    const session = detached();
    session.connectionMade(6);
    session.receiveData(say.welcome({ resumed: false }), 6);
    assertEnded(session, CloseCode.PROTOCOL_ERROR);

    const fresh = newSession();
    fresh.connectionMade(0);
    fresh.receiveData(say.welcome({ resumed: true }), 0);
    assertEnded(fresh, CloseCode.PROTOCOL_ERROR);
  });

  test("a WELCOME that acknowledges more than was sent is refused", () => {
    const session = detached();
    session.connectionMade(6);
    session.receiveData(say.welcome({ resumed: true, lastSeq: 4 }), 6);
    assertEnded(session, CloseCode.PROTOCOL_ERROR);
  });

  test("so is one that goes back on an earlier ACK", () => {
    const session = detached();
    session.connectionMade(6);
    session.receiveData(say.welcome({ resumed: true, lastSeq: 0 }), 6);
    assertEnded(session, CloseCode.PROTOCOL_ERROR);
  });
});

describe("heartbeat", () => {
  test("PING after a quiet interval, with nonces from 1", () => {
    const session = openSession({}, { heartbeat: 2.5 });
    assert.equal(session.getTimer(), 2.5);
    session.handleTimer(2.5);
    assert.deepEqual(kinds(written(session)), ["PING 1"]);
    assert.equal(session.getTimer(), 5);
    session.receiveData(say.pong(1), 3);
    session.handleTimer(5);
    assert.deepEqual(kinds(written(session)), ["PING 2"]);
    // sending anything puts the next PING off
    session.send("x", { now: 6 });
    written(session);
    assert.equal(session.getTimer(), 8);
  });

  test("PONG answers a PING with its nonce", () => {
    const session = openSession();
    session.receiveData(say.ping(0xdeadbeef), 1);
    assert.deepEqual(kinds(written(session)), [`PONG ${0xdeadbeef}`]);
    const big = encodeControl(
      Opcode.PING,
      Uint8Array.of(255, 255, 255, 255, 255, 255, 255, 255),
    );
    session.receiveData(big, 1);
    const [frame] = session.dataToSend();
    assert.equal(Buffer.from(frame.subarray(8)).toString("hex"), "ffffffffffffffff");
  });

  test("two quiet intervals mean the connection is dead", () => {
    const session = openSession({}, { heartbeat: 2 });
    session.receiveData(say.ping(7), 1);
    written(session);
    session.handleTimer(3);
    assert.deepEqual(kinds(written(session)), ["PING 1"]);
    assert.equal(session.getTimer(), 5);
    session.handleTimer(5);
    assert.deepEqual(events(session), [
      { type: "ConnectionLost", code: CloseCode.HEARTBEAT_TIMEOUT },
    ]);
    assert.equal(session.state, SessionState.DETACHED);
    assert.deepEqual(written(session), []);
    assert.equal(session.getTimer(), 5 + 15);
  });

  test("the grace window comes from the WELCOME", () => {
    const session = openSession({}, { grace: 2.5 });
    session.connectionLost(1);
    assert.equal(session.getTimer(), 3.5);
  });
});

describe("bad input closes the session with its code", () => {
  const cases = [
    [
      "a message before the WELCOME",
      false,
      () => say.message(1, "early"),
      "PROTOCOL_ERROR",
    ],
    ["an ACK before the WELCOME", false, () => say.ack(0), "PROTOCOL_ERROR"],
    [
      "media before the WELCOME",
      false,
      () => encodeMedia(0, 0, 0, new Uint8Array(0)),
      "PROTOCOL_ERROR",
    ],
    ["a second WELCOME", true, () => say.welcome(), "PROTOCOL_ERROR"],
    [
      "a HELLO from the server",
      true,
      () => encodeControl(Opcode.HELLO, Uint8Array.of(0xc0)),
      "PROTOCOL_ERROR",
    ],
    ["an unknown opcode", true, () => encodeControl(99), "PROTOCOL_ERROR"],
    [
      "a PING of 7 bytes",
      true,
      () => encodeControl(Opcode.PING, new Uint8Array(7)),
      "PROTOCOL_ERROR",
    ],
    [
      "a CLOSE of 1 byte",
      true,
      () => encodeControl(Opcode.CLOSE, new Uint8Array(1)),
      "PROTOCOL_ERROR",
    ],
    ["an ACK of a message never sent", true, () => say.ack(1), "PROTOCOL_ERROR"],
    ["a seq that skips ahead", true, () => say.message(2, "gap"), "PROTOCOL_ERROR"],
    [
      "a seq beyond 2^53 - 1",
      true,
      () => encodeMessage(2n ** 60n, Uint8Array.of(0xc0)),
      "PROTOCOL_ERROR",
    ],
    ["a value with invalid UTF-8", true, () => say.raw(1, "a2c328"), "INVALID_DATA"],
    ["a value with trailing bytes", true, () => say.raw(1, "c0c0"), "INVALID_DATA"],
    [
      "a field of the wrong type",
      true,
      () => say.raw(1, "94d4011001a178c0"),
      "INVALID_DATA",
    ],
    ["an undeclared trait", true, () => say.raw(1, "91d40140"), "UNKNOWN_TRAIT"],
    [
      "a value nested too deep",
      true,
      () => say.raw(1, "91".repeat(40) + "00"),
      "LIMIT_EXCEEDED",
    ],
    [
      "a frame over the limit",
      true,
      () => concat([encodeMessage(1, new Uint8Array(5000)).subarray(0, 8)]),
      "FRAME_TOO_LARGE",
    ],
    [
      "a frame of kind 3",
      true,
      () => Uint8Array.of(0, 0, 0, 4, 3, 0, 0, 0),
      "UNKNOWN_KIND",
    ],
    [
      "a MESSAGE of length 8",
      true,
      () => Uint8Array.of(0, 0, 0, 8, 1, 0, 0, 0, 0, 0, 0, 0),
      "MALFORMED_FRAME",
    ],
  ];

  for (const [name, welcomed, bytes, code] of cases) {
    test(`${name}: ${code}`, () => {
      const session = welcomed ? openSession({ maxFrame: 4096 }) : newSession();
      if (!welcomed) {
        session.connectionMade(0);
        written(session);
      }
      session.receiveData(bytes(), 1);
      assertEnded(session, CloseCode[code]);
      // the session says nothing more, whatever comes next
      session.receiveData(say.message(1, "late"), 2);
      assert.deepEqual(events(session), []);
      assert.deepEqual(written(session), []);
    });
  }

  test("a WELCOME with a malformed trait table: INVALID_DATA", () => {
    const session = newSession();
    session.connectionMade(0);
    written(session);
    session.receiveData(say.welcome({ traits: [["", ["x"]]] }), 0);
    assertEnded(session, CloseCode.INVALID_DATA);
  });

  test("a WELCOME with a frame limit below 4096: PROTOCOL_ERROR", () => {
    const session = newSession();
    session.connectionMade(0);
    session.receiveData(say.welcome({ maxFrame: 1000 }), 0);
    assertEnded(session, CloseCode.PROTOCOL_ERROR);
  });

  test("a WELCOME with no heartbeat: PROTOCOL_ERROR", () => {
    const session = newSession();
    session.connectionMade(0);
    session.receiveData(say.welcome({ heartbeat: 0 }), 0);
    assertEnded(session, CloseCode.PROTOCOL_ERROR);
  });

  test("a value that is not a WELCOME in a WELCOME: PROTOCOL_ERROR", () => {
    const session = newSession();
    session.connectionMade(0);
    session.receiveData(encodeControl(Opcode.WELCOME, Uint8Array.of(0xc0)), 0);
    assertEnded(session, CloseCode.PROTOCOL_ERROR);
  });

  test("good frames before a bad header are handled first", () => {
    const session = openSession();
    session.receiveData(
      concat([say.message(1, "kept"), Uint8Array.of(0, 0, 0, 4, 7, 0, 0, 0)]),
      1,
    );
    const all = events(session);
    assert.equal(all[0].value, "kept");
    assert.equal(all[1].code, CloseCode.UNKNOWN_KIND);
    assert.deepEqual(kinds(written(session)), ["CLOSE"]);
  });

  test("a WebSocket message holding two frames: TRUNCATED_FRAME", () => {
    const session = openSession();
    session.receiveMessage(concat([say.message(1, "a"), say.message(2, "b")]), 1);
    assertEnded(session, CloseCode.TRUNCATED_FRAME);
  });

  test("a WebSocket message holding part of a frame: TRUNCATED_FRAME", () => {
    const session = openSession();
    session.receiveMessage(say.message(1, "a").subarray(0, 10), 1);
    assertEnded(session, CloseCode.TRUNCATED_FRAME);
  });

  test("a WebSocket text message: PROTOCOL_ERROR", () => {
    const session = openSession();
    session.receiveMessage("hello", 1);
    assertEnded(session, CloseCode.PROTOCOL_ERROR);
  });

  test("a CLOSE whose reason is not UTF-8 ends with no reason", () => {
    const session = openSession();
    const bytes = encodeControl(Opcode.CLOSE, Uint8Array.of(0x03, 0xe8, 0xff, 0xfe));
    session.receiveData(bytes, 1);
    const [ended] = events(session);
    assert.deepEqual(ended, {
      type: "SessionEnded",
      code: 1000,
      reason: "",
      remote: true,
    });
  });

  test("frames queued before a remote CLOSE still go out", () => {
    const session = openSession();
    session.receiveData(concat([say.ping(1), say.close(CloseCode.GOING_AWAY)]), 1);
    assert.deepEqual(kinds(written(session)), ["PONG 1"]);
    assert.equal(events(session)[0].code, CloseCode.GOING_AWAY);
  });
});

describe("ending", () => {
  test("close sends CLOSE and reports the end", () => {
    const session = openSession();
    session.send("unacknowledged");
    written(session);
    session.close(CloseCode.GOING_AWAY, "bye");
    const [frame] = written(session);
    assert.deepEqual(frame, {
      kind: "CLOSE",
      code: CloseCode.GOING_AWAY,
      reason: "bye",
    });
    assert.deepEqual(events(session), [
      {
        type: "SessionEnded",
        code: CloseCode.GOING_AWAY,
        reason: "bye",
        remote: false,
      },
    ]);
    assert.equal(session.unacknowledged, 0);
    // closing twice does nothing
    session.close();
    assert.deepEqual(events(session), []);
    assert.throws(() => session.send("more"), LocalProtocolError);
    assert.throws(
      () => session.sendMedia(0, 0, 0, new Uint8Array(0)),
      LocalProtocolError,
    );
  });

  test("a long reason is cut to 123 bytes at a character boundary", () => {
    const session = openSession();
    session.close(CloseCode.NORMAL, "é".repeat(100));
    const [frame] = written(session);
    assert.equal(frame.reason, "é".repeat(61));
    assert.throws(() => openSession().close(70000), LocalProtocolError);
  });

  test("close while detached sends nothing", () => {
    const session = openSession();
    session.connectionLost(1);
    events(session);
    session.close();
    assertEnded(session, CloseCode.NORMAL, { closeFrame: false });
  });

  test("an overflowing replay buffer ends the session", () => {
    const session = openSession({ replayLimit: 2 });
    session.send("a");
    session.send("b");
    written(session);
    session.send("c");
    assertEnded(session, CloseCode.REPLAY_OVERFLOW);
  });

  test("so does one over the byte bound, even while detached", () => {
    const session = openSession({ replayBytes: 100 });
    session.connectionLost(1);
    events(session);
    session.send("x".repeat(50));
    session.send("y".repeat(50));
    assertEnded(session, CloseCode.REPLAY_OVERFLOW, { closeFrame: false });
  });

  test("options out of range are refused", () => {
    assert.throws(() => newSession({ maxFrame: 4095 }), LocalProtocolError);
    assert.throws(() => newSession({ replayLimit: 0 }), LocalProtocolError);
    assert.throws(() => newSession({ registry: {} }), LocalProtocolError);
    assert.throws(() => newSession({ build: 3 }), LocalProtocolError);
  });
});
