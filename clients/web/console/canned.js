/**
 * Predefined texts and links (`canned.list`): the operator inserts one
 * with a click, or by typing `/keyword` and Tab in the message box.
 *
 * @module canned
 */

import { safeHttpUrl } from "../common/links.js";

const KEYWORD = /^[\p{L}\p{N}_-]{1,64}$/u;

/**
 * The usable items of a `canned.list` answer: texts, and links whose
 * body is an http(s) URL; keywords checked, at most one item a keyword.
 *
 * @param {unknown} items
 * @returns {Array<{kind: "text" | "link", keyword: string, title: string,
 *   body: string}>}
 */
export function normalizeCanned(items) {
  const seen = new Set();
  const out = [];
  for (const item of Array.isArray(items) ? items : []) {
    if (item === null || typeof item !== "object" || typeof item.body !== "string") {
      continue;
    }
    const kind = item.kind === "link" ? "link" : "text";
    if (kind === "link" && safeHttpUrl(item.body) === null) {
      continue;
    }
    const keyword = typeof item.keyword === "string" ? item.keyword : "";
    const valid = KEYWORD.test(keyword) && !seen.has(keyword.toLowerCase());
    if (valid) {
      seen.add(keyword.toLowerCase());
    }
    out.push({
      kind,
      keyword: valid ? keyword : "",
      title: typeof item.title === "string" && item.title ? item.title : item.body,
      body: item.body,
    });
  }
  return out;
}

/** What an item puts into the message: its text, or title and URL. */
export function cannedText(item) {
  if (item.kind === "link") {
    return item.title && item.title !== item.body
      ? `${item.title}: ${item.body}`
      : item.body;
  }
  return item.body;
}

/**
 * The item a keyword names: the one whose keyword it is (any case), or
 * the only one whose keyword starts with it.
 *
 * @param {ReturnType<typeof normalizeCanned>} canned
 * @param {string} word Without the slash.
 */
export function findKeyword(canned, word) {
  if (word === "") {
    return null;
  }
  const lower = word.toLowerCase();
  const exact = canned.find((item) => item.keyword.toLowerCase() === lower);
  if (exact !== undefined) {
    return exact;
  }
  const starting = canned.filter(
    (item) => item.keyword !== "" && item.keyword.toLowerCase().startsWith(lower),
  );
  return starting.length === 1 ? starting[0] : null;
}

/**
 * Expand the `/keyword` just before the caret, when one is there.
 *
 * The slash must start the text or follow whitespace, so that a URL's
 * path is never taken for a keyword.
 *
 * @param {string} value The message box's text.
 * @param {number} caret Where the caret is.
 * @param {ReturnType<typeof normalizeCanned>} canned
 * @returns {{value: string, caret: number, item: object} | null}
 */
export function expandKeyword(value, caret, canned) {
  const before = value.slice(0, caret);
  const match = /(^|\s)\/([\p{L}\p{N}_-]{1,64})$/u.exec(before);
  if (match === null) {
    return null;
  }
  const item = findKeyword(canned, match[2]);
  if (item === null) {
    return null;
  }
  const start = caret - match[2].length - 1;
  const insert = cannedText(item);
  return {
    value: value.slice(0, start) + insert + value.slice(caret),
    caret: start + insert.length,
    item,
  };
}

/**
 * The items matching a filter (in keyword, title or body, any case).
 *
 * @param {ReturnType<typeof normalizeCanned>} canned
 * @param {string} filter
 */
export function filterCanned(canned, filter) {
  const needle = filter.trim().toLowerCase().replace(/^\//u, "");
  if (needle === "") {
    return canned;
  }
  return canned.filter((item) =>
    [item.keyword, item.title, item.body].some((field) =>
      field.toLowerCase().includes(needle),
    ),
  );
}
