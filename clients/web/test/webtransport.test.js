// The WebTransport side of lib/connection.js against a fake WebTransport
// class with real web streams: what the connection writes is read back
// frame by frame, and the server's frames are fed split anywhere.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  Call,
  Connection,
  ConnectionFailed,
  FrameKind,
  LocalProtocolError,
  Opcode,
  Registry,
  Result,
  Welcome,
  decodeFrame,
  encodeControl,
  encodeMessage,
} from "../lib/index.js";

const client = new Registry();
const server = new Registry();
const HASH = "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff".repeat(2).slice(0, 95);

/** A WebTransport whose one bidirectional stream the test plays. */
class FakeTransport {
  static made = [];

  constructor(url, options) {
    this.url = url;
    this.options = options;
    this.written = [];
    this.closedWith = null;
    this.refuse = FakeTransport.refuseNext;
    FakeTransport.refuseNext = false;
    let closed;
    this.closed = new Promise((resolve, reject) => {
      closed = { resolve, reject };
    });
    this._closed = closed;
    this.ready = this.refuse ? Promise.reject(new Error("refused")) : Promise.resolve();
    this.arrived = null;
    FakeTransport.made.push(this);
  }

  async createBidirectionalStream() {
    const readable = new ReadableStream({
      start: (controller) => {
        this.controller = controller;
      },
    });
    const writable = new WritableStream({
      write: (chunk) => {
        this.written.push(chunk.slice());
        this.arrived?.();
      },
    });
    return { readable, writable };
  }

  close(info) {
    this.closedWith = info;
    try {
      this.controller?.close();
    } catch {
      // ended already
    }
    this._closed.resolve(info);
  }

  /** The next frame the connection writes. */
  async next() {
    while (this.written.length === 0) {
      await new Promise((resolve) => {
        this.arrived = resolve;
      });
    }
    return decodeFrame(this.written.shift());
  }

  /** The next frame that is not an acknowledgement or a ping. */
  async nextOf(kind, channel = null) {
    for (;;) {
      const frame = await this.next();
      if (frame.kind === kind && (channel === null || frame.channel === channel)) {
        return frame;
      }
    }
  }

  /** Send frames from the server, split after every `step` bytes. */
  feed(frames, step = 3) {
    const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
    let at = 0;
    for (const frame of frames) {
      bytes.set(frame, at);
      at += frame.length;
    }
    for (let i = 0; i < bytes.length; i += step) {
      this.controller.enqueue(bytes.slice(i, i + step));
    }
  }
}
FakeTransport.refuseNext = false;

function welcome(resumed) {
  const message = new Welcome({
    session: "s-1",
    token: new Uint8Array(32),
    resumed,
    last_seq: 0,
    max_frame: 1 << 20,
    heartbeat: 5,
    grace: 15,
    traits: resumed ? [] : server.traitTable(),
  });
  return encodeControl(Opcode.WELCOME, server.encoder.encode(message));
}

function connection() {
  return new Connection({
    transport: "webtransport",
    url: "https://127.0.0.1:8443/wt",
    certificateHashes: [HASH],
    registry: client,
    build: "web-test",
    auth: { visitor: "v-1" },
    WebTransport: FakeTransport,
  });
}

test("frames travel on one stream, split anywhere, and survive a cut", async () => {
  FakeTransport.made = [];
  const conn = connection();
  const opening = conn.connect();
  await new Promise((resolve) => setTimeout(resolve, 0));
  const first = FakeTransport.made[0];
  assert.equal(first.url, "https://127.0.0.1:8443/wt");
  const [pinned] = first.options.serverCertificateHashes;
  assert.equal(pinned.algorithm, "sha-256");
  assert.equal(pinned.value.length, 32);
  assert.equal(pinned.value[1], 0x11);

  const hello = await first.next();
  assert.deepEqual([hello.kind, hello.channel], [FrameKind.CONTROL, Opcode.HELLO]);
  first.feed([welcome(false)]);
  await opening;

  const decoder = server.decoder(client.traitTable());
  const answer = conn.call("echo", [1, "two"]);
  const call = await first.nextOf(FrameKind.MESSAGE);
  assert.equal(call.kind, FrameKind.MESSAGE);
  const value = decoder.decode(call.payload);
  assert.ok(value instanceof Call);
  first.feed([
    encodeMessage(
      1,
      server.encoder.encode(new Result({ id: value.id, value: value.params })),
    ),
  ]);
  assert.deepEqual(await answer, [1, "two"]);

  // the server ends the stream: a new session, and RESUME on it
  first.controller.close();
  while (FakeTransport.made.length < 2) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const second = FakeTransport.made[1];
  const resume = await second.nextOf(FrameKind.CONTROL, Opcode.RESUME);
  assert.equal(resume.channel, Opcode.RESUME);
  second.feed([welcome(true)], 1);
  while (conn.resumes === 0) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(conn.state, "open");

  conn.close();
  const close = await second.nextOf(FrameKind.CONTROL, Opcode.CLOSE);
  assert.equal(close.channel, Opcode.CLOSE);
  assert.equal(conn.ended.code, 1000);
});

test("a refused session fails connect() with ConnectionFailed", async () => {
  FakeTransport.made = [];
  FakeTransport.refuseNext = true;
  const conn = connection();
  await assert.rejects(conn.connect(), (error) => {
    assert.ok(error instanceof ConnectionFailed);
    assert.equal(error.code, 1006);
    return true;
  });
});

test("bad options are refused at once", () => {
  const options = { url: "https://h/wt", registry: client, build: "b" };
  assert.throws(
    () => new Connection({ ...options, transport: "pigeon" }),
    LocalProtocolError,
  );
  assert.throws(
    () => new Connection({ ...options, transport: "webtransport", WebTransport: null }),
    LocalProtocolError,
  );
  for (const hash of ["abc", new Uint8Array(31)]) {
    assert.throws(
      () =>
        new Connection({
          ...options,
          transport: "webtransport",
          WebTransport: FakeTransport,
          certificateHashes: [hash],
        }),
      LocalProtocolError,
    );
  }
});
