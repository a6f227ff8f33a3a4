/**
 * Building the pages with DOM calls only: text always goes in through
 * `textContent` or text nodes, never through HTML parsing, so nothing a
 * customer or an operator types can become markup.
 *
 * @module dom
 */

import { linkify } from "./links.js";

/**
 * A new element.
 *
 * @param {string} tag
 * @param {object} [props] `text` sets textContent, `className`, `id`,
 *   `hidden`, `disabled`, `value`, `type`, `checked` set the property;
 *   `on` maps event names to listeners; any other key is an attribute
 *   (`aria-*`, `for`, `role`, ...), skipped when null or false.
 * @param {...(Node | string | null | undefined | false)} children
 * @returns {HTMLElement}
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === null || value === undefined || value === false) {
      continue;
    }
    if (key === "text") {
      element.textContent = String(value);
    } else if (key === "on") {
      for (const [name, listener] of Object.entries(value)) {
        element.addEventListener(name, listener);
      }
    } else if (PROPERTIES.has(key)) {
      element[key] = value;
    } else if (key === "style" || key.startsWith("on")) {
      throw new TypeError(`h(): ${key} is not set through attributes`);
    } else {
      element.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

const PROPERTIES = new Set([
  "className",
  "id",
  "hidden",
  "disabled",
  "value",
  "type",
  "checked",
  "name",
  "required",
  "tabIndex",
  "placeholder",
  "maxLength",
  "rows",
  "autocomplete",
]);

/** Append children: nodes as they are, strings as text nodes. */
export function append(parent, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) {
      continue;
    }
    parent.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return parent;
}

/** Remove every child of `element`. */
export function clear(element) {
  while (element.firstChild) {
    element.firstChild.remove();
  }
  return element;
}

/**
 * A text with its http(s) links made clickable: text nodes and anchors
 * that open in a new tab without giving it the opener or the referrer.
 *
 * @param {string} text
 * @returns {DocumentFragment}
 */
export function linkedText(text) {
  const fragment = document.createDocumentFragment();
  for (const segment of linkify(text)) {
    if (segment.href === undefined) {
      fragment.append(document.createTextNode(segment.text));
    } else {
      const anchor = document.createElement("a");
      anchor.href = segment.href;
      anchor.target = "_blank";
      anchor.rel = "noopener noreferrer";
      anchor.textContent = segment.text;
      fragment.append(anchor);
    }
  }
  return fragment;
}

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/**
 * Show a dialog-like panel: remember what had the focus, move it into
 * the panel, keep Tab inside it, and close on Escape.
 *
 * @param {HTMLElement} panel
 * @param {() => void} onClose Called on Escape.
 * @returns {() => void} Hides the panel and gives the focus back.
 */
export function openPanel(panel, onClose) {
  const previous = document.activeElement;
  panel.hidden = false;
  const onKey = (event) => {
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      onClose();
      return;
    }
    if (event.key !== "Tab") {
      return;
    }
    const items = [...panel.querySelectorAll(FOCUSABLE)].filter(
      (item) => !item.closest("[hidden]"),
    );
    if (items.length === 0) {
      return;
    }
    const first = items[0];
    const last = items[items.length - 1];
    if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  };
  panel.addEventListener("keydown", onKey);
  const target =
    panel.querySelector("[data-autofocus]") ?? panel.querySelector(FOCUSABLE);
  (target ?? panel).focus();
  return () => {
    panel.removeEventListener("keydown", onKey);
    panel.hidden = true;
    if (previous instanceof HTMLElement && previous.isConnected) {
      previous.focus();
    }
  };
}
