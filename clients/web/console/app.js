/**
 * The operator console: login, status, the live queue, chats in tabs
 * and the tools of the trade, over the chat API (docs/chat-api.md). It
 * renders the states of state.js; every text goes in as text.
 *
 * @module app
 */

import { SessionClosed } from "../lib/index.js";
import { LiveSession, errorCode } from "../common/client.js";
import { clear, h, linkedText, openPanel } from "../common/dom.js";
import { clockDuration, randomId, timeOfDay } from "../common/format.js";
import { pickLanguage, translator } from "../common/i18n.js";
import { safeHttpUrl } from "../common/links.js";
import {
  askNotifications,
  beep,
  notificationsAskable,
  notify,
  unlockSound,
} from "./alerts.js";
import { expandKeyword, cannedText, filterCanned, normalizeCanned } from "./canned.js";
import {
  ConsoleError,
  chatOf,
  initialState,
  preview,
  reduce,
  sortedOffers,
  timeLeft,
  totalUnread,
  waited,
} from "./state.js";
import { STRINGS } from "./strings.js";

const now = () => Date.now() / 1000;
const $ = (id) => document.getElementById(id);
const lang = pickLanguage(STRINGS, navigator.languages ?? []);
const t = translator(STRINGS, lang);
const TYPING_EVERY = 2;

let state = initialState();
let session = null;
let me = { name: "", displayName: "" };
let canned = [];
let forms = [];
let closePanel = null;
let ticker = null;
const views = new Map();
const seenOffers = new Set();
const lastTyping = new Map();

function dispatch(action) {
  const before = state;
  state = reduce(state, action);
  if (state !== before) {
    render(before);
  }
}

function applyStrings(root = document) {
  for (const node of root.querySelectorAll("[data-text]")) {
    node.textContent = t(node.dataset.text);
  }
  for (const node of root.querySelectorAll("[data-label]")) {
    node.setAttribute("aria-label", t(node.dataset.label));
  }
}

function flash(text) {
  $("flash").textContent = text;
}

// -- login

async function login(event) {
  event.preventDefault();
  unlockSound();
  const name = $("login-name").value.trim();
  const password = $("login-password").value;
  const error = $("login-error");
  if (!name || !password) {
    error.textContent = t("login_incomplete");
    (!name ? $("login-name") : $("login-password")).focus();
    return;
  }
  $("login-submit").disabled = true;
  error.textContent = t("login_busy");
  const candidate = new LiveSession({
    auth: { name, password },
    onEvent: (received) => dispatch({ type: "event", ...received, now: now() }),
    onLink: (link) => showLink(link),
    onEnd: (ended) => sessionEnded(candidate, ended),
  });
  try {
    await candidate.open();
  } catch (failure) {
    $("login-submit").disabled = false;
    error.textContent =
      failure instanceof SessionClosed
        ? failure.code === 4000
          ? t("login_refused")
          : t("login_closed", { code: failure.code })
        : t("login_unreachable");
    $("login-password").select();
    $("login-password").focus();
    return;
  }
  $("login-password").value = "";
  $("login-submit").disabled = false;
  error.textContent = "";
  session = candidate;
  await enter(name);
}

async function enter(name) {
  me = { name, displayName: name };
  try {
    const whoami = await session.call("session.whoami", {});
    me.displayName = whoami?.display_name || name;
  } catch {
    // the name typed is shown instead
  }
  $("me").textContent = me.displayName;
  $("login").hidden = true;
  $("desk").hidden = false;
  $("notify-ask").hidden = !notificationsAskable();
  state = initialState();
  render(state);
  try {
    dispatch({
      type: "operator_state",
      result: await session.call("operator.state", {}),
      now: now(),
    });
  } catch (failure) {
    flash(t("error_state", { code: errorCode(failure) ?? "-" }));
  }
  for (const offer of state.offers) seenOffers.add(offer.chat);
  loadTools();
  ticker = setInterval(tick, 1000);
  $("status").focus();
}

async function loadTools() {
  try {
    canned = normalizeCanned((await session.call("canned.list", {}))?.canned);
  } catch {
    canned = [];
  }
  try {
    forms = ((await session.call("forms.list", {}))?.forms ?? []).filter(
      (form) => typeof form?.name === "string",
    );
  } catch {
    forms = [];
  }
}

function sessionEnded(which, ended) {
  if (which !== session) {
    return;
  }
  session = null;
  clearInterval(ticker);
  for (const view of views.values()) (view.panel.remove(), view.tab.remove());
  views.clear();
  closePanel?.();
  $("desk").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent =
    ended.code === 1000 ? t("logged_out") : t("session_ended", { code: ended.code });
  $("login-name").focus();
}

function showLink(link) {
  const status = $("link-status");
  status.textContent = link === "reconnecting" ? t("link_reconnecting") : "";
  status.hidden = link !== "reconnecting";
}

// -- rendering

function render(before) {
  if (session === null) {
    return;
  }
  $("status").value = state.status;
  if (before.offers !== state.offers) {
    renderOffers();
  }
  renderChats();
  const unread = totalUnread(state);
  document.title = unread > 0 ? t("title_unread", { count: unread }) : t("title");
}

function renderOffers() {
  const list = $("offers");
  const focused = document.activeElement?.closest?.("[data-chat]")?.dataset.chat;
  const focusedAction = document.activeElement?.dataset?.action;
  clear(list);
  const offers = sortedOffers(state.offers);
  $("queue-count").textContent = offers.length ? `(${offers.length})` : "";
  $("queue-empty").hidden = offers.length > 0;
  for (const offer of offers) {
    const isNew = !seenOffers.has(offer.chat);
    if (isNew) {
      seenOffers.add(offer.chat);
      beep();
      notify(
        t("notify_title"),
        t("notify_body", {
          department: offer.department,
          name: offer.name || t("anonymous"),
        }),
        `offer-${offer.chat}`,
      );
    }
    const item = h(
      "li",
      {
        className: `offer${offer.deadline !== null ? " assigned" : ""}`,
        "data-chat": offer.chat,
      },
      h(
        "p",
        { className: "offer-head" },
        h("strong", { text: offer.name || t("anonymous") }),
        " · ",
        h("span", { text: offer.department }),
      ),
      h(
        "p",
        { className: "offer-meta" },
        h("span", { text: t("waiting_for") }),
        " ",
        h("time", { className: "waited", text: clockDuration(waited(offer, now())) }),
        offer.deadline !== null && " · ",
        offer.deadline !== null &&
          h("span", {
            className: "deadline",
            text: t("deadline", { seconds: Math.ceil(timeLeft(offer, now())) }),
          }),
      ),
      offer.country &&
        h("p", {
          className: "offer-meta",
          text: t("country", { country: offer.country }),
        }),
      offer.url &&
        h("p", { className: "offer-url", text: offer.url, title: offer.url }),
      h(
        "p",
        { className: "offer-actions" },
        h("button", {
          type: "button",
          className: "primary",
          text: t("accept"),
          "data-action": "accept",
          "aria-label": t("accept_label", { name: offer.name || t("anonymous") }),
          on: { click: () => accept(offer.chat) },
        }),
        " ",
        h("button", {
          type: "button",
          text: t("decline"),
          "data-action": "decline",
          "aria-label": t("decline_label", { name: offer.name || t("anonymous") }),
          on: { click: () => decline(offer.chat) },
        }),
      ),
    );
    list.append(item);
    if (String(offer.chat) === focused) {
      (
        item.querySelector(`[data-action="${focusedAction}"]`) ??
        item.querySelector("button")
      )?.focus();
    }
  }
}

function tick() {
  const at = now();
  const byChat = new Map(state.offers.map((offer) => [String(offer.chat), offer]));
  for (const item of $("offers").children) {
    const offer = byChat.get(item.dataset.chat);
    if (offer === undefined) continue;
    item.querySelector(".waited").textContent = clockDuration(waited(offer, at));
    const deadline = item.querySelector(".deadline");
    if (deadline !== null) {
      deadline.textContent = t("deadline", { seconds: Math.ceil(timeLeft(offer, at)) });
    }
  }
  for (const chat of state.chats) {
    const view = views.get(chat.chat);
    if (view !== undefined) renderPreview(chat, view, at);
  }
}

function chatView(chat) {
  let view = views.get(chat.chat);
  if (view !== undefined) {
    return view;
  }
  const id = randomId().replace(/[^A-Za-z0-9]/gu, "x");
  const tab = h("button", {
    type: "button",
    role: "tab",
    id: `tab-${id}`,
    className: "tab",
    "aria-controls": `panel-${id}`,
    on: {
      click: () => dispatch({ type: "select", chat: chat.chat }),
      keydown: tabKeys,
    },
  });
  const log = h("ol", {
    className: "log",
    role: "log",
    "aria-live": "polite",
    tabindex: "0",
  });
  const previewLine = h("p", { className: "preview" });
  const box = h("textarea", {
    id: `message-${id}`,
    rows: 3,
    maxLength: 4000,
    placeholder: t("message_placeholder"),
  });
  const composer = h(
    "form",
    { className: "composer" },
    h("label", {
      for: `message-${id}`,
      className: "visually-hidden",
      text: t("message_label"),
    }),
    box,
    h("button", { type: "submit", className: "primary", text: t("send") }),
  );
  const tool = (key, handler) =>
    h("button", {
      type: "button",
      text: t(key),
      "data-tool": key,
      on: { click: handler },
    });
  const toolbar = h(
    "div",
    { className: "toolbar", role: "toolbar", "aria-label": t("tools") },
    tool("tool_canned", () => openCanned()),
    tool("tool_transfer", () => openTransfer()),
    tool("tool_form", () => openForms()),
    tool("tool_redirect", () => openDialog("redirect")),
    tool("tool_ban", () => openDialog("ban")),
    tool("tool_end", () => endChat(chat.chat)),
    tool("tool_close", () => dispatch({ type: "close_chat", chat: chat.chat })),
  );
  const info = h("aside", { className: "info", "aria-label": t("customer_info") });
  const panel = h(
    "div",
    {
      role: "tabpanel",
      id: `panel-${id}`,
      className: "chat-panel",
      "aria-labelledby": `tab-${id}`,
    },
    h("div", { className: "chat-main" }, log, previewLine, composer, toolbar),
    info,
  );
  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    send(chat.chat, box);
  });
  box.addEventListener("keydown", (event) => composerKeys(event, chat.chat, box));
  box.addEventListener("input", () => typing(chat.chat));
  $("tabs").append(tab);
  $("chat-panels").append(panel);
  view = {
    tab,
    panel,
    log,
    preview: previewLine,
    box,
    toolbar,
    info,
    rendered: new Map(),
    chat: null,
  };
  views.set(chat.chat, view);
  loadCustomer(chat.chat);
  loadHistory(chat.chat);
  return view;
}

function renderChats() {
  const alive = new Set();
  for (const chat of state.chats) {
    alive.add(chat.chat);
    const view = chatView(chat);
    const selected = state.selected === chat.chat;
    const wasSelected = view.tab.getAttribute("aria-selected") === "true";
    view.tab.setAttribute("aria-selected", selected ? "true" : "false");
    view.tab.tabIndex = selected ? 0 : -1;
    view.panel.hidden = !selected;
    if (view.chat !== chat) {
      renderTab(chat, view);
      renderEntries(chat, view);
      renderInfo(chat, view);
      const over = chat.ended !== null;
      view.box.disabled = over;
      for (const button of view.toolbar.querySelectorAll("button")) {
        button.hidden = button.dataset.tool === "tool_close" ? !over : over;
      }
      view.chat = chat;
    }
    renderPreview(chat, view, now());
    if (
      selected &&
      !wasSelected &&
      !view.box.disabled &&
      document.activeElement !== view.tab
    ) {
      view.box.focus();
    }
  }
  for (const [key, view] of views) {
    if (!alive.has(key)) {
      view.tab.remove();
      view.panel.remove();
      views.delete(key);
    }
  }
  $("no-chat").hidden = state.chats.length > 0;
}

function renderTab(chat, view) {
  clear(view.tab);
  view.tab.append(
    h("span", { text: chat.customer.name || t("anonymous") }),
    chat.ended !== null &&
      h("span", { className: "tab-ended", text: ` ${t("tab_ended")}` }),
    chat.unread > 0 &&
      h("span", {
        className: "badge",
        text: String(chat.unread),
        "aria-label": t("unread", { count: chat.unread }),
      }),
  );
}

function entryNode(entry) {
  if (entry.kind === "notice") {
    return h("li", { className: "notice", text: t(entry.notice, entry.params) });
  }
  if (entry.kind === "answer") {
    return h(
      "li",
      { className: "notice answer" },
      h("p", { text: t("form_answer", { form: entry.form }) }),
      h(
        "dl",
        {},
        ...entry.pairs.flatMap(([key, value]) => [
          h("dt", { text: key }),
          h("dd", { text: value }),
        ]),
      ),
    );
  }
  const who =
    entry.from === "operator"
      ? entry.name || me.displayName
      : entry.from === "customer"
        ? entry.name || t("customer")
        : t("system");
  const status = entry.failed ? t("failed") : entry.pending ? t("sending") : "";
  const body = h("p", { className: "text" });
  body.append(linkedText(entry.text));
  return h(
    "li",
    { className: `message from-${entry.from}${entry.failed ? " failed" : ""}` },
    h(
      "p",
      { className: "meta" },
      h("span", { className: "who", text: who }),
      " ",
      h("time", { text: entry.at === null ? "" : timeOfDay(entry.at, lang) }),
      status && ` ${status}`,
    ),
    body,
  );
}

function renderEntries(chat, view) {
  const keys = new Set();
  let added = false;
  for (const entry of chat.entries) {
    keys.add(entry.key);
    const known = view.rendered.get(entry.key);
    if (known?.entry === entry) continue;
    const node = entryNode(entry);
    if (known === undefined) {
      view.log.append(node);
      added = true;
    } else {
      known.node.replaceWith(node);
    }
    view.rendered.set(entry.key, { entry, node });
  }
  for (const [key, known] of view.rendered) {
    if (!keys.has(key)) {
      known.node.remove();
      view.rendered.delete(key);
    }
  }
  if (added) view.log.scrollTop = view.log.scrollHeight;
}

function renderPreview(chat, view, at) {
  const text = preview(chat, at);
  view.preview.textContent = text === null ? "" : t("preview", { text: text || "…" });
}

function renderInfo(chat, view) {
  clear(view.info);
  const info = chat.info ?? {};
  const row = (key, value) =>
    value ? [h("dt", { text: t(key) }), h("dd", {}, linkedText(String(value)))] : [];
  view.info.append(
    h("h3", { text: t("customer_info") }),
    h(
      "dl",
      {},
      ...row("info_name", info.name || chat.customer.name),
      ...row("info_country", info.country || chat.customer.country),
      ...row("info_url", info.url || chat.customer.url),
      ...row("info_address", info.address),
      ...row("info_visitor", info.visitor || chat.customer.visitor),
    ),
  );
  const history = Array.isArray(info.history) ? info.history : [];
  view.info.append(h("h4", { text: t("info_history", { count: history.length }) }));
  if (history.length > 0) {
    view.info.append(
      h(
        "ul",
        { className: "history" },
        ...history.slice(0, 50).map((item) =>
          h("li", {
            text: [
              typeof item?.started_at === "number"
                ? new Date(item.started_at * 1000).toLocaleString(lang)
                : "",
              item?.department ?? "",
              item?.operator ?? "",
              item?.outcome ?? "",
            ]
              .filter(Boolean)
              .join(" · "),
          }),
        ),
      ),
    );
  }
}

// -- keyboard

function tabKeys(event) {
  if (!["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) return;
  event.preventDefault();
  const ids = state.chats.map((item) => item.chat);
  const index = ids.indexOf(state.selected);
  const next =
    event.key === "Home"
      ? 0
      : event.key === "End"
        ? ids.length - 1
        : (index + (event.key === "ArrowRight" ? 1 : -1) + ids.length) % ids.length;
  dispatch({ type: "select", chat: ids[next] });
  views.get(ids[next])?.tab.focus();
}

function composerKeys(event, chat, box) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    send(chat, box);
  } else if (event.key === "Tab" && !event.shiftKey) {
    const expanded = expandKeyword(box.value, box.selectionStart, canned);
    if (expanded !== null) {
      event.preventDefault();
      box.value = expanded.value;
      box.setSelectionRange(expanded.caret, expanded.caret);
    }
  }
}

// -- actions

async function accept(chat) {
  try {
    const result = await session.call("chat.accept", { chat });
    dispatch({ type: "accepted", chat, result });
    dispatch({ type: "select", chat });
    flash("");
  } catch (failure) {
    const code = errorCode(failure);
    if (code === ConsoleError.NOT_OFFERED || code === 404) {
      dispatch({ type: "offer_gone", chat });
      flash(t("error_not_offered"));
    } else if (code === ConsoleError.OPERATOR_BUSY) {
      flash(t("error_busy"));
    } else if (code === ConsoleError.OPERATOR_AWAY) {
      flash(t("error_away"));
    } else {
      flash(t("error_failed"));
    }
  }
}

async function decline(chat) {
  try {
    await session.call("chat.decline", { chat });
  } catch {
    // gone already, or not ours: it leaves the queue either way
  }
  dispatch({ type: "offer_gone", chat });
  $("offers").querySelector("button")?.focus();
}

async function send(chat, box) {
  const text = box.value.trim();
  const current = chatOf(state, chat);
  if (text === "" || current === undefined || current.ended !== null) return;
  const id = randomId();
  box.value = "";
  dispatch({ type: "send", chat, id, text, name: me.displayName, now: now() });
  try {
    const result = await session.call("chat.send", { chat, id, text });
    dispatch({ type: "sent", chat, id, result });
  } catch (failure) {
    dispatch({ type: "send_failed", chat, id, code: errorCode(failure) });
  }
}

function typing(chat) {
  const at = now();
  if (at - (lastTyping.get(chat) ?? 0) < TYPING_EVERY) return;
  lastTyping.set(chat, at);
  session?.emit("chat.typing", { chat }, { volatile: true });
}

/** What was said before the chat came to this operator (a transfer). */
async function loadHistory(chat) {
  try {
    const result = await session.call("chat.history", { chat });
    dispatch({ type: "history", chat, messages: result?.messages });
  } catch {
    // the messages from now on are shown all the same
  }
}

async function loadCustomer(chat) {
  try {
    dispatch({
      type: "customer_info",
      chat,
      info: await session.call("chat.customer", { chat }),
    });
  } catch {
    // the offer's details stay shown
  }
}

async function endChat(chat) {
  try {
    await session.call("chat.end", { chat });
  } catch (failure) {
    if (errorCode(failure) !== ConsoleError.CHAT_ENDED) {
      flash(t("error_failed"));
      return;
    }
  }
  dispatch({
    type: "event",
    name: "chat.ended",
    data: { chat, outcome: "ended" },
    now: now(),
  });
}

async function setStatus(event) {
  const wanted = event.target.value;
  try {
    await session.call("operator.status", { status: wanted });
    dispatch({ type: "status", status: wanted });
    flash("");
  } catch {
    event.target.value = state.status;
    flash(t("error_status"));
  }
}

// -- dialogs

function openDialog(id) {
  if (state.selected === null) return;
  closePanel?.();
  const status = $(`${id}-status`);
  if (status) status.textContent = "";
  const close = openPanel($(id), () => hide());
  const hide = () => {
    close();
    if (closePanel === hide) closePanel = null;
  };
  closePanel = hide;
}

async function openTransfer() {
  openDialog("transfer");
  const select = $("transfer-target");
  clear(select);
  select.append(h("option", { value: "", text: t("loading") }));
  let result;
  try {
    result = await session.call("operator.list", {});
  } catch {
    $("transfer-status").textContent = t("error_failed");
    return;
  }
  clear(select);
  select.append(h("option", { value: "", text: t("transfer_choose") }));
  const operators = (result?.operators ?? []).filter(
    (o) => o?.name && o.name !== me.name,
  );
  const departments = (result?.departments ?? []).filter((d) => d?.name);
  select.append(
    h(
      "optgroup",
      { label: t("transfer_operators") },
      ...operators.map((o) =>
        h("option", {
          value: `operator:${o.name}`,
          text: t("transfer_operator", {
            name: o.display_name || o.name,
            status: t(`status_${o.status}`),
            load: o.load ?? 0,
            max: o.max_chats ?? "-",
          }),
        }),
      ),
    ),
    h(
      "optgroup",
      { label: t("transfer_departments") },
      ...departments.map((d) =>
        h("option", { value: `department:${d.name}`, text: d.title || d.name }),
      ),
    ),
  );
}

async function submitTransfer(event) {
  event.preventDefault();
  const [kind, ...rest] = $("transfer-target").value.split(":");
  const target = rest.join(":");
  const status = $("transfer-status");
  if (!target) {
    status.textContent = t("transfer_choose");
    $("transfer-target").focus();
    return;
  }
  const chat = state.selected;
  const params = { chat, [kind]: target };
  const note = $("transfer-note").value.trim();
  if (note) params.note = note;
  try {
    await session.call("chat.transfer", params);
    dispatch({
      type: "notice",
      chat,
      notice: "notice_transferred",
      params: { target },
    });
    $("transfer-note").value = "";
    closePanel?.();
  } catch (failure) {
    status.textContent = t(errorKey(failure));
  }
}

async function submitBan(event) {
  event.preventDefault();
  const reason = $("ban-reason").value.trim();
  const seconds = Number($("ban-duration").value);
  const status = $("ban-status");
  if (!reason) {
    status.textContent = t("ban_reason_needed");
    $("ban-reason").focus();
    return;
  }
  const chat = state.selected;
  try {
    await session.call("chat.ban", { chat, seconds, reason });
    dispatch({ type: "notice", chat, notice: "notice_banned", params: { reason } });
    $("ban-reason").value = "";
    closePanel?.();
  } catch (failure) {
    status.textContent = t(errorKey(failure));
  }
}

async function submitRedirect(event) {
  event.preventDefault();
  const url = safeHttpUrl($("redirect-url").value.trim());
  const status = $("redirect-status");
  if (url === null) {
    status.textContent = t("redirect_bad_url");
    $("redirect-url").focus();
    return;
  }
  const chat = state.selected;
  try {
    await session.call("chat.redirect", { chat, url });
    dispatch({ type: "notice", chat, notice: "notice_redirected", params: { url } });
    closePanel?.();
  } catch (failure) {
    status.textContent = t(errorKey(failure));
  }
}

function openCanned() {
  openDialog("canned");
  $("canned-filter").value = "";
  renderCanned();
}

function renderCanned() {
  const list = $("canned-list");
  clear(list);
  const items = filterCanned(canned, $("canned-filter").value);
  $("canned-empty").hidden = items.length > 0;
  for (const item of items) {
    list.append(
      h(
        "li",
        {},
        h(
          "button",
          { type: "button", on: { click: () => insertCanned(item) } },
          h("strong", { text: item.title }),
          item.keyword &&
            h("span", { className: "keyword", text: ` /${item.keyword}` }),
          h("span", { className: "canned-body", text: item.body }),
        ),
      ),
    );
  }
}

function insertCanned(item) {
  const view = views.get(state.selected);
  closePanel?.();
  if (view === undefined) return;
  const box = view.box;
  const start = box.selectionStart ?? box.value.length;
  const insert = cannedText(item);
  box.value =
    box.value.slice(0, start) + insert + box.value.slice(box.selectionEnd ?? start);
  box.focus();
  box.setSelectionRange(start + insert.length, start + insert.length);
}

function openForms() {
  openDialog("forms");
  const list = $("forms-list");
  clear(list);
  $("forms-empty").hidden = forms.length > 0;
  for (const form of forms) {
    list.append(
      h(
        "li",
        {},
        h("button", {
          type: "button",
          text: form.title || form.name,
          on: { click: () => pushForm(form) },
        }),
      ),
    );
  }
  list.querySelector("button")?.focus();
}

async function pushForm(form) {
  const chat = state.selected;
  try {
    await session.call("chat.push_form", { chat, form: form.name });
    dispatch({
      type: "notice",
      chat,
      notice: "notice_form",
      params: { form: form.title || form.name },
    });
    closePanel?.();
  } catch (failure) {
    $("forms-status").textContent = t(errorKey(failure));
  }
}

function errorKey(failure) {
  const code = errorCode(failure);
  if (code === ConsoleError.CHAT_ENDED) return "error_chat_ended";
  if (code === 400) return "error_bad_request";
  if (code === 403) return "error_forbidden";
  if (code === 404) return "error_not_found";
  if (code === null) return "error_connection";
  return "error_failed";
}

// -- start

function start() {
  document.documentElement.lang = lang;
  document.title = t("title");
  applyStrings();
  $("login-form").addEventListener("submit", login);
  $("status").addEventListener("change", setStatus);
  $("logout").addEventListener("click", () => session?.close());
  $("notify-ask").addEventListener("click", async () => {
    await askNotifications();
    $("notify-ask").hidden = !notificationsAskable();
  });
  $("transfer-form").addEventListener("submit", submitTransfer);
  $("ban-form").addEventListener("submit", submitBan);
  $("redirect-form").addEventListener("submit", submitRedirect);
  $("canned-filter").addEventListener("input", renderCanned);
  for (const button of document.querySelectorAll("[data-close]")) {
    button.addEventListener("click", () => closePanel?.());
  }
  const focus = () =>
    dispatch({
      type: "focus",
      focused: document.visibilityState === "visible" && document.hasFocus(),
    });
  window.addEventListener("focus", focus);
  window.addEventListener("blur", focus);
  document.addEventListener("visibilitychange", focus);
  $("login-name").focus();
}

start();
