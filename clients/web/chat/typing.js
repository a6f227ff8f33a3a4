/**
 * The customer's typing preview (`chat.typing` with the text), sent at
 * most once an interval while they type, and once more with the last
 * text when they pause, so the operator sees what is there without an
 * event a keystroke. Time is passed in, in seconds.
 *
 * @module typing
 */

export class TypingThrottle {
  /** @param {number} [interval] Seconds between two previews. */
  constructor(interval = 0.3) {
    this.interval = interval;
    this._lastSent = -Infinity;
    this._lastText = null;
    this._pending = null;
  }

  /**
   * The text in the message box changed.
   *
   * @param {string} text
   * @param {number} now
   * @returns {{send: string | null, wakeAt: number | null}} What to send
   *   now, and when to call {@link TypingThrottle#wake}.
   */
  input(text, now) {
    if (text === this._lastText) {
      this._pending = null;
      return { send: null, wakeAt: null };
    }
    if (now - this._lastSent >= this.interval) {
      return this._send(text, now);
    }
    this._pending = text;
    return { send: null, wakeAt: this._lastSent + this.interval };
  }

  /**
   * The time asked for has come.
   *
   * @param {number} now
   */
  wake(now) {
    if (this._pending === null) {
      return { send: null, wakeAt: null };
    }
    if (now - this._lastSent < this.interval) {
      return { send: null, wakeAt: this._lastSent + this.interval };
    }
    return this._send(this._pending, now);
  }

  /** The message was sent: the preview is empty now, on both sides. */
  reset() {
    this._pending = null;
    this._lastText = "";
  }

  _send(text, now) {
    this._pending = null;
    this._lastText = text;
    this._lastSent = now;
    return { send: text, wakeAt: null };
  }
}
