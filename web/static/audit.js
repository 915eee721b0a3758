// Audit log: who changed what, and when, newest first.
import { el, formatTime, getJson, notify, t, table } from "./common.js";

async function load() {
  const entries = await getJson("/api/audit");
  document.getElementById("app").replaceChildren(table([t("Time"), t("User"), t("Action"), t("Detail")],
    entries.map((e) => el("tr", {}, el("td", {}, formatTime(e.time)), el("td", {}, e.user),
      el("td", {}, e.action), el("td", { class: "detail" }, e.detail)))));
}

load().catch((error) => notify(error.message));
