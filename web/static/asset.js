// An asset's page (/assets/<name>): health at a glance, pushed every second by the server
// (`asset` events of /api/events?asset=<name>). Issue #11.
import { el, formatDue, formatNumber, formatTime, getJson, listen, modelKind, modelStatus, notify, serverWords, t, table, trendsUrl } from "./common.js";
import { alarmRow, ALARM_HEADINGS, eventRow, EVENT_HEADINGS } from "./alarm_view.js";
import { canAdd, entryForm, entryTable, TEXT as MAINTENANCE } from "./maintenance_view.js";

const app = document.getElementById("app");
const name = decodeURIComponent(location.pathname.split("/").pop());
const SPARK_S = 10 * 60; // the score's small trend: the last ten minutes
const SVG = "http://www.w3.org/2000/svg";
let spark = []; // [time ms, score], oldest first
const MAINTENANCE_SHOWN = 20; // the newest entries; the Maintenance log page has them all
// Redrawn every second: the live part only, so that a form being filled in below stays.
const live = el("div", { id: "live" });
const maintenanceEntries = el("div", { id: "maintenance-entries" });
const maintenanceForm = canAdd() ? entryForm({ asset: name, saved: loadMaintenance }) : null;
app.replaceChildren(live,
  el("section", { id: "maintenance" }, el("h2", {}, MAINTENANCE.title), maintenanceForm, maintenanceEntries,
    el("p", {}, el("a", { href: `/maintenance?asset=${encodeURIComponent(name)}` }, MAINTENANCE.all))),
  el("section", { id: "labels" }, el("h2", {}, t("Labels")),
    el("p", { class: "placeholder" }, t("Labels will be shown here."))));

document.querySelector("h1").textContent = name;
document.title = `Uvelka - ${name}`;

function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

// The score against its threshold: the threshold sits mid-bar, so both sides read at once.
function scoreBar(anomaly) {
  const top = anomaly.threshold > 0 ? 2 * anomaly.threshold : (anomaly.range || [0, 1])[1] || 1;
  const share = anomaly.score === null ? 0 : Math.max(0, Math.min(1, anomaly.score / top));
  const over = anomaly.threshold !== null && anomaly.score !== null && anomaly.score > anomaly.threshold;
  return el("div", { class: `bar ${over ? "bad" : "good"}`, role: "meter", "aria-label": t("anomaly score"),
                     "aria-valuemin": "0", "aria-valuemax": String(top), "aria-valuenow": String(anomaly.score ?? 0) },
    el("div", { class: "fill", style: `width: ${(share * 100).toFixed(1)}%` }),
    anomaly.threshold === null ? null : el("div", { class: "limit", style: `left: ${(Math.min(1, anomaly.threshold / top) * 100).toFixed(1)}%` }));
}

function sparkline(threshold) {
  const width = 300, height = 60;
  const box = svg("svg", { class: "spark", viewBox: `0 0 ${width} ${height}`, role: "img",
                           "aria-label": t("anomaly score, last ten minutes") });
  if (spark.length === 0) return box;
  const end = spark[spark.length - 1][0], start = end - SPARK_S * 1000;
  const top = Math.max(threshold ?? 0, ...spark.map(([, v]) => v)) * 1.1 || 1;
  const x = (t) => ((t - start) / (SPARK_S * 1000)) * width;
  const y = (v) => height - (v / top) * height;
  if (threshold !== null) {
    box.append(svg("line", { class: "limit", x1: 0, x2: width, y1: y(threshold), y2: y(threshold) }));
  }
  box.append(svg("polyline", { points: spark.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ") }));
  return box;
}

function remember(anomaly) {
  if (!anomaly || anomaly.score === null || !anomaly.time) return;
  const time = Date.parse(anomaly.time);
  if (spark.length && spark[spark.length - 1][0] >= time) return;
  spark.push([time, anomaly.score]);
  while (spark.length && spark[0][0] < time - SPARK_S * 1000) spark.shift();
}

function anomalyPanel(anomaly) {
  if (!anomaly) return null;
  const verdict = anomaly.anomaly === null ? t("no score yet") : anomaly.anomaly ? t("anomalous") : t("normal");
  return el("section", { id: "anomaly", class: "panel" },
    el("h2", {}, t("Anomaly score")),
    el("p", { class: "figure" },
      el("span", { id: "score" }, formatNumber(anomaly.score)),
      ` ${t("of threshold")} `, el("span", { id: "threshold" }, formatNumber(anomaly.threshold)),
      `: ${verdict}`),
    scoreBar(anomaly), sparkline(anomaly.threshold),
    anomaly.good ? null : el("p", { class: "error-text" }, serverWords(anomaly.quality)));
}

function rulPanel(rul) {
  if (!rul) return null;
  const due = rul.due ? t(": due {time}", { time: formatDue(rul.due) }) : "";
  // The model's prediction interval (issue #13); a model file without one shows none.
  const range = rul.low == null || rul.high == null ? ""
    : ` (${formatNumber(rul.low)}–${formatNumber(rul.high, rul.unit)})`;
  return el("section", { id: "rul", class: "panel" },
    el("h2", {}, t("Remaining useful life")),
    el("p", { class: "figure", dataset: { due: rul.due || "", time: rul.time || "", value: rul.value ?? "",
                                          low: rul.low ?? "", high: rul.high ?? "" } },
      rul.value === null ? t("no estimate yet")
        : t("about {value}{range}{due}", { value: formatNumber(rul.value, rul.unit), range, due })),
    rul.good ? null : el("p", { class: "error-text" }, serverWords(rul.quality)));
}

function render(asset) {
  remember(asset.anomaly);
  const keys = asset.inputs.map((i) => i.key)
    .concat(asset.anomaly ? [asset.anomaly.key] : [], asset.rul ? [asset.rul.key] : []);
  const models = asset.models.map((m) => el("tr", { class: m.status.startsWith("ok") ? "" : "bad" },
    el("td", {}, modelKind(m.kind)), el("td", {}, m.version || t("no model")), el("td", {}, modelStatus(m.status))));
  const inputs = asset.inputs.map((i) => el("tr", { class: i.good ? "" : "bad", dataset: { input: i.key } },
    el("td", {}, i.signal), el("td", {}, i.key), el("td", { class: "number" }, formatNumber(i.value, i.unit)),
    el("td", {}, serverWords(i.quality)), el("td", {}, formatTime(i.time))));
  live.replaceChildren(
    el("p", {}, el("a", { href: trendsUrl({ asset: asset.name }), id: "trends-link", dataset: { keys: keys.join(",") } },
      t("Trends of {asset}'s inputs and outputs", { asset: asset.name }))),
    el("div", { class: "panels" }, anomalyPanel(asset.anomaly), rulPanel(asset.rul)),
    el("section", {}, el("h2", {}, t("Models")), table([t("Kind"), t("Version"), t("Status")], models)),
    el("section", {}, el("h2", {}, t("Alarms")), table(ALARM_HEADINGS, asset.alarms.map((a) => alarmRow(a)))),
    el("section", {}, el("h2", {}, t("Recent alarm events")), table(EVENT_HEADINGS, asset.recent.map(eventRow))),
    el("section", {}, el("h2", {}, t("Inputs")), table([t("Signal"), t("Tag"), t("Value"), t("Quality"), t("Time")], inputs)));
}

// The asset's newest maintenance entries (issue #12), again after each change.
async function loadMaintenance() {
  try {
    const found = await getJson(`/api/maintenance?asset=${encodeURIComponent(name)}&limit=${MAINTENANCE_SHOWN}`);
    maintenanceEntries.replaceChildren(entryTable(found.entries, { form: maintenanceForm, changed: loadMaintenance }));
  } catch (error) {
    notify(error.message);
  }
}

// The score's last minutes from the history, when it is kept; live values follow.
async function loadSpark() {
  const end = new Date(), start = new Date(end - SPARK_S * 1000);
  const query = new URLSearchParams({ key: `${name}.AnomalyScore`, start: start.toISOString(),
                                      end: end.toISOString(), points: "120" });
  try {
    const [series] = await getJson(`/api/history?${query}`);
    if (!series) return;
    const old = series.times.map((t, i) => [Date.parse(t), series.mean[i]]).filter(([, v]) => v !== null);
    spark = old.concat(spark.filter(([t]) => !old.length || t > old[old.length - 1][0]));
  } catch {
    // No history (turned off, or no score yet): the trend starts with the live values.
  }
}

loadSpark();
loadMaintenance();
listen(`/api/events?asset=${encodeURIComponent(name)}`, {
  asset: render,
  gone: (answer) => notify(answer.error),
});
