// The operator console's reducer: the queue, chats in tabs, unread
// counts and typing previews.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  ConsoleError,
  PREVIEW_SHOWN,
  chatOf,
  initialState,
  preview,
  reduce,
  sortedOffers,
  timeLeft,
  totalUnread,
  waited,
} from "../console/state.js";

const run = (state, ...actions) => actions.reduce(reduce, state);
const event = (name, data, now = 1000) => ({ type: "event", name, data, now });
const offer = (chat, extra = {}) =>
  event("queue.offer", {
    call: {
      chat,
      department: "sales",
      name: `N${chat}`,
      url: "",
      country: "",
      placed_at: 900,
      ...extra,
    },
  });
const start = (chat, name = "Eve") =>
  event("chat.started", {
    chat,
    customer: { name, visitor: "v12345678", url: "", country: "FR" },
  });
const fromCustomer = (chat, id, text = "hello") =>
  event("chat.message", {
    chat,
    message: { id, from: "customer", name: "Eve", text, at: 1000 },
  });

describe("the queue", () => {
  test("offers come and go; a chat started leaves the queue", () => {
    let state = run(initialState(), offer("a"), offer("b"), offer("a"));
    assert.deepEqual(
      state.offers.map((o) => o.chat),
      ["b", "a"],
    );
    state = run(state, event("queue.withdrawn", { chat: "b", reason: "taken" }));
    assert.deepEqual(
      state.offers.map((o) => o.chat),
      ["a"],
    );
    state = run(state, start("a"));
    assert.deepEqual(state.offers, []);
    // an offer of a chat already held is ignored
    assert.deepEqual(run(state, offer("a")).offers, []);
  });

  test("a malformed offer is ignored", () => {
    const state = initialState();
    assert.equal(run(state, event("queue.offer", { call: { name: "x" } })), state);
    assert.equal(run(state, event("queue.offer", null)), state);
  });

  test("assigned calls first by deadline, then the oldest first", () => {
    const state = run(
      initialState(),
      offer("new", { placed_at: 990 }),
      offer("old", { placed_at: 100 }),
      offer("mid", { placed_at: 500 }),
      offer("late", { placed_at: 980, deadline: 1030 }),
      offer("soon", { placed_at: 985, deadline: 1010 }),
    );
    assert.deepEqual(
      sortedOffers(state.offers).map((o) => o.chat),
      ["soon", "late", "old", "mid", "new"],
    );
  });

  test("waiting and remaining time tick with the clock, never negative", () => {
    const state = run(initialState(), offer("a", { placed_at: 900, deadline: 1020 }));
    const [item] = state.offers;
    assert.equal(waited(item, 960), 60);
    assert.equal(waited(item, 800), 0);
    assert.equal(timeLeft(item, 1000), 20);
    assert.equal(timeLeft(item, 1100), 0);
    assert.equal(timeLeft({ ...item, deadline: null }, 1000), null);
  });

  test("operator.state replaces the queue and adds the chats held", () => {
    const state = run(initialState(), offer("stale"), {
      type: "operator_state",
      now: 1000,
      result: {
        status: "available",
        departments: ["sales"],
        max_chats: 3,
        offers: [{ chat: "q1", department: "sales", placed_at: 950 }],
        chats: [
          {
            chat: "c9",
            customer: { name: "Zed" },
            messages: [{ id: "1", from: "customer", text: "earlier", at: 10 }],
          },
        ],
      },
    });
    assert.equal(state.status, "available");
    assert.equal(state.maxChats, 3);
    assert.deepEqual(
      state.offers.map((o) => o.chat),
      ["q1"],
    );
    assert.equal(state.selected, "c9");
    assert.equal(chatOf(state, "c9").entries.at(-1).text, "earlier");
  });
});

describe("chats and unread counts", () => {
  test("the first chat is selected; messages to others count as unread", () => {
    let state = run(initialState(), start("a"), start("b"));
    assert.equal(state.selected, "a");
    state = run(
      state,
      fromCustomer("a", "1"),
      fromCustomer("b", "2"),
      fromCustomer("b", "3"),
    );
    assert.equal(chatOf(state, "a").unread, 0);
    assert.equal(chatOf(state, "b").unread, 2);
    assert.equal(totalUnread(state), 2);
    state = run(state, { type: "select", chat: "b" });
    assert.equal(chatOf(state, "b").unread, 0);
    assert.equal(totalUnread(state), 0);
  });

  test("while the window is not focused even the selected chat counts", () => {
    let state = run(initialState(), start("a"), { type: "focus", focused: false });
    state = run(state, fromCustomer("a", "1"), fromCustomer("a", "2"));
    assert.equal(chatOf(state, "a").unread, 2);
    state = run(state, { type: "select", chat: "a" });
    assert.equal(chatOf(state, "a").unread, 2, "selecting does not read while away");
    state = run(state, { type: "focus", focused: true });
    assert.equal(chatOf(state, "a").unread, 0);
  });

  test("the operator's own messages and duplicates are not unread", () => {
    let state = run(initialState(), start("a"), start("b"));
    state = run(
      state,
      event("chat.message", {
        chat: "b",
        message: { id: "o", from: "operator", text: "x" },
      }),
      fromCustomer("b", "1"),
      fromCustomer("b", "1"),
    );
    assert.equal(chatOf(state, "b").unread, 1);
    assert.equal(
      chatOf(state, "b").entries.filter((e) => e.kind === "message").length,
      2,
    );
  });

  test("a form's answers count as unread in another tab", () => {
    const state = run(
      initialState(),
      start("a"),
      start("b"),
      event("chat.form_answer", {
        chat: "b",
        form: "contact",
        answers: { email: "e@x.example" },
      }),
    );
    const entry = chatOf(state, "b").entries.at(-1);
    assert.equal(entry.kind, "answer");
    assert.deepEqual(entry.pairs, [["email", "e@x.example"]]);
    assert.equal(chatOf(state, "b").unread, 1);
  });

  test("the typing preview shows for a while and goes with the message", () => {
    let state = run(
      initialState(),
      start("a"),
      event("chat.typing", { chat: "a", text: "hel" }, 500),
    );
    assert.equal(preview(chatOf(state, "a"), 501), "hel");
    assert.equal(preview(chatOf(state, "a"), 500 + PREVIEW_SHOWN + 1), null);
    state = run(state, fromCustomer("a", "1", "hello"));
    assert.equal(preview(chatOf(state, "a"), 501), null);
  });

  test("sending: pending, then stored; refused after the end ends the chat", () => {
    let state = run(initialState(), start("a"), {
      type: "send",
      chat: "a",
      id: "m1",
      text: "hi",
      name: "Op",
      now: 1,
    });
    assert.equal(chatOf(state, "a").entries.at(-1).pending, true);
    state = run(state, {
      type: "sent",
      chat: "a",
      id: "m1",
      result: { id: "m1", at: 2 },
    });
    assert.equal(chatOf(state, "a").entries.at(-1).pending, false);
    assert.equal(chatOf(state, "a").entries.at(-1).at, 2);
    state = run(
      state,
      { type: "send", chat: "a", id: "m2", text: "late", now: 3 },
      { type: "send_failed", chat: "a", id: "m2", code: ConsoleError.CHAT_ENDED },
    );
    const item = chatOf(state, "a");
    assert.equal(item.entries.find((e) => e.id === "m2").failed, true);
    assert.equal(item.ended, "ended");
  });

  test("our message coming back before its result is shown once", () => {
    let state = run(
      initialState(),
      start("a"),
      { type: "send", chat: "a", id: "m7", text: "hi", name: "Op", now: 1 },
      event("chat.message", {
        chat: "a",
        message: { id: 9, client_id: "m7", from: "operator", text: "hi", at: 2 },
      }),
      { type: "sent", chat: "a", id: "m7", result: { id: 9, at: 2 } },
    );
    const messages = chatOf(state, "a").entries.filter((e) => e.kind === "message");
    assert.equal(messages.length, 1);
    assert.equal(messages[0].pending, false);
  });

  test("a customer who left, the end, and closing the tab", () => {
    let state = run(initialState(), start("a"), start("b"), start("c"));
    state = run(state, { type: "select", chat: "b" });
    assert.equal(
      run(state, { type: "close_chat", chat: "b" }),
      state,
      "open chats stay",
    );
    state = run(
      state,
      event("chat.customer_left", { chat: "b" }),
      event("chat.ended", { chat: "b", outcome: "left" }),
    );
    const b = chatOf(state, "b");
    assert.ok(b.customerLeft);
    assert.equal(b.ended, "left");
    assert.deepEqual(
      b.entries.map((e) => e.notice),
      ["notice_started", "notice_left", "notice_ended"],
    );
    state = run(state, fromCustomer("c", "1"), { type: "close_chat", chat: "b" });
    assert.deepEqual(
      state.chats.map((c) => c.chat),
      ["a", "c"],
    );
    assert.equal(state.selected, "c", "the next tab is selected, and read");
    assert.equal(chatOf(state, "c").unread, 0);
  });

  test("a chat transferred in carries the note", () => {
    const state = run(
      initialState(),
      event("chat.started", { chat: "t", customer: "Ann", note: "wants a refund" }),
    );
    const item = chatOf(state, "t");
    assert.equal(item.customer.name, "Ann");
    assert.equal(item.entries[0].notice, "notice_started_note");
    assert.equal(item.entries[0].params.note, "wants a refund");
  });

  test("a chat transferred in shows what was said before, once", () => {
    const said = (id, text, extra = {}) => ({
      id,
      from: "customer",
      name: "Ann",
      text,
      ...extra,
    });
    let state = run(
      initialState(),
      event("chat.started", { chat: "t", customer: "Ann", note: "refund" }),
      event("chat.message", { chat: "t", message: said(3, "third") }),
      { type: "send", chat: "t", id: "mine", text: "mine", name: "Bob", now: 1 },
    );
    state = reduce(state, {
      type: "history",
      chat: "t",
      messages: [
        said(1, "first"),
        said(2, "second"),
        said(3, "third"),
        said(4, "mine", { from: "operator", client_id: "mine" }),
        { text: "no id" },
      ],
    });
    const texts = chatOf(state, "t")
      .entries.filter((entry) => entry.kind === "message")
      .map((entry) => entry.text);
    assert.deepEqual(texts, ["first", "second", "third", "mine"]);
    const again = reduce(state, {
      type: "history",
      chat: "t",
      messages: [said(1, "first")],
    });
    assert.equal(again, state, "nothing new, nothing changed");
    assert.equal(chatOf(state, "t").unread, 0, "history is not unread");
  });

  test("events for unknown chats change nothing", () => {
    const state = run(initialState(), start("a"));
    for (const name of [
      "chat.message",
      "chat.typing",
      "chat.ended",
      "chat.customer_left",
    ]) {
      assert.equal(run(state, event(name, { chat: "zz", message: { id: 1 } })), state);
    }
  });
});
