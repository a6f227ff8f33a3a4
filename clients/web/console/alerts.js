/**
 * How the console calls for attention when a call comes in: a short
 * beep made with WebAudio (no sound file), and a desktop notification
 * while the console is not in view. Both need the operator's consent,
 * given by a click: the audio context starts on the login, the
 * notification permission is asked by its own button.
 *
 * @module alerts
 */

let audio = null;

/** Prepare the sound; call from a user gesture (the login click). */
export function unlockSound() {
  const Context = globalThis.AudioContext ?? globalThis.webkitAudioContext;
  if (audio !== null || typeof Context !== "function") {
    return;
  }
  try {
    audio = new Context();
  } catch {
    audio = null;
  }
}

/** Two short tones, quiet; nothing when sound is not available. */
export function beep() {
  if (audio === null) {
    return;
  }
  try {
    if (audio.state === "suspended") {
      audio.resume().catch(() => {});
    }
    const start = audio.currentTime;
    for (const [offset, frequency] of [
      [0, 880],
      [0.18, 1175],
    ]) {
      const oscillator = audio.createOscillator();
      const gain = audio.createGain();
      oscillator.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, start + offset);
      gain.gain.exponentialRampToValueAtTime(0.15, start + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + offset + 0.15);
      oscillator.connect(gain).connect(audio.destination);
      oscillator.start(start + offset);
      oscillator.stop(start + offset + 0.16);
    }
  } catch {
    // no sound: the queue and the title still show the call
  }
}

/** Whether desktop notifications can be asked for and are not yet. */
export function notificationsAskable() {
  return (
    typeof globalThis.Notification === "function" &&
    globalThis.Notification.permission === "default"
  );
}

/** Ask for desktop notifications; from a click. */
export async function askNotifications() {
  if (!notificationsAskable()) {
    return false;
  }
  try {
    return (await globalThis.Notification.requestPermission()) === "granted";
  } catch {
    return false;
  }
}

/**
 * A desktop notification, when allowed and the console is not in view.
 *
 * @param {string} title
 * @param {string} body
 * @param {string} tag Replaces an earlier notification of the same tag.
 */
export function notify(title, body, tag) {
  const Notice = globalThis.Notification;
  if (typeof Notice !== "function" || Notice.permission !== "granted") {
    return;
  }
  if (document.visibilityState === "visible" && document.hasFocus()) {
    return;
  }
  try {
    const shown = new Notice(title, { body, tag });
    shown.onclick = () => {
      window.focus();
      shown.close();
    };
  } catch {
    // some browsers allow notifications from service workers only
  }
}
