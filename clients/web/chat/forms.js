/**
 * Forms an operator pushes to the customer (`chat.form`), as a model the
 * view renders field by field and that checks the answers before they
 * go back with `chat.form_answer`.
 *
 * A form from the server is `{name, title, fields: [field]}`, a field
 * `{name, label, type, required?, options?, placeholder?, min?, max?,
 * max_length?}` (docs/chat-api.md, "Forms"). Fields of another type,
 * without a name, or named twice are left out; a select without options
 * too. Every text is kept as text: the view sets it with textContent.
 *
 * @module forms
 */

/** The field types a form may hold. */
export const FIELD_TYPES = Object.freeze([
  "text",
  "email",
  "number",
  "select",
  "checkbox",
  "textarea",
]);

const MAX_FIELDS = 50;
const MAX_OPTIONS = 200;
const DEFAULT_MAX_LENGTH = { text: 500, email: 254, textarea: 5000, number: 64 };
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/u;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/u;

const str = (value, fallback = "") =>
  typeof value === "string" ? value.slice(0, 500) : fallback;
const num = (value) =>
  typeof value === "number" && Number.isFinite(value) ? value : null;

function option(raw) {
  if (typeof raw === "string") {
    return { value: raw, label: raw };
  }
  if (raw !== null && typeof raw === "object" && typeof raw.value === "string") {
    return { value: raw.value, label: str(raw.label, raw.value) };
  }
  return null;
}

function field(raw) {
  if (raw === null || typeof raw !== "object") {
    return null;
  }
  const { name, type } = raw;
  if (typeof name !== "string" || !NAME.test(name) || !FIELD_TYPES.includes(type)) {
    return null;
  }
  const model = {
    name,
    type,
    label: str(raw.label, name),
    required: raw.required === true,
    placeholder: str(raw.placeholder),
    options: [],
    min: num(raw.min),
    max: num(raw.max),
    maxLength: DEFAULT_MAX_LENGTH[type] ?? null,
  };
  const limit = num(raw.max_length);
  if (limit !== null && limit > 0 && model.maxLength !== null) {
    model.maxLength = Math.min(Math.floor(limit), model.maxLength);
  }
  if (type === "select") {
    const options = Array.isArray(raw.options) ? raw.options : [];
    model.options = options.slice(0, MAX_OPTIONS).map(option).filter(Boolean);
    if (model.options.length === 0) {
      return null;
    }
  }
  return model;
}

/**
 * The model of a form the server sent, or null when it is unusable (no
 * name, or no field that can be shown).
 *
 * @param {any} form
 */
export function formModel(form) {
  if (form === null || typeof form !== "object" || typeof form.name !== "string") {
    return null;
  }
  const seen = new Set();
  const fields = [];
  for (const raw of Array.isArray(form.fields)
    ? form.fields.slice(0, MAX_FIELDS)
    : []) {
    const model = field(raw);
    if (model !== null && !seen.has(model.name)) {
      seen.add(model.name);
      fields.push(model);
    }
  }
  if (fields.length === 0) {
    return null;
  }
  return { name: form.name, title: str(form.title, form.name), fields };
}

/**
 * Check what the customer filled in.
 *
 * @param {ReturnType<typeof formModel>} model
 * @param {Record<string, string | boolean>} values What each control
 *   holds: a string, or a boolean for a checkbox.
 * @returns {{answers: Record<string, string | number | boolean | null>,
 *   errors: Record<string, "required" | "email" | "number" | "choice" | "long">}}
 *   The answers to send when `errors` is empty.
 */
export function checkAnswers(model, values) {
  const answers = {};
  const errors = {};
  for (const item of model.fields) {
    const raw = values[item.name];
    if (item.type === "checkbox") {
      const checked = raw === true;
      if (item.required && !checked) {
        errors[item.name] = "required";
      }
      answers[item.name] = checked;
      continue;
    }
    const value = typeof raw === "string" ? raw.trim() : "";
    if (value === "") {
      if (item.required) {
        errors[item.name] = "required";
      }
      answers[item.name] = null;
      continue;
    }
    if (item.maxLength !== null && value.length > item.maxLength) {
      errors[item.name] = "long";
    } else if (item.type === "email" && !EMAIL.test(value)) {
      errors[item.name] = "email";
    } else if (item.type === "number") {
      const parsed = Number(value);
      if (
        !Number.isFinite(parsed) ||
        (item.min !== null && parsed < item.min) ||
        (item.max !== null && parsed > item.max)
      ) {
        errors[item.name] = "number";
      } else {
        answers[item.name] = parsed;
        continue;
      }
    } else if (
      item.type === "select" &&
      !item.options.some((choice) => choice.value === value)
    ) {
      errors[item.name] = "choice";
    }
    answers[item.name] = value;
  }
  return { answers, errors };
}

/** Whether `value` looks like an e-mail address. */
export function isEmail(value) {
  return typeof value === "string" && value.length <= 254 && EMAIL.test(value.trim());
}
