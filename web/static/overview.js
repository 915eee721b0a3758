// Overview: gateway health, devices and assets, pushed every second by the server.
import { el, formatTime, formatValue, listen, table } from "./common.js";

const app = document.getElementById("app");

function render(overview) {
  const gateway = overview.gateway || {};
  const devices = (overview.devices || []).map((d) =>
    el("tr", { dataset: { device: d.name }, class: d.connected ? "good" : "bad" },
      el("td", {}, d.name),
      el("td", {}, d.connected ? "connected" : "not connected"),
      el("td", {}, d.round_trip_ms === null ? "" : `${formatValue(d.round_trip_ms)} ms`),
      el("td", {}, `${formatValue(d.error_rate * 100)} %`),
      el("td", {}, `${d.poll_count} / ${d.error_count}`),
      el("td", { class: "error-text" }, d.last_error || "")));
  const assets = (overview.assets || []).map((a) =>
    el("tr", { dataset: { asset: a.name }, class: a.active_alarms.length ? "bad" : "good" },
      el("td", {}, el("a", { href: `/assets/${encodeURIComponent(a.name)}` }, a.name)),
      el("td", {}, formatValue(a.anomaly_score)),
      el("td", {}, a.anomaly === null ? "" : a.anomaly ? "anomalous" : "normal"),
      el("td", {}, a.rul === null ? "" : `${formatValue(a.rul)} ${a.rul_unit || ""}`),
      el("td", {}, a.active_alarms.join(", "))));
  app.replaceChildren(
    el("section", { id: "health" },
      el("h2", {}, "Gateway"),
      el("p", {}, `${gateway.name || ""}: ${gateway.status || "unknown"}; `,
        `${gateway.devices_connected ?? 0} of ${gateway.devices ?? 0} devices connected; `,
        `${gateway.active_alarms ?? 0} active alarms; MQTT ${gateway.mqtt || "not configured"}; `,
        `updated ${formatTime(overview.time)}`),
      // What cannot be written under data_dir (issue #17), e.g. a full disk.
      ...(gateway.problems || []).map((problem) => el("p", { class: "error-text" }, problem))),
    el("section", {},
      el("h2", {}, "Devices"),
      table(["Device", "Link", "Round trip", "Error rate", "Polls / errors", "Last error"], devices)),
    el("section", {},
      el("h2", {}, "Assets"),
      table(["Asset", "Anomaly score", "Anomaly", "Remaining useful life", "Active alarms"], assets)));
}

listen("/api/events", { overview: render });
