// Users (admins): add, change role, set a password, delete.
import { deleteJson, el, formatTime, getJson, notify, postJson, putJson, roleName, t, table } from "./common.js";

const ROLES = ["viewer", "operator", "engineer", "admin"];
const app = document.getElementById("app");

function roleSelect(value) {
  const select = el("select", {}, ...ROLES.map((r) => el("option", { value: r }, roleName(r))));
  select.value = value;
  return select;
}

function act(promise, done) {
  promise.then(() => { notify(done, "ok"); load(); }, (error) => notify(error.message));
}

function row(user) {
  const base = `/api/users/${encodeURIComponent(user.name)}`;
  const role = roleSelect(user.role);
  role.addEventListener("change", () => act(putJson(base, { role: role.value }), t("{user} is now {role}", { user: user.name, role: roleName(role.value) })));
  const password = el("input", { type: "password", autocomplete: "new-password", placeholder: t("new password") });
  return el("tr", { dataset: { user: user.name } }, el("td", {}, user.name), el("td", {}, role),
    el("td", {}, formatTime(user.changed)),
    el("td", {}, password, el("button", { type: "button", class: "secondary",
      on: { click: () => act(putJson(base, { password: password.value }), t("{user}: password set", { user: user.name })) } }, t("Set password"))),
    el("td", {}, el("button", { type: "button", class: "danger", on: { click: () => {
      if (confirm(t("Delete user {user}?", { user: user.name }))) act(deleteJson(base), t("{user} deleted", { user: user.name }));
    } } }, t("Delete"))));
}

async function load() {
  const users = await getJson("/api/users");
  const name = el("input", { name: "name", required: true, placeholder: t("name"), "aria-label": t("New user's name") });
  const password = el("input", { name: "password", type: "password", autocomplete: "new-password", required: true,
    placeholder: t("password (12+ characters)"), "aria-label": t("New user's password") });
  const role = roleSelect("viewer");
  role.setAttribute("aria-label", t("New user's role"));
  const add = (event) => {
    event.preventDefault();
    act(postJson("/api/users", { name: name.value, role: role.value, password: password.value }), t("{user} added", { user: name.value }));
  };
  app.replaceChildren(table([t("User"), t("Role"), t("Changed"), t("Password"), ""], users.map(row)),
    el("h2", {}, t("Add a user")),
    el("form", { class: "inline", on: { submit: add } }, name, role, password, el("button", { type: "submit" }, t("Add user"))));
}

load().catch((error) => notify(error.message));
