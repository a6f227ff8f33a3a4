// Forms pushed by an operator: the model of what the server sent, and
// the check of what the customer filled in.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { checkAnswers, formModel, isEmail } from "../chat/forms.js";
import { TypingThrottle } from "../chat/typing.js";

const form = formModel({
  name: "order",
  title: "Your order",
  fields: [
    { name: "email", label: "E-mail", type: "email", required: true },
    { name: "count", label: "How many", type: "number", min: 1, max: 10 },
    {
      name: "size",
      label: "Size",
      type: "select",
      options: ["S", { value: "M", label: "Medium" }],
    },
    { name: "terms", label: "I agree", type: "checkbox", required: true },
    { name: "notes", label: "Notes", type: "textarea", max_length: 20 },
    { name: "name", type: "text" },
    { name: "script", label: "x", type: "script" },
    { name: "email", label: "again", type: "text" },
    { name: "bad name!", type: "text" },
    { name: "empty", type: "select", options: [] },
  ],
});

describe("formModel", () => {
  test("keeps the known field types, once a name", () => {
    assert.deepEqual(
      form.fields.map((field) => [field.name, field.type]),
      [
        ["email", "email"],
        ["count", "number"],
        ["size", "select"],
        ["terms", "checkbox"],
        ["notes", "textarea"],
        ["name", "text"],
      ],
    );
    assert.equal(form.fields[5].label, "name");
    assert.deepEqual(form.fields[2].options, [
      { value: "S", label: "S" },
      { value: "M", label: "Medium" },
    ]);
    assert.equal(form.fields[4].maxLength, 20);
  });

  test("an unusable form is null", () => {
    assert.equal(formModel(null), null);
    assert.equal(formModel({ title: "no name", fields: [] }), null);
    assert.equal(formModel({ name: "x", fields: [{ name: "y", type: "file" }] }), null);
  });
});

describe("checkAnswers", () => {
  test("good answers, typed", () => {
    const { answers, errors } = checkAnswers(form, {
      email: " ann@shop.example ",
      count: "3",
      size: "M",
      terms: true,
      notes: "",
      name: "Ann",
    });
    assert.deepEqual(errors, {});
    assert.deepEqual(answers, {
      email: "ann@shop.example",
      count: 3,
      size: "M",
      terms: true,
      notes: null,
      name: "Ann",
    });
  });

  test("every kind of mistake is named", () => {
    const { errors } = checkAnswers(form, {
      email: "not an address",
      count: "11",
      size: "XL",
      terms: false,
      notes: "x".repeat(21),
    });
    assert.deepEqual(errors, {
      email: "email",
      count: "number",
      size: "choice",
      terms: "required",
      notes: "long",
    });
    assert.deepEqual(checkAnswers(form, { count: "abc" }).errors.count, "number");
    assert.equal(checkAnswers(form, {}).errors.email, "required");
  });

  test("isEmail", () => {
    assert.ok(isEmail("a@b.example"));
    assert.ok(!isEmail("a@b"));
    assert.ok(!isEmail("a b@c.example"));
    assert.ok(!isEmail(null));
  });
});

describe("TypingThrottle", () => {
  test("at most one preview an interval, the last text after a pause", () => {
    const throttle = new TypingThrottle(0.3);
    assert.deepEqual(throttle.input("h", 10), { send: "h", wakeAt: null });
    assert.deepEqual(throttle.input("he", 10.1), { send: null, wakeAt: 10.3 });
    assert.deepEqual(throttle.input("hel", 10.2), { send: null, wakeAt: 10.3 });
    assert.deepEqual(throttle.wake(10.3), { send: "hel", wakeAt: null });
    assert.deepEqual(throttle.wake(10.5), { send: null, wakeAt: null });
    assert.deepEqual(throttle.input("hel", 11), { send: null, wakeAt: null });
    assert.deepEqual(throttle.input("hell", 11), { send: "hell", wakeAt: null });
  });

  test("an early wake waits on; a reset makes the empty text known", () => {
    const throttle = new TypingThrottle(0.3);
    throttle.input("a", 0);
    throttle.input("ab", 0.1);
    assert.deepEqual(throttle.wake(0.2), { send: null, wakeAt: 0.3 });
    throttle.reset();
    assert.deepEqual(throttle.wake(0.4), { send: null, wakeAt: null });
    assert.deepEqual(throttle.input("", 1), { send: null, wakeAt: null });
    assert.deepEqual(throttle.input("n", 1), { send: "n", wakeAt: null });
  });
});
