// Models: per asset, each running model as a card (version, training, evaluation, inputs)
// and its archived versions as a table; upload, activate, roll back; a candidate in shadow,
// stopped, discarded, and each version's agreement with the experts (issue #12).
import { el, formatTime, formatValue, getJson, may, modelKind, modelStatus, notify, postForm, postJson, serverWords, t, table, tn } from "./common.js";
import { Training } from "./training_view.js";

const app = document.getElementById("app");
const editable = may("engineer");

// Every text a person reads on this page, in one place.
const TEXT = {
  noModel: t("No model runs: its file was refused (see the status)."),
  noMetrics: t("none recorded in the model file"),
  noArchive: t("No archived versions yet: upload one; the running file is kept when another is activated."),
  noAssets: t("No assets have models."),
  archived: t("Archived versions"),
  archiveHeadings: [t("Version"), t("Trained"), t("Origin"), t("Archived by"), t("Archived"), "", t("Candidate")],
  origin: { upload: t("uploaded"), "in place": t("was in place"), candidate: t("trained here") },
  running: t("running"),
  field: {
    version: t("Version"), status: t("Status"), trained: t("Trained"), data: t("Training data"),
    fingerprint: t("Data fingerprint"), recipe: t("Recipe"), inputs: t("Inputs"), window: t("Window"),
    threshold: t("Threshold"), hold: t("Hold"), unit: t("Output unit"), range: t("Score range"),
    metrics: t("Evaluation"),
  },
  window: (rows, step) => tn("{n} row, every {step}", "{n} rows, every {step}", rows, { step }),
  holdWindows: (n) => tn("{n} window after the score falls back", "{n} windows after the score falls back", n),
  chooseFile: t("Choose an .onnx file."),
  uploaded: (version) => t("uploaded {version}", { version }),
  upload: t("Upload"), activate: t("Activate"), rollBack: t("Roll back"),
  repair: t("Repair (simulated)"),
  repairHint: (tag) => t("Writes true to {tag}: the simulated pump gets a new bearing and any trip is cleared.", { tag }),
  shadow: t("Shadow"), stopShadow: t("Stop shadow"), discard: t("Discard"), inShadow: t("in shadow"), discarded: t("discarded"),
  shadowNow: (asset, s) => t("In shadow: {version} ({status}), since {time} by {user}; its outputs are {asset}.shadow.* on Trends.",
    { version: s.version, status: modelStatus(s.status), time: formatTime(s.since), user: s.by, asset }),
  agreement: t("Agreement with the experts"),
  agreementHeadings: [t("Role"), t("Version"), t("Scored"), t("Alarm episodes"), t("Confirmed / false / unsure"),
    t("Recall on anomaly labels"), t("False alarms per day"), t("Time to alarm")],
  role: { active: t("active"), shadow: t("shadow") },
  unrecorded: t("before the timeline"),
  noAgreement: t("No outputs recorded yet."),
  agreementUnavailable: t("No agreement figures yet:"),
  hours: (s) => t("{hours} h", { hours: formatValue(s / 3600) }),
  seconds: (list) => (list.length ? list.map((s) => t("{seconds} s", { seconds: formatValue(s) })).join(", ") : "–"),
};

function metrics(values) {
  const listed = Object.entries(values || {});
  if (!listed.length) return TEXT.noMetrics;
  return el("ul", { class: "metrics" }, ...listed.map(([name, value]) => el("li", {}, `${name} ${formatValue(value)}`)));
}

function facts(entry) {
  const m = entry.manifest;
  const rows = [[TEXT.field.version, serverWords(entry.version)], [TEXT.field.status, el("span", { class: "status" }, modelStatus(entry.status))]];
  if (m) {
    rows.push(
      [TEXT.field.trained, formatTime(m.created)],
      // Written by whoever trained the model (uvelka train writes English): shown as it is.
      [TEXT.field.data, el("span", { lang: "en" }, m.training_data)],
      [TEXT.field.fingerprint, el("code", { title: m.training_fingerprint }, (m.training_fingerprint || "").slice(0, 12))],
      [TEXT.field.recipe, m.recipe],
      [TEXT.field.inputs, (m.inputs || []).join(", ")],
      [TEXT.field.window, m.window_rows === undefined ? m.window : TEXT.window(m.window_rows, m.window_step)],
    );
    if (m.threshold !== null && m.threshold !== undefined) {
      rows.push([TEXT.field.threshold, formatValue(m.threshold)], [TEXT.field.hold, TEXT.holdWindows(m.hold)]);
    }
    if (m.output_unit) rows.push([TEXT.field.unit, m.output_unit]);
    rows.push([TEXT.field.range, (m.score_range || []).map(formatValue).join(" – ")]);
  }
  rows.push([TEXT.field.metrics, metrics(entry.metrics)]);
  return el("dl", { class: "facts" }, ...rows.flatMap(([name, value]) => [el("dt", {}, name), el("dd", {}, value)]));
}

function card(entry) {
  const base = `/api/models/${encodeURIComponent(entry.asset)}/${encodeURIComponent(entry.kind)}`;
  const act = (promise) => promise.then((answer) => { notify(answer.status || TEXT.uploaded(answer.version), "ok"); return load(); })
    .catch((error) => notify(error.message));
  const versions = (entry.versions || []).map((v) => el("tr", { dataset: { version: v.version }, class: v.active ? "selected" : "" },
    el("td", {}, v.version), el("td", {}, formatTime(v.created)), el("td", {}, TEXT.origin[v.origin] || v.origin || ""),
    el("td", {}, v.uploaded_by || ""), el("td", {}, formatTime(v.uploaded_at)),
    el("td", {}, v.active ? TEXT.running : editable ? el("button", { type: "button", class: "activate",
      on: { click: () => act(postJson(`${base}/activate`, { version: v.version })) } }, TEXT.activate) : ""),
    el("td", {}, candidateActions(entry, v, base, act))));
  const file = el("input", { type: "file", name: "model", accept: ".onnx", "aria-label": t("{asset}: {kind}, file", { asset: entry.asset, kind: modelKind(entry.kind) }) });
  const upload = (event) => {
    event.preventDefault();
    if (!file.files.length) { notify(TEXT.chooseFile); return; }
    const form = new FormData();
    form.append("model", file.files[0]);
    act(postForm(base, form));
  };
  return el("section", { class: "model card", dataset: { asset: entry.asset, kind: entry.kind } },
    el("h3", {}, `${entry.asset}: ${modelKind(entry.kind)}`, el("span", { class: "file" }, ` ${entry.file || ""}`)),
    entry.manifest ? null : el("p", { class: "message" }, TEXT.noModel),
    facts(entry),
    entry.shadow ? el("p", { class: "shadow" }, TEXT.shadowNow(entry.asset, entry.shadow)) : null,
    el("h4", {}, TEXT.archived),
    versions.length ? table(TEXT.archiveHeadings, versions) : el("p", {}, TEXT.noArchive),
    editable ? el("form", { class: "inline upload", on: { submit: upload } }, file,
      el("button", { type: "submit" }, TEXT.upload),
      el("button", { type: "button", class: "secondary", on: { click: () => act(postJson(`${base}/rollback`)) } }, TEXT.rollBack))
      : null);
}

// A candidate (an archived version that does not run): into shadow, or discarded; out of
// shadow again, still a candidate (Stop shadow).
function candidateActions(entry, v, base, act) {
  if (v.active) return "";
  if (v.discarded) return TEXT.discarded;
  if (entry.shadow && entry.shadow.version === v.version) {
    return editable ? el("span", {}, `${TEXT.inShadow} `,
      el("button", { type: "button", class: "stop-shadow secondary",
        on: { click: () => act(postJson(`${base}/shadow/stop`, { version: v.version })) } }, TEXT.stopShadow),
      " ",
      el("button", { type: "button", class: "discard secondary",
        on: { click: () => act(postJson(`${base}/discard`, { version: v.version })) } }, TEXT.discard)) : TEXT.inShadow;
  }
  if (!editable) return "";
  return el("span", {},
    el("button", { type: "button", class: "shadow", on: { click: () => act(postJson(`${base}/shadow`, { version: v.version })) } }, TEXT.shadow),
    " ",
    el("button", { type: "button", class: "discard secondary", on: { click: () => act(postJson(`${base}/discard`, { version: v.version })) } }, TEXT.discard));
}

// Each version's agreement with the experts (analytics/README.md defines the figures).
async function agreement(asset) {
  const section = el("section", { class: "agreement", dataset: { asset } }, el("h4", {}, TEXT.agreement));
  try {
    const found = await getJson(`/api/models/${encodeURIComponent(asset)}/agreement`);
    const rows = found.versions.map((v) => el("tr", { dataset: { role: v.role, version: v.version || "" } },
      el("td", {}, TEXT.role[v.role] || v.role), el("td", {}, v.version || TEXT.unrecorded), el("td", {}, TEXT.hours(v.scored_s)),
      el("td", {}, String(v.episodes)), el("td", {}, `${v.verdicts.confirmed} / ${v.verdicts.false} / ${v.verdicts.unsure}`),
      el("td", {}, v.recall === null ? "–" : `${v.caught} / ${v.anomaly_labels}`),
      el("td", {}, v.false_alarms_per_day === null ? "–" : formatValue(v.false_alarms_per_day)),
      el("td", {}, TEXT.seconds(v.time_to_alarm_s))));
    section.append(rows.length ? table(TEXT.agreementHeadings, rows) : el("p", {}, TEXT.noAgreement));
  } catch (error) {
    // The gateway's reason (why it has no figures) is English, as the API's texts are.
    section.append(el("p", { class: "message" }, `${TEXT.agreementUnavailable} `, el("span", { lang: "en" }, error.message)));
  }
  return section;
}

// The simulated plant's repair of an asset: the demo's maintenance action.
function repair(asset, tag) {
  if (!tag || !editable) return null;
  const send = () => postJson(`/api/assets/${encodeURIComponent(asset)}/repair`)
    .then((answer) => notify(answer.status, "ok")).catch((error) => notify(error.message));
  return el("p", { class: "repair" },
    el("button", { type: "button", class: "secondary", title: TEXT.repairHint(tag), on: { click: send } }, TEXT.repair));
}

// Training from history (issue #12): a job that ends redraws the page.
const training = new Training(() => load());

async function load() {
  const entries = await getJson("/api/models");
  await training.load();
  const assets = new Map();
  for (const entry of entries) {
    if (!assets.has(entry.asset)) assets.set(entry.asset, []);
    assets.get(entry.asset).push(entry);
  }
  const agreements = await Promise.all([...assets].map(([asset, models]) =>
    (models.some((m) => m.kind === "anomaly") ? agreement(asset) : null)));
  app.replaceChildren(...(assets.size ? [...assets].map(([asset, models], i) =>
    el("article", { class: "asset-models", dataset: { asset } }, el("h2", {}, asset),
      repair(asset, models.find((m) => m.repair)?.repair), ...models.map(card), agreements[i],
      training.section(asset)))
    : [el("p", {}, TEXT.noAssets)]));
  training.watch();
}

load().catch((error) => notify(error.message));
