// Models: each asset's models with manifest and metrics; upload, activate, roll back.
import { el, formatTime, formatValue, getJson, may, notify, postForm, postJson, table } from "./common.js";

const app = document.getElementById("app");
const editable = may("engineer");

function metrics(values) {
  const listed = Object.entries(values || {}).map(([k, v]) => `${k} ${formatValue(v)}`).join(", ");
  return listed || "none recorded in the manifest";
}

function slot(entry) {
  const base = `/api/models/${encodeURIComponent(entry.asset)}/${encodeURIComponent(entry.kind)}`;
  const act = (promise) => promise.then((answer) => { notify(answer.status || `uploaded ${answer.version}`, "ok"); return load(); })
    .catch((error) => notify(error.message));
  const versions = (entry.versions || []).map((v) => el("tr", { dataset: { version: v.version }, class: v.active ? "selected" : "" },
    el("td", {}, v.version), el("td", {}, formatTime(v.created)), el("td", {}, v.uploaded_by || ""),
    el("td", {}, formatTime(v.uploaded_at)), el("td", {}, metrics(v.metrics)),
    el("td", {}, v.active ? "running" : editable ? el("button", { type: "button", class: "activate",
      on: { click: () => act(postJson(`${base}/activate`, { version: v.version })) } }, "Activate") : "")));
  const file = el("input", { type: "file", name: "model", accept: ".onnx" });
  const upload = (event) => {
    event.preventDefault();
    if (!file.files.length) { notify("Choose an .onnx file."); return; }
    const form = new FormData();
    form.append("model", file.files[0]);
    act(postForm(base, form));
  };
  const manifest = entry.manifest || {};
  return el("section", { class: "model", dataset: { asset: entry.asset, kind: entry.kind } },
    el("h2", {}, `${entry.asset}: ${entry.kind}`),
    el("p", {}, `File ${entry.file}; running ${entry.version}; `, el("span", { class: "status" }, entry.status)),
    el("p", {}, `Inputs ${(manifest.inputs || []).join(", ")}; window ${manifest.window ?? ""}; `,
      `created ${formatTime(manifest.created)}; trained on ${manifest.training_data || ""}`),
    el("p", {}, `Metrics: ${metrics(entry.metrics)}`),
    versions.length ? table(["Version", "Created", "Uploaded by", "Uploaded", "Metrics", ""], versions)
      : el("p", {}, "No other versions yet: upload one; the running file is kept when another is activated."),
    editable ? el("form", { class: "inline upload", on: { submit: upload } }, file,
      el("button", { type: "submit" }, "Upload"),
      el("button", { type: "button", class: "secondary", on: { click: () => act(postJson(`${base}/rollback`)) } }, "Roll back"))
      : null);
}

async function load() {
  const entries = await getJson("/api/models");
  app.replaceChildren(...(entries.length ? entries.map(slot) : [el("p", {}, "No assets have models.")]));
}

load().catch((error) => notify(error.message));
