// Only documented errors may escape: random and mutated input must fail
// with a protocol error (the decoders) or end the session (the session),
// never with anything else. The generator is seeded, so a failure is
// reproducible.

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  ClientSession,
  DecodeError,
  FrameDecoder,
  Opcode,
  Registry,
  RemoteProtocolError,
  SessionState,
  Welcome,
  encodeControl,
} from "../lib/index.js";
import { fromHex, loadVectors, vectorRegistry } from "../testing/tagged.js";

// A small deterministic generator (mulberry32).
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function mutate(bytes, next) {
  const out = bytes.slice();
  const changes = 1 + Math.floor(next() * 3);
  for (let i = 0; i < changes && out.length > 0; i++) {
    out[Math.floor(next() * out.length)] = Math.floor(next() * 256);
  }
  const cut = next() < 0.2 ? Math.floor(next() * (out.length + 1)) : out.length;
  return out.subarray(0, cut);
}

test("the value decoder throws only DecodeError", () => {
  const document = loadVectors("values.json");
  const decoder = vectorRegistry(document).decoder(document.traits);
  const samples = document.vectors.map((v) => fromHex(v.hex));
  const next = random(1);
  for (let i = 0; i < 20000; i++) {
    const input =
      next() < 0.8
        ? mutate(samples[Math.floor(next() * samples.length)], next)
        : Uint8Array.from({ length: Math.floor(next() * 24) }, () =>
            Math.floor(next() * 256),
          );
    try {
      decoder.decode(input);
    } catch (error) {
      assert.ok(error instanceof DecodeError, `${error.name}: ${error.message}`);
    }
  }
});

test("the frame decoder throws only RemoteProtocolError", () => {
  const next = random(2);
  for (let i = 0; i < 2000; i++) {
    const decoder = new FrameDecoder(4096);
    const input = Uint8Array.from({ length: Math.floor(next() * 64) }, () =>
      next() < 0.5 ? 0 : Math.floor(next() * 256),
    );
    try {
      for (let at = 0; at < input.length; at += 1 + Math.floor(next() * 8)) {
        decoder.feed(input.subarray(at, at + 1 + Math.floor(next() * 8)));
      }
    } catch (error) {
      assert.ok(
        error instanceof RemoteProtocolError,
        `${error.name}: ${error.message}`,
      );
    }
  }
});

test("a session ends cleanly on any input", () => {
  const registry = new Registry();
  const welcome = encodeControl(
    Opcode.WELCOME,
    registry.encoder.encode(
      new Welcome({
        session: "s",
        token: new Uint8Array(32),
        resumed: false,
        last_seq: 0,
        max_frame: 1 << 20,
        heartbeat: 5,
        grace: 15,
      }),
    ),
  );
  const next = random(3);
  for (let i = 0; i < 2000; i++) {
    const session = new ClientSession({ registry, build: "fuzz" });
    session.connectionMade(0);
    session.receiveData(welcome, 0);
    const input = mutate(
      Uint8Array.from({ length: 8 + Math.floor(next() * 40) }, (_, j) =>
        j < 8 ? [0, 0, 0, 12, 1, 0, 0, 0][j] : Math.floor(next() * 256),
      ),
      next,
    );
    session.receiveData(input, 1);
    session.receiveMessage(input, 2);
    session.handleTimer(3);
    assert.ok(
      [SessionState.OPEN, SessionState.CLOSED].includes(session.state),
      session.state,
    );
  }
});
