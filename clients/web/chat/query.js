/**
 * What the chat window's address says: `/chat/?department=..&visitor=..
 * &url=..&lang=..&name=..`, as the widget builds it. Every value is
 * checked: a visitor id that is not 22 to 64 of `[A-Za-z0-9_-]` (what
 * the server accepts, docs/protocol.md 6.8) is replaced by the window's
 * own, a page URL that is not http(s) is dropped. And the reader's font
 * size, kept in localStorage.
 *
 * @module query
 */

import { randomId } from "../common/format.js";
import { safeHttpUrl } from "../common/links.js";

export const VISITOR = /^[A-Za-z0-9_-]{22,64}$/u;
const DEPARTMENT = /^[^\u0000-\u001f\u007f]{1,64}$/u;
const VISITOR_KEY = "lgserver.visitor";
const SCALE_KEY = "lgserver.chat.fontScale";

/** The smallest, largest and step of the font scale. */
export const SCALE = Object.freeze({ min: 0.8, max: 1.6, step: 0.1 });

/**
 * @param {string} search `location.search`.
 * @returns {{department: string | null, visitor: string | null,
 *   url: string | null, lang: string | null, name: string}}
 */
export function parseQuery(search) {
  const params = new URLSearchParams(search);
  const get = (key) => params.get(key) ?? "";
  const department = get("department");
  const visitor = get("visitor");
  const lang = get("lang");
  return {
    department: DEPARTMENT.test(department) ? department : null,
    visitor: VISITOR.test(visitor) ? visitor : null,
    url: safeHttpUrl(get("url")),
    lang: /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/u.test(lang) ? lang : null,
    name: get("name").slice(0, 100),
  };
}

/**
 * The visitor id: the one given, else the one this browser keeps, else a
 * new one (kept when storage works).
 *
 * @param {string | null} given
 * @param {Storage | null} storage
 * @returns {string}
 */
export function visitorId(given, storage) {
  if (given !== null && VISITOR.test(given)) {
    return given;
  }
  try {
    const kept = storage?.getItem(VISITOR_KEY);
    if (typeof kept === "string" && VISITOR.test(kept)) {
      return kept;
    }
  } catch {
    // storage refused (privacy settings): a new id each time
  }
  const id = randomId();
  try {
    storage?.setItem(VISITOR_KEY, id);
  } catch {
    // as above
  }
  return id;
}

/**
 * The font scale kept, within bounds; 1 when none.
 *
 * @param {Storage | null} storage
 */
export function loadScale(storage) {
  let value = NaN;
  try {
    value = Number(storage?.getItem(SCALE_KEY));
  } catch {
    // storage refused
  }
  return Number.isFinite(value) && value > 0 ? clampScale(value) : 1;
}

/** Keep the font scale, if storage allows. */
export function saveScale(storage, scale) {
  try {
    storage?.setItem(SCALE_KEY, String(scale));
  } catch {
    // storage refused: the size holds for this visit only
  }
}

/**
 * One step bigger (`direction` 1) or smaller (-1), within bounds.
 *
 * @param {number} scale
 * @param {1 | -1} direction
 */
export function stepScale(scale, direction) {
  return clampScale(scale + direction * SCALE.step);
}

function clampScale(value) {
  const rounded = Math.round(value * 10) / 10;
  return Math.min(SCALE.max, Math.max(SCALE.min, rounded));
}
