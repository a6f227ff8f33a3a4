/**
 * The lgserver wire protocol for browsers and Node: frames, values and
 * the client role of a session (docs/protocol.md), sans-I/O.
 *
 * The modules import MessagePack by its bare name, "@msgpack/msgpack".
 * Node resolves it from node_modules; a page maps it with an import map
 * to the library's ES module build, the file
 * node_modules/@msgpack/msgpack/dist.esm/index.mjs (which imports its
 * siblings by relative paths):
 *
 *     <script type="importmap">
 *       {"imports": {"@msgpack/msgpack":
 *         "/node_modules/@msgpack/msgpack/dist.esm/index.mjs"}}
 *     </script>
 *
 * @module index
 */

export * from "./errors.js";
export * from "./frames.js";
export * from "./messages.js";
export * from "./codec.js";
export * from "./session.js";
export * from "./connection.js";
