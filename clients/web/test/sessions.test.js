// The scripted client exchanges of tests/vectors/sessions.json: each
// script drives a fresh ClientSession and checks, step by step, the bytes
// it writes, the events it reports and the deadline it asks for. The
// format is described in the file itself.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  ClientSession,
  CloseCode,
  FrameDecoder,
  FrameKind,
  Opcode,
  Registry,
  closeCodeName,
} from "../lib/index.js";
import {
  assertTagged,
  concat,
  fromHex,
  fromTagged,
  loadVectors,
  toHex,
} from "../testing/tagged.js";

function codeOf(name) {
  return typeof name === "string" ? CloseCode[name] : name;
}

/** Compare one reported event with its JSON form in the vectors. */
function assertEvent(actual, expected, where) {
  assert.equal(actual.type, expected.type, `${where}: type`);
  switch (expected.type) {
    case "SessionEstablished":
      assert.equal(actual.session, expected.session_id, where);
      break;
    case "SessionResumed":
      assert.equal(actual.replayed, expected.replayed, where);
      break;
    case "MessageReceived":
      assert.equal(actual.channel, expected.channel, `${where}: channel`);
      assert.equal(actual.seq, expected.seq, `${where}: seq`);
      assertTagged(actual.value, expected.value, `${where}: value`);
      break;
    case "MediaReceived":
      assert.deepEqual({ ...actual, data: toHex(actual.data) }, { ...expected }, where);
      break;
    case "ConnectionLost":
      assert.equal(
        actual.code === null ? null : closeCodeName(actual.code),
        expected.code,
        where,
      );
      break;
    case "SessionEnded":
      assert.equal(actual.code, codeOf(expected.code), `${where}: code`);
      assert.equal(actual.remote, expected.remote, `${where}: remote`);
      break;
    default:
      assert.fail(`${where}: unknown event type ${expected.type}`);
  }
}

function run(script, registry) {
  const session = new ClientSession({
    registry,
    build: "vectors",
    auth: null,
    maxFrame: 1048576,
  });
  script.steps.forEach((step, index) => {
    const where = `step ${index} (${step.op})`;
    switch (step.op) {
      case "connect":
        session.connectionMade(step.at);
        break;
      case "receive":
        session.receiveData(fromHex(step.hex), step.at);
        break;
      case "lost":
        session.connectionLost(step.at);
        break;
      case "timer":
        session.handleTimer(step.at);
        break;
      case "send": {
        const value = fromTagged(step.value, registry);
        const seq = session.send(value, {
          channel: step.channel,
          volatile: step.volatile,
        });
        assert.equal(seq, step.seq, where);
        break;
      }
      case "expect_timer":
        assert.equal(session.getTimer(), step.at, where);
        break;
      case "expect_out":
        assert.equal(toHex(concat(session.dataToSend())), step.hex, where);
        break;
      case "expect_close": {
        const out = session.dataToSend();
        assert.equal(out.length, 1, `${where}: one frame`);
        const [frame] = new FrameDecoder().feed(out[0]);
        assert.equal(frame.kind, FrameKind.CONTROL, where);
        assert.equal(frame.channel, Opcode.CLOSE, where);
        assert.equal(
          (frame.payload[0] << 8) | frame.payload[1],
          codeOf(step.code),
          where,
        );
        break;
      }
      case "expect_events": {
        const events = [];
        for (let e = session.nextEvent(); e !== null; e = session.nextEvent()) {
          events.push(e);
        }
        assert.equal(
          events.length,
          step.events.length,
          `${where}: ${JSON.stringify(events.map((e) => e.type))}`,
        );
        step.events.forEach((expected, i) =>
          assertEvent(events[i], expected, `${where}[${i}]`),
        );
        break;
      }
      default:
        assert.fail(`${where}: unknown step`);
    }
  });
}

describe("sessions.json", () => {
  const document = loadVectors("sessions.json");
  const registry = new Registry();
  for (const [alias, fields] of document.traits) {
    registry.register(alias, fields);
  }

  test("holds scripts", () => {
    assert.ok(document.scripts.length > 0);
  });

  for (const script of document.scripts) {
    test(script.name, () => run(script, registry));
  }
});
