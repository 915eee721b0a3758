// The maintenance log's entries (issue #12), on the asset page and on the Maintenance log
// page: a form to add one (operators and engineers) or change one (engineers), and a table
// of them with Edit and Delete (engineers). The gateway checks every entry and says why
// it refuses one; who entered it is the logged-in user.
import { ApiError, deleteJson, el, formatTime, may, notify, postJson, putJson, t, table } from "./common.js";

// Everything a person reads about maintenance entries, in one place.
export const TEXT = {
  title: t("Maintenance"),
  add: t("Add entry"),
  save: t("Save changes"),
  cancel: t("Cancel"),
  edit: t("Edit"),
  remove: t("Delete"),
  asset: t("Asset"),
  started: t("Started"),
  finished: t("Finished"),
  kind: t("Kind"),
  parts: t("Parts"),
  note: t("Note"),
  resetsLife: t("Resets life"),
  resetsLifeHelp: t("as good as new: the RUL commissioning restarts and a new normal period begins"),
  user: t("Entered by"),
  none: t("No maintenance entries."),
  all: t("All maintenance entries"),
  exportCsv: t("Export CSV"),
  renews: t("resets life"),
  editing: (entry) => t("Changing entry #{id} of {asset}", { id: entry.id, asset: entry.asset }),
  confirmDelete: (entry) => t("Delete maintenance entry #{id} of {asset}?", { id: entry.id, asset: entry.asset }),
  added: (entry) => t("Entry #{id} added.", { id: entry.id }),
  saved: (entry) => t("Entry #{id} saved.", { id: entry.id }),
  deleted: (entry) => t("Entry #{id} deleted.", { id: entry.id }),
};
export const KINDS = {
  inspection: t("Inspection"),
  lubrication: t("Lubrication"),
  repair: t("Repair"),
  part_replacement: t("Part replacement"),
  calibration: t("Calibration"),
  other: t("Other"),
};
export const HEADINGS = [TEXT.asset, TEXT.started, TEXT.finished, TEXT.kind, TEXT.parts, TEXT.note, TEXT.user, ""];
const MAX_TEXT = 500; // the gateway's limit for parts and note (as an alarm comment)

// A time as a datetime-local input holds it: the browser's wall clock, to the minute.
export function localInput(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

const field = (label, input) => el("label", {}, `${label} `, input);

// The form: `assets` to choose from, or the one `asset` of its page; `saved(entry)` after
// an entry was added or changed. Returns the form, with `edit(entry)` to change one.
export function entryForm({ assets = [], asset = null, saved }) {
  let editing = null;
  const inputs = {
    asset: asset ? null : el("select", { name: "asset", required: true },
      ...assets.map((name) => el("option", { value: name }, name))),
    started: el("input", { name: "started", type: "datetime-local", required: true }),
    finished: el("input", { name: "finished", type: "datetime-local", required: true }),
    kind: el("select", { name: "kind" }, ...Object.entries(KINDS).map(([value, label]) => el("option", { value }, label))),
    parts: el("input", { name: "parts", maxlength: String(MAX_TEXT), size: "30" }),
    note: el("textarea", { name: "note", maxlength: String(MAX_TEXT), rows: "2", cols: "40" }),
    resetsLife: el("input", { name: "resets_life", type: "checkbox" }),
  };
  const heading = el("p", { class: "editing", hidden: true });
  const submit = el("button", { type: "submit" }, TEXT.add);
  const cancel = el("button", { type: "button", hidden: true, on: { click: () => reset() } }, TEXT.cancel);

  function reset() {
    editing = null;
    const now = new Date();
    inputs.started.value = localInput(new Date(now - 3600 * 1000));
    inputs.finished.value = localInput(now);
    for (const name of ["parts", "note"]) inputs[name].value = "";
    inputs.kind.value = "inspection";
    inputs.resetsLife.checked = false;
    submit.textContent = TEXT.add;
    heading.hidden = cancel.hidden = true;
  }

  const form = el("form", { class: "maintenance-form", on: { submit: async (event) => {
    event.preventDefault();
    const body = {
      asset: asset || inputs.asset.value,
      started: new Date(inputs.started.value).toISOString(),
      finished: new Date(inputs.finished.value).toISOString(),
      kind: inputs.kind.value,
      parts: inputs.parts.value,
      note: inputs.note.value,
      resets_life: inputs.resetsLife.checked,
    };
    try {
      const entry = editing
        ? await putJson(`/api/maintenance/${editing.id}`, body)
        : await postJson("/api/maintenance", body);
      notify((editing ? TEXT.saved : TEXT.added)(entry), "ok");
      reset();
      saved(entry);
    } catch (error) {
      notify(error instanceof ApiError ? error.message : String(error));
    }
  } } },
  heading,
  el("div", { class: "toolbar" },
    inputs.asset ? field(TEXT.asset, inputs.asset) : null,
    field(TEXT.started, inputs.started), field(TEXT.finished, inputs.finished), field(TEXT.kind, inputs.kind)),
  el("div", { class: "toolbar" }, field(TEXT.parts, inputs.parts), field(TEXT.note, inputs.note)),
  el("div", { class: "toolbar" },
    el("label", { title: TEXT.resetsLifeHelp }, inputs.resetsLife, ` ${TEXT.resetsLife} (${TEXT.resetsLifeHelp})`)),
  el("div", { class: "toolbar" }, submit, cancel));

  form.edit = (entry) => {
    editing = entry;
    if (inputs.asset) inputs.asset.value = entry.asset;
    inputs.started.value = localInput(new Date(entry.started));
    inputs.finished.value = localInput(new Date(entry.finished));
    inputs.kind.value = entry.kind;
    inputs.parts.value = entry.parts;
    inputs.note.value = entry.note;
    inputs.resetsLife.checked = entry.resets_life;
    heading.textContent = TEXT.editing(entry);
    submit.textContent = TEXT.save;
    heading.hidden = cancel.hidden = false;
    form.scrollIntoView({ block: "nearest" });
  };
  reset();
  return form;
}

// One row per entry; engineers get Edit (into `form`) and Delete (then `changed()`).
export function entryRows(entries, { form, changed }) {
  const engineer = may("engineer");
  return entries.map((entry) => el("tr", { dataset: { entry: String(entry.id), asset: entry.asset, kind: entry.kind } },
    el("td", {}, entry.asset),
    el("td", {}, formatTime(entry.started)),
    el("td", {}, formatTime(entry.finished)),
    el("td", {}, KINDS[entry.kind] || entry.kind, entry.resets_life ? el("span", { class: "renews" }, ` (${TEXT.renews})`) : null),
    el("td", {}, entry.parts),
    el("td", { class: "note" }, entry.note),
    el("td", {}, entry.user),
    el("td", {}, engineer && form ? el("button", { type: "button", class: "edit", on: { click: () => form.edit(entry) } }, TEXT.edit) : null,
      engineer ? el("button", { type: "button", class: "delete", on: { click: async () => {
        if (!window.confirm(TEXT.confirmDelete(entry))) return;
        try {
          await deleteJson(`/api/maintenance/${entry.id}`);
          notify(TEXT.deleted(entry), "ok");
          changed();
        } catch (error) {
          notify(error.message);
        }
      } } }, TEXT.remove) : null)));
}

export function entryTable(entries, options) {
  return entries.length ? table(HEADINGS, entryRows(entries, options)) : el("p", { class: "placeholder" }, TEXT.none);
}

export const canAdd = () => may("operator");
