/**
 * Binary input in the forms the platforms hand it over.
 *
 * @module _bytes
 */

import { LocalProtocolError } from "./errors.js";

/**
 * View binary input (a Uint8Array, another typed array, a DataView or an
 * ArrayBuffer, as a WebSocket delivers it) as a Uint8Array, without
 * copying.
 *
 * @param {Uint8Array | ArrayBuffer | ArrayBufferView} data
 * @returns {Uint8Array}
 * @throws {LocalProtocolError} `data` is not binary.
 */
export function asBytes(data) {
  if (data instanceof Uint8Array) {
    return data;
  }
  if (data instanceof ArrayBuffer) {
    return new Uint8Array(data);
  }
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  throw new LocalProtocolError("expected bytes");
}
