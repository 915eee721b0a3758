// The Labels page (issue #12): every expert label, by asset (?asset=A), edited and deleted
// by engineers (a new one is drawn on Trends: brush a range), exported as JSON and, for one
// asset, as the CSV `uvelka train anomaly --labels` reads; the alarm verdicts given so far.
import { el, formatTime, getJson, notify, t, table, trendsUrl } from "./common.js";
import { labelForm, labelTable, TEXT, VERDICTS } from "./label_view.js";

const app = document.getElementById("app");
const PAGE = {
  anyAsset: t("(every asset)"),
  draw: t("To add a label, brush a range of an asset's chart on Trends."),
  labels: t("Labels"),
  verdicts: t("Alarm verdicts"),
  noVerdicts: t("No verdicts yet: give them on the Alarms page."),
  verdictHeadings: [t("Alarm"), t("Activated"), t("Cleared"), t("Verdict"), t("Fault code"), t("Note"), t("By")],
};
let form = null;

async function load() {
  const asset = document.getElementById("filter-asset").value;
  const wanted = new URLSearchParams(asset ? { asset } : {});
  history.replaceState(null, "", `${location.pathname}?${wanted}`);
  document.getElementById("export-json").href = `/api/labels?${wanted}&format=json`;
  const csv = document.getElementById("export-csv");
  csv.hidden = !asset;
  csv.href = `/api/labels?${wanted}&format=csv`;
  document.getElementById("trends").href = trendsUrl({ asset });
  try {
    const [found, judged] = await Promise.all([getJson(`/api/labels?${wanted}`), getJson(`/api/verdicts?${wanted}`)]);
    document.getElementById("labels").replaceChildren(labelTable(found.labels, { form, changed: load }));
    document.getElementById("verdicts").replaceChildren(judged.verdicts.length
      ? table(PAGE.verdictHeadings, judged.verdicts.map((v) => el("tr", { dataset: { event: v.event_id } },
        el("td", {}, v.alarm), el("td", {}, formatTime(v.activated)), el("td", {}, formatTime(v.cleared)),
        el("td", {}, VERDICTS[v.verdict] || v.verdict), el("td", {}, v.fault_code), el("td", { class: "note" }, v.note),
        el("td", {}, v.user))))
      : el("p", { class: "placeholder" }, PAGE.noVerdicts));
  } catch (error) {
    notify(error.message);
  }
}

async function start() {
  const { assets, fault_codes: codes } = await getJson("/api/labels?limit=1");
  const given = new URLSearchParams(location.search).get("asset");
  form = labelForm({ assets, codes, saved: load });
  app.replaceChildren(
    el("div", { class: "toolbar" },
      el("label", {}, `${TEXT.asset} `, el("select", { id: "filter-asset", on: { change: load } },
        el("option", { value: "" }, PAGE.anyAsset), ...assets.map((a) => el("option", { value: a, selected: a === given }, a)))),
      el("a", { id: "export-json", class: "button", download: "" }, TEXT.exportJson),
      el("a", { id: "export-csv", class: "button", download: "" }, TEXT.exportCsv),
      el("a", { id: "trends" }, PAGE.draw)),
    form,
    el("h2", {}, PAGE.labels), el("section", { id: "labels" }),
    el("h2", {}, PAGE.verdicts), el("section", { id: "verdicts" }));
  await load();
}

start().catch((error) => notify(error.message));
