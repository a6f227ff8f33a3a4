/**
 * The operator console as a state and a reducer: the operator's status,
 * the live queue of calls offered to them, and the chats they hold, each
 * with its transcript, the customer's typing preview and an unread
 * count. {@link reduce} returns the next state and changes nothing else;
 * the view (app.js) renders it.
 *
 * A chat's messages count as unread when they come from the customer
 * while the operator is not looking at that chat: another tab is
 * selected, or the console's window is hidden or not focused. Selecting
 * the chat with the window focused reads them all.
 *
 * @module state
 */

import { list, number, text } from "../common/plain.js";

/** Error codes of the chat API that the console reacts to. */
export const ConsoleError = Object.freeze({
  NOT_OFFERED: 1004,
  OPERATOR_BUSY: 1005,
  OPERATOR_AWAY: 1006,
  CHAT_ENDED: 1007,
});

/** How long a typing preview stays without a new one, in seconds. */
export const PREVIEW_SHOWN = 8;
const MAX_ENTRIES = 2000;
const STATUSES = ["available", "away", "offline"];

export function initialState() {
  return Object.freeze({
    status: "offline",
    departments: [],
    maxChats: null,
    offers: [],
    chats: [],
    selected: null,
    focused: true,
    counter: 0,
  });
}

function offerOf(call, now) {
  const chat = call?.chat;
  if (typeof chat !== "string" && typeof chat !== "number") {
    return null;
  }
  return {
    chat,
    department: text(call, "department"),
    name: text(call, "name"),
    url: text(call, "url"),
    country: text(call, "country"),
    placedAt: number(call, "placed_at", now),
    deadline: number(call, "deadline", null),
  };
}

function customerOf(raw) {
  if (typeof raw === "string") {
    return { name: raw, visitor: "", url: "", country: "" };
  }
  return {
    name: text(raw, "name"),
    visitor: text(raw, "visitor"),
    url: text(raw, "url"),
    country: text(raw, "country"),
  };
}

function messageOf(raw) {
  const id = raw?.id;
  if (typeof id !== "string" && typeof id !== "number") {
    return null;
  }
  return {
    kind: "message",
    key: `m:${id}`,
    id: String(id),
    serverId: String(id),
    clientId: typeof raw.client_id === "string" ? raw.client_id : null,
    from: ["customer", "operator", "system"].includes(raw.from) ? raw.from : "system",
    name: text(raw, "name"),
    text: text(raw, "text"),
    at: number(raw, "at"),
    pending: false,
    failed: false,
  };
}

function bounded(entries) {
  return entries.length > MAX_ENTRIES ? entries.slice(-MAX_ENTRIES) : entries;
}

function newChat(chat, customer, extra = {}) {
  return {
    chat,
    customer: customerOf(customer),
    entries: [],
    typing: null,
    unread: 0,
    ended: null,
    customerLeft: false,
    info: null,
    ...extra,
  };
}

function withNotice(state, item, notice, params = {}) {
  const counter = state.counter + 1;
  const entry = { kind: "notice", key: `n${counter}`, notice, params };
  return [{ ...item, entries: bounded([...item.entries, entry]) }, counter];
}

function updateChat(state, chat, change) {
  const index = state.chats.findIndex((item) => item.chat === chat);
  if (index < 0) {
    return state;
  }
  const chats = state.chats.slice();
  const next = change(chats[index]);
  if (Array.isArray(next)) {
    chats[index] = next[0];
    return { ...state, chats, counter: next[1] };
  }
  chats[index] = next;
  return { ...state, chats };
}

function viewing(state, chat) {
  return state.selected === chat && state.focused;
}

function started(state, data) {
  const chat = data?.chat;
  if (typeof chat !== "string" && typeof chat !== "number") {
    return state;
  }
  const offers = state.offers.filter((offer) => offer.chat !== chat);
  const note = text(data, "note");
  let next = { ...state, offers };
  if (!state.chats.some((item) => item.chat === chat)) {
    const item = newChat(chat, data.customer);
    next = { ...next, chats: [...state.chats, item] };
  } else {
    next = updateChat(next, chat, (item) => ({
      ...item,
      customer: customerOf(data.customer ?? item.customer),
      ended: null,
    }));
  }
  next = updateChat(next, chat, (item) =>
    withNotice(next, item, note ? "notice_started_note" : "notice_started", {
      note,
      name: item.customer.name,
    }),
  );
  if (next.selected === null) {
    next = { ...next, selected: chat };
  }
  return next;
}

function addMessage(state, data) {
  const item = messageOf(data?.message);
  if (item === null) {
    return state;
  }
  return updateChat(state, data.chat, (chat) => {
    const index = chat.entries.findIndex(
      (entry) =>
        entry.kind === "message" &&
        (entry.id === item.id ||
          entry.serverId === item.id ||
          // our own message, from another session of ours before the answer
          (item.clientId !== null && entry.pending && entry.id === item.clientId)),
    );
    if (index >= 0) {
      const entries = chat.entries.slice();
      entries[index] = {
        ...entries[index],
        serverId: item.serverId,
        at: item.at,
        pending: false,
        failed: false,
      };
      return { ...chat, entries };
    }
    const fromCustomer = item.from === "customer";
    return {
      ...chat,
      entries: bounded([...chat.entries, item]),
      typing: fromCustomer ? null : chat.typing,
      unread:
        fromCustomer && !viewing(state, chat.chat) ? chat.unread + 1 : chat.unread,
    };
  });
}

/**
 * What was said in a chat before it came to this operator (`chat.history`),
 * put before what the chat shows already; messages shown already are not
 * shown twice.
 */
function withHistory(state, chat, messages) {
  const item = state.chats.find((candidate) => candidate.chat === chat);
  if (item === undefined) {
    return state;
  }
  const known = new Set();
  for (const entry of item.entries) {
    if (entry.kind === "message") {
      known.add(entry.id);
      if (entry.serverId !== null) known.add(entry.serverId);
    }
  }
  const missing = (Array.isArray(messages) ? messages : [])
    .map(messageOf)
    .filter(
      (entry) =>
        entry !== null &&
        !known.has(entry.id) &&
        !(entry.clientId !== null && known.has(entry.clientId)),
    );
  if (missing.length === 0) {
    return state;
  }
  return updateChat(state, chat, (current) => ({
    ...current,
    entries: bounded([...missing, ...current.entries]),
  }));
}

function onEvent(state, { name, data, now = 0 }) {
  switch (name) {
    case "queue.offer": {
      const offer = offerOf(data?.call, now);
      if (offer === null || state.chats.some((item) => item.chat === offer.chat)) {
        return state;
      }
      const offers = state.offers.filter((item) => item.chat !== offer.chat);
      return { ...state, offers: [...offers, offer] };
    }
    case "queue.withdrawn":
      return {
        ...state,
        offers: state.offers.filter((item) => item.chat !== data?.chat),
      };
    case "chat.started":
      return started(state, data);
    case "chat.message":
      return addMessage(state, data);
    case "chat.typing":
      return updateChat(state, data?.chat, (item) =>
        item.ended !== null
          ? item
          : {
              ...item,
              typing: { text: text(data, "text"), until: now + PREVIEW_SHOWN },
            },
      );
    case "chat.customer_left":
      return updateChat(state, data?.chat, (item) =>
        withNotice(state, { ...item, customerLeft: true, typing: null }, "notice_left"),
      );
    case "chat.form_answer": {
      const answers = data?.answers;
      return updateChat(state, data?.chat, (item) => {
        const counter = state.counter + 1;
        const pairs =
          answers !== null && typeof answers === "object"
            ? Object.entries(answers).map(([key, value]) => [key, String(value ?? "")])
            : [];
        const entry = {
          kind: "answer",
          key: `a${counter}`,
          form: text(data, "form"),
          pairs,
        };
        return [
          {
            ...item,
            entries: bounded([...item.entries, entry]),
            unread: viewing(state, item.chat) ? item.unread : item.unread + 1,
          },
          counter,
        ];
      });
    }
    case "chat.ended": {
      const offers = state.offers.filter((offer) => offer.chat !== data?.chat);
      const outcome = text(data, "outcome", "ended");
      const base = offers.length === state.offers.length ? state : { ...state, offers };
      return updateChat(base, data?.chat, (item) =>
        item.ended !== null
          ? item
          : withNotice(
              state,
              { ...item, ended: outcome, typing: null },
              "notice_ended",
              {
                outcome,
              },
            ),
      );
    }
    default:
      return state;
  }
}

/**
 * The next state.
 *
 * @param {ReturnType<typeof initialState>} state
 * @param {{type: string, [key: string]: any}} action
 */
export function reduce(state, action) {
  return Object.freeze(step(state, action));
}

function step(state, action) {
  switch (action.type) {
    case "operator_state": {
      const result = action.result;
      let next = {
        ...state,
        status: STATUSES.includes(result?.status) ? result.status : state.status,
        departments: list(result, "departments").filter((d) => typeof d === "string"),
        maxChats: number(result, "max_chats", state.maxChats),
        offers: [],
      };
      for (const call of list(result, "offers")) {
        next = onEvent(next, { name: "queue.offer", data: { call }, now: action.now });
      }
      for (const chat of list(result, "chats")) {
        next = started(next, chat);
        for (const message of list(chat, "messages")) {
          next = addMessage(next, { chat: chat.chat, message });
        }
      }
      return next;
    }
    case "status":
      return STATUSES.includes(action.status)
        ? { ...state, status: action.status }
        : state;
    case "event":
      return onEvent(state, action);
    case "accepted":
      return started(state, { chat: action.chat, ...action.result });
    case "offer_gone":
      return {
        ...state,
        offers: state.offers.filter((item) => item.chat !== action.chat),
      };
    case "select": {
      if (!state.chats.some((item) => item.chat === action.chat)) {
        return state;
      }
      const next = { ...state, selected: action.chat };
      return next.focused
        ? updateChat(next, action.chat, (i) => ({ ...i, unread: 0 }))
        : next;
    }
    case "focus": {
      const next = { ...state, focused: action.focused === true };
      return next.focused && next.selected !== null
        ? updateChat(next, next.selected, (i) => ({ ...i, unread: 0 }))
        : next;
    }
    case "close_chat": {
      const index = state.chats.findIndex((item) => item.chat === action.chat);
      if (index < 0 || state.chats[index].ended === null) {
        return state;
      }
      const chats = state.chats.filter((item) => item.chat !== action.chat);
      let selected = state.selected;
      if (selected === action.chat) {
        selected = chats[Math.min(index, chats.length - 1)]?.chat ?? null;
      }
      const next = { ...state, chats, selected };
      return selected !== null && next.focused
        ? updateChat(next, selected, (i) => ({ ...i, unread: 0 }))
        : next;
    }
    case "send":
      return updateChat(state, action.chat, (item) => ({
        ...item,
        entries: bounded([
          ...item.entries,
          {
            kind: "message",
            key: `m:${action.id}`,
            id: action.id,
            serverId: null,
            from: "operator",
            name: action.name ?? "",
            text: action.text,
            at: action.now ?? null,
            pending: true,
            failed: false,
          },
        ]),
      }));
    case "sent":
    case "send_failed": {
      const ok = action.type === "sent";
      const next = updateChat(state, action.chat, (item) => ({
        ...item,
        entries: item.entries.map((entry) =>
          entry.kind === "message" && entry.id === action.id
            ? {
                ...entry,
                pending: false,
                failed: !ok,
                serverId: ok ? String(action.result?.id ?? action.id) : entry.serverId,
                at: ok ? number(action.result, "at", entry.at) : entry.at,
              }
            : entry,
        ),
      }));
      if (!ok && action.code === ConsoleError.CHAT_ENDED) {
        return onEvent(next, { name: "chat.ended", data: { chat: action.chat } });
      }
      return next;
    }
    case "customer_info":
      return updateChat(state, action.chat, (item) => ({ ...item, info: action.info }));
    case "history":
      return withHistory(state, action.chat, action.messages);
    case "notice":
      return updateChat(state, action.chat, (item) =>
        withNotice(state, item, action.notice, action.params ?? {}),
      );
    default:
      return state;
  }
}

/**
 * The queue as shown: calls assigned to this operator (with a deadline)
 * first, soonest deadline first, then every other call oldest first.
 *
 * @param {ReturnType<typeof initialState>["offers"]} offers
 */
export function sortedOffers(offers) {
  return offers.slice().sort((a, b) => {
    const aAssigned = a.deadline !== null;
    const bAssigned = b.deadline !== null;
    if (aAssigned !== bAssigned) {
      return aAssigned ? -1 : 1;
    }
    if (aAssigned && a.deadline !== b.deadline) {
      return a.deadline - b.deadline;
    }
    if (a.placedAt !== b.placedAt) {
      return a.placedAt - b.placedAt;
    }
    return String(a.chat) < String(b.chat) ? -1 : 1;
  });
}

/** Seconds a call has waited at `now`; never negative (clocks differ). */
export function waited(offer, now) {
  return Math.max(0, now - offer.placedAt);
}

/** Seconds left to accept an assigned call, or null. */
export function timeLeft(offer, now) {
  return offer.deadline === null ? null : Math.max(0, offer.deadline - now);
}

/** Unread messages over every chat: the title's count. */
export function totalUnread(state) {
  return state.chats.reduce((sum, item) => sum + item.unread, 0);
}

/** The customer's typing preview at `now`, or null. */
export function preview(chat, now) {
  return chat.typing !== null && chat.typing.until > now ? chat.typing.text : null;
}

/** The chat with that id, or undefined. */
export function chatOf(state, chat) {
  return state.chats.find((item) => item.chat === chat);
}
