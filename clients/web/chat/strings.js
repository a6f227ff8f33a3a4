/**
 * Every text of the customer's chat window, one table a language, keyed.
 * English is complete and the fallback; a table for another language
 * must hold every key of English (test/strings.test.js checks it).
 * Placeholders in braces are filled by the window.
 *
 * @module strings
 */

const en = {
  title: "Chat with us",
  heading: "Chat with us",
  tools: "Chat tools",
  font_up: "Larger text",
  font_down: "Smaller text",
  print: "Print",
  transcript: "E-mail",
  help: "Help",
  close: "Close",
  connecting: "Connecting…",
  log: "Conversation",

  choose_heading: "How can we help?",
  department_label: "Department",
  department_closed: "{title} (leave a message)",
  name_label: "Your name (optional)",
  start: "Start chat",

  waiting: "Waiting for an operator…",
  position_next: "You are next in line.",
  position: "You are number {position} in line.",
  estimated_wait: "Estimated wait: about {minutes} min.",
  offer_message: "Leave a message instead",
  talking_to: "You are talking to {name}.",
  operator_typing: "{name} is typing…",

  you: "You",
  operator: "Operator",
  system: "Notice",
  sending: "Sending…",
  failed: "Not sent",
  message_label: "Your message",
  message_placeholder: "Type your message; Enter sends, Shift+Enter starts a new line",
  send: "Send",
  leave_chat: "End chat",

  notice_placed: "Your call is placed. Please wait for an operator.",
  notice_accepted: "{name} joined the chat.",
  notice_transferred_operator: "You were transferred to {name}.",
  notice_transferred_department: "You were transferred to {department}. Please wait.",
  notice_operator_lost: "The operator was disconnected. Please wait for another.",
  notice_redirect: "The operator suggests this page:",
  notice_ended: "The chat has ended.",
  notice_reconnecting: "Connection lost. Reconnecting…",
  notice_reconnected: "Connected again.",

  outcome_ended: "The chat has ended. Thank you!",
  outcome_left: "You ended the chat. Thank you!",
  outcome_lost: "The connection was lost and the chat has ended.",
  outcome_inactive: "The chat ended after a long silence.",
  outcome_missed: "Nobody could answer your call. Please leave a message.",
  new_chat: "Start a new chat",

  link_reconnecting: "Connection lost. Reconnecting…",
  link_closed: "Disconnected.",

  leave_heading: "Leave a message",
  leave_intro:
    "Nobody is available right now. Leave a message and we will answer by e-mail.",
  leave_intro_chosen: "Leave a message and we will answer by e-mail.",
  leave_name: "Your name",
  leave_email: "Your e-mail address",
  leave_text: "Your message",
  leave_send: "Send message",
  leave_incomplete: "Please give your name, a valid e-mail address and a message.",
  message_left: "Thank you! Your message was sent; we will answer by e-mail.",

  transcript_heading: "E-mail this conversation",
  transcript_email: "Your e-mail address",
  transcript_send: "Send",
  transcript_bad_email: "Please enter a valid e-mail address.",
  transcript_sent: "The conversation was sent to {email}.",
  transcript_unavailable: "E-mail cannot be sent now.",
  transcript_too_many: "Too many e-mails to this address; please try later.",

  form_choose: "Choose…",
  form_submit: "Send",
  form_sent: "Sent: {title}",
  form_error_required: "Please fill this in.",
  form_error_email: "Please enter a valid e-mail address.",
  form_error_number: "Please enter a number in range.",
  form_error_choice: "Please choose one of the options.",
  form_error_long: "This is too long.",

  help_heading: "Help",
  help_department:
    "Choose a department and, if you like, your name, then start the chat.",
  help_wait: "While you wait, your place in line and the estimated wait are shown.",
  help_send: "Enter sends your message; Shift+Enter starts a new line.",
  help_transcript: "E-mail sends a copy of the conversation to your address.",
  help_print: "Print prints the conversation without the buttons.",
  help_font: "A+ and A− change the text size; it is remembered.",
  help_leave: "End chat closes the conversation. Escape closes this help.",

  banned: "The service is unavailable.",
  retry: "Try again",
  error_service_unavailable: "The service is unavailable right now.",
  error_unknown_department: "This department does not exist.",
  error_already_waiting: "You already have a chat open, perhaps in another window.",
  error_rate_limited: "Too many attempts; please wait a moment.",
  error_bad_request: "Something was not right; please check and try again.",
  error_place_failed: "The call could not be placed; please try again.",
  error_connection_lost: "The connection was lost.",
  error_chat_ended: "The chat has ended.",
  error_failed: "That did not work; please try again.",
};

const de = {
  title: "Chat mit uns",
  heading: "Chat mit uns",
  tools: "Chat-Werkzeuge",
  font_up: "Größere Schrift",
  font_down: "Kleinere Schrift",
  print: "Drucken",
  transcript: "E-Mail",
  help: "Hilfe",
  close: "Schließen",
  connecting: "Verbindung wird aufgebaut…",
  log: "Gespräch",

  choose_heading: "Wie können wir helfen?",
  department_label: "Abteilung",
  department_closed: "{title} (Nachricht hinterlassen)",
  name_label: "Ihr Name (freiwillig)",
  start: "Chat beginnen",

  waiting: "Warten auf einen Mitarbeiter…",
  position_next: "Sie sind als Nächstes an der Reihe.",
  position: "Sie sind Nummer {position} in der Warteschlange.",
  estimated_wait: "Geschätzte Wartezeit: etwa {minutes} Min.",
  offer_message: "Stattdessen eine Nachricht hinterlassen",
  talking_to: "Sie sprechen mit {name}.",
  operator_typing: "{name} schreibt…",

  you: "Sie",
  operator: "Mitarbeiter",
  system: "Hinweis",
  sending: "Wird gesendet…",
  failed: "Nicht gesendet",
  message_label: "Ihre Nachricht",
  message_placeholder:
    "Nachricht eingeben; Enter sendet, Umschalt+Enter für eine neue Zeile",
  send: "Senden",
  leave_chat: "Chat beenden",

  notice_placed: "Ihr Anruf ist eingereiht. Bitte warten Sie auf einen Mitarbeiter.",
  notice_accepted: "{name} ist dem Chat beigetreten.",
  notice_transferred_operator: "Sie wurden an {name} weitergeleitet.",
  notice_transferred_department:
    "Sie wurden an {department} weitergeleitet. Bitte warten.",
  notice_operator_lost: "Die Verbindung zum Mitarbeiter ist abgebrochen. Bitte warten.",
  notice_redirect: "Der Mitarbeiter empfiehlt diese Seite:",
  notice_ended: "Der Chat ist beendet.",
  notice_reconnecting: "Verbindung verloren. Neuer Versuch…",
  notice_reconnected: "Wieder verbunden.",

  outcome_ended: "Der Chat ist beendet. Vielen Dank!",
  outcome_left: "Sie haben den Chat beendet. Vielen Dank!",
  outcome_lost: "Die Verbindung ging verloren; der Chat ist beendet.",
  outcome_inactive: "Der Chat wurde nach langer Stille beendet.",
  outcome_missed:
    "Niemand konnte Ihren Anruf annehmen. Bitte hinterlassen Sie eine Nachricht.",
  new_chat: "Neuen Chat beginnen",

  link_reconnecting: "Verbindung verloren. Neuer Versuch…",
  link_closed: "Getrennt.",

  leave_heading: "Nachricht hinterlassen",
  leave_intro:
    "Gerade ist niemand erreichbar. Hinterlassen Sie eine Nachricht; wir antworten per E-Mail.",
  leave_intro_chosen: "Hinterlassen Sie eine Nachricht; wir antworten per E-Mail.",
  leave_name: "Ihr Name",
  leave_email: "Ihre E-Mail-Adresse",
  leave_text: "Ihre Nachricht",
  leave_send: "Nachricht senden",
  leave_incomplete:
    "Bitte Name, eine gültige E-Mail-Adresse und eine Nachricht angeben.",
  message_left: "Danke! Ihre Nachricht wurde gesendet; wir antworten per E-Mail.",

  transcript_heading: "Gespräch per E-Mail senden",
  transcript_email: "Ihre E-Mail-Adresse",
  transcript_send: "Senden",
  transcript_bad_email: "Bitte eine gültige E-Mail-Adresse eingeben.",
  transcript_sent: "Das Gespräch wurde an {email} gesendet.",
  transcript_unavailable: "E-Mails können gerade nicht gesendet werden.",
  transcript_too_many:
    "Zu viele E-Mails an diese Adresse; bitte später erneut versuchen.",

  form_choose: "Bitte wählen…",
  form_submit: "Senden",
  form_sent: "Gesendet: {title}",
  form_error_required: "Bitte ausfüllen.",
  form_error_email: "Bitte eine gültige E-Mail-Adresse eingeben.",
  form_error_number: "Bitte eine Zahl im erlaubten Bereich eingeben.",
  form_error_choice: "Bitte eine der Möglichkeiten wählen.",
  form_error_long: "Das ist zu lang.",

  help_heading: "Hilfe",
  help_department:
    "Wählen Sie eine Abteilung und, wenn Sie möchten, Ihren Namen; dann beginnen Sie den Chat.",
  help_wait: "Während Sie warten, sehen Sie Ihren Platz und die geschätzte Wartezeit.",
  help_send: "Enter sendet die Nachricht; Umschalt+Enter beginnt eine neue Zeile.",
  help_transcript: "E-Mail sendet eine Kopie des Gesprächs an Ihre Adresse.",
  help_print: "Drucken druckt das Gespräch ohne die Schaltflächen.",
  help_font: "A+ und A− ändern die Schriftgröße; sie wird gemerkt.",
  help_leave: "Chat beenden schließt das Gespräch. Escape schließt diese Hilfe.",

  banned: "Der Dienst ist nicht verfügbar.",
  retry: "Erneut versuchen",
  error_service_unavailable: "Der Dienst ist gerade nicht verfügbar.",
  error_unknown_department: "Diese Abteilung gibt es nicht.",
  error_already_waiting:
    "Sie haben bereits einen Chat offen, vielleicht in einem anderen Fenster.",
  error_rate_limited: "Zu viele Versuche; bitte einen Moment warten.",
  error_bad_request: "Etwas stimmte nicht; bitte prüfen und erneut versuchen.",
  error_place_failed:
    "Der Anruf konnte nicht eingereiht werden; bitte erneut versuchen.",
  error_connection_lost: "Die Verbindung ging verloren.",
  error_chat_ended: "Der Chat ist beendet.",
  error_failed: "Das hat nicht geklappt; bitte erneut versuchen.",
};

/** The tables, by language. */
export const STRINGS = Object.freeze({ en, de });

/**
 * The key of the text shown when a chat ends with `outcome`: the service's
 * outcomes (docs/chat-api.md: `served`, `abandoned`, `left_message`,
 * `inactive`, `banned`) and the window's own (`left`, `lost`), the plain
 * "the chat has ended" for any other.
 */
export function outcomeKey(outcome) {
  const key = `outcome_${outcome}`;
  return Object.hasOwn(en, key) ? key : "outcome_ended";
}
