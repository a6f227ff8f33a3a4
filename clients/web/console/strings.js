/**
 * Every text of the operator console, one table a language, keyed.
 * English is complete and the fallback; another language's table must
 * hold every key of English (test/strings.test.js checks it).
 *
 * @module strings
 */

const en = {
  title: "Operator console",
  title_unread: "({count}) Operator console",
  heading: "Operator console",

  login_heading: "Operator login",
  login_name: "Name",
  login_password: "Password",
  login: "Log in",
  login_incomplete: "Please enter your name and password.",
  login_busy: "Logging in…",
  login_refused: "Wrong name or password.",
  login_closed: "The server refused the login (code {code}).",
  login_unreachable: "The server cannot be reached; please try again.",
  logged_out: "You are logged out.",
  session_ended: "The session ended (code {code}); please log in again.",
  logout: "Log out",

  status_label: "Status",
  status_available: "Available",
  status_away: "Away",
  status_offline: "Offline",
  status_undefined: "unknown",
  notifications_enable: "Enable notifications",
  link_reconnecting: "Connection lost. Reconnecting…",

  queue_heading: "Queue",
  queue_empty: "No calls waiting.",
  anonymous: "Anonymous",
  waiting_for: "Waiting",
  deadline: "{seconds} s left to accept",
  country: "Country: {country}",
  accept: "Accept",
  decline: "Decline",
  accept_label: "Accept the call of {name}",
  decline_label: "Decline the call of {name}",
  notify_title: "New call",
  notify_body: "{name} is waiting in {department}.",

  chats_heading: "Chats",
  no_chat: "No chat open. Accept a call from the queue.",
  tab_ended: "(ended)",
  unread: "{count} unread",
  message_label: "Message",
  message_placeholder:
    "Message; Enter sends, Shift+Enter new line, /keyword + Tab inserts",
  send: "Send",
  sending: "sending…",
  failed: "not sent",
  customer: "Customer",
  system: "Notice",
  preview: "Typing: {text}",
  tools: "Chat tools",
  tool_canned: "Texts",
  tool_transfer: "Transfer",
  tool_form: "Form",
  tool_redirect: "Redirect",
  tool_ban: "Ban",
  tool_end: "End chat",
  tool_close: "Close tab",

  notice_started: "Chat with {name} started.",
  notice_started_note: "Chat with {name} started. Note: {note}",
  notice_left: "The customer left.",
  notice_ended: "The chat has ended ({outcome}).",
  notice_transferred: "Transferred to {target}.",
  notice_banned: "Customer banned: {reason}",
  notice_redirected: "Customer sent to {url}",
  notice_form: "Form sent: {form}",
  form_answer: "Answers to the form {form}:",

  customer_info: "Customer",
  info_name: "Name",
  info_country: "Country",
  info_url: "Page",
  info_address: "Address",
  info_visitor: "Visitor id",
  info_history: "Earlier chats: {count}",

  transfer_heading: "Transfer the chat",
  transfer_target: "To",
  transfer_choose: "Choose an operator or a department",
  transfer_operators: "Operators",
  transfer_departments: "Departments",
  transfer_operator: "{name} ({status}, {load}/{max})",
  transfer_note: "Note for the next operator (optional)",
  transfer_submit: "Transfer",

  ban_heading: "Ban the customer",
  ban_duration: "For",
  ban_hour: "1 hour",
  ban_day: "1 day",
  ban_week: "1 week",
  ban_month: "30 days",
  ban_year: "1 year",
  ban_reason: "Reason",
  ban_reason_needed: "Please give a reason.",
  ban_submit: "Ban",

  redirect_heading: "Send the customer to a page",
  redirect_url: "Address (http or https)",
  redirect_bad_url: "Please enter an http or https address.",
  redirect_submit: "Send the customer there",

  canned_heading: "Predefined texts and links",
  canned_filter: "Filter",
  canned_empty: "No predefined text matches.",

  forms_heading: "Push a form",
  forms_empty: "No forms are defined.",

  cancel: "Cancel",
  loading: "Loading…",

  error_state: "The console could not load your state (code {code}).",
  error_not_offered: "That call is no longer offered to you.",
  error_busy: "You have as many chats as you may hold.",
  error_away: "Set your status to available to accept calls.",
  error_status: "The status could not be changed.",
  error_chat_ended: "The chat has ended.",
  error_bad_request: "The server refused the request.",
  error_forbidden: "You may not do this.",
  error_not_found: "Not found.",
  error_connection: "The connection was lost.",
  error_failed: "That did not work; please try again.",
};

/** The tables, by language. */
export const STRINGS = Object.freeze({ en });
