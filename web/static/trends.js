// Trends: chosen tags and analytics outputs over a time range, from the gateway's history,
// drawn with Plotly (served by the gateway itself from the plotly package).
import { el, getJson, notify } from "./common.js";

const app = document.getElementById("app");
const RANGES = [["15 minutes", 15], ["1 hour", 60], ["8 hours", 480], ["1 day", 1440], ["7 days", 10080]];

function loadLibrary() {
  return new Promise((resolve, reject) => {
    const script = el("script", { src: "/vendor/plotly/plotly.min.js" });
    script.onload = () => resolve(window.Plotly);
    script.onerror = () => reject(new Error("the chart library did not load"));
    document.head.append(script);
  });
}

async function start() {
  const [keys, Plotly] = await Promise.all([getJson("/api/history/keys"), loadLibrary()]);
  const chooser = el("select", { id: "keys", multiple: true, size: Math.min(12, Math.max(keys.length, 3)) },
    ...keys.map((k) => el("option", { value: k }, k)));
  const range = el("select", { id: "range" }, ...RANGES.map(([label, minutes]) => el("option", { value: minutes }, label)));
  range.value = "60";
  const chart = el("div", { id: "chart", class: "chart" });
  const draw = async (event) => {
    if (event) event.preventDefault();
    const chosen = [...chooser.selectedOptions].map((o) => o.value);
    if (!chosen.length) { notify("Choose one or more keys."); return; }
    const end = new Date();
    const start = new Date(end.getTime() - Number(range.value) * 60000);
    const query = new URLSearchParams({ start: start.toISOString(), end: end.toISOString(), points: "600" });
    for (const key of chosen) query.append("key", key);
    try {
      const series = await getJson(`/api/history?${query}`);
      const traces = series.map((s) => ({ x: s.times, y: s.mean, name: s.unit ? `${s.key} (${s.unit})` : s.key,
        type: "scatter", mode: "lines", connectgaps: false }));
      await Plotly.react(chart, traces, { margin: { t: 20 }, xaxis: { type: "date" }, legend: { orientation: "h" } },
        { displaylogo: false, responsive: true });
      chart.dataset.points = String(series.reduce((n, s) => n + s.times.length, 0));
      notify("", "ok");
    } catch (error) {
      notify(error.message);
    }
  };
  app.replaceChildren(
    el("form", { id: "trend-form", class: "inline", on: { submit: draw } },
      el("label", {}, "Keys ", chooser), el("label", {}, "Range ", range),
      el("button", { type: "submit", id: "draw" }, "Draw")),
    chart);
}

start().catch((error) => notify(error.message));
