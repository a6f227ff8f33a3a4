// The chat window's reducer: sequences of server events and call
// outcomes, and the state they leave.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  ChatError,
  TYPING_SHOWN,
  canSend,
  initialState,
  operatorTyping,
  reduce,
} from "../chat/state.js";

const STATUS = {
  available: true,
  banned: false,
  departments: [
    { name: "sales", title: "Sales", staffed: true },
    { name: "support", title: "Support", staffed: false },
  ],
};

function run(state, ...actions) {
  return actions.reduce(reduce, state);
}

const event = (name, data, now = 100) => ({ type: "event", name, data, now });
const placed = {
  type: "placed",
  result: { chat: "c1", position: 3, estimated_wait: 120 },
};

function chatting() {
  return run(
    initialState(),
    { type: "status", result: STATUS },
    { type: "placing" },
    placed,
    event("chat.accepted", { chat: "c1", operator: "Ann" }),
  );
}

describe("choosing a department", () => {
  test("a status offers the staffed departments, the first chosen", () => {
    const state = run(initialState(), { type: "status", result: STATUS });
    assert.equal(state.phase, "choose");
    assert.equal(state.department, "sales");
    assert.deepEqual(
      state.departments.map((d) => [d.name, d.staffed]),
      [
        ["sales", true],
        ["support", false],
      ],
    );
  });

  test("a fixed department that nobody staffs asks for a message", () => {
    const state = run(initialState({ department: "support" }), {
      type: "status",
      result: STATUS,
    });
    assert.equal(state.phase, "leave_message");
    assert.equal(state.leaveReason, "unavailable");
  });

  test("a fixed department that does not exist is unavailable", () => {
    const state = run(initialState({ department: "nope" }), {
      type: "status",
      result: STATUS,
    });
    assert.equal(state.phase, "unavailable");
    assert.equal(state.error, "unknown_department");
  });

  test("a banned customer sees the service as unavailable", () => {
    const state = run(initialState(), {
      type: "status",
      result: { ...STATUS, banned: true },
    });
    assert.equal(state.phase, "banned");
  });

  test("nobody online at all: leave a message", () => {
    const state = run(initialState(), {
      type: "status",
      result: { available: false, banned: false, departments: [] },
    });
    assert.equal(state.phase, "leave_message");
  });

  test("no chat service: unavailable", () => {
    const state = run(initialState(), { type: "status_failed", code: 404 });
    assert.equal(state.phase, "unavailable");
  });
});

describe("placing a call", () => {
  test("the queue position and estimated wait follow the events", () => {
    let state = run(initialState(), { type: "status", result: STATUS }, placed);
    assert.equal(state.phase, "waiting");
    assert.equal(state.position, 3);
    assert.equal(state.estimatedWait, 120);
    assert.ok(canSend(state));
    state = run(
      state,
      event("chat.position", { chat: "c1", position: 2, estimated_wait: 60 }),
      event("chat.position", { chat: "other", position: 9, estimated_wait: 900 }),
    );
    assert.equal(state.position, 2);
    assert.equal(state.estimatedWait, 60);
  });

  for (const [code, phase, error] of [
    [ChatError.BANNED, "banned", null],
    [ChatError.UNAVAILABLE, "leave_message", null],
    [ChatError.ALREADY_WAITING, "choose", "already_waiting"],
    [429, "choose", "rate_limited"],
    [null, "choose", "place_failed"],
  ]) {
    test(`refused with ${code}: ${phase}`, () => {
      const state = run(
        initialState(),
        { type: "status", result: STATUS },
        { type: "placing" },
        { type: "place_failed", code },
      );
      assert.equal(state.phase, phase);
      assert.equal(state.error, error);
      assert.equal(state.placing, false);
    });
  }

  test("a leave_message event turns the wait into the message form", () => {
    const state = run(
      initialState(),
      { type: "status", result: STATUS },
      placed,
      event("chat.leave_message", { chat: "c1", reason: "timeout" }),
    );
    assert.equal(state.phase, "leave_message");
    assert.equal(state.leaveReason, "timeout");
    assert.equal(run(state, { type: "message_left" }).phase, "message_left");
  });
});

describe("chatting", () => {
  test("the operator's name and typing show, and typing stops with a message", () => {
    let state = chatting();
    assert.equal(state.phase, "chatting");
    assert.equal(state.operator, "Ann");
    assert.equal(state.position, null);
    state = run(state, event("chat.typing", { chat: "c1" }, 200));
    assert.ok(operatorTyping(state, 200 + TYPING_SHOWN - 1));
    assert.ok(!operatorTyping(state, 200 + TYPING_SHOWN + 1));
    state = run(
      state,
      event(
        "chat.message",
        {
          chat: "c1",
          message: { id: "o1", from: "operator", name: "Ann", text: "Hi", at: 201 },
        },
        201,
      ),
    );
    assert.ok(!operatorTyping(state, 202));
    const last = state.entries.at(-1);
    assert.deepEqual([last.from, last.text, last.name], ["operator", "Hi", "Ann"]);
  });

  test("a message is pending until its result, and once only", () => {
    let state = run(chatting(), { type: "send", id: "m1", text: "hello", now: 300 });
    const mine = () => state.entries.filter((entry) => entry.kind === "message");
    assert.equal(mine().length, 1);
    assert.equal(mine()[0].pending, true);
    // the server's copy may come before the result: still one message
    state = run(
      state,
      event("chat.message", {
        chat: "c1",
        message: { id: "m1", from: "customer", name: "", text: "hello", at: 301 },
      }),
    );
    assert.equal(mine().length, 1);
    assert.equal(mine()[0].pending, false);
    state = run(state, { type: "sent", id: "m1", result: { id: "m1", at: 301 } });
    assert.equal(mine().length, 1);
    assert.equal(mine()[0].at, 301);
  });

  test("the server's copy, with a stored id, before the result: one message", () => {
    let state = run(
      chatting(),
      { type: "send", id: "m4", text: "early", now: 1 },
      event("chat.message", {
        chat: "c1",
        message: { id: 42, client_id: "m4", from: "customer", text: "early", at: 2 },
      }),
    );
    const mine = () => state.entries.filter((entry) => entry.kind === "message");
    assert.equal(mine().length, 1);
    assert.equal(mine()[0].pending, false);
    state = run(state, { type: "sent", id: "m4", result: { id: 42, at: 2 } });
    state = run(
      state,
      event("chat.message", {
        chat: "c1",
        message: { id: 42, client_id: "m4", from: "customer", text: "early", at: 2 },
      }),
    );
    assert.equal(mine().length, 1);
  });

  test("a result naming another stored id merges that id's copy", () => {
    let state = run(
      chatting(),
      { type: "send", id: "m2", text: "again", now: 1 },
      { type: "sent", id: "m2", result: { id: "stored-7", at: 2 } },
      event("chat.message", {
        chat: "c1",
        message: { id: "stored-7", from: "customer", text: "again", at: 2 },
      }),
    );
    assert.equal(state.entries.filter((entry) => entry.kind === "message").length, 1);
  });

  test("a message refused because the chat ended ends the chat", () => {
    const state = run(
      chatting(),
      { type: "send", id: "m3", text: "late", now: 1 },
      { type: "send_failed", id: "m3", code: ChatError.CHAT_ENDED },
    );
    assert.equal(state.entries.find((e) => e.id === "m3").failed, true);
    assert.equal(state.phase, "ended");
    assert.ok(!canSend(state));
  });

  test("transfers, a lost operator and the end", () => {
    let state = run(
      chatting(),
      event("chat.transferred", { chat: "c1", operator: "Bob", department: "sales" }),
    );
    assert.equal(state.operator, "Bob");
    assert.equal(state.phase, "chatting");
    state = run(
      state,
      event("chat.transferred", { chat: "c1", department: "support" }),
    );
    assert.equal(state.phase, "waiting");
    assert.equal(state.operator, null);
    assert.equal(state.entries.at(-1).params.department, "Support");
    state = run(state, event("chat.accepted", { chat: "c1", operator: "Cy" }));
    state = run(state, event("chat.reconnecting", { chat: "c1" }));
    assert.equal(state.phase, "waiting");
    assert.equal(state.entries.at(-1).notice, "notice_operator_lost");
    state = run(state, event("chat.ended", { chat: "c1", outcome: "ended" }));
    assert.equal(state.phase, "ended");
    assert.equal(state.outcome, "ended");
    const again = run(state, event("chat.ended", { chat: "c1", outcome: "other" }));
    assert.equal(again, state);
  });

  test("events of another chat change nothing", () => {
    const state = chatting();
    for (const name of ["chat.message", "chat.ended", "chat.typing", "chat.form"]) {
      assert.equal(run(state, event(name, { chat: "c2" })), state);
    }
  });

  test("a pushed form becomes an entry, and is marked answered", () => {
    let state = run(
      chatting(),
      event("chat.form", {
        chat: "c1",
        form: {
          name: "contact",
          title: "Contact",
          fields: [{ name: "email", label: "E-mail", type: "email", required: true }],
        },
      }),
    );
    const entry = state.entries.at(-1);
    assert.equal(entry.kind, "form");
    assert.equal(entry.form.fields[0].type, "email");
    state = run(state, { type: "form_answered", key: entry.key });
    assert.equal(state.entries.at(-1).answered, true);
  });

  test("a redirect takes http(s) only", () => {
    const ok = run(
      chatting(),
      event("chat.redirect", { chat: "c1", url: "https://shop.example/x" }),
    );
    assert.equal(ok.redirect, "https://shop.example/x");
    assert.equal(run(ok, { type: "redirect_done" }).redirect, null);
    for (const url of [
      "javascript:alert(1)",
      "data:text/html,x",
      " https://x.example",
    ]) {
      const state = chatting();
      assert.equal(run(state, event("chat.redirect", { chat: "c1", url })), state);
    }
  });

  test("the connection's drops are told, and its end ends the chat", () => {
    let state = run(chatting(), { type: "link", link: "open" });
    state = run(state, { type: "link", link: "reconnecting" });
    assert.equal(state.entries.at(-1).notice, "notice_reconnecting");
    state = run(state, { type: "link", link: "open" });
    assert.equal(state.entries.at(-1).notice, "notice_reconnected");
    state = run(state, { type: "session_ended" });
    assert.equal(state.phase, "ended");
    assert.equal(state.outcome, "lost");
  });

  test("states are frozen and never changed in place", () => {
    const before = chatting();
    const copy = JSON.stringify(before);
    run(
      before,
      { type: "send", id: "x", text: "y", now: 1 },
      event("chat.ended", { chat: "c1" }),
    );
    assert.equal(JSON.stringify(before), copy);
    assert.ok(Object.isFrozen(before));
  });
});

describe("a window opened again takes its chat up", () => {
  const history = {
    type: "history",
    chat: "c1",
    messages: [
      { id: 7, from: "customer", name: "", text: "hello?", at: 10, client_id: "w1" },
      { id: 8, from: "system", name: "", text: "Ann joined the chat", at: 11 },
    ],
  };

  test("a status naming a chat being served shows it with its history", () => {
    const live = {
      ...STATUS,
      chat: { chat: "c1", department: "sales", state: "chatting", operator: "Ann" },
    };
    let state = run(initialState(), { type: "status", result: live });
    assert.equal(state.phase, "chatting");
    assert.equal(state.chat, "c1");
    assert.equal(state.operator, "Ann");
    assert.equal(canSend(state), true);
    state = run(state, history, history);
    assert.deepEqual(
      state.entries.map((entry) => entry.text),
      ["hello?", "Ann joined the chat"],
    );
    // a message that comes live as well is not shown twice
    state = run(
      state,
      event("chat.message", { chat: "c1", message: history.messages[1] }),
    );
    assert.equal(state.entries.length, 2);
  });

  test("a status naming a waiting call shows the queue", () => {
    const live = {
      ...STATUS,
      chat: {
        chat: "c1",
        department: "support",
        state: "waiting",
        position: 2,
        estimated_wait: 60,
      },
    };
    const state = run(initialState(), { type: "status", result: live });
    assert.equal(state.phase, "waiting");
    assert.equal(state.department, "support");
    assert.equal(state.position, 2);
    assert.equal(state.estimatedWait, 60);
    const accepted = run(
      state,
      event("chat.accepted", { chat: "c1", operator: "Bob" }),
    );
    assert.equal(accepted.phase, "chatting");
  });

  test("a place answered with the chat going on takes it up", () => {
    const state = run(
      initialState(),
      { type: "status", result: STATUS },
      { type: "placing" },
      {
        type: "placed",
        result: {
          chat: "c9",
          department: "sales",
          state: "chatting",
          operator: "Ann",
          position: null,
          estimated_wait: null,
          rejoined: true,
        },
      },
    );
    assert.equal(state.phase, "chatting");
    assert.equal(state.chat, "c9");
    assert.equal(state.operator, "Ann");
    assert.equal(state.placing, false);
  });

  test("history of another chat, or a status without one, changes nothing", () => {
    const base = run(initialState(), { type: "status", result: STATUS });
    assert.equal(base.phase, "choose");
    assert.equal(run(base, history), base);
    const odd = run(initialState(), {
      type: "status",
      result: { ...STATUS, chat: { state: "chatting" } },
    });
    assert.equal(odd.phase, "choose");
  });
});
