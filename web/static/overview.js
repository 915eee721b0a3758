// Overview: gateway health, devices and assets, pushed every second by the server.
// Rows are kept and only their changed cells rewritten, and devices are shown a page at a
// time, those needing attention first: a change in a table lays out all its rows again,
// and 500 of them every second kept the browser busy ~15 % (issue #11's budget is 20 %).
import { el, formatNumber, formatTime, listen, serverWords, t, table, tn } from "./common.js";
import { countsText } from "./alarm_view.js";

const app = document.getElementById("app");
const PAGE_ROWS = 50;
let first = 0; // the first device shown
let latest = null;
const summary = el("p", { id: "summary" });
const problems = el("div", { id: "problems" });
// The fleet links (issue #16), shown when configured.
const sparkplug = el("p", { id: "sparkplug", hidden: true });
const exported = el("p", { id: "export", hidden: true });
const deviceTable = table([t("Device"), t("Link"), t("Round trip"), t("Error rate"), t("Polls / errors"), t("Last error"), t("Standing alarms")], []);
const assetTable = table([t("Asset"), t("Anomaly score / threshold"), t("Anomaly"), t("Remaining useful life"), t("Standing alarms")], []);
const shown = el("span", { id: "devices-shown" });
const turn = (by) => () => { first = Math.max(0, first + by * PAGE_ROWS); if (latest) render(latest); };
const previous = el("button", { type: "button", class: "secondary", on: { click: turn(-1) } }, t("Previous"));
const next = el("button", { type: "button", class: "secondary", on: { click: turn(1) } }, t("Next"));
app.replaceChildren(
  el("section", { id: "health" }, el("h2", {}, t("Gateway")), summary, sparkplug, exported, problems),
  el("section", {}, el("h2", {}, t("Devices")), el("p", {}, shown, " ", previous, next), deviceTable),
  el("section", {}, el("h2", {}, t("Assets")), assetTable));

// Rows of `tbody` keyed by `dataset[key]`, one per item, in the items' order; `cells(item)`
// gives each cell's text, `first(item)` the first cell's content when new.
function sync(tbody, key, items, first, cells, good) {
  const rows = new Map([...tbody.rows].map((row) => [row.dataset[key], row]));
  let previous = null;
  for (const item of items) {
    let row = rows.get(item.name);
    const texts = cells(item);
    if (row === undefined) {
      row = el("tr", { dataset: { [key]: item.name } }, el("td", {}, first(item)), ...texts.map(() => el("td")));
    }
    rows.delete(item.name);
    texts.forEach((text, i) => {
      const cell = row.cells[i + 1];
      if (cell.textContent !== text) cell.textContent = text;
    });
    const kind = good(item) ? "good" : "bad";
    if (row.className !== kind) row.className = kind;
    if (row.previousSibling !== previous || row.parentNode !== tbody) {
      tbody.insertBefore(row, previous ? previous.nextSibling : tbody.firstChild);
    }
    previous = row;
  }
  for (const gone of rows.values()) gone.remove();
}

function scoreText(a) {
  if (a.anomaly_score === null) return "–";
  return a.anomaly_threshold === null ? formatNumber(a.anomaly_score)
    : `${formatNumber(a.anomaly_score)} / ${formatNumber(a.anomaly_threshold)}`;
}

// `line` shows `text(part)`, marked as an error while `part` is not well; hidden while `part` is null.
function showLine(line, part, text) {
  line.hidden = !part;
  if (!part) return;
  const [words, good] = text(part);
  if (line.textContent !== words) line.textContent = words;
  line.className = good ? "" : "error-text";
}

function sparkplugText(node) {
  const state = node.online ? t("online") : t("offline (data is stored)");
  return [t("Sparkplug {state}; births {births}; messages stored {stored}, replayed {replayed}, waiting {queued}",
    { state, births: node.births, stored: node.stored, replayed: node.replayed, queued: node.queued }), node.online];
}

function exportText(exporter) {
  const state = exporter.up ? t("up") : t("down (rows wait in the outbox)");
  return [t("ClickHouse export {state}; batches waiting {waiting}; rows sent {rows}",
    { state, waiting: exporter.waiting, rows: exporter.rows_sent }), exporter.up];
}

function needsLook(device) {
  return !device.connected || (device.alarms || []).length > 0;
}

function render(overview) {
  latest = overview;
  const gateway = overview.gateway || {};
  // Each part on its own: pybabel finds no t() inside another's arguments.
  const status = gateway.status ? serverWords(gateway.status) : t("unknown");
  const connected = tn("{connected} of {n} device connected", "{connected} of {n} devices connected",
    gateway.devices ?? 0, { connected: gateway.devices_connected ?? 0 });
  const alarms = gateway.alarms ? countsText(gateway.alarms) : t("no alarms");
  const mqtt = gateway.mqtt ? serverWords(gateway.mqtt) : t("not configured");
  summary.textContent = t("{gateway}: {status}; {connected}; {alarms}; MQTT {mqtt}; updated {time}",
    { gateway: gateway.name || "", status, connected, alarms, mqtt, time: formatTime(overview.time) });
  showLine(sparkplug, gateway.sparkplug, sparkplugText);
  showLine(exported, gateway.export, exportText);
  // What cannot be written under data_dir (issue #17), e.g. a full disk.
  const lines = gateway.problems || [];
  if (lines.join("\n") !== [...problems.children].map((p) => p.textContent).join("\n")) {
    problems.replaceChildren(...lines.map((problem) => el("p", { class: "error-text" }, problem)));
  }
  // Those not connected or with standing alarms first, then in the configuration's order.
  const devices = overview.devices || [];
  const ordered = devices.filter(needsLook).concat(devices.filter((d) => !needsLook(d)));
  first = Math.min(first, Math.max(0, ordered.length - 1 - ((ordered.length - 1) % PAGE_ROWS)));
  const page = ordered.slice(first, first + PAGE_ROWS);
  shown.textContent = devices.length <= PAGE_ROWS ? tn("{n} device", "{n} devices", devices.length)
    : t("Devices {first}–{last} of {count}, not connected or with alarms first",
      { first: first + 1, last: first + page.length, count: devices.length });
  previous.hidden = next.hidden = devices.length <= PAGE_ROWS;
  previous.disabled = first === 0;
  next.disabled = first + PAGE_ROWS >= ordered.length;
  sync(deviceTable.tBodies[0], "device", page, (d) => d.name, (d) => [
    d.connected ? t("connected") : t("not connected"),
    d.round_trip_ms === null ? "–" : formatNumber(d.round_trip_ms, "ms"),
    formatNumber(d.error_rate * 100, "%"),
    `${d.poll_count} / ${d.error_count}`,
    d.last_error || "",
    (d.alarms || []).join(", "),
  ], (d) => !needsLook(d));
  sync(assetTable.tBodies[0], "asset", overview.assets || [],
    (a) => el("a", { href: `/assets/${encodeURIComponent(a.name)}` }, a.name), (a) => [
      scoreText(a),
      a.anomaly === null ? "–" : a.anomaly ? t("anomalous") : t("normal"),
      a.rul === null ? "–" : formatNumber(a.rul, a.rul_unit),
      a.alarms.join(", "),
    ], (a) => !a.alarms.length);
}

listen("/api/events", { overview: render });
