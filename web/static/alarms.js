// Alarms: every alarm with its state, acknowledge with a comment, shelve; recent events.
// Pushed by the overview stream's tick: the list is read again each second while shown.
import { el, formatTime, formatValue, getJson, listen, may, notify, postJson, table } from "./common.js";

const app = document.getElementById("app");
const operator = may("operator");
let busy = false;

function actions(alarm) {
  if (!operator) return "";
  const base = `/api/alarms/${encodeURIComponent(alarm.name)}`;
  const comment = el("input", { class: "comment", placeholder: "comment", "aria-label": `comment for ${alarm.name}` });
  const run = (url, body) => {
    busy = true;
    postJson(url, body).then(() => notify(`${alarm.name}: done`, "ok"), (error) => notify(error.message))
      .finally(() => { busy = false; refresh(); });
  };
  return el("span", { class: "inline" }, comment,
    alarm.acked ? null : el("button", { type: "button", class: "acknowledge",
      on: { click: () => run(`${base}/acknowledge`, { event_id: alarm.event_id, comment: comment.value }) } }, "Acknowledge"),
    alarm.shelved
      ? el("button", { type: "button", class: "secondary", on: { click: () => run(`${base}/unshelve`) } }, "Unshelve")
      : el("button", { type: "button", class: "secondary", on: { click: () => run(`${base}/shelve`, { hours: 8, comment: comment.value }) } }, "Shelve 8 h"));
}

function render(answer) {
  const rows = answer.alarms.map((a) => el("tr", { dataset: { alarm: a.name, state: a.state }, class: a.active ? "bad" : "" },
    el("td", {}, a.name), el("td", {}, a.source), el("td", { class: "state" }, a.state + (a.shelved ? " (shelved)" : "")),
    el("td", {}, a.severity), el("td", {}, formatValue(a.value)), el("td", {}, a.message),
    el("td", {}, formatTime(a.time)), el("td", {}, actions(a))));
  const recent = answer.recent.map((e) => el("tr", {},
    el("td", {}, formatTime(e.time)), el("td", {}, e.alarm), el("td", {}, e.kind),
    el("td", {}, e.user || ""), el("td", {}, e.comment || ""), el("td", {}, formatValue(e.value))));
  app.replaceChildren(
    el("h2", {}, "Alarms"), table(["Alarm", "Source", "State", "Severity", "Value", "Message", "Since", ""], rows),
    el("h2", {}, "Recent events"), table(["Time", "Alarm", "Event", "User", "Comment", "Value"], recent));
}

async function refresh() {
  // Typing a comment must not be wiped by the next refresh.
  if (busy || document.activeElement?.classList.contains("comment")) return;
  try {
    render(await getJson("/api/alarms"));
  } catch (error) {
    notify(error.message);
  }
}

refresh();
listen("/api/events", { overview: refresh });
