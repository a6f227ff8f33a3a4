/**
 * The protocol's own typed objects (docs/protocol.md sections 3.4-6).
 *
 * Their trait ids are fixed by the spec, below FIRST_APPLICATION_TRAIT,
 * so that a HELLO can be decoded before any trait table has been
 * exchanged. Fields are only ever added at the end, with a default, so
 * that older peers keep decoding them.
 *
 * @module messages
 */

import { defineTrait } from "./_traits.js";

export const PROTOCOL_VERSION = 1;

/** Codes of a failed call (section 5); close to their HTTP namesakes. */
export const ErrorCode = Object.freeze({
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  UNAVAILABLE: 503,
});

const emptyList = () => [];

/**
 * First frame of a client opening a new session (section 6.1). `auth`
 * holds the credentials, `maxFrame` the largest frame the client accepts,
 * `traits` the client's trait table.
 */
export const Hello = defineTrait("lg.Hello", [
  { name: "version", type: "int" },
  { name: "build", type: "str" },
  { name: "auth", type: ["map", "null"] },
  { name: "max_frame", type: "int" },
  { name: "traits", type: "list", default: emptyList },
]);

/**
 * The server's answer to HELLO or RESUME (section 6.2). `last_seq` is the
 * last message the server received in order; `heartbeat` and `grace` are
 * in seconds; `traits` is empty on a resume.
 */
export const Welcome = defineTrait("lg.Welcome", [
  { name: "session", type: "str" },
  { name: "token", type: "bytes" },
  { name: "resumed", type: "bool" },
  { name: "last_seq", type: "int" },
  { name: "max_frame", type: "int" },
  { name: "heartbeat", type: "float" },
  { name: "grace", type: "float" },
  { name: "traits", type: "list", default: emptyList },
]);

/** First frame of a client taking its session back (section 6.4). */
export const Resume = defineTrait("lg.Resume", [
  { name: "version", type: "int" },
  { name: "build", type: "str" },
  { name: "token", type: "bytes" },
  { name: "last_seq", type: "int" },
  { name: "max_frame", type: "int" },
]);

/** A request; answered by a Result or a CallError (section 5). */
export const Call = defineTrait("lg.Call", [
  { name: "id", type: "int" },
  { name: "method", type: "str" },
  { name: "params", default: null },
]);

/** The successful answer to the Call with the same id. */
export const Result = defineTrait("lg.Result", [
  { name: "id", type: "int" },
  { name: "value", default: null },
]);

/**
 * The failed answer to the Call with the same id: `code` is an ErrorCode
 * (or an application's own from 1000 on), `message` is for people, `data`
 * for programs. Its alias is `lg.Error`.
 */
export const CallError = defineTrait("lg.Error", [
  { name: "id", type: "int" },
  { name: "code", type: "int" },
  { name: "message", type: "str" },
  { name: "data", default: null },
]);

/** Something that happened, pushed without being asked for. */
export const Event = defineTrait("lg.Event", [
  { name: "name", type: "str" },
  { name: "data", default: null },
]);

/** The protocol's classes and their fixed trait ids (section 3.4). */
export const BUILTIN_TRAITS = Object.freeze([
  [0, Hello],
  [1, Welcome],
  [2, Resume],
  [3, Call],
  [4, Result],
  [5, CallError],
  [6, Event],
]);
