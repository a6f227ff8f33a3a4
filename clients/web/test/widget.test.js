// The call button's own logic, loaded as the classic script it is into a
// context without a document, where it only exposes its functions.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";
import vm from "node:vm";

import { VISITOR_CASES } from "../testing/visitors.js";

const source = readFileSync(new URL("../widget.js", import.meta.url), "utf8");

function load() {
  const context = vm.createContext({ URL, URLSearchParams, Uint8Array });
  vm.runInContext(source, context);
  return context;
}

const widget = load().lgserverWidget;

class MemoryStorage {
  constructor(items = {}) {
    this.items = new Map(Object.entries(items));
  }
  getItem(key) {
    return this.items.has(key) ? this.items.get(key) : null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
}

class RefusingStorage {
  getItem() {
    throw new Error("SecurityError");
  }
  setItem() {
    throw new Error("SecurityError");
  }
}

const counting = (bytes) => bytes.map((_, i) => i * 7);

describe("the widget's script", () => {
  test("leaves no global but its test hook where there is no document", () => {
    const context = load();
    assert.deepEqual(Object.keys(context).sort(), [
      "URL",
      "URLSearchParams",
      "Uint8Array",
      "lgserverWidget",
    ]);
  });
});

describe("visitor ids", () => {
  test("a new id is 22 characters of [A-Za-z0-9_-], kept", () => {
    const storage = new MemoryStorage();
    const id = widget.visitorId(storage, counting);
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(storage.getItem("lgserver.visitor"), id);
    assert.equal(
      widget.visitorId(storage, () => assert.fail("not asked")),
      id,
    );
  });

  test("a malformed kept id is replaced", () => {
    const storage = new MemoryStorage({ "lgserver.visitor": "<script>" });
    const id = widget.visitorId(storage, counting);
    assert.match(id, /^[A-Za-z0-9_-]{22}$/);
  });

  test("a kept id the server would refuse is replaced", () => {
    // docs/protocol.md 6.8: 22 to 64 of [A-Za-z0-9_-]
    for (const [id, kept] of VISITOR_CASES) {
      const storage = new MemoryStorage({ "lgserver.visitor": id });
      const used = widget.visitorId(storage, counting);
      assert.equal(used === id, kept, id);
      assert.match(used, /^[A-Za-z0-9_-]{22,64}$/);
      assert.equal(storage.getItem("lgserver.visitor"), used);
    }
  });

  test("storage that refuses still gives an id", () => {
    assert.match(
      widget.visitorId(new RefusingStorage(), counting),
      /^[A-Za-z0-9_-]{22}$/,
    );
    assert.match(widget.visitorId(null, counting), /^[A-Za-z0-9_-]{22}$/);
  });
});

describe("options", () => {
  test("read from the script's address and data attributes", () => {
    const options = widget.readOptions("https://chat.example:8443/widget.js", {
      department: "sales",
      inviteAfter: "30",
      lang: "de",
      mode: "window",
    });
    assert.deepEqual(
      { ...options },
      {
        origin: "https://chat.example:8443",
        department: "sales",
        inviteAfter: 30,
        lang: "de",
        mode: "window",
      },
    );
  });

  test("bad values fall back to safe ones", () => {
    const options = widget.readOptions("javascript:alert(1)", {
      inviteAfter: "-5",
      mode: "popup",
    });
    assert.equal(options.origin, null);
    assert.equal(options.inviteAfter, 0);
    assert.equal(options.mode, "panel");
    assert.equal(widget.readOptions("not a url", {}).origin, null);
    assert.equal(
      widget.readOptions("https://x.example/w.js", { inviteAfter: "1e9" }).inviteAfter,
      86400,
    );
  });
});

describe("status", () => {
  const departments = [
    { name: "sales", title: "Sales", staffed: true },
    { name: "support", title: "Support", staffed: false },
  ];
  const answer = { allowed: true, available: true, banned: false, departments };

  test("what the button shows", () => {
    assert.equal(widget.statusView(answer, ""), "online");
    assert.equal(widget.statusView(answer, "sales"), "online");
    assert.equal(widget.statusView(answer, "support"), "offline");
    assert.equal(widget.statusView(answer, "nope"), "hidden");
    assert.equal(widget.statusView({ ...answer, available: false }, ""), "offline");
    assert.equal(
      widget.statusView({ ...answer, banned: true }, "sales"),
      "unavailable",
    );
  });

  test("no answer, a refusal or nonsense hides the button", () => {
    for (const bad of [
      null,
      undefined,
      "yes",
      1,
      [],
      {},
      { allowed: false },
      { allowed: "true" },
    ]) {
      assert.equal(widget.statusView(bad, ""), "hidden");
    }
  });

  test("addresses carry what the server and the window need", () => {
    const options = widget.readOptions("https://chat.example/widget.js", {
      department: "sales & more",
      lang: "en",
    });
    const status = new URL(widget.statusUrl(options.origin, options, "v".repeat(22)));
    assert.equal(status.pathname, "/widget/status");
    assert.equal(status.searchParams.get("department"), "sales & more");
    assert.equal(status.searchParams.get("visitor"), "v".repeat(22));

    const chat = new URL(
      widget.chatUrl(
        options.origin,
        options,
        "v".repeat(22),
        "https://shop.example/p?q=1",
      ),
    );
    assert.equal(chat.origin + chat.pathname, "https://chat.example/chat/");
    assert.equal(chat.searchParams.get("url"), "https://shop.example/p?q=1");
    assert.equal(chat.searchParams.get("lang"), "en");
    const local = new URL(
      widget.chatUrl(options.origin, options, "v".repeat(22), "file:///x"),
    );
    assert.equal(local.searchParams.has("url"), false);
  });

  test("the invitation: when asked for, online and not dismissed", () => {
    const options = widget.readOptions("https://c.example/widget.js", {
      inviteAfter: "5",
    });
    assert.ok(widget.shouldInvite(options, "online", new MemoryStorage()));
    assert.ok(!widget.shouldInvite(options, "offline", new MemoryStorage()));
    const dismissed = new MemoryStorage({ [widget.DISMISSED_KEY]: "1" });
    assert.ok(!widget.shouldInvite(options, "online", dismissed));
    assert.ok(widget.shouldInvite(options, "online", new RefusingStorage()));
    const never = widget.readOptions("https://c.example/widget.js", {});
    assert.ok(!widget.shouldInvite(never, "online", new MemoryStorage()));
  });

  test("strings by language, English the fallback", () => {
    assert.equal(widget.strings("de-CH").invite, "Kann ich Ihnen helfen?");
    assert.equal(widget.strings("fr").invite, "May I help you?");
    assert.equal(widget.strings(undefined).call, "Chat with us");
  });
});
