// The shared vectors of tests/vectors/, checked both ways: what we
// encode must equal the hex, and what we decode from the hex must equal
// the value; error vectors must fail with their close code.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  DecodeError,
  FrameDecoder,
  FrameKind,
  decodeFrame,
  decodeMedia,
  encodeControl,
  encodeMedia,
  encodeMessage,
} from "../lib/index.js";
import {
  assertCloses,
  assertTagged,
  fromHex,
  fromTagged,
  loadVectors,
  toHex,
  vectorRegistry,
} from "../testing/tagged.js";

describe("values.json", () => {
  const document = loadVectors("values.json");
  const registry = vectorRegistry(document);
  const encoder = registry.encoder;
  const decoder = registry.decoder(document.traits);

  test("holds vectors of every sort", () => {
    const sorts = new Set(
      document.vectors.map((v) =>
        v.error ? "error" : v.decode_only ? "decode" : "both",
      ),
    );
    assert.deepEqual([...sorts].sort(), ["both", "decode", "error"]);
  });

  for (const vector of document.vectors) {
    if (vector.error) {
      test(`${vector.name}: fails with ${vector.error}`, () => {
        assertCloses(
          () => decoder.decode(fromHex(vector.hex)),
          vector.error,
          vector.name,
        );
      });
      continue;
    }
    test(`${vector.name}: decodes`, () => {
      assertTagged(decoder.decode(fromHex(vector.hex)), vector.value);
    });
    if (!vector.decode_only) {
      test(`${vector.name}: encodes`, () => {
        assert.equal(
          toHex(encoder.encode(fromTagged(vector.value, registry))),
          vector.hex,
        );
      });
    }
  }

  test("every error is a DecodeError", () => {
    for (const vector of document.vectors.filter((v) => v.error)) {
      assert.throws(
        () => decoder.decode(fromHex(vector.hex)),
        DecodeError,
        vector.name,
      );
    }
  });
});

function encodeFrame(frame) {
  const payload = fromHex(frame.payload);
  if (frame.kind === FrameKind.MESSAGE) {
    return encodeMessage(frame.seq, payload, {
      channel: frame.channel,
      flags: frame.flags,
    });
  }
  if (frame.kind === FrameKind.CONTROL) {
    return encodeControl(frame.channel, payload);
  }
  const { timestamp, group, data } = decodeMedia(payload);
  return encodeMedia(frame.channel, timestamp, group, data, { flags: frame.flags });
}

function assertFrame(actual, expected) {
  assert.deepEqual({ ...actual, payload: toHex(actual.payload) }, expected);
}

describe("frames.json", () => {
  const { vectors } = loadVectors("frames.json");

  for (const vector of vectors) {
    const bytes = fromHex(vector.hex);
    if (vector.error) {
      const limit = vector.max_frame_size;
      test(`${vector.name}: fails with ${vector.error} from a stream`, () => {
        const decoder = new FrameDecoder(limit);
        assertCloses(() => decoder.feed(bytes), vector.error, vector.name);
      });
      test(`${vector.name}: fails with ${vector.error} byte by byte`, () => {
        const decoder = new FrameDecoder(limit);
        assertCloses(
          () => bytes.forEach((_, i) => decoder.feed(bytes.subarray(i, i + 1))),
          vector.error,
          vector.name,
        );
      });
      test(`${vector.name}: fails with ${vector.error} as a message`, () => {
        assertCloses(() => decodeFrame(bytes, limit), vector.error, vector.name);
      });
      continue;
    }
    test(`${vector.name}: decodes from a stream`, () => {
      const frames = new FrameDecoder().feed(bytes);
      assert.equal(frames.length, 1);
      assertFrame(frames[0], vector.frame);
    });
    test(`${vector.name}: decodes byte by byte`, () => {
      const decoder = new FrameDecoder();
      const frames = [];
      for (let i = 0; i < bytes.length; i++) {
        frames.push(...decoder.feed(bytes.subarray(i, i + 1)));
      }
      assert.equal(frames.length, 1);
      assertFrame(frames[0], vector.frame);
      assert.equal(decoder.buffered, 0);
    });
    test(`${vector.name}: decodes as a message`, () => {
      assertFrame(decodeFrame(bytes), vector.frame);
    });
    test(`${vector.name}: encodes`, () => {
      assert.equal(toHex(encodeFrame(vector.frame)), vector.hex);
    });
  }
});
