// Links in chat text: only http(s) URLs become links, whatever tricks
// the text holds; the segments always give back the whole text.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { linkify, safeHttpUrl } from "../common/links.js";

const joined = (segments) => segments.map((segment) => segment.text).join("");
const hrefs = (text) =>
  linkify(text)
    .filter((segment) => segment.href !== undefined)
    .map((segment) => segment.href);

describe("safeHttpUrl", () => {
  test("takes absolute http and https URLs", () => {
    assert.equal(
      safeHttpUrl("https://shop.example/a?b=1#c"),
      "https://shop.example/a?b=1#c",
    );
    assert.equal(safeHttpUrl("HTTP://Shop.Example"), "http://shop.example/");
  });

  for (const bad of [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\u0000javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "DATA:text/html;base64,PHNjcmlwdD4=",
    "vbscript:msgbox(1)",
    "ftp://files.example/",
    "//shop.example/",
    "/relative",
    "https://user:pass@shop.example/",
    "https:// shop.example",
    " https://shop.example",
    "https://shop.example/\u200b",
    "https://",
    "",
    null,
    42,
    "https://" + "a".repeat(3000) + ".example",
  ]) {
    test(`refuses ${JSON.stringify(bad)?.slice(0, 40)}`, () => {
      assert.equal(safeHttpUrl(bad), null);
    });
  }
});

describe("linkify", () => {
  test("finds links in text, leaving sentence punctuation out", () => {
    const text = "See https://shop.example/help, or (http://a.example/x).";
    const segments = linkify(text);
    assert.equal(joined(segments), text);
    assert.deepEqual(hrefs(text), ["https://shop.example/help", "http://a.example/x"]);
  });

  test("plain text is one segment", () => {
    assert.deepEqual(linkify("no links here"), [{ text: "no links here" }]);
    assert.deepEqual(linkify(""), []);
  });

  for (const text of [
    "javascript:alert(1)",
    "click javascript:alert('https://x')",
    "data:text/html,https://x.example",
    "xhttps://shop.example",
    '<a href="javascript:alert(1)">https</a>',
    "JAVASCRIPT://%0Aalert(1)",
  ]) {
    test(`no script or data link in ${JSON.stringify(text)}`, () => {
      const segments = linkify(text);
      assert.equal(joined(segments), text);
      for (const href of hrefs(text)) {
        assert.match(href, /^https?:\/\//);
        assert.doesNotMatch(href, /javascript|data:/i);
      }
    });
  }

  test("a link inside a javascript: text is only the http part", () => {
    assert.deepEqual(hrefs("javascript:alert(1)//https://x.example"), [
      "https://x.example/",
    ]);
  });

  test("markup stays text", () => {
    const text = "<img src=x onerror=alert(1)> https://shop.example/<b>";
    const segments = linkify(text);
    assert.equal(joined(segments), text);
    assert.equal(segments[0].text, "<img src=x onerror=alert(1)> ");
    assert.equal(segments[1].href, "https://shop.example/");
  });
});
