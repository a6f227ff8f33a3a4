/**
 * The call button that customers' sites paste into their pages:
 *
 *     <script src="https://LGSERVER/widget.js" data-department="sales"
 *       data-invite-after="30" data-lang="en" data-mode="panel" async></script>
 *
 * It runs in the host page as a classic script and leaves nothing behind
 * but one element at the end of the body: everything it shows lives in a
 * closed shadow root with its own styles, and every name it uses stays
 * inside this function. It keeps the visitor id in the host page's
 * localStorage, asks lgserver whether the page may show the button
 * (`GET /widget/status`, a CORS request answered only for allowed
 * origins; docs/chat-api.md, "HTTP endpoints for the widget"), offers
 * help after `data-invite-after` seconds (once a browser session, unless
 * accepted), and opens the chat window (`/chat/`) in a panel of the page
 * (`data-mode="panel"`, the default) or a window of its own
 * (`data-mode="window"`).
 *
 * A host page with a Content-Security-Policy must allow the lgserver
 * origin in `script-src`, `connect-src` and `frame-src`. The styles are
 * a constructed stylesheet, which `style-src` does not govern; where the
 * browser lacks them, a `<style>` element is used, which needs
 * `style-src 'unsafe-inline'` or no policy.
 *
 * Loaded where there is no document (Node, in test/widget.test.js), it
 * only exposes its pure functions as `globalThis.lgserverWidget`.
 */
(function () {
  "use strict";

  var STRINGS = {
    en: {
      call: "Chat with us",
      offline: "Leave us a message",
      unavailable: "Service unavailable",
      invite: "May I help you?",
      accept: "Chat now",
      dismiss: "No, thanks",
      close: "Close the chat",
      panel: "Chat",
    },
    de: {
      call: "Chatten Sie mit uns",
      offline: "Hinterlassen Sie uns eine Nachricht",
      unavailable: "Dienst nicht verfügbar",
      invite: "Kann ich Ihnen helfen?",
      accept: "Jetzt chatten",
      dismiss: "Nein, danke",
      close: "Chat schließen",
      panel: "Chat",
    },
  };
  var VISITOR_KEY = "lgserver.visitor";
  var DISMISSED_KEY = "lgserver.invite.dismissed";
  // what the server accepts as a visitor id (docs/protocol.md 6.8): no
  // fewer characters than are made here, so that none can be guessed
  var VISITOR = /^[A-Za-z0-9_-]{22,64}$/;
  var ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  var MAX_INVITE_AFTER = 86400;

  /** The table for a language tag, English when there is none. */
  function strings(lang) {
    var tag = String(lang || "").toLowerCase();
    if (Object.prototype.hasOwnProperty.call(STRINGS, tag)) return STRINGS[tag];
    var base = tag.split("-")[0];
    if (Object.prototype.hasOwnProperty.call(STRINGS, base)) return STRINGS[base];
    return STRINGS.en;
  }

  /** 22 random characters of [A-Za-z0-9_-] from `fill`'s bytes. */
  function newVisitorId(fill) {
    var bytes = fill(new Uint8Array(22));
    var id = "";
    for (var i = 0; i < bytes.length; i++) id += ALPHABET[bytes[i] & 63];
    return id;
  }

  /**
   * The visitor id kept in `storage`, or a new one, kept if storage
   * works (a page may forbid it: the id then lasts for this page view).
   */
  function visitorId(storage, fill) {
    try {
      var kept = storage && storage.getItem(VISITOR_KEY);
      if (typeof kept === "string" && VISITOR.test(kept)) return kept;
    } catch (error) {
      // storage refused
    }
    var id = newVisitorId(fill);
    try {
      if (storage) storage.setItem(VISITOR_KEY, id);
    } catch (error) {
      // as above
    }
    return id;
  }

  /**
   * The options of the script element: where lgserver is (the origin of
   * the script's own address) and its data attributes, checked.
   */
  function readOptions(src, data) {
    var origin = null;
    try {
      var url = new URL(src);
      if (url.protocol === "https:" || url.protocol === "http:") origin = url.origin;
    } catch (error) {
      origin = null;
    }
    var after = Number(data.inviteAfter);
    return {
      origin: origin,
      department:
        typeof data.department === "string" ? data.department.slice(0, 64) : "",
      inviteAfter:
        Number.isFinite(after) && after > 0 ? Math.min(after, MAX_INVITE_AFTER) : 0,
      lang: typeof data.lang === "string" ? data.lang.slice(0, 35) : "",
      mode: data.mode === "window" ? "window" : "panel",
    };
  }

  /**
   * What the button shows for an answer of `/widget/status`:
   * `"hidden"` (no answer, not allowed, malformed), `"unavailable"`
   * (banned), `"offline"` (nobody to serve: a message may be left) or
   * `"online"`.
   */
  function statusView(answer, department) {
    if (answer === null || typeof answer !== "object" || answer.allowed !== true) {
      return "hidden";
    }
    if (answer.banned === true) return "unavailable";
    var departments = Array.isArray(answer.departments) ? answer.departments : [];
    if (department) {
      var found = null;
      for (var i = 0; i < departments.length; i++) {
        if (departments[i] && departments[i].name === department)
          found = departments[i];
      }
      if (found === null) return "hidden";
      if (found.staffed !== true || answer.available === false) return "offline";
      return "online";
    }
    return answer.available === true ? "online" : "offline";
  }

  /** The address of the chat window, with what it needs to know. */
  function chatUrl(origin, options, visitor, pageUrl) {
    var params = new URLSearchParams();
    if (options.department) params.set("department", options.department);
    params.set("visitor", visitor);
    if (/^https?:\/\//i.test(pageUrl)) params.set("url", pageUrl.slice(0, 2048));
    if (options.lang) params.set("lang", options.lang);
    return origin + "/chat/?" + params.toString();
  }

  /** The address of the status request. */
  function statusUrl(origin, options, visitor) {
    var params = new URLSearchParams();
    if (options.department) params.set("department", options.department);
    params.set("visitor", visitor);
    return origin + "/widget/status?" + params.toString();
  }

  /** Whether to invite now: allowed, online, and not dismissed. */
  function shouldInvite(options, view, session) {
    if (options.inviteAfter <= 0 || view !== "online") return false;
    try {
      return !(session && session.getItem(DISMISSED_KEY) === "1");
    } catch (error) {
      return true;
    }
  }

  var api = {
    STRINGS: STRINGS,
    strings: strings,
    visitorId: visitorId,
    newVisitorId: newVisitorId,
    readOptions: readOptions,
    statusView: statusView,
    chatUrl: chatUrl,
    statusUrl: statusUrl,
    shouldInvite: shouldInvite,
    DISMISSED_KEY: DISMISSED_KEY,
  };

  if (typeof document === "undefined") {
    globalThis.lgserverWidget = api;
    return;
  }

  var CSS =
    ":host{all:initial;position:fixed;right:16px;bottom:16px;z-index:2147483000;" +
    "font:15px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1b1f24}" +
    "button{font:inherit;cursor:pointer;border-radius:6px;border:1px solid #0b5cad;" +
    "padding:8px 14px;background:#fff;color:#0b5cad}" +
    "button:focus-visible{outline:3px solid #ffbf47;outline-offset:2px}" +
    ".call{background:#0b5cad;color:#fff;border-radius:22px;padding:10px 18px;" +
    "box-shadow:0 2px 10px rgba(0,0,0,.3)}" +
    ".call[aria-disabled=true]{background:#4a5360;border-color:#4a5360;cursor:default}" +
    ".invite{position:absolute;right:0;bottom:56px;width:240px;padding:12px;" +
    "background:#fff;border:1px solid #c9ced6;border-radius:8px;" +
    "box-shadow:0 4px 16px rgba(0,0,0,.25)}" +
    ".invite p{margin:0 0 10px}.invite .row{display:flex;gap:8px}" +
    ".invite .accept{background:#0b5cad;color:#fff}" +
    ".panel{position:fixed;right:16px;bottom:16px;width:380px;height:560px;" +
    "max-height:calc(100vh - 32px);display:flex;flex-direction:column;background:#fff;" +
    "border:1px solid #c9ced6;border-radius:10px;overflow:hidden;" +
    "box-shadow:0 6px 24px rgba(0,0,0,.3)}" +
    ".head{display:flex;justify-content:space-between;align-items:center;" +
    "padding:6px 10px;background:#0b5cad;color:#fff}" +
    ".head button{background:transparent;color:#fff;border-color:#fff;padding:2px 10px}" +
    "iframe{flex:1;width:100%;border:0}" +
    "[hidden]{display:none!important}" +
    "@media (max-width:600px){.panel{inset:0;width:auto;height:auto;max-height:none;" +
    "border-radius:0;border:0}}";

  function styleRoot(root) {
    try {
      if (
        typeof CSSStyleSheet === "function" &&
        "adoptedStyleSheets" in root &&
        typeof CSSStyleSheet.prototype.replaceSync === "function"
      ) {
        var sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
        root.adoptedStyleSheets = [sheet];
        return;
      }
    } catch (error) {
      // fall back to an element
    }
    var style = document.createElement("style");
    style.textContent = CSS;
    root.appendChild(style);
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function storageOf(name) {
    try {
      return window[name];
    } catch (error) {
      return null;
    }
  }

  function run(script) {
    var options = readOptions(script.src, script.dataset || {});
    if (options.origin === null || typeof fetch !== "function") return;
    var lang =
      options.lang ||
      document.documentElement.lang ||
      (navigator && navigator.language) ||
      "";
    var text = strings(lang);
    if (!options.lang && lang) options.lang = lang;
    var visitor = visitorId(storageOf("localStorage"), function (bytes) {
      return crypto.getRandomValues(bytes);
    });

    fetch(statusUrl(options.origin, options, visitor), {
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
    })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(
        function (answer) {
          whenBody(function () {
            show(options, text, visitor, statusView(answer, options.department));
          });
        },
        function () {
          // refused or unreachable: no button
        },
      );
  }

  function whenBody(callback) {
    if (document.body) {
      callback();
      return;
    }
    document.addEventListener("DOMContentLoaded", function () {
      if (document.body) callback();
    });
  }

  function show(options, text, visitor, view) {
    if (view === "hidden") return;
    var host = document.createElement("div");
    host.setAttribute("data-lgserver-widget", "");
    var root = host.attachShadow({ mode: "closed" });
    styleRoot(root);

    var button = element(
      "button",
      "call",
      view === "online"
        ? text.call
        : view === "offline"
          ? text.offline
          : text.unavailable,
    );
    button.type = "button";
    if (view === "unavailable") {
      button.setAttribute("aria-disabled", "true");
    } else {
      button.setAttribute("aria-haspopup", "dialog");
    }
    root.appendChild(button);

    var invite = null;
    var panel = null;
    var closeButton = null;

    function open() {
      hideInvite(false);
      var url = chatUrl(options.origin, options, visitor, String(location.href));
      if (options.mode === "window") {
        window.open(url, "lgserver-chat", "noopener,popup,width=420,height=640");
        return;
      }
      if (panel === null) {
        panel = element("div", "panel");
        panel.setAttribute("role", "dialog");
        panel.setAttribute("aria-label", text.panel);
        var head = element("div", "head");
        head.appendChild(element("span", "", text.panel));
        closeButton = element("button", "", "\u00d7");
        closeButton.type = "button";
        closeButton.setAttribute("aria-label", text.close);
        closeButton.title = text.close;
        closeButton.addEventListener("click", close);
        head.appendChild(closeButton);
        var frame = document.createElement("iframe");
        frame.title = text.panel;
        frame.src = url;
        frame.setAttribute("allow", "microphone; camera; clipboard-write");
        panel.appendChild(head);
        panel.appendChild(frame);
        panel.addEventListener("keydown", function (event) {
          if (event.key === "Escape") close();
        });
        root.appendChild(panel);
      }
      panel.hidden = false;
      button.hidden = true;
      closeButton.focus();
    }

    // closing only hides the panel: the chat goes on in its frame
    function close() {
      if (panel === null) return;
      panel.hidden = true;
      button.hidden = false;
      button.focus();
    }

    function hideInvite(remember) {
      if (invite === null) return;
      invite.remove();
      invite = null;
      if (remember) {
        try {
          sessionStorage.setItem(DISMISSED_KEY, "1");
        } catch (error) {
          // not remembered: the invitation comes again on the next page
        }
      }
    }

    if (view !== "unavailable") button.addEventListener("click", open);

    if (shouldInvite(options, view, storageOf("sessionStorage"))) {
      setTimeout(function () {
        if (invite !== null || (panel !== null && !panel.hidden)) return;
        invite = element("div", "invite");
        invite.setAttribute("role", "dialog");
        invite.setAttribute("aria-live", "polite");
        invite.setAttribute("aria-label", text.invite);
        invite.appendChild(element("p", "", text.invite));
        var row = element("div", "row");
        var accept = element("button", "accept", text.accept);
        accept.type = "button";
        accept.addEventListener("click", open);
        var dismiss = element("button", "dismiss", text.dismiss);
        dismiss.type = "button";
        dismiss.addEventListener("click", function () {
          hideInvite(true);
          button.focus();
        });
        invite.addEventListener("keydown", function (event) {
          if (event.key === "Escape") {
            hideInvite(true);
            button.focus();
          }
        });
        row.appendChild(accept);
        row.appendChild(dismiss);
        invite.appendChild(row);
        root.appendChild(invite);
      }, options.inviteAfter * 1000);
    }

    document.body.appendChild(host);
  }

  try {
    var current = document.currentScript;
    if (!current || !current.src) {
      current = document.querySelector('script[src$="/widget.js"]');
    }
    if (current && current.src) run(current);
  } catch (error) {
    // a hostile page must not break, nor be broken by, the button
  }
})();
