// The string tables: every language holds every key of English, with the
// same placeholders; every key the pages and scripts name exists.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import vm from "node:vm";

import { STRINGS as CHAT, outcomeKey } from "../chat/strings.js";
import { STRINGS as CONSOLE } from "../console/strings.js";
import { pickLanguage, tableProblems, translator } from "../common/i18n.js";

const read = (path) => readFileSync(new URL(path, import.meta.url), "utf8");

function widgetStrings() {
  const context = vm.createContext({ URL, URLSearchParams, Uint8Array });
  vm.runInContext(read("../widget.js"), context);
  return context.lgserverWidget.STRINGS;
}

/** Keys named in a page's data-text and data-label, and t("...") calls. */
function keysUsed(...paths) {
  const keys = new Set();
  for (const path of paths) {
    const source = read(path);
    for (const match of source.matchAll(
      /data-(?:text|label|placeholder)="([a-z_]+)"/g,
    )) {
      keys.add(match[1]);
    }
    for (const match of source.matchAll(/\bt\(\s*"([a-z_]+)"/g)) {
      keys.add(match[1]);
    }
    for (const match of source.matchAll(/"((?:notice|tool)_[a-z_]+)"/g)) {
      keys.add(match[1]);
    }
    // state.js names errors that the window shows as error_<name>
    for (const match of source.matchAll(/\berror: "([a-z_]+)"/g)) {
      keys.add(`error_${match[1]}`);
    }
  }
  return keys;
}

describe("string tables", () => {
  for (const [name, tables] of [
    ["chat", CHAT],
    ["console", CONSOLE],
    ["widget", widgetStrings()],
  ]) {
    test(`${name}: every table complete`, () => {
      assert.deepEqual(tableProblems(tables), {});
    });
  }

  test("chat: every key used exists", () => {
    const used = keysUsed("../chat/index.html", "../chat/app.js", "../chat/state.js");
    const missing = [...used].filter((key) => !Object.hasOwn(CHAT.en, key));
    assert.deepEqual(missing, []);
    assert.ok(used.size > 40);
  });

  test("console: every key used exists", () => {
    const used = keysUsed(
      "../console/index.html",
      "../console/app.js",
      "../console/state.js",
    );
    const missing = [...used].filter((key) => !Object.hasOwn(CONSOLE.en, key));
    assert.deepEqual(missing, []);
    assert.ok(used.size > 40);
  });

  test("tableProblems finds holes, extras and placeholder mistakes", () => {
    const problems = tableProblems({
      en: { a: "A {n}", b: "B" },
      xx: { a: "A", c: "C" },
    });
    assert.deepEqual(problems, { xx: ["placeholders of a", "missing b", "extra c"] });
  });
});

describe("chat outcomes", () => {
  test("the service's outcomes and the window's own have their texts", () => {
    assert.equal(outcomeKey("served"), "outcome_ended");
    assert.equal(outcomeKey("inactive"), "outcome_inactive");
    assert.equal(outcomeKey("left"), "outcome_left");
    assert.equal(outcomeKey("lost"), "outcome_lost");
    assert.equal(outcomeKey("banned"), "outcome_ended");
    assert.equal(outcomeKey("constructor"), "outcome_ended");
    assert.equal(outcomeKey(undefined), "outcome_ended");
    for (const table of Object.values(CHAT)) {
      assert.match(table.outcome_inactive, /silence|Stille/);
    }
  });
});

describe("translator", () => {
  test("fills placeholders and falls back to English, then the key", () => {
    const tables = {
      en: { hi: "Hi {name}", only: "English" },
      de: { hi: "Hallo {name}" },
    };
    const t = translator(tables, "de");
    assert.equal(t("hi", { name: "Ann" }), "Hallo Ann");
    assert.equal(t("only"), "English");
    assert.equal(t("missing"), "missing");
    assert.equal(t("hi"), "Hallo {name}");
    assert.equal(t("hi", { name: "<b>" }), "Hallo <b>");
  });

  test("pickLanguage tries whole tags, then their first part", () => {
    assert.equal(pickLanguage(CHAT, ["de-AT", "en"]), "de");
    assert.equal(pickLanguage(CHAT, ["fr", null, "DE"]), "de");
    assert.equal(pickLanguage(CHAT, ["fr"]), "en");
    assert.equal(pickLanguage(CHAT, []), "en");
    assert.equal(pickLanguage(CHAT, ["__proto__"]), "en");
  });
});
