// Users (admins): add, change role, set a password, delete.
import { deleteJson, el, formatTime, getJson, notify, postJson, putJson, table } from "./common.js";

const ROLES = ["viewer", "operator", "engineer", "admin"];
const app = document.getElementById("app");

function roleSelect(value) {
  const select = el("select", {}, ...ROLES.map((r) => el("option", { value: r }, r)));
  select.value = value;
  return select;
}

function act(promise, done) {
  promise.then(() => { notify(done, "ok"); load(); }, (error) => notify(error.message));
}

function row(user) {
  const base = `/api/users/${encodeURIComponent(user.name)}`;
  const role = roleSelect(user.role);
  role.addEventListener("change", () => act(putJson(base, { role: role.value }), `${user.name} is now ${role.value}`));
  const password = el("input", { type: "password", autocomplete: "new-password", placeholder: "new password" });
  return el("tr", { dataset: { user: user.name } }, el("td", {}, user.name), el("td", {}, role),
    el("td", {}, formatTime(user.changed)),
    el("td", {}, password, el("button", { type: "button", class: "secondary",
      on: { click: () => act(putJson(base, { password: password.value }), `${user.name}: password set`) } }, "Set password")),
    el("td", {}, el("button", { type: "button", class: "danger", on: { click: () => {
      if (confirm(`Delete user ${user.name}?`)) act(deleteJson(base), `${user.name} deleted`);
    } } }, "Delete")));
}

async function load() {
  const users = await getJson("/api/users");
  const name = el("input", { name: "name", required: true, placeholder: "name", "aria-label": "New user's name" });
  const password = el("input", { name: "password", type: "password", autocomplete: "new-password", required: true,
    placeholder: "password (12+ characters)", "aria-label": "New user's password" });
  const role = roleSelect("viewer");
  role.setAttribute("aria-label", "New user's role");
  const add = (event) => {
    event.preventDefault();
    act(postJson("/api/users", { name: name.value, role: role.value, password: password.value }), `${name.value} added`);
  };
  app.replaceChildren(table(["User", "Role", "Changed", "Password", ""], users.map(row)),
    el("h2", {}, "Add a user"),
    el("form", { class: "inline", on: { submit: add } }, name, role, password, el("button", { type: "submit" }, "Add user")));
}

load().catch((error) => notify(error.message));
