// Shared by every page: JSON calls that carry the CSRF token, messages, small DOM helpers,
// and the page's language (issue #15; web/i18n.py says how texts are marked).

// The frame carries the catalogue of the user's language (web/language.py): no inline
// script (the CSP forbids it) and no second request before a page can draw.
const catalogue = JSON.parse(document.documentElement.dataset.messages
  || '{"language":"en","plural":["one","other"],"messages":{}}');
export const language = catalogue.language;
const pluralRules = new Intl.PluralRules(language);
const countFormat = new Intl.NumberFormat(language, { useGrouping: false }); // 1000 tags, as before

function fill(text, values) {
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

// t("Device {device} is down", { device }): the text in the page's language, or the
// English msgid when the catalogue has no translation.
export function t(msgid, values = {}) {
  const translated = catalogue.messages[msgid];
  return fill(typeof translated === "string" ? translated : msgid, values);
}

// tn("{n} alarm", "{n} alarms", count, values): the plural form the language gives count;
// {n} is the count formatted for the language.
export function tn(singular, plural, n, values = {}) {
  const forms = catalogue.messages[singular];
  let text = n === 1 ? singular : plural;
  if (Array.isArray(forms)) {
    const index = catalogue.plural.indexOf(pluralRules.select(n));
    text = forms[index >= 0 ? index : forms.length - 1];
  }
  return fill(text, { n: countFormat.format(n), ...values });
}

const csrfToken = document.querySelector('meta[name="csrf-token"]').content;
export const role = document.body.dataset.role;
const RANKS = ["viewer", "operator", "engineer", "admin"];

// The roles in the page's language (web/layout.py names them in the header alike).
const ROLE_NAMES = { viewer: t("viewer"), operator: t("operator"), engineer: t("engineer"), admin: t("admin") };

export function roleName(name) {
  return ROLE_NAMES[name] || name;
}

// The fixed words the JSON API answers in English (gateway/page/views.py: quality, the
// gateway's and MQTT's state), as people read them; other texts are shown as they come.
const SERVER_WORDS = {
  "Good": t("Good"),
  "Uncertain (last usable value)": t("Uncertain (last usable value)"),
  "Bad (waiting for initial data)": t("Bad (waiting for initial data)"),
  "Bad (communication failure)": t("Bad (communication failure)"),
  "Bad (device failure)": t("Bad (device failure)"),
  "Bad (configuration error)": t("Bad (configuration error)"),
  "ok": t("ok"),
  "starting": t("starting"),
  "connected": t("connected"),
  "disconnected (alarms are kept)": t("disconnected (alarms are kept)"),
  "no model": t("no model"),
};

export function serverWords(text) {
  return SERVER_WORDS[text] ?? text;
}

const MODEL_KINDS = { anomaly: t("anomaly model"), rul: t("remaining-useful-life model") };

export function modelKind(kind) {
  return MODEL_KINDS[kind] || kind;
}

// A model's status ("ok: <version>", "rejected: <reason>"): its first word translated.
export function modelStatus(status) {
  if (typeof status !== "string") return status ?? "";
  const [word, ...rest] = status.split(": ");
  const named = { ok: t("ok"), rejected: t("rejected") }[word];
  return named === undefined ? status : [named, ...rest].join(": ");
}

export function may(needed) {
  return RANKS.indexOf(role) >= RANKS.indexOf(needed);
}

export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : t("the gateway answered {status}", { status }));
    this.status = status;
    this.body = body;
  }
}

async function call(method, url, body, headers = {}) {
  const init = { method, headers: { "X-CSRF-Token": csrfToken, ...headers } };
  if (body instanceof FormData) {
    init.body = body;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  const response = await fetch(url, init);
  const type = response.headers.get("Content-Type") || "";
  const answer = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok && response.status !== 422) {
    throw new ApiError(response.status, typeof answer === "object" ? answer : { error: answer });
  }
  return answer;
}

export const getJson = (url) => call("GET", url);
export const postJson = (url, body, headers) => call("POST", url, body === undefined ? {} : body, headers);
export const putJson = (url, body, headers) => call("PUT", url, body, headers);
export const deleteJson = (url) => call("DELETE", url);
export const postForm = (url, form) => call("POST", url, form);

export function notify(text, kind = "error") {
  const notice = document.getElementById("notice");
  notice.textContent = text;
  notice.className = `message ${kind}`;
}

// el("td", {class: "x", dataset: {key: "a"}}, "text", child...)
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "on") for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function table(headings, rows) {
  return el("table", {},
    el("thead", {}, el("tr", {}, ...headings.map((h) => el("th", {}, h)))),
    el("tbody", {}, ...rows));
}

export function formatValue(value) {
  if (value === null || value === undefined) return "";
  // Six significant digits, without the trailing zeros toPrecision keeps (0.11, not 0.110000).
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
  return String(value);
}

// Numbers for people (issue #11), on every page that shows a measurement: 3 significant
// digits ("6 h", not "6.00484 h"), integers as they are, the unit always after the number
// ("" leaves it out), "–" for no value. formatValue above keeps a value's digits, where
// they matter (a register's decodings, a tag being edited).
// Written the page language's way (Russian: 6,5 ч), without grouping (1234, as a register
// holds it); the units of time in the language's words, other units as configured.
const TIME_UNITS = { ms: t("ms"), s: t("s"), min: t("min"), h: t("h"), d: t("d") };
const BOOLEANS = { true: t("true"), false: t("false") };
const threeDigits = new Intl.NumberFormat(language, { maximumSignificantDigits: 3, useGrouping: false });
const wholeNumber = new Intl.NumberFormat(language, { maximumFractionDigits: 0, useGrouping: false });

export function formatNumber(value, unit = "") {
  if (value === null || value === undefined) return "–";
  let text = typeof value === "boolean" ? BOOLEANS[value] : String(value);
  if (typeof value === "number" && Number.isFinite(value)) {
    text = Number.isInteger(value) ? wholeNumber.format(value) : threeDigits.format(value);
  }
  return unit ? `${text} ${TIME_UNITS[unit] || unit}` : text;
}

// "Tue 14:00" in the browser's time zone and the page's language; the date as well when
// more than six days away.
export function formatDue(iso, now = new Date()) {
  const due = new Date(iso);
  const clock = due.toLocaleTimeString(language, { hour: "2-digit", minute: "2-digit", hour12: false });
  const far = Math.abs(due - now) > 6 * 24 * 3600 * 1000;
  const day = due.toLocaleDateString(language, far
    ? { weekday: "short", day: "numeric", month: "short" } : { weekday: "short" });
  return `${day} ${clock}`;
}

// The Trends page showing an asset's inputs and outputs, or the series of `keys`
// (docs/web.md, "Trends": its URL form, issue #11).
export function trendsUrl({ asset, keys = [] }) {
  const query = new URLSearchParams();
  if (asset) query.set("asset", asset);
  for (const key of keys) query.append("key", key);
  return `/trends?${query}`;
}

// A time in the browser's time zone, written the page language's way.
export function formatTime(iso) {
  return iso ? new Date(iso).toLocaleString(language) : "";
}

// Server-sent events: `handlers` maps an event name to a function of its parsed data.
export function listen(url, handlers) {
  const source = new EventSource(url);
  for (const [name, handler] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => handler(JSON.parse(event.data)));
  }
  source.onerror = () => document.body.classList.add("stale");
  source.onopen = () => document.body.classList.remove("stale");
  return source;
}

export function hideUnlessAllowed() {
  for (const node of document.querySelectorAll("[data-needs]")) {
    if (!may(node.dataset.needs)) node.hidden = true;
  }
}

// The header's language menu: the user's choice is kept with them (PUT /api/me/language)
// and the page is drawn again in it.
function offerLanguages() {
  const menu = document.getElementById("language");
  if (!menu) return;
  menu.addEventListener("change", async () => {
    try {
      await putJson("/api/me/language", { language: menu.value });
      window.location.reload();
    } catch (error) {
      notify(t("The language was not changed: {reason}", { reason: error.message }));
    }
  });
}

hideUnlessAllowed();
offerLanguages();
