// API tokens (issue #14): a script sends one as "Authorization: Bearer <token>" and acts as
// you, with your role. Shown once, when created; an admin sees and revokes everyone's.
import { deleteJson, el, formatTime, getJson, notify, postJson, role, t, table } from "./common.js";

export const TEXT = {
  intro: t("A script uses the JSON API with a token: Authorization: Bearer <token>. It acts as you, with your role."),
  name: t("What uses it"),
  user: t("User"),
  created: t("Created"),
  create: t("Create token"),
  revoke: t("Revoke"),
  confirmRevoke: (token) => t("Revoke {token}? Scripts using it are refused from now on.", { token: token.name }),
  revoked: (token) => t("{token} revoked", { token: token.name }),
  shownOnce: t("Copy the token now: it is shown only this once."),
  none: t("No tokens."),
};

const app = document.getElementById("app");

function row(token, reload) {
  const revoke = () => {
    if (!confirm(TEXT.confirmRevoke(token))) return;
    deleteJson(`/api/tokens/${encodeURIComponent(token.id)}`)
      .then(() => { notify(TEXT.revoked(token), "ok"); reload(); }, (error) => notify(error.message));
  };
  const cells = [el("td", {}, token.name)];
  if (role === "admin") cells.push(el("td", {}, token.user));
  cells.push(el("td", {}, formatTime(token.created)),
    el("td", {}, el("button", { type: "button", class: "danger", on: { click: revoke } }, TEXT.revoke)));
  return el("tr", { dataset: { token: token.id } }, ...cells);
}

async function load(created = null) {
  const tokens = await getJson("/api/tokens");
  const headings = role === "admin" ? [TEXT.name, TEXT.user, TEXT.created, ""] : [TEXT.name, TEXT.created, ""];
  const name = el("input", { name: "name", required: true, maxlength: 64, placeholder: TEXT.name, "aria-label": TEXT.name });
  const create = (event) => {
    event.preventDefault();
    postJson("/api/tokens", { name: name.value }).then((made) => load(made), (error) => notify(error.message));
  };
  const shown = created === null ? [] : [
    el("p", { class: "message ok" }, TEXT.shownOnce),
    el("pre", { id: "new-token" }, created.token),
  ];
  app.replaceChildren(el("p", {}, TEXT.intro), ...shown,
    tokens.length ? table(headings, tokens.map((token) => row(token, () => load()))) : el("p", {}, TEXT.none),
    el("form", { class: "inline", on: { submit: create } }, name, el("button", { type: "submit" }, TEXT.create)));
}

load().catch((error) => notify(error.message));
