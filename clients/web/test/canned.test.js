// Predefined texts: the list as the console uses it, and /keyword + Tab.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  cannedText,
  expandKeyword,
  filterCanned,
  findKeyword,
  normalizeCanned,
} from "../console/canned.js";

const canned = normalizeCanned([
  { kind: "text", keyword: "hello", title: "Greeting", body: "Hello, how can I help?" },
  { kind: "text", keyword: "help", title: "Help", body: "See our help pages." },
  { kind: "link", keyword: "faq", title: "FAQ", body: "https://shop.example/faq" },
  { kind: "link", keyword: "bad", title: "Bad", body: "javascript:alert(1)" },
  { kind: "text", keyword: "Hello", title: "Twice", body: "second" },
  { kind: "text", keyword: "no spaces", title: "Odd", body: "odd keyword" },
  { kind: "text", title: "Untitled" },
  null,
]);

describe("normalizeCanned", () => {
  test("keeps texts and http(s) links, one item a keyword", () => {
    assert.deepEqual(
      canned.map((item) => [item.kind, item.keyword, item.title]),
      [
        ["text", "hello", "Greeting"],
        ["text", "help", "Help"],
        ["link", "faq", "FAQ"],
        ["text", "", "Twice"],
        ["text", "", "Odd"],
      ],
    );
  });

  test("a link inserts its title and address", () => {
    assert.equal(cannedText(canned[2]), "FAQ: https://shop.example/faq");
    assert.equal(cannedText(canned[0]), "Hello, how can I help?");
  });
});

describe("keywords", () => {
  test("exact keywords win over prefixes, in any case", () => {
    assert.equal(findKeyword(canned, "HELLO").title, "Greeting");
    assert.equal(findKeyword(canned, "fa").keyword, "faq");
    assert.equal(findKeyword(canned, "he"), null, "ambiguous");
    assert.equal(findKeyword(canned, "zzz"), null);
    assert.equal(findKeyword(canned, ""), null);
  });

  test("/keyword before the caret is replaced, the rest kept", () => {
    const value = "Dear Ann, /hello and more";
    const caret = "Dear Ann, /hello".length;
    const expanded = expandKeyword(value, caret, canned);
    assert.equal(expanded.value, "Dear Ann, Hello, how can I help? and more");
    assert.equal(expanded.caret, "Dear Ann, Hello, how can I help?".length);
  });

  test("at the start of the text too", () => {
    assert.equal(
      expandKeyword("/faq", 4, canned).value,
      "FAQ: https://shop.example/faq",
    );
  });

  test("a path in a URL or an unknown word is not a keyword", () => {
    const url = "see https://shop.example/help";
    assert.equal(expandKeyword(url, url.length, canned), null);
    assert.equal(expandKeyword("/nothing", 8, canned), null);
    assert.equal(expandKeyword("no slash", 8, canned), null);
    assert.equal(expandKeyword("/he", 3, canned), null);
  });

  test("the filter looks at keyword, title and body", () => {
    assert.deepEqual(
      filterCanned(canned, "/FAQ").map((item) => item.keyword),
      ["faq"],
    );
    assert.equal(filterCanned(canned, "help").length, 2);
    assert.equal(filterCanned(canned, "  ").length, canned.length);
  });
});
