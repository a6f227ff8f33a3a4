/**
 * Links in chat text, found without ever treating the text as HTML.
 *
 * Only absolute http and https URLs become links. A text is split into
 * segments, `{text}` or `{text, href}`, which a view renders with DOM
 * calls (a text node, or an anchor whose textContent is the text), so no
 * character of the text is ever parsed as markup. Schemes such as
 * `javascript:` or `data:`, in any case and with any whitespace, control
 * or invisible format characters slipped in, never match: a candidate must start
 * with the literal letters `http://` or `https://` (in any case) at a
 * word boundary and is then checked again by the URL parser.
 *
 * @module links
 */

// A URL runs to the next whitespace or character that cannot be in one.
const CANDIDATE = /\bhttps?:\/\/[^\s<>"'`\p{Cc}\p{Cf}]+/giu;
// Punctuation that ends a sentence more often than it ends a URL.
const TRAILING = /[.,;:!?)\]}]+$/u;

/**
 * The URL, normalized, when it is an absolute http(s) URL with a host;
 * null for anything else (another scheme, whitespace or control
 * characters anywhere, credentials, no host).
 *
 * @param {unknown} value
 * @returns {string | null}
 */
export function safeHttpUrl(value) {
  if (typeof value !== "string" || value.length === 0 || value.length > 2048) {
    return null;
  }
  // the URL parser strips tabs, newlines and leading spaces: refuse them
  // instead, so that what is shown is what is followed; invisible format
  // characters (zero-width spaces, direction overrides) disguise a URL
  if (/[\s\p{Cc}\p{Cf}]/u.test(value)) {
    return null;
  }
  if (!/^https?:\/\//iu.test(value)) {
    return null;
  }
  let url;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return null;
  }
  if (!url.hostname || url.username || url.password) {
    return null;
  }
  return url.href;
}

/**
 * Split a text into plain and link segments.
 *
 * @param {string} text
 * @returns {Array<{text: string, href?: string}>} Segments whose texts,
 *   joined, give back the whole text.
 */
export function linkify(text) {
  const segments = [];
  let last = 0;
  const push = (piece) => {
    if (piece.length === 0) {
      return;
    }
    const previous = segments[segments.length - 1];
    if (previous !== undefined && previous.href === undefined) {
      previous.text += piece;
    } else {
      segments.push({ text: piece });
    }
  };
  for (const match of String(text).matchAll(CANDIDATE)) {
    let candidate = match[0];
    const trailing = TRAILING.exec(candidate);
    if (trailing !== null) {
      candidate = candidate.slice(0, trailing.index);
    }
    const href = safeHttpUrl(candidate);
    if (href === null) {
      continue;
    }
    push(text.slice(last, match.index));
    segments.push({ text: candidate, href });
    last = match.index + candidate.length;
  }
  push(String(text).slice(last));
  return segments;
}
