// Frames (docs/protocol.md section 2): the streaming decoder fed whole,
// in pieces and one byte at a time; the limits it enforces; the encoders.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  CloseCode,
  FrameDecoder,
  FrameKind,
  FrameTooLarge,
  LocalProtocolError,
  MediaFlags,
  MessageFlags,
  Opcode,
  RemoteProtocolError,
  decodeFrame,
  decodeMedia,
  encodeControl,
  encodeMedia,
  encodeMessage,
} from "../lib/index.js";
import { concat, fromHex, toHex } from "../testing/tagged.js";

function header(length, kind, flags = 0, channel = 0) {
  const bytes = new Uint8Array(8);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, length);
  bytes[4] = kind;
  bytes[5] = flags;
  view.setUint16(6, channel);
  return bytes;
}

// A deterministic stream of frames of every kind and of many sizes.
function sampleStream() {
  const frames = [];
  for (let i = 0; i < 40; i++) {
    const payload = Uint8Array.from(
      { length: (i * 37) % 300 },
      (_, j) => (i + j) % 256,
    );
    if (i % 3 === 0) {
      frames.push(encodeMessage(i + 1, payload, { channel: i }));
    } else if (i % 3 === 1) {
      frames.push(encodeControl(Opcode.PING, payload));
    } else {
      frames.push(encodeMedia(i, 1000 * i, i, payload, { flags: MediaFlags.KEYFRAME }));
    }
  }
  return concat(frames);
}

function plain(frames) {
  return frames.map((frame) => ({ ...frame, payload: toHex(frame.payload) }));
}

describe("FrameDecoder", () => {
  const stream = sampleStream();
  const whole = plain(new FrameDecoder().feed(stream));

  test("decodes a stream fed whole", () => {
    assert.equal(whole.length, 40);
    assert.equal(whole[0].seq, 1);
    assert.equal(whole[1].kind, FrameKind.CONTROL);
    assert.equal(whole[2].kind, FrameKind.MEDIA);
  });

  test("decodes the same frames fed one byte at a time", () => {
    const decoder = new FrameDecoder();
    const frames = [];
    for (let i = 0; i < stream.length; i++) {
      frames.push(...decoder.feed(stream.subarray(i, i + 1)));
    }
    assert.deepEqual(plain(frames), whole);
    assert.equal(decoder.buffered, 0);
  });

  test("decodes the same frames fed in pieces of every size", () => {
    for (let size = 2; size < 64; size += 3) {
      const decoder = new FrameDecoder();
      const frames = [];
      for (let i = 0; i < stream.length; i += size) {
        frames.push(...decoder.feed(stream.subarray(i, i + size)));
      }
      assert.deepEqual(plain(frames), whole, `pieces of ${size}`);
    }
  });

  test("accepts ArrayBuffer and other views", () => {
    const frame = encodeMessage(1, Uint8Array.of(0xc0));
    const copy = frame.slice().buffer;
    assert.equal(new FrameDecoder().feed(copy).length, 1);
    assert.equal(new FrameDecoder().feed(new DataView(copy)).length, 1);
    assert.throws(() => new FrameDecoder().feed("text"), LocalProtocolError);
  });

  test("hands out payloads that do not share the input's memory", () => {
    const input = encodeMessage(1, Uint8Array.of(1, 2, 3));
    const [frame] = new FrameDecoder().feed(input);
    input.fill(0);
    assert.deepEqual([...frame.payload], [1, 2, 3]);
  });

  test("feeds a 1 MiB frame one byte at a time in linear time", () => {
    const frame = encodeMessage(1, new Uint8Array((1 << 20) - 12));
    const decoder = new FrameDecoder(1 << 20);
    const started = performance.now();
    let frames = [];
    for (let i = 0; i < frame.length; i++) {
      frames = decoder.feed(frame.subarray(i, i + 1));
    }
    assert.equal(frames.length, 1);
    assert.equal(frames[0].payload.length, (1 << 20) - 12);
    // quadratic work over a million bytes would take many minutes
    assert.ok(performance.now() - started < 5000);
  });

  test("checks a header before buffering any of its payload", () => {
    const decoder = new FrameDecoder(4096);
    assert.throws(() => decoder.feed(header(4097, FrameKind.MESSAGE)), FrameTooLarge);
    assert.equal(decoder.buffered, 0);
  });

  test("checks a header that arrives one byte at a time", () => {
    const decoder = new FrameDecoder(4096);
    const bytes = header(1 << 30, FrameKind.MEDIA);
    for (let i = 0; i < 7; i++) {
      assert.deepEqual(decoder.feed(bytes.subarray(i, i + 1)), []);
    }
    assert.throws(() => decoder.feed(bytes.subarray(7)), FrameTooLarge);
  });

  test("returns good frames before a bad header, then fails", () => {
    const decoder = new FrameDecoder();
    const good = encodeControl(Opcode.ACK, new Uint8Array(8));
    const frames = decoder.feed(concat([good, good, header(4, 9)]));
    assert.equal(frames.length, 2);
    assert.equal(decoder.error.code, CloseCode.UNKNOWN_KIND);
    assert.throws(
      () => decoder.feed(new Uint8Array(0)),
      (e) => e.code === CloseCode.UNKNOWN_KIND,
    );
    // and it stays failed
    assert.throws(
      () => decoder.feed(good),
      (e) => e.code === CloseCode.UNKNOWN_KIND,
    );
  });

  test("refuses the lengths below each kind's smallest", () => {
    for (const [kind, smallest] of [
      [0, 4],
      [1, 12],
      [2, 16],
    ]) {
      const decoder = new FrameDecoder();
      assert.throws(
        () => decoder.feed(concat([header(smallest - 1, kind), new Uint8Array(16)])),
        (e) => e.code === CloseCode.MALFORMED_FRAME,
      );
      assert.equal(
        new FrameDecoder().feed(
          concat([header(smallest, kind), new Uint8Array(smallest - 4)]),
        ).length,
        1,
      );
    }
  });

  test("accepts a frame of exactly the limit", () => {
    const decoder = new FrameDecoder(4096);
    const frame = encodeMessage(1, new Uint8Array(4096 - 12));
    assert.equal(decoder.feed(frame).length, 1);
  });

  test("refuses a seq beyond 2^53 - 1", () => {
    const frame = encodeMessage(2n ** 53n, Uint8Array.of(0xc0));
    assert.throws(
      () => new FrameDecoder().feed(frame),
      (e) => e instanceof RemoteProtocolError && e.code === CloseCode.PROTOCOL_ERROR,
    );
    const last = encodeMessage(2 ** 53 - 1, Uint8Array.of(0xc0));
    assert.equal(new FrameDecoder().feed(last)[0].seq, 2 ** 53 - 1);
  });

  test("holds its limit within 16 to 2^32 - 1", () => {
    assert.throws(() => new FrameDecoder(15), LocalProtocolError);
    assert.throws(() => new FrameDecoder(2 ** 32), LocalProtocolError);
    assert.throws(() => new FrameDecoder(1.5), LocalProtocolError);
    assert.equal(new FrameDecoder(16).maxFrameSize, 16);
  });

  test("keeps an incomplete tail across feeds", () => {
    const decoder = new FrameDecoder();
    const frame = encodeMessage(9, Uint8Array.of(1, 2, 3, 4));
    assert.deepEqual(decoder.feed(frame.subarray(0, 10)), []);
    assert.equal(decoder.buffered, 10);
    const [decoded] = decoder.feed(frame.subarray(10));
    assert.equal(decoded.seq, 9);
    assert.equal(decoder.buffered, 0);
  });
});

describe("decodeFrame, one frame a WebSocket message", () => {
  const frame = encodeMessage(3, Uint8Array.of(0xc3), { channel: 5 });

  test("decodes a message holding one frame", () => {
    const decoded = decodeFrame(frame);
    assert.equal(decoded.seq, 3);
    assert.equal(decoded.channel, 5);
    assert.equal(toHex(decoded.payload), "c3");
  });

  test("refuses a message shorter or longer than its frame", () => {
    const truncated = (e) => e.code === CloseCode.TRUNCATED_FRAME;
    assert.throws(() => decodeFrame(frame.subarray(0, 5)), truncated);
    assert.throws(() => decodeFrame(frame.subarray(0, frame.length - 1)), truncated);
    assert.throws(() => decodeFrame(concat([frame, frame])), truncated);
    assert.throws(() => decodeFrame(new Uint8Array(0)), truncated);
  });

  test("checks the header first", () => {
    assert.throws(
      () => decodeFrame(header(100000, 1), 4096),
      (e) => e.code === CloseCode.FRAME_TOO_LARGE,
    );
  });
});

describe("encoders", () => {
  test("write the spec's MESSAGE example", () => {
    const frame = encodeMessage(1, fromHex("93d4011007a26869"));
    assert.equal(
      toHex(frame),
      "00000014" + "01" + "00" + "0000" + "0000000000000001" + "93d4011007a26869",
    );
  });

  test("write a volatile message and a media chunk", () => {
    const message = encodeMessage(0, Uint8Array.of(0xc0), {
      channel: 2,
      flags: MessageFlags.VOLATILE,
    });
    assert.equal(toHex(message), "0000000d0101000200000000000000" + "00c0");
    const media = encodeMedia(3, 2n ** 40n, 7, Uint8Array.of(9), {
      flags: MediaFlags.DISCARDABLE,
    });
    assert.equal(
      toHex(media),
      "0000001102020003" + "0000010000000000" + "00000007" + "09",
    );
    const { timestamp, group, data } = decodeMedia(
      new FrameDecoder().feed(media)[0].payload,
    );
    assert.equal(timestamp, 2 ** 40);
    assert.equal(group, 7);
    assert.deepEqual([...data], [9]);
  });

  test("give media timestamps beyond 2^53 - 1 as BigInt", () => {
    const media = encodeMedia(0, 2n ** 63n, 0, new Uint8Array(0));
    const { timestamp } = decodeMedia(new FrameDecoder().feed(media)[0].payload);
    assert.equal(timestamp, 2n ** 63n);
  });

  test("refuse fields out of range", () => {
    const empty = new Uint8Array(0);
    assert.throws(() => encodeMessage(-1, empty), LocalProtocolError);
    assert.throws(() => encodeMessage(1.5, empty), LocalProtocolError);
    assert.throws(() => encodeMessage(2n ** 64n, empty), LocalProtocolError);
    assert.throws(
      () => encodeMessage(1, empty, { channel: 65536 }),
      LocalProtocolError,
    );
    assert.throws(() => encodeMessage(1, empty, { flags: 256 }), LocalProtocolError);
    assert.throws(() => encodeControl(70000), LocalProtocolError);
    assert.throws(() => encodeMedia(0, 0, 2 ** 32, empty), LocalProtocolError);
    assert.throws(() => decodeMedia(new Uint8Array(11)), LocalProtocolError);
  });
});
