// Alarms: every alarm with its state in words, filters, acknowledge with a comment, shelve;
// recent events. Pushed by the overview stream's tick: the list is read again each second.
import { el, getJson, listen, may, notify, postJson, t, table } from "./common.js";
import { alarmRow, ALARM_HEADINGS, countsText, eventRow, EVENT_HEADINGS } from "./alarm_view.js";
// Verdicts on an alarm's latest activation (issue #12): operators and engineers.
import { verdictForm } from "./label_view.js";

const app = document.getElementById("app");
const operator = may("operator");
let busy = false;
let faultCodes = []; // the codes used so far, offered first in the verdict form

// Each ticked filter narrows the list; "by" keeps the alarms of one device or asset.
const FILTERS = {
  active: [t("Active"), (a) => a.active],
  unacknowledged: [t("Not acknowledged"), (a) => !a.acked],
  shelved: [t("Shelved"), (a) => a.shelved],
};
const boxes = Object.fromEntries(Object.entries(FILTERS).map(([key, [label]]) =>
  [key, el("input", { type: "checkbox", id: `filter-${key}`, on: { change: refresh } })]));
const owner = el("select", { id: "filter-owner", on: { change: refresh } }, el("option", { value: "" }, t("all")));
const counted = el("p", { id: "counts" });
const listed = el("div", { id: "alarm-list" });
// What an operator is writing in the list (a comment, a verdict and its fault code) must not
// be wiped by the next refresh: the list holds still for EDIT_HOLD_MS after the last edit, or
// until the action is sent, then refreshes.
const EDIT_HOLD_MS = 30000;
let editedAt = 0;
let heldRefresh = null;
const edited = () => { editedAt = Date.now(); };
listed.addEventListener("input", edited);
listed.addEventListener("change", edited);
app.replaceChildren(
  counted,
  el("fieldset", { class: "filters" }, el("legend", {}, t("Show only")),
    ...Object.entries(FILTERS).map(([key, [label]]) =>
      el("label", { for: `filter-${key}` }, boxes[key], ` ${label}`)),
    el("label", { for: "filter-owner" }, `${t("Device or asset")} `, owner)),
  listed);

function actions(alarm) {
  if (!operator) return "";
  const base = `/api/alarms/${encodeURIComponent(alarm.name)}`;
  const comment = el("input", { class: "comment", placeholder: t("comment"), "aria-label": t("comment for {alarm}", { alarm: alarm.name }) });
  const run = (url, body) => {
    busy = true;
    postJson(url, body).then(() => notify(t("{alarm}: done", { alarm: alarm.name }), "ok"), (error) => notify(error.message))
      .finally(() => { busy = false; editedAt = 0; refresh(); });
  };
  return el("span", { class: "inline" }, comment,
    alarm.acked ? null : el("button", { type: "button", class: "acknowledge",
      on: { click: () => run(`${base}/acknowledge`, { event_id: alarm.event_id, comment: comment.value }) } }, t("Acknowledge")),
    alarm.shelved
      ? el("button", { type: "button", class: "secondary", on: { click: () => run(`${base}/unshelve`) } }, t("Unshelve"))
      : el("button", { type: "button", class: "secondary", on: { click: () => run(`${base}/shelve`, { hours: 8, comment: comment.value }) } }, t("Shelve 8 h")),
    verdictForm({ alarm: alarm.name, url: `${base}/verdict`, codes: faultCodes,
      done: () => { editedAt = 0; refresh(); } }));
}

function ownerChoices(alarms) {
  const owners = [...new Set(alarms.map((a) => a.owner))].sort();
  const shown = [...owner.options].slice(1).map((o) => o.value);
  if (owners.join("\n") === shown.join("\n")) return;
  const chosen = owner.value;
  owner.replaceChildren(el("option", { value: "" }, t("all")), ...owners.map((o) => el("option", { value: o }, o)));
  owner.value = owners.includes(chosen) ? chosen : "";
}

function render(answer) {
  counted.textContent = countsText(answer.counts);
  ownerChoices(answer.alarms);
  const tests = Object.entries(FILTERS).filter(([key]) => boxes[key].checked).map(([, [, test]]) => test);
  const shown = answer.alarms.filter((a) => tests.every((test) => test(a)) && (!owner.value || a.owner === owner.value));
  listed.replaceChildren(
    el("h2", {}, t("Alarms ({shown} of {count} shown)", { shown: shown.length, count: answer.alarms.length })),
    table([...ALARM_HEADINGS, ""], shown.map((a) => alarmRow(a, el("td", {}, actions(a))))),
    el("h2", {}, t("Recent events")), table(EVENT_HEADINGS, answer.recent.map(eventRow)));
}

async function refresh() {
  if (busy || document.activeElement?.classList.contains("comment")) return;
  const holding = editedAt + EDIT_HOLD_MS - Date.now();
  if (holding > 0) {
    heldRefresh ??= setTimeout(() => { heldRefresh = null; refresh(); }, holding);
    return;
  }
  try {
    render(await getJson("/api/alarms"));
  } catch (error) {
    notify(error.message);
  }
}

if (operator) getJson("/api/verdicts?limit=1").then((found) => { faultCodes = found.fault_codes; }, () => {});
refresh();
listen("/api/events", { overview: refresh });
