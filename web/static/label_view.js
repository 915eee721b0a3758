// Expert labels and alarm verdicts (issue #12), on the Trends page, the Labels page and the
// Alarms page: the label form (engineers; a range brushed on Trends fills it), the labels'
// table with Edit and Delete, their bands on a chart, and the verdict form. The gateway
// checks every label and verdict and says why it refuses one; who made it is the
// logged-in user.
import { ApiError, deleteJson, el, formatTime, may, notify, postJson, putJson, t, table } from "./common.js";

// Everything a person reads about labels and verdicts, in one place.
export const TEXT = {
  label: t("Label"),
  labelRange: t("Label a range"),
  labelRangeHelp: t("Drag across the chart to select the range to label"),
  add: t("Save label"),
  save: t("Save changes"),
  cancel: t("Cancel"),
  edit: t("Edit"),
  remove: t("Delete"),
  asset: t("Asset"),
  start: t("From"),
  end: t("To"),
  kind: t("Label"),
  faultCode: t("Fault code"),
  note: t("Note"),
  user: t("By"),
  changed: t("Changed"),
  verdictOf: t("From the verdict on"),
  none: t("No labels."),
  exportCsv: t("Export CSV for training"),
  exportJson: t("Export JSON"),
  editing: (label) => t("Changing label #{id} of {asset}", { id: label.id, asset: label.asset }),
  confirmDelete: (label) => t("Delete label #{id} of {asset}?", { id: label.id, asset: label.asset }),
  added: (label) => t("Label #{id} saved.", { id: label.id }),
  deleted: (label) => t("Label #{id} deleted.", { id: label.id }),
  band: (label) => `${KINDS[label.kind] || label.kind}${label.fault_code ? ` ${label.fault_code}` : ""}`,
  verdict: t("Verdict"),
  giveVerdict: t("Give verdict"),
  judged: (alarm, verdict) => t('{alarm}: verdict "{verdict}" saved.', { alarm, verdict: VERDICTS[verdict] || verdict }),
};
export const KINDS = { normal: t("Normal"), anomaly: t("Anomaly"), unsure: t("Unsure") };
export const VERDICTS = { confirmed: t("Confirmed (a real fault)"), false: t("False alarm"), unsure: t("Unsure") };
export const COLOURS = { normal: "#2e7d32", anomaly: "#c62828", unsure: "#9e9e9e" };
const HEADINGS = [TEXT.asset, TEXT.start, TEXT.end, TEXT.kind, TEXT.faultCode, TEXT.note, TEXT.user, TEXT.changed, ""];
const MAX_CODE = 64; // the gateway's limits (gateway/store/labels.py)
const MAX_NOTE = 500;

// A time as a datetime-local input holds it (step 1 s): the browser's wall clock.
export function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T`
    + `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

const field = (label, input) => el("label", {}, `${label} `, input);

// The fault codes already used, offered first as the field's suggestions.
function codeInput(id, codes) {
  const list = el("datalist", { id: `${id}-codes` }, ...codes.map((code) => el("option", { value: code })));
  return [el("input", { name: "fault_code", list: list.id, maxlength: String(MAX_CODE), size: "14" }), list];
}

// The label form: `assets` to choose from and the fault `codes` used; `saved(label)` after
// a label was added or changed. Returns the form, with `fill(asset, start, end)` for a
// brushed range and `edit(label)` to change one.
export function labelForm({ assets, codes = [], saved }) {
  let editing = null;
  const [code, suggestions] = codeInput("label", codes);
  const inputs = {
    asset: el("select", { name: "asset" }, ...assets.map((name) => el("option", { value: name }, name))),
    start: el("input", { name: "start", type: "datetime-local", step: "1", required: true }),
    end: el("input", { name: "end", type: "datetime-local", step: "1", required: true }),
    kind: el("select", { name: "kind" }, ...Object.entries(KINDS).map(([value, words]) => el("option", { value }, words))),
    code,
    note: el("input", { name: "note", maxlength: String(MAX_NOTE), size: "30" }),
  };
  // A brushed range keeps its milliseconds; the inputs show it to the second.
  let exact = null;
  const heading = el("p", { class: "editing", hidden: true });
  const submit = el("button", { type: "submit" }, TEXT.add);
  const cancel = el("button", { type: "button", on: { click: () => reset() } }, TEXT.cancel);
  const chosen = (input, at) => (exact && input.value === localInput(at) ? at : new Date(input.value));

  function reset() {
    editing = exact = null;
    for (const name of ["start", "end", "note"]) inputs[name].value = "";
    inputs.code.value = "";
    inputs.kind.value = "anomaly";
    submit.textContent = TEXT.add;
    heading.hidden = true;
    form.hidden = true;
  }

  const form = el("form", { class: "label-form", on: { submit: async (event) => {
    event.preventDefault();
    const body = {
      asset: inputs.asset.value,
      start: chosen(inputs.start, exact?.start).toISOString(),
      end: chosen(inputs.end, exact?.end).toISOString(),
      kind: inputs.kind.value,
      fault_code: inputs.code.value,
      note: inputs.note.value,
    };
    try {
      const label = editing ? await putJson(`/api/labels/${editing.id}`, body) : await postJson("/api/labels", body);
      notify(TEXT.added(label), "ok");
      reset();
      saved(label);
    } catch (error) {
      notify(error instanceof ApiError ? error.message : String(error));
    }
  } } },
  heading,
  el("div", { class: "toolbar" }, field(TEXT.asset, inputs.asset), field(TEXT.start, inputs.start),
    field(TEXT.end, inputs.end), field(TEXT.kind, inputs.kind)),
  el("div", { class: "toolbar" }, field(TEXT.faultCode, inputs.code), suggestions, field(TEXT.note, inputs.note),
    submit, cancel));

  form.fill = (asset, start, end) => {
    reset();
    exact = { start, end };
    if (asset) inputs.asset.value = asset;
    inputs.start.value = localInput(start);
    inputs.end.value = localInput(end);
    form.hidden = false;
    inputs.kind.focus();
  };
  form.edit = (label) => {
    form.fill(label.asset, new Date(label.start), new Date(label.end));
    editing = label;
    inputs.kind.value = label.kind;
    inputs.code.value = label.fault_code;
    inputs.note.value = label.note;
    heading.textContent = TEXT.editing(label);
    submit.textContent = TEXT.save;
    heading.hidden = false;
    form.scrollIntoView({ block: "nearest" });
  };
  reset();
  return form;
}

// One row per label; engineers get Edit (into `form`) and Delete (then `changed()`).
export function labelTable(labels, { form, changed }) {
  if (!labels.length) return el("p", { class: "placeholder" }, TEXT.none);
  const engineer = may("engineer");
  return table(HEADINGS, labels.map((label) => el("tr", { dataset: { label: String(label.id), kind: label.kind } },
    el("td", {}, label.asset),
    el("td", {}, formatTime(label.start)),
    el("td", {}, formatTime(label.end)),
    el("td", {}, el("span", { class: `label-kind label-${label.kind}` }, KINDS[label.kind] || label.kind)),
    el("td", {}, label.fault_code),
    el("td", { class: "note" }, label.note),
    el("td", {}, label.user),
    el("td", {}, label.changed_by !== label.user || label.changed !== label.entered
      ? `${label.changed_by}, ${formatTime(label.changed)}` : ""),
    el("td", {}, engineer && form ? el("button", { type: "button", class: "edit", on: { click: () => form.edit(label) } }, TEXT.edit) : null,
      engineer ? el("button", { type: "button", class: "delete", on: { click: async () => {
        if (!window.confirm(TEXT.confirmDelete(label))) return;
        try {
          await deleteJson(`/api/labels/${label.id}`);
          notify(TEXT.deleted(label), "ok");
          changed();
        } catch (error) {
          notify(error.message);
        }
      } } }, TEXT.remove) : null))));
}

// The labels as Plotly shapes over the whole chart height; `at` turns a time into the x
// the chart uses.
export function labelBands(labels, at) {
  return labels.map((label) => ({ type: "rect", xref: "x", yref: "paper", y0: 0, y1: 1, layer: "below",
    x0: at(new Date(label.start)), x1: at(new Date(label.end)), fillcolor: COLOURS[label.kind] || "#999",
    opacity: 0.18, line: { width: 0 }, name: `label-${label.id}`,
    label: { text: TEXT.band(label), textposition: "top right", font: { size: 10 } } }));
}

// A verdict on an alarm: `url` takes {verdict, fault_code, note}; `done()` after.
export function verdictForm({ alarm, url, codes = [], done }) {
  const choice = el("select", { name: "verdict", "aria-label": t("Verdict {alarm}", { alarm }) },
    ...Object.entries(VERDICTS).map(([value, words]) => el("option", { value }, words)));
  const [code, suggestions] = codeInput(`verdict-${alarm}`, codes);
  code.classList.add("comment"); // typing here holds the page's refresh, as a comment does
  const note = el("input", { name: "note", class: "comment", maxlength: String(MAX_NOTE), placeholder: TEXT.note });
  return el("form", { class: "inline verdict-form", dataset: { alarm }, on: { submit: async (event) => {
    event.preventDefault();
    try {
      await postJson(url, { verdict: choice.value, fault_code: code.value, note: note.value });
      notify(TEXT.judged(alarm, choice.value), "ok");
    } catch (error) {
      notify(error.message);
    }
    done();
  } } }, choice, code, suggestions, note, el("button", { type: "submit", class: "secondary" }, TEXT.giveVerdict));
}
