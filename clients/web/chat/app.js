/**
 * The customer's chat window: renders the states of state.js and turns
 * what the customer does into calls of the chat API
 * (docs/chat-api.md). Every text goes into the page as text.
 *
 * @module app
 */

import { LiveSession, errorCode } from "../common/client.js";
import { clear, h, linkedText, openPanel } from "../common/dom.js";
import { minutesUp, randomId, timeOfDay } from "../common/format.js";
import { pickLanguage, translator } from "../common/i18n.js";
import { checkAnswers, isEmail } from "./forms.js";
import { loadScale, parseQuery, saveScale, stepScale, visitorId } from "./query.js";
import { ChatError, canSend, initialState, operatorTyping, reduce } from "./state.js";
import { STRINGS, outcomeKey } from "./strings.js";
import { TypingThrottle } from "./typing.js";

const now = () => Date.now() / 1000;
const $ = (id) => document.getElementById(id);

function storage(kind) {
  try {
    return window[kind];
  } catch {
    return null;
  }
}

function embedded() {
  try {
    return window.top !== window.self;
  } catch {
    return true;
  }
}

const query = parseQuery(location.search);
const lang = pickLanguage(STRINGS, [query.lang, ...(navigator.languages ?? [])]);
const t = translator(STRINGS, lang);
const visitor = visitorId(query.visitor, storage("localStorage"));
const throttle = new TypingThrottle(0.3);

let state = initialState({ department: query.department, name: query.name });
let session = null;
let typingTimer = null;
let typingWake = null;
const rendered = new Map();
let closePanel = null;

function dispatch(action) {
  const before = state;
  state = reduce(state, action);
  if (state !== before) {
    render(before);
  }
}

// -- the static texts

function applyStrings() {
  document.documentElement.lang = lang;
  document.title = t("title");
  for (const node of document.querySelectorAll("[data-text]")) {
    node.textContent = t(node.dataset.text);
  }
  for (const node of document.querySelectorAll("[data-label]")) {
    node.setAttribute("aria-label", t(node.dataset.label));
    node.title = t(node.dataset.label);
  }
  for (const node of document.querySelectorAll("[data-placeholder]")) {
    node.placeholder = t(node.dataset.placeholder);
  }
}

function applyScale(scale) {
  document.documentElement.style.setProperty("--font-scale", String(scale));
}

// -- rendering

const SECTIONS = {
  connecting: "connecting",
  choose: "choose",
  waiting: "conversation",
  chatting: "conversation",
  ended: "conversation",
  leave_message: "leave-message",
  message_left: "message-left",
  banned: "blocked",
  unavailable: "blocked",
};

function render(before) {
  const section = SECTIONS[state.phase];
  for (const id of new Set(Object.values(SECTIONS))) {
    $(id).hidden = id !== section;
  }
  renderChoose();
  renderQueue();
  renderEntries();
  renderTyping();
  renderTools();
  renderLink();
  if (before.phase !== state.phase) {
    phaseChanged();
  }
  if (state.redirect !== null) {
    redirect(state.redirect);
  }
}

function phaseChanged() {
  if (state.phase === "choose") {
    ($("department-field").hidden ? $("name") : $("department")).focus();
  } else if (state.phase === "waiting" || state.phase === "chatting") {
    if (!$("message").disabled && document.activeElement !== $("message")) {
      $("message").focus();
    }
  } else if (state.phase === "leave_message") {
    $("leave-reason").textContent = t(
      state.leaveReason === "chosen" ? "leave_intro_chosen" : "leave_intro",
    );
    $("leave-name").value ||= state.name;
    $("leave-name").focus();
  } else if (state.phase === "message_left") {
    $("message-left-text").focus();
  } else if (state.phase === "banned" || state.phase === "unavailable") {
    const key =
      state.phase === "banned"
        ? "banned"
        : `error_${state.error ?? "service_unavailable"}`;
    $("blocked-text").textContent = t(key);
    $("retry").hidden = state.phase === "banned";
  }
}

function renderChoose() {
  const select = $("department");
  const fixed = state.fixedDepartment !== null;
  $("department-field").hidden = fixed || state.departments.length < 2;
  if (select.options.length !== state.departments.length) {
    clear(select);
    for (const item of state.departments) {
      select.append(
        h("option", {
          value: item.name,
          text: item.staffed
            ? item.title
            : t("department_closed", { title: item.title }),
        }),
      );
    }
  }
  if (state.department !== null) {
    select.value = state.department;
  }
  $("start").disabled = state.placing;
  $("choose-error").textContent = state.error ? t(`error_${state.error}`) : "";
}

function renderQueue() {
  const queue = $("queue");
  queue.hidden = state.phase !== "waiting";
  if (state.phase !== "waiting") {
    return;
  }
  const position = state.position;
  $("position").textContent =
    position === null
      ? t("waiting")
      : position <= 1
        ? t("position_next")
        : t("position", { position });
  $("estimate").textContent =
    state.estimatedWait === null
      ? ""
      : t("estimated_wait", { minutes: minutesUp(state.estimatedWait) });
  $("operator").textContent = "";
}

function entryNode(entry) {
  if (entry.kind === "notice") {
    const node = h("li", { className: "notice" }, t(entry.notice, entry.params));
    if (entry.notice === "notice_redirect") {
      node.append(" ", linkedText(entry.params.url));
    }
    return node;
  }
  if (entry.kind === "form") {
    return formNode(entry);
  }
  const who =
    entry.from === "customer"
      ? t("you")
      : entry.from === "operator"
        ? entry.name || t("operator")
        : t("system");
  const status = entry.failed ? t("failed") : entry.pending ? t("sending") : "";
  const body = h("p", { className: "text" });
  body.append(entry.from === "operator" ? linkedText(entry.text) : entry.text);
  return h(
    "li",
    {
      className: `message from-${entry.from}${entry.pending ? " pending" : ""}${
        entry.failed ? " failed" : ""
      }`,
    },
    h(
      "p",
      { className: "meta" },
      h("span", { className: "who", text: who }),
      " ",
      h("time", { text: entry.at === null ? "" : timeOfDay(entry.at, lang) }),
      status && " ",
      status && h("span", { className: "status", text: status }),
    ),
    body,
  );
}

function renderEntries() {
  const log = $("log");
  const keys = new Set();
  let added = false;
  for (const entry of state.entries) {
    keys.add(entry.key);
    const known = rendered.get(entry.key);
    if (known?.entry === entry) {
      continue;
    }
    const node = entryNode(entry);
    if (known === undefined) {
      log.append(node);
      added = true;
    } else {
      known.node.replaceWith(node);
    }
    rendered.set(entry.key, { entry, node });
  }
  for (const [key, known] of rendered) {
    if (!keys.has(key)) {
      known.node.remove();
      rendered.delete(key);
    }
  }
  if (added) {
    log.scrollTop = log.scrollHeight;
  }
}

function renderTyping() {
  const at = now();
  const typing = operatorTyping(state, at);
  $("typing").textContent = typing
    ? t("operator_typing", { name: state.operator || t("operator") })
    : "";
  clearTimeout(typingTimer);
  if (typing) {
    typingTimer = setTimeout(renderTyping, (state.typingUntil - at) * 1000 + 50);
  }
  $("operator").textContent =
    state.phase === "chatting" && state.operator
      ? t("talking_to", { name: state.operator })
      : "";
}

function renderTools() {
  const sending = canSend(state) && state.link !== "closed";
  $("composer").hidden = !(canSend(state) || state.phase === "ended");
  $("message").disabled = !sending;
  $("send").disabled = !sending;
  $("leave").hidden = !canSend(state);
  $("transcript-open").hidden = state.chat === null;
  $("ended-box").hidden = state.phase !== "ended";
  if (state.phase === "ended") {
    $("ended-text").textContent = t(outcomeKey(state.outcome));
    $("composer").hidden = true;
  }
}

function renderLink() {
  const key =
    state.link === "reconnecting"
      ? "link_reconnecting"
      : state.link === "closed" && state.phase !== "connecting"
        ? "link_closed"
        : null;
  $("link-status").textContent = key ? t(key) : "";
  $("link-status").hidden = key === null;
}

// -- forms pushed by the operator

function formNode(entry) {
  const { form } = entry;
  if (entry.answered) {
    return h("li", { className: "notice" }, t("form_sent", { title: form.title }));
  }
  const controls = new Map();
  const errors = new Map();
  const fields = form.fields.map((field) => {
    const id = `form-${entry.key}-${field.name}`;
    const errorId = `${id}-error`;
    let control;
    if (field.type === "textarea") {
      control = h("textarea", { id, rows: 3 });
    } else if (field.type === "select") {
      control = h(
        "select",
        { id },
        h("option", { value: "", text: t("form_choose") }),
        ...field.options.map((option) =>
          h("option", { value: option.value, text: option.label }),
        ),
      );
    } else {
      control = h("input", {
        id,
        type: field.type === "checkbox" ? "checkbox" : field.type,
        placeholder: field.placeholder || null,
      });
      if (field.type === "number") {
        control.inputMode = "decimal";
        if (field.min !== null) control.min = String(field.min);
        if (field.max !== null) control.max = String(field.max);
      }
    }
    if (
      field.maxLength !== null &&
      field.type !== "checkbox" &&
      field.type !== "select"
    ) {
      control.maxLength = field.maxLength;
    }
    control.required = field.required;
    control.setAttribute("aria-describedby", errorId);
    controls.set(field.name, control);
    const error = h("span", { className: "field-error", id: errorId });
    errors.set(field.name, error);
    const label = h("label", {
      for: id,
      text: field.label + (field.required ? " *" : ""),
    });
    return h(
      "div",
      { className: `field field-${field.type}` },
      ...(field.type === "checkbox" ? [control, label] : [label, control]),
      error,
    );
  });
  const status = h("p", { className: "form-status", role: "status" });
  const submit = h("button", { type: "submit", text: t("form_submit") });
  const node = h(
    "li",
    { className: "pushed-form" },
    h(
      "form",
      {
        novalidate: true,
        "aria-label": form.title,
        on: {
          submit: async (event) => {
            event.preventDefault();
            const values = {};
            for (const [name, control] of controls) {
              values[name] =
                control.type === "checkbox" ? control.checked : control.value;
            }
            const { answers, errors: problems } = checkAnswers(form, values);
            let first = null;
            for (const [name, error] of errors) {
              error.textContent = problems[name]
                ? t(`form_error_${problems[name]}`)
                : "";
              controls
                .get(name)
                .setAttribute("aria-invalid", problems[name] ? "true" : "false");
              if (problems[name] && first === null) first = controls.get(name);
            }
            if (first !== null) {
              first.focus();
              return;
            }
            submit.disabled = true;
            status.textContent = t("sending");
            try {
              await session.call("chat.form_answer", {
                chat: state.chat,
                form: form.name,
                answers,
              });
              dispatch({ type: "form_answered", key: entry.key });
              $("message").focus();
            } catch (error) {
              submit.disabled = false;
              status.textContent = t(callErrorKey(error));
            }
          },
        },
      },
      h("h2", { text: form.title }),
      ...fields,
      submit,
      status,
    ),
  );
  return node;
}

function callErrorKey(error) {
  switch (errorCode(error)) {
    case ChatError.CHAT_ENDED:
      return "error_chat_ended";
    case 400:
      return "error_bad_request";
    case 429:
      return "error_rate_limited";
    case null:
      return "error_connection_lost";
    default:
      return "error_failed";
  }
}

// -- redirect

function redirect(url) {
  dispatch({ type: "redirect_done" });
  if (!embedded()) {
    return; // a window of its own: the notice holds the link
  }
  try {
    window.top.location.href = url;
  } catch {
    // the browser refuses to move the page without a click: the link in
    // the notice does it
  }
}

// -- actions

async function loadStatus() {
  try {
    const params = state.fixedDepartment ? { department: state.fixedDepartment } : {};
    const result = await session.call("chat.status", params);
    dispatch({ type: "status", result });
    if (result?.chat && state.chat !== null) {
      await loadHistory(state.chat);
    }
  } catch (error) {
    dispatch({ type: "status_failed", code: errorCode(error) });
  }
}

/** What was said in a chat this window took up again (a reloaded page). */
async function loadHistory(chat) {
  try {
    const result = await session.call("chat.history", { chat });
    dispatch({ type: "history", chat, messages: result?.messages });
  } catch {
    // the messages from now on are shown all the same
  }
}

async function place(event) {
  event.preventDefault();
  if (state.placing || state.department === null) {
    return;
  }
  dispatch({ type: "name", name: $("name").value.trim() });
  dispatch({ type: "placing" });
  const params = { department: state.department, language: lang };
  if (state.name) params.name = state.name;
  if (query.url) params.url = query.url;
  try {
    const result = await session.call("chat.place", params);
    dispatch({ type: "placed", result });
    if (result?.rejoined === true && state.chat !== null) {
      await loadHistory(state.chat);
    }
  } catch (error) {
    dispatch({ type: "place_failed", code: errorCode(error) });
  }
}

async function send() {
  const box = $("message");
  const text = box.value.trim();
  if (text === "" || !canSend(state)) {
    return;
  }
  const id = randomId();
  box.value = "";
  throttle.reset();
  dispatch({ type: "send", id, text, now: now() });
  try {
    const result = await session.call("chat.send", { chat: state.chat, id, text });
    dispatch({ type: "sent", id, result });
  } catch (error) {
    dispatch({ type: "send_failed", id, code: errorCode(error) });
  }
}

function typed() {
  if (state.phase !== "chatting") {
    return;
  }
  handleTyping(throttle.input($("message").value, now()));
}

function handleTyping({ send: text, wakeAt }) {
  if (text !== null && state.chat !== null) {
    session.emit("chat.typing", { chat: state.chat, text }, { volatile: true });
  }
  clearTimeout(typingWake);
  if (wakeAt !== null) {
    typingWake = setTimeout(
      () => handleTyping(throttle.wake(now())),
      Math.max(0, (wakeAt - now()) * 1000),
    );
  }
}

async function leaveChat() {
  if (state.chat === null) {
    return;
  }
  const chat = state.chat;
  dispatch({ type: "leave" });
  try {
    await session.call("chat.leave", { chat });
  } catch {
    // ended either way: the server ends it when the session goes
  }
}

async function leaveMessage(event) {
  event.preventDefault();
  const name = $("leave-name").value.trim();
  const email = $("leave-email").value.trim();
  const text = $("leave-text").value.trim();
  const status = $("leave-status");
  if (!name || !isEmail(email) || !text) {
    status.textContent = t("leave_incomplete");
    (!name
      ? $("leave-name")
      : !isEmail(email)
        ? $("leave-email")
        : $("leave-text")
    ).focus();
    return;
  }
  const params = { department: state.department ?? "", name, email, text };
  if (state.chat !== null) params.chat = state.chat;
  $("leave-send").disabled = true;
  status.textContent = t("sending");
  try {
    await session.call("chat.leave_message", params);
    status.textContent = "";
    dispatch({ type: "message_left" });
  } catch (error) {
    status.textContent = t(callErrorKey(error));
  } finally {
    $("leave-send").disabled = false;
  }
}

async function sendTranscript(event) {
  event.preventDefault();
  const email = $("transcript-email").value.trim();
  const status = $("transcript-status");
  if (!isEmail(email)) {
    status.textContent = t("transcript_bad_email");
    $("transcript-email").focus();
    return;
  }
  status.textContent = t("sending");
  try {
    await session.call("chat.transcript", { chat: state.chat, email });
    status.textContent = t("transcript_sent", { email });
  } catch (error) {
    const code = errorCode(error);
    status.textContent =
      code === ChatError.MAIL_UNAVAILABLE
        ? t("transcript_unavailable")
        : code === ChatError.TOO_MANY_MAILS
          ? t("transcript_too_many")
          : t(callErrorKey(error));
  }
}

function panel(id) {
  if (closePanel !== null) {
    closePanel();
  }
  const close = openPanel($(id), () => hide());
  const hide = () => {
    close();
    if (closePanel === hide) closePanel = null;
  };
  closePanel = hide;
}

function newChat() {
  for (const known of rendered.values()) known.node.remove();
  rendered.clear();
  state = initialState({ department: query.department, name: state.name });
  dispatch({ type: "link", link: session.link });
  loadStatus();
}

// -- start

function wire() {
  $("choose-form").addEventListener("submit", place);
  $("department").addEventListener("change", (event) =>
    dispatch({ type: "choose", department: event.target.value }),
  );
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send();
  });
  $("message").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send();
    }
  });
  $("message").addEventListener("input", typed);
  $("leave").addEventListener("click", leaveChat);
  $("leave-form").addEventListener("submit", leaveMessage);
  $("offer-message").addEventListener("click", () =>
    dispatch({ type: "leave_message", reason: "chosen" }),
  );
  $("new-chat").addEventListener("click", newChat);
  $("retry").addEventListener("click", () => location.reload());
  $("help-open").addEventListener("click", () => panel("help"));
  $("transcript-open").addEventListener("click", () => panel("transcript"));
  for (const button of document.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => closePanel?.());
  }
  $("transcript-form").addEventListener("submit", sendTranscript);
  $("print").addEventListener("click", () => window.print());
  let scale = loadScale(storage("localStorage"));
  applyScale(scale);
  for (const [id, direction] of [
    ["font-up", 1],
    ["font-down", -1],
  ]) {
    $(id).addEventListener("click", () => {
      scale = stepScale(scale, direction);
      applyScale(scale);
      saveScale(storage("localStorage"), scale);
    });
  }
}

async function start() {
  applyStrings();
  wire();
  render(state);
  session = new LiveSession({
    auth: { visitor },
    onEvent: (event) => dispatch({ type: "event", ...event, now: now() }),
    onLink: (link) => dispatch({ type: "link", link }),
    onEnd: () => dispatch({ type: "session_ended" }),
  });
  try {
    await session.open();
  } catch {
    dispatch({ type: "session_ended" });
    return;
  }
  dispatch({ type: "link", link: session.link });
  await loadStatus();
}

start();
