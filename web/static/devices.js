// Devices and tags: edit the configuration's [[devices]] and apply it live; live values of
// the chosen device's tags; import and export of the TOML file. Every change names the
// revision of the file this page loaded (If-Match): a change someone else made since is
// never overwritten; the page offers to load it instead (issue #17).
import { ApiError, el, formatTime, formatValue, getJson, listen, may, notify, postJson, putJson } from "./common.js";

const DEVICE_FIELDS = [
  ["name", "Name"], ["url", "URL"], ["unit_id", "Unit id"], ["poll_interval", "Poll interval (s)"],
  ["timeout", "Timeout (s)"], ["stale_after", "Stale after (s)"], ["max_registers", "Max registers per read"],
  ["max_gap", "Max gap"],
];
const TAG_FIELDS = [
  ["name", "Name"], ["table", "Table"], ["address", "Address"], ["type", "Type"], ["order", "Order"],
  ["bit", "Bit"], ["length", "Length"], ["scale", "Scale"], ["offset", "Offset"], ["unit", "Unit"],
  ["range", "Range"], ["description", "Description"],
];
const CHOICE_FIELDS = { table: "table", type: "type", order: "order" };
// Shown in empty fields: what the gateway takes when a key is left out (docs/configuration.md).
const DEFAULTS = {
  unit_id: "1", poll_interval: "1.0", timeout: "1.0", stale_after: "0 (off)", max_registers: "125",
  max_gap: "8", order: "ABCD", scale: "1.0", offset: "0.0", range: "low, high",
};

const app = document.getElementById("app");
const state = { devices: [], choices: {}, file: null, revision: null, selected: 0, events: null, problems: [] };
const editable = may("engineer");

function text(value) {
  if (value === undefined || value === null) return "";
  return Array.isArray(value) ? value.join(", ") : String(value);
}

function field(owner, key, path, label) {
  const id = path.replace(/[^A-Za-z0-9_-]/g, "_");
  const messages = state.problems.filter((p) => p.path === path);
  const attributes = { id, name: key, dataset: { path }, disabled: !editable,
    "aria-invalid": messages.length ? "true" : undefined };
  if (key in CHOICE_FIELDS) attributes.list = `${key}-choices`;
  const input = el("input", { ...attributes, value: text(owner[key]), placeholder: DEFAULTS[key] });
  input.addEventListener("input", () => { owner[key] = input.value; });
  return el("label", { class: messages.length ? "field invalid" : "field" },
    el("span", {}, label), input,
    ...messages.map((p) => el("span", { class: `problem ${p.severity}`, role: "alert" }, p.message)));
}

function checkbox(owner, key, path, label, fallback) {
  const input = el("input", { type: "checkbox", name: key, dataset: { path }, disabled: !editable });
  input.checked = owner[key] === undefined ? fallback : owner[key] === true;
  input.addEventListener("change", () => { owner[key] = input.checked; });
  const messages = state.problems.filter((p) => p.path === path);
  return el("label", { class: "field check" }, input, el("span", {}, label),
    ...messages.map((p) => el("span", { class: `problem ${p.severity}`, role: "alert" }, p.message)));
}

function datalists() {
  return Object.entries(CHOICE_FIELDS).map(([key, choice]) =>
    el("datalist", { id: `${key}-choices` }, ...(state.choices[choice] || []).map((v) => el("option", { value: v }))));
}

function deviceList() {
  const items = state.devices.map((device, index) =>
    el("li", { class: index === state.selected ? "selected" : "" },
      el("button", { type: "button", class: "link", dataset: { device: device.name || "" },
        on: { click: () => { state.selected = index; render(); } } },
        device.name || "(new device)")));
  return el("nav", { class: "device-list" }, el("ul", {}, ...items),
    editable ? el("button", { type: "button", id: "add-device", on: { click: addDevice } }, "Add device") : null);
}

function addDevice() {
  state.devices.push({ name: "", url: "tcp://127.0.0.1:502", tags: [] });
  state.selected = state.devices.length - 1;
  render();
}

function tagRow(device, tag, d, t) {
  const base = `devices[${d}].tags[${t}]`;
  const key = `${device.name}.${tag.name}`;
  return el("fieldset", { class: "tag", dataset: { tag: tag.name || "", key } },
    el("legend", {}, tag.name || "(new tag)"),
    el("div", { class: "live" },
      el("span", { class: "value", dataset: { valueOf: key } }, ""),
      el("span", { class: "quality", dataset: { qualityOf: key } }, "")),
    ...TAG_FIELDS.map(([k, label]) => field(tag, k, `${base}.${k}`, label)),
    checkbox(tag, "writable", `${base}.writable`, "Writable", false),
    editable ? el("button", { type: "button", class: "secondary", on: { click: () => {
      device.tags.splice(t, 1); render(); } } }, "Remove tag") : null);
}

function deviceForm() {
  const d = state.selected;
  const device = state.devices[d];
  if (!device) return el("p", {}, "No devices are configured.");
  device.tags = device.tags || [];
  const base = `devices[${d}]`;
  return el("form", { id: "device-form", on: { submit: (event) => { event.preventDefault(); apply(); } } },
    el("fieldset", { class: "device" }, el("legend", {}, "Device"),
      ...DEVICE_FIELDS.map(([k, label]) => field(device, k, `${base}.${k}`, label)),
      checkbox(device, "enabled", `${base}.enabled`, "Enabled", true)),
    el("h2", {}, "Tags"),
    ...device.tags.map((tag, t) => tagRow(device, tag, d, t)),
    editable ? el("div", { class: "actions" },
      el("button", { type: "button", id: "add-tag", class: "secondary", on: { click: () => {
        device.tags.push({ name: "", table: "holding", address: "", type: "uint16" }); render(); } } }, "Add tag"),
      el("button", { type: "submit", id: "apply" }, "Apply"),
      el("button", { type: "button", id: "delete-device", class: "danger", on: { click: deleteDevice } }, "Delete device"))
      : null,
    el("ul", { id: "other-problems" }));
}

function showStrayProblems() {
  const shown = new Set([...document.querySelectorAll("[data-path]")].map((n) => n.dataset.path));
  const list = document.getElementById("other-problems");
  if (!list) return;
  list.replaceChildren(...state.problems.filter((p) => !shown.has(p.path)).map((p) =>
    el("li", { class: `problem ${p.severity}`, role: "alert" }, p.path ? `${p.path}: ${p.message}` : p.message)));
}

function toolbar() {
  const saved = state.file ? `Changes are saved to ${state.file} (the previous file is kept as .bak).`
    : "This gateway runs without a configuration file: changes apply live but are not saved.";
  const importInput = el("input", { type: "file", id: "import-file", accept: ".toml,text/plain", hidden: true,
    on: { change: importFile } });
  return el("div", { class: "toolbar" }, el("p", {}, saved),
    editable ? el("a", { href: "/api/config", download: "uvelka.toml", class: "button" }, "Export TOML") : null,
    editable ? el("button", { type: "button", on: { click: () => importInput.click() } }, "Import TOML") : null,
    importInput);
}

function render() {
  const name = state.devices[state.selected]?.name;
  app.replaceChildren(toolbar(), el("div", { class: "devices" }, deviceList(), deviceForm()), ...datalists());
  showStrayProblems();
  follow(name);
}

function follow(name) {
  if (state.following === name) return;
  if (state.events) state.events.close();
  state.following = name;
  state.events = name ? listen(`/api/events?device=${encodeURIComponent(name)}`, { values: showValues }) : null;
}

function showValues(values) {
  for (const v of values) {
    const value = document.querySelector(`[data-value-of="${CSS.escape(v.key)}"]`);
    const quality = document.querySelector(`[data-quality-of="${CSS.escape(v.key)}"]`);
    if (value) value.textContent = `${formatValue(v.value)} ${v.unit || ""}`.trim();
    if (quality) {
      quality.textContent = `${v.quality} ${formatTime(v.time)}`;
      quality.className = `quality ${v.quality.startsWith("Good") ? "good" : "bad"}`;
    }
  }
}

function report(outcome) {
  state.problems = outcome.problems;
  if (!outcome.applied) {
    notify("Not applied: fix the fields marked below.");
    return false;
  }
  const changes = outcome.changes.length ? outcome.changes.join("; ") : "nothing changed";
  const restart = outcome.restart_needed.length ? ` Takes effect at the next start: ${outcome.restart_needed.join(", ")}.` : "";
  const saved = outcome.saved ? " Saved." : "";
  notify(`Applied: ${changes}.${saved}${restart}`, "ok");
  return true;
}

// The gateway's answer to a change made against an older revision than the file's (409).
function isStale(error) {
  return error instanceof ApiError && error.status === 409 && error.body.revision !== undefined;
}

async function offerReload() {
  notify("Not applied: the configuration was changed by someone else since this page loaded it.");
  if (confirm("The configuration was changed by another user since this page loaded it. "
    + "Load it again? Your changes on this page will be lost.")) {
    state.problems = [];
    await load();
  }
}

async function send(devices) {
  try {
    const outcome = await putJson("/api/devices", { devices }, { "If-Match": state.revision });
    if (report(outcome)) await load();
    else render();
  } catch (error) {
    if (isStale(error)) await offerReload();
    else notify(error instanceof ApiError ? error.message : String(error));
  }
}

function apply() {
  return send(state.devices);
}

function deleteDevice() {
  const device = state.devices[state.selected];
  if (!confirm(`Delete device ${device.name} and its tags?`)) return;
  const rest = state.devices.filter((_, i) => i !== state.selected);
  state.selected = 0;
  send(rest);
}

async function importFile(event) {
  const file = event.target.files[0];
  if (!file) return;
  event.target.value = "";  // the same file chosen again is a new import
  const text = await file.text();
  const revision = { "If-Match": state.revision };
  try {
    let outcome;
    try {
      outcome = await postJson("/api/config", { text }, revision);
    } catch (error) {
      // An import the gateway wants confirmed (no [web], another [opcua], no devices).
      if (!(error instanceof ApiError && error.status === 409 && error.body.confirm)) throw error;
      const dangers = error.body.confirm.map((danger) => `- ${danger}`).join("\n");
      if (!confirm(`Import ${file.name}? This import:\n${dangers}`)) {
        notify("Not imported: nothing was changed.", "ok");
        return;
      }
      outcome = await postJson("/api/config", { text, confirm: true }, revision);
    }
    if (report(outcome)) await load();
    else { notify(`Not imported: ${outcome.problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`); }
  } catch (error) {
    if (isStale(error)) await offerReload();
    else notify(error.message);
  }
}

async function load() {
  const answer = await getJson("/api/devices");
  const selectedName = state.devices[state.selected]?.name;
  state.devices = answer.devices;
  state.choices = answer.choices;
  state.file = answer.file;
  state.revision = answer.revision;
  const again = state.devices.findIndex((d) => d.name === selectedName);
  state.selected = again >= 0 ? again : Math.min(state.selected, Math.max(state.devices.length - 1, 0));
  render();
}

load().catch((error) => notify(error.message));
