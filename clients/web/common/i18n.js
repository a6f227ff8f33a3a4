/**
 * String tables: one table a language, keyed, English the fallback.
 *
 * A string may hold placeholders in braces, `{name}`, filled from the
 * parameters given to the translator; a placeholder with no parameter
 * is left as it is, so a missing value shows rather than vanishes.
 *
 * @module i18n
 */

/**
 * The language to use: the first of `wanted` (BCP 47 tags such as
 * `de-AT`, tried whole and then by their first part) that has a table.
 *
 * @param {Record<string, object>} tables
 * @param {Iterable<string | null | undefined>} wanted
 * @returns {string}
 */
export function pickLanguage(tables, wanted) {
  for (const tag of wanted) {
    if (typeof tag !== "string" || tag.length === 0) {
      continue;
    }
    const lower = tag.toLowerCase();
    if (Object.hasOwn(tables, lower)) {
      return lower;
    }
    const base = lower.split("-")[0];
    if (Object.hasOwn(tables, base)) {
      return base;
    }
  }
  return "en";
}

/**
 * A function `t(key, params)` over the table of `lang`, falling back to
 * English, then to the key itself.
 *
 * @param {Record<string, Record<string, string>>} tables
 * @param {string} lang
 */
export function translator(tables, lang) {
  const table = Object.hasOwn(tables, lang) ? tables[lang] : tables.en;
  const english = tables.en;
  return (key, params = {}) => {
    const template = Object.hasOwn(table, key)
      ? table[key]
      : Object.hasOwn(english, key)
        ? english[key]
        : key;
    return template.replace(/\{(\w+)\}/gu, (whole, name) =>
      Object.hasOwn(params, name) ? String(params[name]) : whole,
    );
  };
}

/**
 * What each table lacks, or holds beyond English, and placeholders that
 * differ from English's: `{lang: [problem, ...]}`, empty when complete.
 *
 * @param {Record<string, Record<string, string>>} tables
 */
export function tableProblems(tables) {
  const problems = {};
  const english = tables.en;
  const holes = (template) => [...template.matchAll(/\{(\w+)\}/gu)].map((m) => m[1]);
  for (const [lang, table] of Object.entries(tables)) {
    const found = [];
    for (const key of Object.keys(english)) {
      if (!Object.hasOwn(table, key)) {
        found.push(`missing ${key}`);
      } else if (typeof table[key] !== "string" || table[key].length === 0) {
        found.push(`empty ${key}`);
      } else if (
        holes(table[key]).sort().join() !== holes(english[key]).sort().join()
      ) {
        found.push(`placeholders of ${key}`);
      }
    }
    for (const key of Object.keys(table)) {
      if (!Object.hasOwn(english, key)) {
        found.push(`extra ${key}`);
      }
    }
    if (found.length > 0) {
      problems[lang] = found;
    }
  }
  return problems;
}
