/**
 * The scan: a check of one encoded value against docs/protocol.md section
 * 3 that builds nothing.
 *
 * MessagePack decoders are lenient where the spec is strict, so the codec
 * runs this walk over the bytes before @msgpack/msgpack builds the value.
 * It checks what MessagePack alone does not: that strings are UTF-8, that
 * map keys are strings, that only the timestamp and trait reference
 * extensions appear and with lengths they allow, that a trait reference
 * stands first in an array, names a trait the peer declared and comes
 * with one value a field, and the limits of section 3.6.
 *
 * The walk keeps a stack of the open containers (those still waiting for
 * items) with what each still expects, so that nesting costs no recursion.
 * A container counts towards the depth as soon as its header is read, even
 * an empty one: no value is enclosed by more than `maxDepth` containers.
 *
 * @module _scan
 */

import { DecodeError, LimitExceeded, UnknownTrait } from "./errors.js";

/** The MessagePack extension type of a trait reference (section 3.3). */
export const TRAIT_REFERENCE = 1;
/** The MessagePack extension type of a timestamp. */
export const TIMESTAMP = -1;

const strictTextDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

// What a marker announces.
const SCALAR = 0;
const STRING = 1;
const BYTES = 2;
const EXTENSION = 3;
const LIST = 4;
const MAP = 5;
// An open list whose first element was a trait reference.
const TYPED = 6;

// The markers outside the fixed ranges (fixint, fixmap, fixarray, fixstr):
// [what, bytes of the length field, length when fixed]. c1 is missing: it
// is never used.
const MARKERS = new Map([
  [0xc0, [SCALAR, 0, 0]],
  [0xc2, [SCALAR, 0, 0]],
  [0xc3, [SCALAR, 0, 0]],
  [0xc4, [BYTES, 1]],
  [0xc5, [BYTES, 2]],
  [0xc6, [BYTES, 4]],
  [0xc7, [EXTENSION, 1]],
  [0xc8, [EXTENSION, 2]],
  [0xc9, [EXTENSION, 4]],
  [0xca, [SCALAR, 0, 4]],
  [0xcb, [SCALAR, 0, 8]],
  [0xcc, [SCALAR, 0, 1]],
  [0xcd, [SCALAR, 0, 2]],
  [0xce, [SCALAR, 0, 4]],
  [0xcf, [SCALAR, 0, 8]],
  [0xd0, [SCALAR, 0, 1]],
  [0xd1, [SCALAR, 0, 2]],
  [0xd2, [SCALAR, 0, 4]],
  [0xd3, [SCALAR, 0, 8]],
  [0xd4, [EXTENSION, 0, 1]],
  [0xd5, [EXTENSION, 0, 2]],
  [0xd6, [EXTENSION, 0, 4]],
  [0xd7, [EXTENSION, 0, 8]],
  [0xd8, [EXTENSION, 0, 16]],
  [0xd9, [STRING, 1]],
  [0xda, [STRING, 2]],
  [0xdb, [STRING, 4]],
  [0xdc, [LIST, 2]],
  [0xdd, [LIST, 4]],
  [0xde, [MAP, 2]],
  [0xdf, [MAP, 4]],
]);

function truncated() {
  return new DecodeError("value is truncated");
}

/**
 * Read the header of the item at `pos` into `head`: what it is, where its
 * payload starts, its length (bytes, or items for a container) and, for an
 * extension, its type. One `head` serves a whole scan.
 */
function readHead(bytes, view, pos, head) {
  const marker = bytes[pos];
  let what = SCALAR;
  let length = 0;
  let at = pos + 1;
  if (marker <= 0x7f || marker >= 0xe0) {
    what = SCALAR;
  } else if (marker <= 0x8f) {
    what = MAP;
    length = marker - 0x80;
  } else if (marker <= 0x9f) {
    what = LIST;
    length = marker - 0x90;
  } else if (marker <= 0xbf) {
    what = STRING;
    length = marker - 0xa0;
  } else {
    const known = MARKERS.get(marker);
    if (known === undefined) {
      throw new DecodeError(`marker 0x${marker.toString(16)} is not allowed`);
    }
    let width;
    [what, width, length] = known;
    if (width > 0) {
      if (at + width > bytes.length) {
        throw truncated();
      }
      length =
        width === 1 ? bytes[at] : width === 2 ? view.getUint16(at) : view.getUint32(at);
      at += width;
    }
    if (what === EXTENSION) {
      if (at >= bytes.length) {
        throw truncated();
      }
      head.type = view.getInt8(at);
      at += 1;
    }
  }
  head.what = what;
  head.start = at;
  head.length = length;
}

function checkUtf8(bytes, start, end) {
  for (let i = start; i < end; i++) {
    if (bytes[i] >= 0x80) {
      try {
        // the ASCII before i is whole characters: decode from i on
        strictTextDecoder.decode(bytes.subarray(i, end));
      } catch (error) {
        if (error instanceof TypeError) {
          throw new DecodeError("string is not valid UTF-8");
        }
        throw error;
      }
      return;
    }
  }
}

/**
 * Check one encoded value against section 3 without building it.
 *
 * @param {Uint8Array} bytes
 * @param {import("./codec.js").Limits} limits
 * @param {Map<number, {alias: string, size: number}>} entries The peer's
 *   traits by id: their alias and how many fields they have.
 * @returns {Set<number>} Where the bytes of each string value (not map
 *   key) start: the decoder gets them raw and decodes them itself.
 * @throws {DecodeError}
 */
export function scan(bytes, limits, entries) {
  const size = bytes.length;
  if (size > limits.maxSize) {
    throw new LimitExceeded("value over the size limit");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, size);
  const head = { what: SCALAR, start: 0, length: 0, type: 0 };
  const strings = new Set();

  // the open containers: what each is, how many items it holds and still
  // expects (a map's keys and values count apart), its trait if typed
  const kinds = [];
  const total = [];
  const left = [];
  const traits = [];
  let top = -1;
  let pos = 0;

  for (;;) {
    if (pos >= size) {
      throw truncated();
    }
    readHead(bytes, view, pos, head);
    const { what, start, length } = head;
    const isKey = top >= 0 && kinds[top] === MAP && left[top] % 2 === 0;
    if (isKey && what !== STRING) {
      throw new DecodeError("map keys must be strings");
    }

    // a container opens: check its limits and expect its items
    if (what === LIST || what === MAP) {
      if (top + 2 > limits.maxDepth) {
        throw new LimitExceeded("value nests too deep");
      }
      if (what === LIST ? length > limits.maxArrayLen : length > limits.maxMapLen) {
        throw new LimitExceeded(
          `${what === LIST ? "list" : "map"} over the length limit`,
        );
      }
      pos = start;
      if (length > 0) {
        top++;
        kinds[top] = what;
        total[top] = left[top] = what === MAP ? 2 * length : length;
        traits[top] = null;
        continue;
      }
    } else {
      // any other item: check its payload and step over it
      if (what === STRING && length > limits.maxStrLen) {
        throw new LimitExceeded("string over the length limit");
      }
      if (what === BYTES && length > limits.maxBinLen) {
        throw new LimitExceeded("bytes over the length limit");
      }
      pos = start + length;
      if (pos > size) {
        throw truncated();
      }
      if (what === STRING) {
        checkUtf8(bytes, start, pos);
        if (!isKey) {
          strings.add(start);
        }
      } else if (what === EXTENSION) {
        const isFirst = top >= 0 && kinds[top] === LIST && left[top] === total[top];
        const trait = checkExtension(bytes, view, head, isFirst, entries);
        if (trait !== null) {
          kinds[top] = TYPED;
          traits[top] = trait;
        }
      }
    }

    // the item is complete: close the containers it completes
    while (top >= 0) {
      left[top]--;
      if (left[top] > 0) {
        break;
      }
      if (kinds[top] === TYPED && total[top] - 1 !== traits[top].size) {
        const trait = traits[top];
        throw new DecodeError(
          `${trait.alias}: ${total[top] - 1} values, not ${trait.size}`,
        );
      }
      top--;
    }
    if (top < 0) {
      break;
    }
  }
  if (pos !== size) {
    throw new DecodeError("trailing bytes after the value");
  }
  return strings;
}

/**
 * Check an extension (section 3.2): a timestamp, or a trait reference
 * first in its list (section 3.3). Returns the peer's trait a reference
 * names, or null for a timestamp.
 */
function checkExtension(bytes, view, head, isFirst, entries) {
  const { type, start, length } = head;
  if (type === TIMESTAMP) {
    if (length !== 4 && length !== 8 && length !== 12) {
      throw new DecodeError("malformed timestamp");
    }
    return null;
  }
  if (type !== TRAIT_REFERENCE) {
    throw new DecodeError(`extension type ${type} is not allowed`);
  }
  if (!isFirst) {
    throw new DecodeError("trait reference outside a typed object");
  }
  if (length !== 1 && length !== 2) {
    throw new DecodeError("malformed trait reference");
  }
  const id = length === 1 ? bytes[start] : view.getUint16(start);
  if (length === 2 && id < 256) {
    throw new DecodeError("trait reference not in its shortest form");
  }
  const trait = entries.get(id);
  if (trait === undefined) {
    throw new UnknownTrait(`unknown trait ${id}`);
  }
  return trait;
}
