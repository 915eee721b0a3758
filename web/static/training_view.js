// Training from history on the Models page (issue #12): per asset, how much history its
// inputs have and what retention keeps, a job form (engineers), and its jobs with their
// stages and progress, polled while one is queued or running, with Cancel. A job that ends
// redraws the whole page (`onEnded`): its candidate is then in the archived versions.
import { el, formatTime, formatValue, getJson, may, notify, postJson, t, table, tn } from "./common.js";
import { localInput } from "./label_view.js";

const editable = may("engineer");
const POLL_MS = 1000;
// A range starting within this of what retention deletes is cut before the job reads it.
const CUT_MARGIN_MS = 3600 * 1000;
const ACTIVE = new Set(["queued", "running"]);

// Every text a person reads in this part of the page, in one place.
const TEXT = {
  title: t("Train from history"),
  history: (h) => t("History of its inputs: {first} to {last} ({hours} h).", { first: formatTime(h.first),
    last: formatTime(h.last), hours: formatValue((Date.parse(h.last) - Date.parse(h.first)) / 3600e3) }),
  retention: (a) => t("Retention keeps {days} days: history before {time} is deleted.",
    { days: formatValue(a.retention_s / 86400), time: formatTime(a.kept_from) }),
  noHistory: t("Its inputs have no history yet: the gateway records them with [history] on; let it record normal operation first."),
  unavailable: (reason) => t("Training from history is not available: {reason}", { reason }),
  kind: t("Model"), from: t("From"), to: t("To"),
  kinds: { anomaly: t("anomaly"), rul: t("remaining useful life") },
  wholeRange: t("Leave From and To empty to train on all the history there is."),
  supervised: t("Supervised: learn from its anomaly labels"),
  labels: (n) => tn("({n} labelled)", "({n} labelled)", n),
  start: t("Start training"),
  cancel: t("Cancel"),
  cut: (keptFrom) => t("Retention deletes history before {time}: this range starts earlier, or soon will be, and would be cut.",
    { time: formatTime(keptFrom) }),
  headings: [t("Job"), t("Model"), t("Range"), t("State"), t("Progress"), t("Outcome"), t("By"), ""],
  state: { queued: t("queued"), running: t("running"), done: t("done"), failed: t("failed"), cancelled: t("cancelled"),
    interrupted: t("interrupted") },
  oldest: t("oldest"), newest: t("newest"),
  outcome: (r) => (r.validation.recall === null || r.validation.recall === undefined
    ? t("candidate {version}; held-back false alarms {rate} %", { version: r.version, rate: formatValue(100 * r.validation.false_alarm_rate) })
    : t("candidate {version}; held-back false alarms {rate} %, recall {recall}", { version: r.version,
      rate: formatValue(100 * r.validation.false_alarm_rate), recall: formatValue(r.validation.recall) })),
  rulOutcome: (r) => tn("candidate {version}; {n} run to failure", "candidate {version}; {n} runs to failure", r.runs.length,
    { version: r.version }),
  queuedJob: (job) => t("training job {job} queued", { job: job.id }),
  noJobs: t("No training jobs for it yet."),
};

const field = (label, input) => el("label", {}, `${label} `, input);

export class Training {
  constructor(onEnded) {
    this.onEnded = onEnded;
    this.assets = new Map();
    this.problem = null;
    this.jobs = [];
    this.lists = new Map(); // asset -> the element its jobs are drawn in
    this.timer = null;
  }

  async load() {
    try {
      const found = await getJson("/api/training/assets");
      this.assets = new Map(found.assets.map((a) => [a.asset, a]));
      this.problem = null;
    } catch (error) {
      this.problem = error.message;
    }
    this.jobs = (await getJson("/api/training/jobs")).jobs;
  }

  // The asset's part of the page: its history, the form, its jobs.
  section(asset) {
    const section = el("section", { class: "training", dataset: { asset } }, el("h4", {}, TEXT.title));
    const found = this.assets.get(asset);
    if (this.problem) section.append(el("p", { class: "message" }, TEXT.unavailable(this.problem)));
    if (found) {
      section.append(el("p", { class: "history" }, found.history ? TEXT.history(found.history) : TEXT.noHistory,
        " ", TEXT.retention(found)));
      if (editable) section.append(this.form(found));
    }
    const list = el("div", { class: "jobs" });
    this.lists.set(asset, list);
    this.drawJobs(asset);
    section.append(list);
    return section;
  }

  form(found) {
    const kind = el("select", { name: "kind" }, ...found.kinds.map((k) => el("option", { value: k }, TEXT.kinds[k] || k)));
    const from = el("input", { name: "from", type: "datetime-local", step: "1" });
    const to = el("input", { name: "to", type: "datetime-local", step: "1" });
    const supervised = el("input", { name: "supervised", type: "checkbox", disabled: !found.anomaly_labels });
    const warning = el("p", { class: "message warning cut", hidden: true });
    const first = found.history ? found.history.first : null;
    const check = () => {
      const start = from.value ? new Date(from.value) : first && new Date(first);
      const cut = Boolean(start) && start.getTime() < Date.parse(found.kept_from) + CUT_MARGIN_MS;
      warning.hidden = !cut;
      warning.textContent = cut ? TEXT.cut(found.kept_from) : "";
      supervised.disabled = !found.anomaly_labels || kind.value !== "anomaly";
    };
    for (const input of [from, kind]) input.addEventListener("change", check);
    from.addEventListener("input", check);
    if (first) from.placeholder = localInput(new Date(first));
    check();
    const submit = (event) => {
      event.preventDefault();
      const body = { asset: found.asset, kind: kind.value, supervised: supervised.checked && !supervised.disabled };
      if (from.value) body.from = new Date(from.value).toISOString();
      if (to.value) body.to = new Date(to.value).toISOString();
      postJson("/api/training/jobs", body)
        .then((job) => { notify(TEXT.queuedJob(job), "ok"); return this.refresh(); })
        .catch((error) => notify(error.message));
    };
    return el("form", { class: "inline train", on: { submit } },
      field(TEXT.kind, kind), field(TEXT.from, from), field(TEXT.to, to),
      el("label", {}, supervised, ` ${TEXT.supervised} `, TEXT.labels(found.anomaly_labels)),
      el("button", { type: "submit" }, TEXT.start),
      el("p", { class: "hint" }, TEXT.wholeRange), warning);
  }

  drawJobs(asset) {
    const list = this.lists.get(asset);
    if (!list) return;
    const jobs = this.jobs.filter((job) => job.request.asset === asset);
    list.replaceChildren(jobs.length ? table(TEXT.headings, jobs.map((job) => this.row(job))) : el("p", {}, TEXT.noJobs));
  }

  row(job) {
    const r = job.request;
    const range = `${r.start ? formatTime(r.start) : TEXT.oldest} – ${r.end ? formatTime(r.end) : TEXT.newest}`;
    const active = ACTIVE.has(job.state);
    const outcome = job.state === "done" ? (r.kind === "rul" ? TEXT.rulOutcome(job.result) : TEXT.outcome(job.result)) : job.reason;
    const cancel = () => postJson(`/api/training/jobs/${job.id}/cancel`)
      .then(() => this.refresh()).catch((error) => notify(error.message));
    return el("tr", { dataset: { job: String(job.id), state: job.state } },
      el("td", {}, `#${job.id}`), el("td", {}, TEXT.kinds[r.kind] || r.kind), el("td", {}, range),
      el("td", { class: "state" }, TEXT.state[job.state] || job.state),
      el("td", {}, active ? el("span", {}, el("progress", { max: "1", value: String(job.fraction) }), ` ${job.stage}`) : ""),
      el("td", { class: "outcome" }, outcome), el("td", {}, job.user),
      el("td", {}, active && editable ? el("button", { type: "button", class: "cancel secondary", on: { click: cancel } }, TEXT.cancel) : ""));
  }

  // Poll while a job is queued or running; a job that ends redraws the page.
  watch() {
    clearTimeout(this.timer);
    if (this.jobs.some((job) => ACTIVE.has(job.state))) this.timer = setTimeout(() => this.refresh(), POLL_MS);
  }

  async refresh() {
    const before = new Set(this.jobs.filter((job) => ACTIVE.has(job.state)).map((job) => job.id));
    try {
      this.jobs = (await getJson("/api/training/jobs")).jobs;
    } catch (error) {
      notify(error.message);
    }
    if (this.jobs.some((job) => before.has(job.id) && !ACTIVE.has(job.state))) {
      clearTimeout(this.timer);
      await this.onEnded();
      return;
    }
    for (const asset of this.lists.keys()) this.drawJobs(asset);
    this.watch();
  }
}
