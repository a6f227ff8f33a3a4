/**
 * The customer's chat window as a state and a reducer: every server
 * event, call outcome and change of the connection is an action, and
 * {@link reduce} returns the next state without touching the old one or
 * anything outside. The view (app.js) renders states; the tests feed
 * sequences of actions.
 *
 * Phases:
 *
 * - `connecting`: no session yet;
 * - `choose`: pick a department (or confirm the one given) and a name;
 * - `waiting`: the call is placed; position and estimated wait are live;
 * - `chatting`: an operator took the call;
 *
 * A window opened again while the visitor's chat goes on (a reloaded
 * page) takes it up in `waiting` or `chatting`, as `chat.status` or
 * `chat.place` name it, and its history comes as a `history` action.
 * - `leave_message`: nobody can answer; the customer may leave a message;
 * - `message_left`: it was stored;
 * - `ended`: the chat is over (`outcome` says how);
 * - `banned`, `unavailable`: the service cannot be used now.
 *
 * The transcript is a list of entries: messages (`kind: "message"`,
 * pending until the server stored them), notices (`kind: "notice"`, a
 * string key and its parameters) and forms (`kind: "form"`).
 *
 * @module state
 */

import { formModel } from "./forms.js";
import { safeHttpUrl } from "../common/links.js";
import { list, number, text } from "../common/plain.js";

/** Error codes of the chat API (docs/chat-api.md, "Errors"). */
export const ChatError = Object.freeze({
  BANNED: 1001,
  UNAVAILABLE: 1002,
  ALREADY_WAITING: 1003,
  CHAT_ENDED: 1007,
  MAIL_UNAVAILABLE: 1008,
  TOO_MANY_MAILS: 1009,
});

/** How long "the operator is typing" shows after their last sign. */
export const TYPING_SHOWN = 6;
const MAX_ENTRIES = 2000;

/**
 * @param {{department?: string | null, name?: string}} [query] What the
 *   chat window's address fixed.
 */
export function initialState({ department = null, name = "" } = {}) {
  return Object.freeze({
    phase: "connecting",
    link: "connecting",
    fixedDepartment: department || null,
    departments: [],
    department: department || null,
    name,
    placing: false,
    error: null,
    chat: null,
    position: null,
    estimatedWait: null,
    operator: null,
    typingUntil: 0,
    entries: [],
    redirect: null,
    outcome: null,
    leaveReason: null,
    noticeCount: 0,
  });
}

function notice(state, key, params = {}) {
  const count = state.noticeCount + 1;
  return {
    noticeCount: count,
    entries: bounded([
      ...state.entries,
      { kind: "notice", key: `n${count}`, notice: key, params },
    ]),
  };
}

function bounded(entries) {
  return entries.length > MAX_ENTRIES ? entries.slice(-MAX_ENTRIES) : entries;
}

function departmentsOf(result) {
  return list(result, "departments")
    .filter((item) => typeof item?.name === "string")
    .map((item) => ({
      name: item.name,
      title: text(item, "title", item.name),
      staffed: item.staffed === true,
    }));
}

/**
 * A chat still going on for this visitor, taken up by this window (a
 * reloaded page): `live` as `chat.status`'s `chat` and a rejoining
 * `chat.place` answer it. The state unchanged when it names no chat.
 */
function rejoin(state, live) {
  const chat = live?.chat;
  if (typeof chat !== "string" && typeof chat !== "number") {
    return state;
  }
  const chatting = live.state === "chatting";
  let phase = chatting ? "chatting" : "waiting";
  if (!chatting && live.leave_message === true) {
    phase = "leave_message";
  }
  return {
    ...state,
    placing: false,
    error: null,
    phase,
    chat,
    department: text(live, "department", state.department ?? "") || state.department,
    operator: chatting ? text(live, "operator") : null,
    position: chatting ? null : number(live, "position"),
    estimatedWait: chatting ? null : number(live, "estimated_wait"),
    leaveReason: phase === "leave_message" ? "wait_limit" : state.leaveReason,
    outcome: null,
  };
}

function afterStatus(state, result) {
  const departments = departmentsOf(result);
  const base = { ...state, departments, error: null };
  if (result?.banned === true) {
    return { ...base, phase: "banned" };
  }
  if (result?.chat !== undefined && result?.chat !== null) {
    const rejoined = rejoin(base, result.chat);
    if (rejoined !== base) {
      return rejoined;
    }
  }
  const fixed = state.fixedDepartment;
  if (fixed !== null) {
    const known = departments.find((item) => item.name === fixed);
    if (known === undefined && departments.length > 0) {
      return { ...base, phase: "unavailable", error: "unknown_department" };
    }
    if (result?.available === false || known?.staffed === false) {
      return { ...base, phase: "leave_message", leaveReason: "unavailable" };
    }
    return { ...base, phase: "choose", department: fixed };
  }
  if (result?.available === false || !departments.some((item) => item.staffed)) {
    const department = state.department ?? departments[0]?.name ?? null;
    return { ...base, phase: "leave_message", leaveReason: "unavailable", department };
  }
  const staffed = departments.filter((item) => item.staffed);
  const keep = staffed.some((item) => item.name === state.department);
  return {
    ...base,
    phase: "choose",
    department: keep ? state.department : staffed[0].name,
  };
}

function placeFailed(state, code) {
  const base = { ...state, placing: false };
  switch (code) {
    case ChatError.BANNED:
      return { ...base, phase: "banned" };
    case ChatError.UNAVAILABLE:
      return { ...base, phase: "leave_message", leaveReason: "unavailable" };
    case ChatError.ALREADY_WAITING:
      return { ...base, error: "already_waiting" };
    case 429:
      return { ...base, error: "rate_limited" };
    case 400:
      return { ...base, error: "bad_request" };
    default:
      return { ...base, error: "place_failed" };
  }
}

function sameChat(state, data) {
  return state.chat !== null && data?.chat === state.chat;
}

function message(raw) {
  const id = raw?.id;
  if (typeof id !== "string" && typeof id !== "number") {
    return null;
  }
  const from = ["customer", "operator", "system"].includes(raw.from)
    ? raw.from
    : "system";
  const clientId = typeof raw.client_id === "string" ? raw.client_id : null;
  return {
    kind: "message",
    key: `m:${id}`,
    id: String(id),
    serverId: String(id),
    clientId,
    from,
    name: text(raw, "name"),
    text: text(raw, "text"),
    at: number(raw, "at"),
    pending: false,
    failed: false,
  };
}

function addMessage(state, raw, now) {
  const item = message(raw);
  if (item === null) {
    return state;
  }
  const index = state.entries.findIndex(
    (entry) =>
      entry.kind === "message" &&
      (entry.id === item.id ||
        entry.serverId === item.id ||
        // our own message, from another session of ours before the answer
        (item.clientId !== null && entry.pending && entry.id === item.clientId)),
  );
  let entries;
  if (index >= 0) {
    // our own message, told by the server: it is stored
    const mine = state.entries[index];
    entries = state.entries.slice();
    entries[index] = {
      ...mine,
      serverId: item.serverId,
      at: item.at ?? mine.at,
      pending: false,
      failed: false,
    };
  } else {
    entries = bounded([...state.entries, item]);
  }
  const typingUntil = item.from === "operator" ? 0 : state.typingUntil;
  return { ...state, entries, typingUntil, lastMessageAt: now };
}

function onEvent(state, { name, data, now = 0 }) {
  if (name === "chat.leave_message" && (state.chat === null || sameChat(state, data))) {
    return {
      ...state,
      phase: "leave_message",
      leaveReason: text(data, "reason", "unavailable"),
    };
  }
  if (!sameChat(state, data)) {
    return state;
  }
  switch (name) {
    case "chat.position":
      if (state.phase !== "waiting") {
        return state;
      }
      return {
        ...state,
        position: number(data, "position", state.position),
        estimatedWait: number(data, "estimated_wait", state.estimatedWait),
      };
    case "chat.accepted": {
      const operator = text(data, "operator");
      return {
        ...state,
        phase: "chatting",
        operator,
        position: null,
        estimatedWait: null,
        ...notice(state, "notice_accepted", { name: operator }),
      };
    }
    case "chat.message":
      return addMessage(state, data.message, now);
    case "chat.typing":
      return state.phase === "chatting"
        ? { ...state, typingUntil: now + TYPING_SHOWN }
        : state;
    case "chat.transferred": {
      const operator = text(data, "operator") || null;
      const department = text(data, "department");
      const title =
        state.departments.find((item) => item.name === department)?.title || department;
      if (operator !== null) {
        return {
          ...state,
          phase: "chatting",
          operator,
          typingUntil: 0,
          ...notice(state, "notice_transferred_operator", { name: operator }),
        };
      }
      return {
        ...state,
        phase: "waiting",
        operator: null,
        typingUntil: 0,
        department: department || state.department,
        ...notice(state, "notice_transferred_department", { department: title }),
      };
    }
    case "chat.reconnecting":
      return {
        ...state,
        phase: "waiting",
        operator: null,
        typingUntil: 0,
        ...notice(state, "notice_operator_lost"),
      };
    case "chat.form": {
      const form = formModel(data.form);
      if (form === null) {
        return state;
      }
      const count = state.noticeCount + 1;
      const entry = { kind: "form", key: `f${count}`, form, answered: false };
      return {
        ...state,
        noticeCount: count,
        entries: bounded([...state.entries, entry]),
      };
    }
    case "chat.redirect": {
      const url = safeHttpUrl(data.url);
      if (url === null) {
        return state;
      }
      return { ...state, redirect: url, ...notice(state, "notice_redirect", { url }) };
    }
    case "chat.ended":
      return ended(state, text(data, "outcome", "ended"));
    default:
      return state;
  }
}

function ended(state, outcome) {
  if (state.phase === "ended") {
    return state;
  }
  return {
    ...state,
    phase: "ended",
    outcome,
    typingUntil: 0,
    position: null,
    estimatedWait: null,
    ...notice(state, "notice_ended"),
  };
}

function updateEntry(state, predicate, change) {
  const index = state.entries.findIndex(predicate);
  if (index < 0) {
    return state;
  }
  const entries = state.entries.slice();
  entries[index] = { ...entries[index], ...change };
  return { ...state, entries };
}

/**
 * The next state.
 *
 * @param {ReturnType<typeof initialState>} state
 * @param {{type: string, [key: string]: any}} action
 * @returns {ReturnType<typeof initialState>}
 */
export function reduce(state, action) {
  return Object.freeze(step(state, action));
}

function step(state, action) {
  switch (action.type) {
    case "status":
      return state.chat === null ? afterStatus(state, action.result) : state;
    case "status_failed":
      return { ...state, phase: "unavailable", error: "service_unavailable" };
    case "choose":
      return {
        ...state,
        department: action.department ?? state.department,
        error: null,
      };
    case "name":
      return { ...state, name: String(action.name ?? "").slice(0, 100) };
    case "placing":
      return { ...state, placing: true, error: null };
    case "placed": {
      const chat = action.result?.chat;
      if (typeof chat !== "string" && typeof chat !== "number") {
        return placeFailed(state, null);
      }
      if (action.result.rejoined === true) {
        return rejoin(state, action.result);
      }
      return {
        ...state,
        placing: false,
        phase: "waiting",
        chat,
        position: number(action.result, "position"),
        estimatedWait: number(action.result, "estimated_wait"),
        outcome: null,
        ...notice(state, "notice_placed"),
      };
    }
    case "place_failed":
      return placeFailed(state, action.code);
    case "history":
      // what was said before this window took the chat up; messages
      // shown already are not shown twice
      if (action.chat !== state.chat || !Array.isArray(action.messages)) {
        return state;
      }
      return action.messages.reduce(
        (current, raw) => addMessage(current, raw, current.lastMessageAt ?? 0),
        state,
      );
    case "send": {
      const count = state.noticeCount + 1;
      const entry = {
        kind: "message",
        key: `m:${action.id}`,
        id: action.id,
        serverId: null,
        from: "customer",
        name: state.name,
        text: action.text,
        at: action.now ?? null,
        pending: true,
        failed: false,
      };
      return {
        ...state,
        noticeCount: count,
        entries: bounded([...state.entries, entry]),
      };
    }
    case "sent": {
      const serverId = action.result?.id;
      return updateEntry(state, (e) => e.kind === "message" && e.id === action.id, {
        pending: false,
        failed: false,
        serverId:
          serverId === undefined || serverId === null ? action.id : String(serverId),
        at: number(action.result, "at", null),
      });
    }
    case "send_failed": {
      const next = updateEntry(
        state,
        (e) => e.kind === "message" && e.id === action.id,
        { pending: false, failed: true },
      );
      return action.code === ChatError.CHAT_ENDED ? ended(next, "ended") : next;
    }
    case "event":
      return onEvent(state, action);
    case "form_answered":
      return updateEntry(state, (e) => e.kind === "form" && e.key === action.key, {
        answered: true,
      });
    case "redirect_done":
      return { ...state, redirect: null };
    case "leave_message":
      return {
        ...state,
        phase: "leave_message",
        leaveReason: action.reason ?? "chosen",
      };
    case "message_left":
      return { ...state, phase: "message_left" };
    case "leave":
      return ended(state, "left");
    case "link": {
      if (action.link === state.link) {
        return state;
      }
      const next = { ...state, link: action.link };
      if (state.chat === null || state.phase === "ended") {
        return next;
      }
      if (action.link === "reconnecting") {
        return { ...next, ...notice(state, "notice_reconnecting") };
      }
      if (action.link === "open" && state.link === "reconnecting") {
        return { ...next, ...notice(state, "notice_reconnected") };
      }
      return next;
    }
    case "session_ended":
      if (state.chat !== null) {
        return { ...ended(state, "lost"), link: "closed" };
      }
      return {
        ...state,
        link: "closed",
        phase: "unavailable",
        error: "connection_lost",
      };
    default:
      return state;
  }
}

/**
 * Whether the operator is shown as typing at `now`.
 *
 * @param {ReturnType<typeof initialState>} state
 * @param {number} now Seconds, the clock the actions used.
 */
export function operatorTyping(state, now) {
  return state.phase === "chatting" && state.typingUntil > now;
}

/** Whether the customer may type and send now. */
export function canSend(state) {
  return state.phase === "waiting" || state.phase === "chatting";
}
