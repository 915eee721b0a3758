// Trends (issue #11): series picked by asset or by search; a panel per unit (one for each
// series without a unit) and booleans as state bands; alarm limits and model thresholds as
// lines; alarm activations and clears as markers; the min/max band where a range is
// downsampled; zoom re-queries the history at the new resolution; presets; the shown
// series as CSV (the API's export, the shape `uvelka train` reads). The URL holds the
// selection (?asset=A&key=K&range=8h, docs/web.md), so a link opens the same chart. The
// maintenance entries of the shown series' assets are bands (issue #12).
// Drawn with Plotly (MIT), which the gateway serves itself from the plotly package.
import { el, getJson, language, may, notify, t } from "./common.js";
// Expert labels (issue #12): bands, and a range brushed on the chart labelled (engineers).
import { labelBands, labelForm, TEXT as LABEL_TEXT } from "./label_view.js";
import { KINDS as MAINTENANCE_KINDS, TEXT as MAINTENANCE_TEXT } from "./maintenance_view.js";

// Everything a person reads on this page, in one place.
const TEXT = {
  asset: t("Asset"),
  anyAsset: t("(choose an asset)"),
  search: t("Search series"),
  chosen: t("Shown"),
  remove: (key) => t("Remove {key}", { key }),
  range: t("Range"),
  custom: t("Custom"),
  from: t("From"),
  to: t("To"),
  apply: t("Apply"),
  draw: t("Draw"),
  rows: t("Rows"),
  exportCsv: t("Export CSV"),
  everyPoint: t("every point"),
  activated: t("Alarm activations"),
  cleared: t("Alarm clears"),
  band: (key) => t("{key} min/max", { key }),
  tooMany: (n) => t("At most {count} series at once.", { count: n }),
  choose: t("Choose series by asset or search."),
  noHistory: t("No history yet: is [history] on in the configuration?"),
  noMatch: t("No series matches."),
  maintenance: (entry) => `${entry.asset}: ${MAINTENANCE_KINDS[entry.kind] || entry.kind}`
    + `${entry.resets_life ? ` (${MAINTENANCE_TEXT.renews})` : ""}`,
  line: { alarm: (name) => t("{alarm} limit", { alarm: name }), threshold: (name) => t("{asset} model threshold", { asset: name }),
    shadow: (name) => t("{asset} shadow threshold", { asset: name }) },
};
const PRESETS = [["1h", t("{n} h", { n: 1 }), 1], ["8h", t("{n} h", { n: 8 }), 8], ["24h", t("{n} h", { n: 24 }), 24],
  ["7d", t("{n} d", { n: 7 }), 168]];
const STEPS = [["", TEXT.everyPoint], ["1", t("{n} s", { n: 1 })], ["10", t("{n} s", { n: 10 })],
  ["60", t("{n} min", { n: 1 })], ["600", t("{n} min", { n: 10 })]];
const POINTS = 600; // per series and range: about one per two pixels of a wide chart
const MAX_KEYS = 12; // the history API's limit
const MAX_MATCHES = 50;
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
  "#e377c2", "#7f7f7f", "#bcbd22", "#393b79", "#637939"];
const LINE_COLOURS = { alarm: "#b3261e", threshold: "#b35900" };
const MAINTENANCE_COLOUR = "#6d4c41";

const app = document.getElementById("app");
const state = { chosen: [], preset: "1h", lastPreset: "1h", start: null, end: null, brushing: false };
let labelling = null; // the label form, for engineers
let catalogue = { series: [], assets: {}, events: [] };
let Plotly = null;

function loadLibrary() {
  return new Promise((resolve, reject) => {
    const script = el("script", { src: "/vendor/plotly/plotly.min.js" });
    script.onload = () => {
      // English is Plotly's own; another language is registered once, before any chart.
      if (language !== "en") window.Plotly.register(plotlyLocale());
      resolve(window.Plotly);
    };
    script.onerror = () => reject(new Error(t("the chart library did not load")));
    document.head.append(script);
  });
}

// Plotly's own words (its mode bar, its hints) and its dates and numbers in the page's
// language, as a Plotly locale (https://plotly.com/javascript/configuration-options/):
// months, days and the order of a date from Intl, the words from the page's catalogue.
function plotlyLocale() {
  const at = (month, day) => new Date(2001, month, day); // 2001-01-07 is a Sunday
  const names = (count, date, options) => [...Array(count).keys()]
    .map((i) => new Intl.DateTimeFormat(language, options).format(date(i)));
  const fields = { day: "%d", month: "%m", year: "%Y" };
  const date = new Intl.DateTimeFormat(language, { day: "2-digit", month: "2-digit", year: "numeric" })
    .formatToParts(at(0, 7)).map((part) => fields[part.type] || part.value).join("");
  const dayFirst = date.indexOf("%d") < date.indexOf("%m");
  const number = new Intl.NumberFormat(language).formatToParts(12345.6);
  const symbol = (type, fallback) => number.find((part) => part.type === type)?.value ?? fallback;
  return {
    moduleType: "locale",
    name: language,
    dictionary: {
      "Download plot as a PNG": t("Download plot as a PNG"), "Download plot": t("Download plot"),
      "Share chart...": t("Share chart..."), Zoom: t("Zoom"), Pan: t("Pan"), "Box Select": t("Box Select"),
      "Lasso Select": t("Lasso Select"), "Zoom in": t("Zoom in"), "Zoom out": t("Zoom out"),
      Autoscale: t("Autoscale"), "Reset axes": t("Reset axes"), "Toggle Spike Lines": t("Toggle Spike Lines"),
      "Show closest data on hover": t("Show closest data on hover"), "Compare data on hover": t("Compare data on hover"),
      "Double-click to zoom back out": t("Double-click to zoom back out"),
      "Double-click on legend to isolate one trace": t("Double-click on legend to isolate one trace"),
      "Image download succeeded": t("Image download succeeded"),
      "Preparing image - this may take a few seconds": t("Preparing image - this may take a few seconds"),
      "Sorry, there was a problem downloading your image!": t("Sorry, there was a problem downloading your image!"),
    },
    format: {
      days: names(7, (i) => at(0, 7 + i), { weekday: "long" }),
      shortDays: names(7, (i) => at(0, 7 + i), { weekday: "short" }),
      months: names(12, (i) => at(i, 1), { month: "long" }),
      shortMonths: names(12, (i) => at(i, 1), { month: "short" }),
      date, time: "%H:%M:%S", decimal: symbol("decimal", "."), thousands: symbol("group", ","),
      year: "%Y", month: "%b %Y",
      dayMonth: dayFirst ? "%-d %b" : "%b %-d", dayMonthYear: dayFirst ? "%-d %b %Y" : "%b %-d, %Y",
    },
  };
}

const info = (key) => catalogue.series.find((s) => s.key === key) || { key, unit: "", boolean: false, lines: [] };

// Plotly shows date strings as they are: local wall-clock strings show the browser's time.
function localText(date) {
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} `
    + `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}
const fromLocalText = (text) => new Date(String(text).replace(" ", "T").slice(0, 23));

function range() {
  if (state.preset === null) return [state.start, state.end];
  const end = new Date();
  const hours = PRESETS.find(([name]) => name === state.preset)[2];
  return [new Date(end.getTime() - hours * 3600000), end];
}

function historyQuery(extra) {
  const [start, end] = range();
  const query = new URLSearchParams({ start: start.toISOString(), end: end.toISOString(), ...extra });
  for (const key of state.chosen) query.append("key", key);
  return query;
}

// Panels top to bottom: one per unit, one per series without a unit, one per boolean.
function panelsOf(keys) {
  const panels = [];
  for (const key of keys) {
    const { unit, boolean } = info(key);
    const shared = !boolean && unit ? panels.find((p) => !p.boolean && p.unit === unit) : null;
    if (shared) shared.keys.push(key);
    else panels.push({ unit, boolean, keys: [key], title: boolean || !unit ? key : unit });
  }
  let top = 1;
  const gap = 0.04;
  const weights = panels.map((p) => (p.boolean ? 1 : 4));
  const height = (1 - gap * (panels.length - 1)) / weights.reduce((a, b) => a + b, 0);
  panels.forEach((panel, i) => {
    panel.axis = i === 0 ? "y" : `y${i + 1}`;
    panel.domain = [Math.max(0, top - weights[i] * height), top];
    top -= weights[i] * height + gap;
  });
  return panels;
}

// The series' value nearest to `time`, to place an alarm marker on its line.
function valueAt(series, time) {
  let best = null;
  let distance = Infinity;
  series.times.forEach((t, i) => {
    const d = Math.abs(new Date(t) - time);
    if (series.mean[i] !== null && d < distance) { distance = d; best = series.mean[i]; }
  });
  return best;
}

// The maintenance entries of the shown series' assets (issue #12), drawn as bands.
function chosenAssets() {
  return Object.entries(catalogue.assets).filter(([, keys]) => keys.some((k) => state.chosen.includes(k))).map(([a]) => a);
}

async function maintenanceOf(assets, start, end) {
  if (!assets.length) return [];
  const query = new URLSearchParams({ start: start.toISOString(), end: end.toISOString() });
  for (const asset of assets) query.append("asset", asset);
  return (await getJson(`/api/maintenance?${query}`)).entries;
}

function bands(entries) {
  return entries.map((entry) => ({ type: "rect", xref: "x", yref: "paper", y0: 0, y1: 1, layer: "below",
    x0: localText(new Date(entry.started)), x1: localText(new Date(entry.finished)),
    fillcolor: MAINTENANCE_COLOUR, opacity: 0.15, line: { width: 1, color: MAINTENANCE_COLOUR },
    label: { text: TEXT.maintenance(entry), textposition: "top left", font: { size: 10 } } }));
}

// A limit's or threshold's name on the chart; `label` is the API's English one.
function lineLabel(line) {
  if (line.of === undefined) return line.label;
  return (line.shadow ? TEXT.line.shadow : TEXT.line[line.kind] || (() => line.label))(line.of);
}

function figure(series, panels, start, end, entries = []) {
  const traces = [];
  const shapes = [];
  const layout = { margin: { t: 10, l: 70, r: 20 }, showlegend: true, legend: { orientation: "h" },
    xaxis: { type: "date", range: [localText(start), localText(end)], anchor: panels[panels.length - 1].axis } };
  let markers = 0;
  for (const panel of panels) {
    const name = panel.axis.replace("y", "yaxis");
    layout[name] = { domain: panel.domain, title: { text: panel.title }, anchor: "x", hoverformat: ".3g",
      ...(panel.boolean ? { range: [-0.05, 1.05], tickvals: [0, 1], fixedrange: true } : {}) };
    for (const key of panel.keys) {
      const s = series.find((found) => found.key === key);
      if (!s) continue;
      const colour = COLOURS[state.chosen.indexOf(key) % COLOURS.length];
      const x = s.times.map((t) => localText(new Date(t)));
      if (!panel.boolean && s.low.some((low, i) => low !== s.high[i])) {
        traces.push({ x, y: s.high, yaxis: panel.axis, mode: "lines", line: { width: 0, color: colour },
          hoverinfo: "skip", showlegend: false, legendgroup: key, name: TEXT.band(key) });
        traces.push({ x, y: s.low, yaxis: panel.axis, mode: "lines", line: { width: 0, color: colour },
          fill: "tonexty", opacity: 0.25, hoverinfo: "skip", showlegend: false, legendgroup: key,
          name: TEXT.band(key) });
      }
      traces.push({ x, y: s.mean, yaxis: panel.axis, name: s.unit ? `${key} (${s.unit})` : key, type: "scatter",
        mode: "lines", connectgaps: false, legendgroup: key,
        // A candidate in shadow (issue #12): dotted, beside the active model's line.
        line: { color: colour, shape: panel.boolean ? "hv" : "linear", dash: info(key).shadow ? "dot" : "solid" },
        ...(panel.boolean ? { fill: "tozeroy" } : {}) });
      for (const line of info(key).lines) {
        shapes.push({ type: "line", xref: "paper", x0: 0, x1: 1, yref: panel.axis, y0: line.value, y1: line.value,
          line: { color: LINE_COLOURS[line.kind] || "#444", dash: "dash", width: 1.5 },
          label: { text: `${lineLabel(line)} ${Number(line.value.toPrecision(3))}`, textposition: "end", font: { size: 11 } } });
      }
      for (const [kind, label, symbol, colour2] of [["activated", TEXT.activated, "triangle-up", "#b3261e"],
        ["cleared", TEXT.cleared, "circle-open", "#2e7d32"]]) {
        const events = catalogue.events.filter((e) => e.key === key && e.kind === kind
          && new Date(e.time) >= start && new Date(e.time) <= end);
        if (!events.length) continue;
        markers += events.length;
        traces.push({ x: events.map((e) => localText(new Date(e.time))), yaxis: panel.axis,
          y: events.map((e) => valueAt(s, new Date(e.time)) ?? (info(key).lines[0] || {}).value ?? 0),
          text: events.map((e) => `${e.alarm}: ${label}`), hoverinfo: "text+x", mode: "markers", name: label,
          legendgroup: kind, showlegend: !traces.some((t) => t.legendgroup === kind),
          marker: { symbol, size: 11, color: colour2, line: { width: 2, color: colour2 } } });
      }
    }
  }
  layout.shapes = shapes.concat(bands(entries));
  return { traces, layout, markers, lines: shapes.length, bands: entries.length };
}

async function draw() {
  const chart = document.getElementById("chart");
  writeUrl();
  if (!state.chosen.length) {
    notify(catalogue.series.length ? TEXT.choose : TEXT.noHistory, "ok");
    Plotly.purge(chart);
    return;
  }
  try {
    const [start, end] = range();
    const [series, fresh, entries] = await Promise.all([
      getJson(`/api/history?${historyQuery({ points: String(POINTS) })}`), getJson("/api/trends"),
      maintenanceOf(chosenAssets(), start, end)]);
    catalogue = fresh;
    const labels = await labelsOf(chosenAssets(), start, end);
    const panels = panelsOf(state.chosen);
    const { traces, layout, markers, lines, bands: drawn } = figure(series, panels, start, end, entries);
    layout.shapes.push(...labelBands(labels, localText));
    layout.dragmode = state.brushing ? "select" : "zoom";
    layout.selectdirection = "h";
    chart.style.height = `${Math.max(28, 10 + panels.reduce((n, p) => n + (p.boolean ? 3 : 12), 0))}rem`;
    await Plotly.react(chart, traces, layout, { displaylogo: false, responsive: true, locale: language });
    followZoom(chart);
    chart.dataset.labels = String(labels.length);
    Object.assign(chart.dataset, { points: String(series.reduce((n, s) => n + s.times.length, 0)),
      axes: String(panels.length), lines: String(lines), markers: String(markers), bands: String(drawn) });
    notify("", "ok");
  } catch (error) {
    notify(error.message);
  }
}

// The labels of the shown series' assets over the range (issue #12).
async function labelsOf(assets, start, end) {
  if (!assets.length) return [];
  const query = new URLSearchParams({ start: start.toISOString(), end: end.toISOString() });
  for (const asset of assets) query.append("asset", asset);
  return (await getJson(`/api/labels?${query}`)).labels;
}

// "Label a range": the chart's drag selects a range instead of zooming; the range fills the
// label form. Engineers only (the API refuses others).
function toggleBrush() {
  state.brushing = !state.brushing;
  document.getElementById("brush").setAttribute("aria-pressed", String(state.brushing));
  const chart = document.getElementById("chart");
  if (chart.layout) Plotly.relayout(chart, { dragmode: state.brushing ? "select" : "zoom" });
}

function brushed(event) {
  const x = event?.range?.x;
  if (!x || !labelling) return;
  const [from, to] = x.map(fromLocalText).sort((a, b) => a - b);
  labelling.fill(chosenAssets()[0], from, to);
  toggleBrush();
  Plotly.relayout(document.getElementById("chart"), { selections: [] });
}

function writeUrl() {
  const query = new URLSearchParams();
  for (const key of state.chosen) query.append("key", key);
  if (state.preset) query.set("range", state.preset);
  else { query.set("start", state.start.toISOString()); query.set("end", state.end.toISOString()); }
  history.replaceState(null, "", `${location.pathname}?${query}`);
}

function readUrl() {
  const query = new URLSearchParams(location.search);
  const keys = [...query.getAll("asset").flatMap((a) => catalogue.assets[a] || []), ...query.getAll("key")];
  state.chosen = [...new Set(keys)].slice(0, MAX_KEYS);
  const start = new Date(query.get("start"));
  const end = new Date(query.get("end"));
  if (query.get("start") && query.get("end") && start < end) Object.assign(state, { preset: null, start, end });
  else if (PRESETS.some(([name]) => name === query.get("range"))) state.preset = query.get("range");
}

function choose(keys) {
  const wanted = [...new Set(keys)];
  if (wanted.length > MAX_KEYS) notify(TEXT.tooMany(MAX_KEYS));
  state.chosen = wanted.slice(0, MAX_KEYS);
  showChosen();
  draw();
}

function showChosen() {
  document.getElementById("chosen").replaceChildren(...state.chosen.map((key) => el("li", { dataset: { key } },
    key, el("button", { type: "button", class: "remove", "aria-label": TEXT.remove(key),
      on: { click: () => choose(state.chosen.filter((k) => k !== key)) } }, "×"))));
}

function showMatches(text) {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  const list = document.getElementById("matches");
  if (!words.length) { list.replaceChildren(); return; }
  const found = catalogue.series.filter((s) => !state.chosen.includes(s.key)
    && words.every((w) => `${s.key} ${s.unit}`.toLowerCase().includes(w))).slice(0, MAX_MATCHES);
  list.replaceChildren(...(found.length ? found.map((s) => el("li", {}, el("button", { type: "button",
    class: "match", dataset: { key: s.key }, on: { click: () => { choose([...state.chosen, s.key]); showMatches(text); } } },
  s.unit ? `${s.key} (${s.unit})` : s.key))) : [el("li", {}, TEXT.noMatch)]));
}

function setRange(preset, start = null, end = null) {
  Object.assign(state, { preset, start, end });
  if (preset) state.lastPreset = preset;
  for (const button of document.querySelectorAll("#presets button")) {
    button.setAttribute("aria-pressed", String(button.dataset.preset === (preset || "custom")));
  }
  const [from, to] = range();
  document.getElementById("from").value = localText(from).slice(0, 16).replace(" ", "T");
  document.getElementById("to").value = localText(to).slice(0, 16).replace(" ", "T");
  draw();
}

function exportCsv() {
  if (!state.chosen.length) { notify(TEXT.choose); return; }
  const step = document.getElementById("step").value;
  const link = el("a", { href: `/api/history?${historyQuery({ format: "csv", ...(step ? { step } : {}) })}`, download: "" });
  document.body.append(link);
  link.click();
  link.remove();
}

async function start() {
  [catalogue, Plotly] = await Promise.all([getJson("/api/trends"), loadLibrary()]);
  readUrl();
  const assets = Object.keys(catalogue.assets);
  if (may("engineer")) {
    const { fault_codes: codes } = await getJson("/api/labels?limit=1");
    labelling = labelForm({ assets, codes, saved: () => draw() });
  }
  const search = el("input", { id: "search", type: "search", autocomplete: "off",
    on: { input: (e) => showMatches(e.target.value),
      keydown: (e) => { if (e.key === "Enter") { e.preventDefault(); document.querySelector("#matches .match")?.click(); } } } });
  app.replaceChildren(
    el("div", { class: "toolbar trend-pick" },
      el("label", {}, `${TEXT.asset} `, el("select", { id: "asset", on: { change: (e) => { if (e.target.value) choose(catalogue.assets[e.target.value]); } } },
        el("option", { value: "" }, TEXT.anyAsset), ...assets.map((a) => el("option", { value: a }, a)))),
      el("label", {}, `${TEXT.search} `, search)),
    el("ul", { id: "matches", class: "matches" }),
    el("div", { class: "toolbar" }, el("span", {}, `${TEXT.chosen}:`), el("ul", { id: "chosen", class: "chips" })),
    el("div", { class: "toolbar" },
      el("span", { id: "presets", role: "group", "aria-label": TEXT.range },
        ...PRESETS.map(([name, label]) => el("button", { type: "button", dataset: { preset: name }, on: { click: () => setRange(name) } }, label)),
        el("button", { type: "button", dataset: { preset: "custom" }, on: { click: () => document.getElementById("from").focus() } }, TEXT.custom)),
      el("form", { id: "custom", class: "inline", on: { submit: (e) => {
        e.preventDefault();
        const from = new Date(document.getElementById("from").value);
        const to = new Date(document.getElementById("to").value);
        if (from < to) setRange(null, from, to);
      } } },
      el("label", {}, `${TEXT.from} `, el("input", { id: "from", type: "datetime-local" })),
      el("label", {}, `${TEXT.to} `, el("input", { id: "to", type: "datetime-local" })),
      el("button", { type: "submit" }, TEXT.apply)),
      el("button", { type: "button", id: "draw", on: { click: () => draw() } }, TEXT.draw),
      el("label", {}, `${TEXT.rows} `, el("select", { id: "step" }, ...STEPS.map(([value, label]) => el("option", { value }, label)))),
      el("button", { type: "button", id: "export", on: { click: exportCsv } }, TEXT.exportCsv),
      labelling ? el("button", { type: "button", id: "brush", "aria-pressed": "false", title: LABEL_TEXT.labelRangeHelp,
        on: { click: toggleBrush } }, LABEL_TEXT.labelRange) : null),
    el("div", { id: "chart", class: "chart" }),
    labelling);
  showChosen();
  setRange(state.preset, state.start, state.end);
}

// Zoom: draw the new range from the history at its own resolution; a double click
// (autorange) goes back to the last preset. Plotly gives the chart `on` once it has drawn.
function followZoom(chart) {
  if (chart.dataset.zoom) return;
  chart.dataset.zoom = "on";
  chart.on("plotly_selected", brushed);
  chart.on("plotly_relayout", (event) => {
    if (event["xaxis.range[0]"] !== undefined) {
      setRange(null, fromLocalText(event["xaxis.range[0]"]), fromLocalText(event["xaxis.range[1]"]));
    } else if (event["xaxis.autorange"]) {
      setRange(state.lastPreset);
    }
  });
}

start().catch((error) => notify(error.message));
