// The Maintenance log page (issue #12): the whole gateway's entries, filtered by asset, kind
// and time (the URL holds the filter: ?asset=A&kind=K&start=ISO&end=ISO), added, changed
// and deleted here, exported as CSV.
import { el, getJson, notify, t } from "./common.js";
import { canAdd, entryForm, entryTable, KINDS, localInput, TEXT } from "./maintenance_view.js";

const app = document.getElementById("app");
const FILTER = { anyAsset: t("(every asset)"), anyKind: t("(every kind)"), from: t("From"), to: t("To"), apply: t("Apply") };
let form = null;

function query() {
  const wanted = new URLSearchParams();
  const asset = document.getElementById("filter-asset").value;
  const kind = document.getElementById("filter-kind").value;
  const from = document.getElementById("filter-from").value;
  const to = document.getElementById("filter-to").value;
  if (asset) wanted.set("asset", asset);
  if (kind) wanted.set("kind", kind);
  if (from) wanted.set("start", new Date(from).toISOString());
  if (to) wanted.set("end", new Date(to).toISOString());
  return wanted;
}

async function load() {
  const wanted = query();
  history.replaceState(null, "", `${location.pathname}?${wanted}`);
  document.getElementById("export").href = `/api/maintenance?${wanted}&format=csv`;
  try {
    const found = await getJson(`/api/maintenance?${wanted}`);
    document.getElementById("entries").replaceChildren(entryTable(found.entries, { form, changed: load }));
  } catch (error) {
    notify(error.message);
  }
}

async function start() {
  const { assets } = await getJson("/api/maintenance?limit=1");
  const given = new URLSearchParams(location.search);
  const time = (key) => (given.get(key) ? localInput(new Date(given.get(key))) : "");
  form = canAdd() ? entryForm({ assets, saved: load }) : null;
  app.replaceChildren(
    el("form", { id: "filter", class: "toolbar", on: { submit: (e) => { e.preventDefault(); load(); } } },
      el("label", {}, `${TEXT.asset} `, el("select", { id: "filter-asset", on: { change: load } },
        el("option", { value: "" }, FILTER.anyAsset), ...assets.map((a) => el("option", { value: a, selected: a === given.get("asset") }, a)))),
      el("label", {}, `${TEXT.kind} `, el("select", { id: "filter-kind", on: { change: load } },
        el("option", { value: "" }, FILTER.anyKind),
        ...Object.entries(KINDS).map(([value, label]) => el("option", { value, selected: value === given.get("kind") }, label)))),
      el("label", {}, `${FILTER.from} `, el("input", { id: "filter-from", type: "datetime-local", value: time("start") })),
      el("label", {}, `${FILTER.to} `, el("input", { id: "filter-to", type: "datetime-local", value: time("end") })),
      el("button", { type: "submit" }, FILTER.apply),
      el("a", { id: "export", class: "button", download: "" }, TEXT.exportCsv)),
    form ? el("section", {}, el("h2", {}, TEXT.add), form) : null,
    el("section", { id: "entries" }));
  await load();
}

start().catch((error) => notify(error.message));
