// Devices and tags: edit the configuration's [[devices]] and apply it live; a device's tags
// in a grid (sorted, filtered, a page at a time, so a 1,000-tag device stays quick; issue
// #11) with bulk actions and CSV import and export; live values of the chosen device's
// tags; import and export of the TOML file. The choices of table, type and order and each
// type's width come from the API (the validator's own lists); problems come from the
// validator too, checked as the engineer edits, each shown in its cell. Every change names
// the revision of the file this page loaded (If-Match): a change someone else made since is
// never overwritten; the page offers to load it instead (issue #17).
import { ApiError, el, formatTime, formatValue, getJson, listen, may, notify, postJson, putJson, serverWords, t, tn } from "./common.js";

const DEVICE_FIELDS = [
  ["name", t("Name")], ["url", t("URL")], ["unit_id", t("Unit id")], ["poll_interval", t("Poll interval (s)")],
  ["timeout", t("Timeout (s)")], ["stale_after", t("Stale after (s)")], ["max_registers", t("Max registers per read")],
  ["max_gap", t("Max gap")],
];
// The grid's columns: key, heading, and how it is edited (a select offers the API's choices).
const COLUMNS = [
  ["name", t("Name"), "text"], ["table", t("Table"), "select"], ["address", t("Address"), "text"],
  ["type", t("Type"), "select"], ["order", t("Order"), "select"], ["bit", t("Bit"), "text"],
  ["length", t("Length"), "text"], ["scale", t("Scale"), "text"], ["offset", t("Offset"), "text"],
  ["unit", t("Unit"), "text"], ["range", t("Range"), "text"], ["deadband", t("Deadband"), "text"],
  ["writable", t("Writable"), "check"], ["description", t("Description"), "text"],
];
const FILTERED = ["name", "table", "address", "type", "order", "unit", "description"];
// Shown in empty fields: what the gateway takes when a key is left out (docs/configuration.md).
const DEFAULTS = {
  unit_id: "1", poll_interval: "1.0", timeout: "1.0", stale_after: t("0 (off)"), max_registers: "125",
  max_gap: "8", order: "ABCD", scale: "1.0", offset: "0.0", range: t("low, high"), deadband: "0",
};
// Not more: 1,000 rows of form controls took seconds to lay out (docs/web.md, "Devices grid").
const PAGE_SIZES = [50, 100, 250];
const CHECK_DELAY_MS = 400;  // after the last keystroke: one check per pause, not per key
const TAG_PATH = /^devices\[(\d+)\]\.tags\[(\d+)\](?:\.(\w+))?/;

const app = document.getElementById("app");
const state = {
  devices: [], saved: new Set(), choices: {}, file: null, revision: null, selected: 0, events: null,
  problems: [],
  page: 0, pageSize: 100, sort: null, filter: "", onlyProblems: false,
  chosen: new Set(),  // the selected tags (objects, so sorting and deleting keep them)
  values: new Map(),  // the latest value of each tag key, for rows drawn later
  cells: new Map(),  // path -> {box, control} of what is drawn, for problems shown in place
  live: new Map(),  // tag key -> its value and quality nodes as drawn
  edits: 0,  // counts changes: a check answered for an older state is dropped
  checkTimer: null,
};
const editable = may("engineer");

function text(value) {
  if (value === undefined || value === null) return "";
  return Array.isArray(value) ? value.join(", ") : String(value);
}

let indexed = { problems: null, byPath: new Map() };

function problemsAt(path) {
  if (indexed.problems !== state.problems) {
    const byPath = new Map();
    for (const p of state.problems) byPath.set(p.path, [...(byPath.get(p.path) || []), p]);
    indexed = { problems: state.problems, byPath };
  }
  return indexed.byPath.get(path) || [];
}

function alerts(messages) {
  return messages.map((p) => el("span", { class: `problem ${p.severity}`, role: "alert" }, p.message));
}

// A control and its problems in a label; registered so that showProblems marks it, and a
// check marks it again in place.
function boxed(control, path, label, className) {
  const box = el("label", { class: className }, label ? el("span", {}, label) : null, control);
  state.cells.set(path, { box, control, className, marked: false });
  return box;
}

function markCell(path) {
  const cell = state.cells.get(path);
  const messages = problemsAt(path);
  if (!messages.length && !cell.marked) return;  // most cells, most of the time
  cell.marked = messages.length > 0;
  cell.box.className = messages.length ? `${cell.className} invalid` : cell.className;
  cell.box.querySelectorAll(".problem").forEach((node) => node.remove());
  cell.box.append(...alerts(messages));
  if (messages.length) cell.control.setAttribute("aria-invalid", "true");
  else cell.control.removeAttribute("aria-invalid");
}

function edited(structural = false) {
  state.edits += 1;
  if (structural) state.problems = [];  // their tag indices no longer hold
  if (!editable) return;
  clearTimeout(state.checkTimer);
  state.checkTimer = setTimeout(check, CHECK_DELAY_MS);
}

async function check() {
  const edits = state.edits;
  try {
    const answer = await postJson("/api/devices/check", { devices: state.devices });
    if (edits !== state.edits) return;
    state.problems = answer.problems;
    showProblems();
  } catch (error) {
    notify(error instanceof ApiError ? error.message : String(error));
  }
}

function input(owner, key, path, labelText) {
  const control = el("input", { name: key, dataset: { path }, disabled: !editable, value: text(owner[key]),
    placeholder: DEFAULTS[key], "aria-label": labelText });
  control.addEventListener("input", () => { owner[key] = control.value; edited(); });
  return control;
}

function select(owner, key, path, labelText) {
  const current = text(owner[key]);
  const values = [...(state.choices[key] || [])];
  if (current && !values.includes(current)) values.unshift(current);  // never lose what the file says
  const blank = key === "order" ? `(${DEFAULTS.order})` : (current ? null : "");
  const control = el("select", { name: key, dataset: { path }, disabled: !editable, "aria-label": labelText },
    blank === null ? null : el("option", { value: "" }, blank),
    ...values.map((v) => el("option", { value: v, selected: v === current }, v)));
  control.addEventListener("change", () => { owner[key] = control.value; edited(); });
  return control;
}

function checkbox(owner, key, path, labelText, fallback) {
  const control = el("input", { type: "checkbox", name: key, dataset: { path }, disabled: !editable,
    "aria-label": labelText });
  control.checked = owner[key] === undefined ? fallback : owner[key] === true;
  control.addEventListener("change", () => { owner[key] = control.checked; edited(); });
  return control;
}

function field(owner, key, path, label) {
  return boxed(input(owner, key, path), path, label, "field");
}

// The indices of the devices with problems, as text.
function troubledDevices() {
  return new Set(state.problems.map((p) => /^devices\[(\d+)\]/.exec(p.path)?.[1]));
}

function deviceList() {
  const troubled = troubledDevices();
  state.troubled = [...troubled].join();
  const items = state.devices.map((device, index) =>
    el("li", { class: index === state.selected ? "selected" : "" },
      el("button", { type: "button", class: "link", dataset: { device: device.name || "" },
        on: { click: () => choose(index) } },
        device.name || t("(new device)"), troubled.has(String(index)) ? " ⚠" : "")));
  return el("nav", { class: "device-list" }, el("ul", {}, ...items),
    editable ? el("button", { type: "button", id: "add-device", on: { click: addDevice } }, t("Add device")) : null);
}

function choose(index) {
  Object.assign(state, { selected: index, page: 0, filter: "", onlyProblems: false, chosen: new Set() });
  render();
}

function addDevice() {
  state.devices.push({ name: "", url: "tcp://127.0.0.1:502", tags: [] });
  choose(state.devices.length - 1);
  edited();
}

// -- the grid -------------------------------------------------------------------------------

function tagKey(device, tag) {
  return `${device.name}.${tag.name}`;
}

function problemRows() {
  const rows = new Set();
  for (const p of state.problems) {
    const match = TAG_PATH.exec(p.path);
    if (match && Number(match[1]) === state.selected) rows.add(Number(match[2]));
  }
  return rows;
}

function compare(a, b) {
  const x = Number(text(a)), y = Number(text(b));
  if (text(a) !== "" && text(b) !== "" && Number.isFinite(x) && Number.isFinite(y)) return x - y;
  return text(a).localeCompare(text(b), undefined, { numeric: true });
}

// The indices of the tags shown, filtered and sorted, on every page.
function shownRows(device) {
  const needle = state.filter.trim().toLowerCase();
  const troubled = state.onlyProblems ? problemRows() : null;
  const rows = [];
  device.tags.forEach((tag, t) => {
    if (troubled && !troubled.has(t)) return;
    if (needle && !FILTERED.some((key) => text(tag[key]).toLowerCase().includes(needle))) return;
    rows.push(t);
  });
  if (state.sort) {
    const { key, direction } = state.sort;
    rows.sort((a, b) => direction * compare(device.tags[a][key], device.tags[b][key]) || a - b);
  }
  return rows;
}

function tagRow(device, index) {
  const tag = device.tags[index];
  const base = `devices[${state.selected}].tags[${index}]`;
  const key = tagKey(device, tag);
  const who = tag.name || t("row {row}", { row: index + 1 });
  const cells = COLUMNS.map(([k, heading, kind]) => {
    const path = `${base}.${k}`;
    const labelText = t("{field} of {tag}", { field: heading, tag: who });
    const control = kind === "select" ? select(tag, k, path, labelText)
      : kind === "check" ? checkbox(tag, k, path, labelText, false) : input(tag, k, path, labelText);
    return el("td", { class: `col-${k}` }, boxed(control, path, null, "cell"));
  });
  const value = el("span", { class: "value", dataset: { valueOf: key } });
  const quality = el("span", { class: "quality", dataset: { qualityOf: key } });
  state.live.set(key, { value, quality });
  paintValue(state.values.get(key));
  const choice = el("input", { type: "checkbox", class: "choose", "aria-label": t("select {tag}", { tag: who }),
    on: { change: (event) => { chooseRow(tag, event.target.checked); } } });
  choice.checked = state.chosen.has(tag);
  return el("tr", { dataset: { tag: tag.name || "", key, row: String(index) } },
    editable ? el("td", {}, choice) : null, ...cells, el("td", { class: "live" }, value), el("td", {}, quality));
}

function chooseRow(tag, on) {
  if (on) state.chosen.add(tag); else state.chosen.delete(tag);
  showChosen();
}

function heading(key, label) {
  const sorted = state.sort && state.sort.key === key;
  const arrow = sorted ? (state.sort.direction > 0 ? " ▲" : " ▼") : "";
  return el("th", { class: `col-${key}`,
    "aria-sort": sorted ? (state.sort.direction > 0 ? "ascending" : "descending") : undefined },
    el("button", { type: "button", class: "link sort", dataset: { sort: key }, on: { click: () => {
      state.sort = sorted && state.sort.direction > 0 ? { key, direction: -1 }
        : sorted ? null : { key, direction: 1 };
      state.page = 0;
      renderGrid();
    } } }, label + arrow));
}

function renderGrid() {
  const started = performance.now();
  const grid = document.getElementById("tag-grid");
  const device = state.devices[state.selected];
  if (!grid || !device) return;
  for (const path of [...state.cells.keys()]) if (TAG_PATH.test(path)) state.cells.delete(path);
  state.live.clear();
  const rows = shownRows(device);
  const pages = Math.max(1, Math.ceil(rows.length / state.pageSize));
  state.page = Math.min(state.page, pages - 1);
  const first = state.page * state.pageSize;
  const page = rows.slice(first, first + state.pageSize);
  const all = el("input", { type: "checkbox", id: "choose-shown", "aria-label": tn("select the {n} shown", "select all {n} shown", rows.length),
    on: { change: (event) => {
      for (const t of rows) chooseRow(device.tags[t], event.target.checked);
    } } });
  all.checked = rows.length > 0 && rows.every((t) => state.chosen.has(device.tags[t]));
  const table = el("table", { class: "grid" },
    el("thead", {}, el("tr", {}, editable ? el("th", { class: "col-choose" }, all) : null,
      ...COLUMNS.map(([k, label]) => heading(k, label)), el("th", { class: "col-value" }, t("Value")),
      el("th", { class: "col-quality" }, t("Quality")))),
    el("tbody", {}, ...page.map((t) => tagRow(device, t))));
  const shown = rows.length === device.tags.length ? tn("{n} tag", "{n} tags", rows.length)
    : tn("{shown} of {n} tag shown", "{shown} of {n} tags shown", device.tags.length, { shown: rows.length });
  const range = rows.length ? t("rows {first}–{last} of ", { first: first + 1, last: first + page.length }) : "";
  const pager = el("div", { class: "pager" },
    el("button", { type: "button", class: "secondary", disabled: state.page === 0,
      on: { click: () => { state.page -= 1; renderGrid(); } } }, `‹ ${t("Previous")}`),
    el("span", { id: "grid-position" }, t("Page {page} of {pages}: {range}{shown}", { page: state.page + 1, pages, range, shown })),
    el("button", { type: "button", class: "secondary", disabled: state.page >= pages - 1,
      on: { click: () => { state.page += 1; renderGrid(); } } }, `${t("Next")} ›`),
    el("label", {}, `${t("Rows per page")} `, el("select", { id: "page-size", on: { change: (event) => {
      state.pageSize = Number(event.target.value); state.page = 0; renderGrid(); } } },
    ...PAGE_SIZES.map((n) => el("option", { value: n, selected: n === state.pageSize }, String(n))))));
  grid.replaceChildren(el("div", { class: "grid-scroll" }, table), pager);
  showChosen();
  showProblems();
  void grid.offsetHeight;  // reading it lays the grid out now, inside the measurement  // reading it lays the grid out now, inside the measurement
  grid.dataset.rows = String(page.length);
  grid.dataset.renderMs = (performance.now() - started).toFixed(1);
}

// -- bulk actions ---------------------------------------------------------------------------

function chosenTags(device) {
  // In the grid's order, so "renumber" lays them out as the engineer sees them.
  return shownRows(device).map((t) => device.tags[t]).filter((tag) => state.chosen.has(tag));
}

function showChosen() {
  const count = document.getElementById("chosen-count");
  if (!count) return;
  const device = state.devices[state.selected];
  const chosen = device.tags.filter((tag) => state.chosen.has(tag)).length;
  count.textContent = t("{count} selected", { count: chosen });
  for (const button of document.querySelectorAll("[data-bulk]")) button.disabled = chosen === 0;
}

function widthOf(tag) {
  // Words of a value (one for a bool, also in a bit table); a string's length decides.
  const words = state.choices.words?.[tag.type];
  if (words !== undefined && words !== null) return words;
  return Math.max(1, Math.ceil(Number(tag.length || 0) / 2));
}

function nextFree(device, table) {
  let next = 0;
  for (const tag of device.tags) {
    const address = Number(tag.address);
    if ((tag.table || "") === table && text(tag.address) !== "" && Number.isInteger(address)) {
      next = Math.max(next, address + widthOf(tag));
    }
  }
  return next;
}

function bulkValue(id) {
  return document.getElementById(id).value.trim();
}

function setForChosen(key, value) {
  const device = state.devices[state.selected];
  for (const tag of chosenTags(device)) {
    if (value === "") delete tag[key]; else tag[key] = value;
  }
  renderGrid();
  edited();
}

function renumber() {
  const device = state.devices[state.selected];
  const tags = chosenTags(device);
  let address = Number(tags[0].address);
  if (!Number.isInteger(address)) address = nextFree(device, tags[0].table);
  for (const tag of tags) {
    tag.address = address;
    address += widthOf(tag);
  }
  renderGrid();
  edited();
}

function deleteChosen() {
  const device = state.devices[state.selected];
  const count = chosenTags(device).length;
  if (!confirm(tn("Delete {n} tag of {device}? Nothing is applied until you press Apply.",
    "Delete {n} tags of {device}? Nothing is applied until you press Apply.", count, { device: device.name }))) return;
  device.tags = device.tags.filter((tag) => !state.chosen.has(tag));
  state.chosen = new Set();
  edited(true);
  renderGrid();
}

function addConsecutive() {
  const device = state.devices[state.selected];
  const count = Number(bulkValue("add-count"));
  if (!Number.isInteger(count) || count < 1 || count > 10000) {
    notify(t("Add consecutive tags: the count must be a whole number from 1 to 10000."));
    return;
  }
  const table = bulkValue("add-table"), type = bulkValue("add-type"), order = bulkValue("add-order");
  const length = bulkValue("add-length");
  const start = bulkValue("add-start");
  let address = start === "" ? nextFree(device, table) : Number(start);
  if (!Number.isInteger(address) || address < 0) {
    notify(t("Add consecutive tags: the first address must be a whole number from 0."));
    return;
  }
  const prefix = bulkValue("add-prefix") || "tag";
  const names = new Set(device.tags.map((tag) => tag.name));
  let number = 1;
  const added = [];
  for (let i = 0; i < count; i += 1) {
    while (names.has(`${prefix}${number}`)) number += 1;
    const tag = { name: `${prefix}${number}`, table, address, type };
    if (order) tag.order = order;
    if (length && type === "string") tag.length = length;
    names.add(tag.name);
    added.push(tag);
    address += widthOf(tag);
  }
  device.tags.push(...added);
  state.chosen = new Set(added);
  Object.assign(state, { filter: "", onlyProblems: false, sort: null });
  state.page = Math.floor((device.tags.length - count) / state.pageSize);
  edited(true);
  render();
  notify(tn("Added {n} tag ({first} to {last}), selected: press Apply to make it live.",
    "Added {n} tags ({first} to {last}), selected: press Apply to make them live.", count,
    { first: added[0].name, last: added.at(-1).name }), "ok");
}

function choiceSelect(id, key, blank, label) {
  return el("select", { id, "aria-label": label }, blank === null ? null : el("option", { value: "" }, blank),
    ...(state.choices[key] || []).map((v) => el("option", { value: v }, v)));
}

function bulkTools() {
  if (!editable) return null;
  const bulk = (label, attributes, action) =>
    el("button", { type: "button", class: "secondary", dataset: { bulk: "" }, ...attributes, on: { click: action } },
      label);
  return el("div", { class: "grid-tools" },
    el("fieldset", { class: "bulk" }, el("legend", {}, t("Selected tags")),
      el("span", { id: "chosen-count" }, ""),
      choiceSelect("bulk-type", "type", null, t("type for the selected tags")),
      bulk(t("Set type"), {}, () => setForChosen("type", bulkValue("bulk-type"))),
      choiceSelect("bulk-order", "order", `(${DEFAULTS.order})`, t("order for the selected tags")),
      bulk(t("Set order"), {}, () => setForChosen("order", bulkValue("bulk-order"))),
      el("input", { id: "bulk-scale", "aria-label": t("scale for the selected tags"), placeholder: DEFAULTS.scale,
        size: 6 }),
      bulk(t("Set scale"), {}, () => setForChosen("scale", bulkValue("bulk-scale"))),
      bulk(t("Renumber addresses"), { title: t("consecutive from the first selected, each type's width apart") },
        renumber),
      bulk(t("Delete selected"), { class: "danger" }, deleteChosen)),
    el("fieldset", { class: "bulk" }, el("legend", {}, t("Add consecutive tags")),
      el("input", { id: "add-count", type: "number", min: 1, max: 10000, value: 10, "aria-label": t("how many"),
        class: "narrow" }),
      el("input", { id: "add-prefix", value: "tag", "aria-label": t("name prefix"), size: 8 }),
      choiceSelect("add-table", "table", null, t("table of the new tags")),
      choiceSelect("add-type", "type", null, t("type of the new tags")),
      choiceSelect("add-order", "order", `(${DEFAULTS.order})`, t("order of the new tags")),
      el("input", { id: "add-length", "aria-label": t("length of new string tags"), placeholder: t("length"), size: 6 }),
      el("input", { id: "add-start", "aria-label": t("first address"), placeholder: t("next free"), size: 8 }),
      el("button", { type: "button", class: "secondary", on: { click: addConsecutive } }, t("Add consecutive"))));
}

// -- CSV ------------------------------------------------------------------------------------

async function importCsv(event) {
  const file = event.target.files[0];
  if (!file) return;
  event.target.value = "";  // the same file chosen again is a new import
  const d = state.selected;
  const device = state.devices[d];
  try {
    const parsed = await postJson("/api/tags/csv", { text: await file.text() });
    let bad = parsed.problems.map((p) => t("line {line}: {problem}", { line: p.line, problem: p.message }));
    if (!bad.length) {
      // The whole configuration as it would be, checked by the validator: a tag's problems
      // are said on the tag's line.
      const devices = state.devices.map((other, i) => (i === d ? { ...other, tags: parsed.tags } : other));
      const answer = await postJson("/api/devices/check", { devices });
      bad = answer.problems.filter((p) => p.severity === "error").flatMap((p) => {
        const match = TAG_PATH.exec(p.path);
        if (!match || Number(match[1]) !== d) return [];
        return [t("line {line}: {problem}", { line: parsed.lines[Number(match[2])],
          problem: `${match[3] || t("tag")}: ${p.message}` })];
      });
    }
    if (bad.length) {
      showImportProblems(file.name, bad);
      notify(tn("Not imported: {file} has {n} problem (listed below); nothing was changed.",
        "Not imported: {file} has {n} problems (listed below); nothing was changed.", bad.length, { file: file.name }));
      return;
    }
    const old = tn("{n} tag", "{n} tags", device.tags.length);
    const replaced = device.name || t("this device");
    const imported = tn("{n} tag", "{n} tags", parsed.tags.length);
    if (!confirm(t("Replace the {old} of {device} with the {new} of {file}? Nothing is applied until you press Apply.",
      { old, device: replaced, new: imported, file: file.name }))) {
      notify(t("Not imported: nothing was changed."), "ok");
      return;
    }
    device.tags = parsed.tags;
    Object.assign(state, { chosen: new Set(), page: 0, filter: "", onlyProblems: false });
    edited(true);
    render();
    notify(tn("Imported {n} tag from {file}: press Apply to make it live.",
      "Imported {n} tags from {file}: press Apply to make them live.", parsed.tags.length, { file: file.name }), "ok");
  } catch (error) {
    notify(error instanceof ApiError ? error.message : String(error));
  }
}

function showImportProblems(name, lines) {
  const list = document.getElementById("import-problems");
  list.replaceChildren(el("li", {}, `${name}:`), ...lines.map((line) =>
    el("li", { class: "problem error", role: "alert" }, line)));
}

function csvTools(device) {
  const exists = device.name && state.saved.has(device.name);
  const picker = el("input", { type: "file", id: "import-csv", accept: ".csv,text/csv", hidden: true,
    on: { change: importCsv } });
  return el("div", { class: "toolbar" },
    exists ? el("a", { class: "button", download: `${device.name}-tags.csv`, title: t("the tags as applied"),
      href: `/api/devices/${encodeURIComponent(device.name)}/tags.csv` }, t("Export tags (CSV)")) : null,
    editable ? el("button", { type: "button", class: "secondary", on: { click: () => picker.click() } },
      t("Import tags (CSV)")) : null,
    picker);
}

// -- the page -------------------------------------------------------------------------------

function gridFilter() {
  let timer = null;
  const search = el("input", { id: "tag-filter", type: "search", value: state.filter, placeholder: t("name, type, unit…"),
    "aria-label": t("filter tags") });
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.filter = search.value; state.page = 0; renderGrid(); }, 150);
  });
  const troubled = el("input", { type: "checkbox", id: "only-problems", checked: state.onlyProblems });
  troubled.addEventListener("change", () => { state.onlyProblems = troubled.checked; state.page = 0; renderGrid(); });
  return el("div", { class: "toolbar" }, el("label", {}, `${t("Filter")} `, search),
    el("label", {}, troubled, ` ${t("Only rows with problems")}`));
}

function deviceForm() {
  const d = state.selected;
  const device = state.devices[d];
  if (!device) return el("p", {}, t("No devices are configured."));
  device.tags = device.tags || [];
  const base = `devices[${d}]`;
  return el("div", { id: "device-form" },
    el("fieldset", { class: "device" }, el("legend", {}, t("Device")),
      ...DEVICE_FIELDS.map(([k, label]) => field(device, k, `${base}.${k}`, label)),
      boxed(checkbox(device, "enabled", `${base}.enabled`, undefined, true), `${base}.enabled`, t("Enabled"),
        "field check")),
    el("h2", {}, t("Tags")),
    csvTools(device),
    el("ul", { id: "import-problems" }),
    gridFilter(),
    bulkTools(),
    el("div", { id: "tag-grid" }),
    editable ? el("div", { class: "actions" },
      el("button", { type: "button", id: "add-tag", class: "secondary", on: { click: addTag } }, t("Add tag")),
      el("button", { type: "button", id: "apply", on: { click: apply } }, t("Apply")),
      el("button", { type: "button", id: "delete-device", class: "danger", on: { click: deleteDevice } }, t("Delete device")))
      : null,
    el("ul", { id: "other-problems" }));
}

function addTag() {
  const device = state.devices[state.selected];
  device.tags.push({ name: "", table: "holding", address: "", type: "uint16" });
  Object.assign(state, { filter: "", onlyProblems: false, sort: null });
  state.page = Math.floor((device.tags.length - 1) / state.pageSize);
  edited(true);
  render();
}

// Problems marked in the cells drawn; the others listed under the grid, a tag's with a way
// to its row.
function showProblems() {
  for (const path of state.cells.keys()) markCell(path);
  if ([...troubledDevices()].join() !== state.troubled) {
    document.querySelector("nav.device-list")?.replaceWith(deviceList());
  }
  const list = document.getElementById("other-problems");
  if (!list) return;
  const device = state.devices[state.selected];
  list.replaceChildren(...state.problems.filter((p) => !state.cells.has(p.path)).map((p) => {
    const match = TAG_PATH.exec(p.path);
    const where = p.path ? `${p.path}: ${p.message}` : p.message;
    if (!match || Number(match[1]) !== state.selected) {
      return el("li", { class: `problem ${p.severity}`, role: "alert" }, where);
    }
    const index = Number(match[2]);
    const tag = device.tags[index]?.name || t("no name");
    return el("li", { class: `problem ${p.severity}`, role: "alert" },
      el("button", { type: "button", class: "link", on: { click: () => showRow(index) } },
        t("row {row} ({tag})", { row: index + 1, tag })), `: ${match[3] || t("tag")}: ${p.message}`);
  }));
}

function showRow(t) {
  const device = state.devices[state.selected];
  let rows = shownRows(device);
  if (!rows.includes(t)) {
    Object.assign(state, { filter: "", onlyProblems: false });
    document.getElementById("tag-filter").value = "";
    document.getElementById("only-problems").checked = false;
    rows = shownRows(device);
  }
  state.page = Math.floor(rows.indexOf(t) / state.pageSize);
  renderGrid();
  document.querySelector(`tr[data-row="${t}"] [aria-invalid], tr[data-row="${t}"] input`)?.focus();
}

function toolbar() {
  const saved = state.file ? t("Changes are saved to {file} (the previous file is kept as .bak).", { file: state.file })
    : t("This gateway runs without a configuration file: changes apply live but are not saved.");
  const importInput = el("input", { type: "file", id: "import-file", accept: ".toml,text/plain", hidden: true,
    on: { change: importFile } });
  return el("div", { class: "toolbar" }, el("p", {}, saved),
    editable ? el("a", { href: "/api/config", download: "uvelka.toml", class: "button" }, t("Export TOML")) : null,
    editable ? el("button", { type: "button", on: { click: () => importInput.click() } }, t("Import TOML")) : null,
    importInput);
}

function render() {
  const name = state.devices[state.selected]?.name;
  state.cells.clear();
  app.replaceChildren(toolbar(), el("div", { class: "devices" }, deviceList(), deviceForm()));
  renderGrid();
  follow(name);
}

function follow(name) {
  if (state.following === name) return;
  if (state.events) state.events.close();
  state.following = name;
  state.events = name ? listen(`/api/events?device=${encodeURIComponent(name)}`, { values: showValues }) : null;
}

function paintValue(v) {
  const nodes = v && state.live.get(v.key);
  if (!nodes) return;
  nodes.value.textContent = `${formatValue(v.value)} ${v.unit || ""}`.trim();
  nodes.quality.textContent = `${serverWords(v.quality)} ${formatTime(v.time)}`;
  nodes.quality.className = `quality ${v.quality.startsWith("Good") ? "good" : "bad"}`;
}

function showValues(values) {
  for (const v of values) {
    state.values.set(v.key, v);
    paintValue(v);
  }
}

function report(outcome) {
  state.problems = outcome.problems;
  if (!outcome.applied) {
    notify(t("Not applied: fix the fields marked below."));
    return false;
  }
  const changes = outcome.changes.length ? outcome.changes.join("; ") : t("nothing changed");
  const restart = outcome.restart_needed.length
    ? ` ${t("Takes effect at the next start: {changes}.", { changes: outcome.restart_needed.join(", ") })}` : "";
  const saved = outcome.saved ? ` ${t("Saved.")}` : "";
  notify(`${t("Applied: {changes}.", { changes })}${saved}${restart}`, "ok");
  return true;
}

// The gateway's answer to a change made against an older revision than the file's (409).
function isStale(error) {
  return error instanceof ApiError && error.status === 409 && error.body.revision !== undefined;
}

async function offerReload() {
  notify(t("Not applied: the configuration was changed by someone else since this page loaded it."));
  if (confirm(t("The configuration was changed by another user since this page loaded it. Load it again? Your changes on this page will be lost."))) {
    state.problems = [];
    await load();
  }
}

async function send(devices) {
  clearTimeout(state.checkTimer);
  state.edits += 1;  // a check still under way answers for what was sent before
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
  if (!confirm(t("Delete device {device} and its tags?", { device: device.name }))) return;
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
      if (!confirm(t("Import {file}? This import:\n{dangers}", { file: file.name, dangers }))) {
        notify(t("Not imported: nothing was changed."), "ok");
        return;
      }
      outcome = await postJson("/api/config", { text, confirm: true }, revision);
    }
    if (report(outcome)) await load();
    else { notify(t("Not imported: {problems}", { problems: outcome.problems.map((p) => `${p.path}: ${p.message}`).join("; ") })); }
  } catch (error) {
    if (isStale(error)) await offerReload();
    else notify(error.message);
  }
}

async function load() {
  const answer = await getJson("/api/devices");
  const selectedName = state.devices[state.selected]?.name;
  state.devices = answer.devices;
  state.saved = new Set(answer.devices.map((d) => d.name));
  state.choices = answer.choices;
  state.file = answer.file;
  state.revision = answer.revision;
  state.chosen = new Set();
  state.edits += 1;
  const again = state.devices.findIndex((d) => d.name === selectedName);
  state.selected = again >= 0 ? again : Math.min(state.selected, Math.max(state.devices.length - 1, 0));
  render();
}

load().catch((error) => notify(error.message));
