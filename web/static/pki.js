// OPC UA certificates (admins, issue #14): the gateway's own certificate and the one it
// replaced, client certificates the server refused (Trust, Delete) and the trusted ones
// (Remove). A change takes effect at the client's next connection, without a restart.
import { deleteJson, el, formatTime, getJson, notify, postJson, t, table } from "./common.js";

const app = document.getElementById("app");

function act(promise, done) {
  promise.then(() => { notify(done, "ok"); load(); }, (error) => notify(error.message));
}

function own(view) {
  if (view.own === null) {
    return [el("p", { id: "own-certificate" }, t("The server has no certificate: it offers only security None."))];
  }
  const rows = [
    [t("Subject"), view.own.subject],
    [t("Thumbprint"), view.own.thumbprint],
    [t("Valid from"), formatTime(view.own.not_before)],
    [t("Valid to"), formatTime(view.own.not_after)],
  ];
  if (view.previous !== null) {
    rows.push([t("Replaced certificate"), t("{thumbprint}, replaced {time}",
      { thumbprint: view.previous.thumbprint, time: formatTime(view.previous.changed) })]);
  }
  return [el("table", { id: "own-certificate" },
    el("tbody", {}, ...rows.map(([name, value]) => el("tr", {}, el("th", {}, name), el("td", {}, value)))))];
}

function rejectedRow(cert) {
  const base = `/api/pki/rejected/${cert.thumbprint}`;
  return el("tr", { dataset: { thumbprint: cert.thumbprint } },
    el("td", {}, cert.subject), el("td", {}, cert.application_uri ?? ""), el("td", {}, cert.thumbprint),
    el("td", {}, formatTime(cert.changed)),
    el("td", {},
      el("button", { type: "button", on: { click: () => act(postJson(`${base}/trust`),
        t("{subject} trusted", { subject: cert.subject })) } }, t("Trust")),
      el("button", { type: "button", class: "danger", on: { click: () => {
        if (confirm(t("Delete the certificate of {subject}?", { subject: cert.subject }))) {
          act(deleteJson(base), t("{subject} deleted", { subject: cert.subject }));
        }
      } } }, t("Delete"))));
}

function trustedRow(cert) {
  return el("tr", { dataset: { thumbprint: cert.thumbprint } },
    el("td", {}, cert.subject), el("td", {}, cert.application_uri ?? ""), el("td", {}, cert.thumbprint),
    el("td", {}, formatTime(cert.changed)),
    el("td", {}, el("button", { type: "button", class: "danger", on: { click: () => {
      if (confirm(t("Stop trusting {subject}? Its client is refused from its next connection.", { subject: cert.subject }))) {
        act(deleteJson(`/api/pki/trusted/${cert.thumbprint}`), t("{subject} no longer trusted", { subject: cert.subject }));
      }
    } } }, t("Remove"))));
}

function list(id, rows, headings, none) {
  return rows.length ? el("div", { id }, table(headings, rows)) : el("p", { id }, none);
}

async function load() {
  const view = await getJson("/api/pki");
  const columns = [t("Subject"), t("Application URI"), t("Thumbprint")];
  app.replaceChildren(
    el("h2", {}, t("This gateway's certificate")), ...own(view),
    el("h2", {}, t("Refused client certificates")),
    list("rejected", view.rejected.map(rejectedRow), [...columns, t("First seen"), ""],
      t("No refused certificates.")),
    el("h2", {}, t("Trusted client certificates")),
    list("trusted", view.trusted.map(trustedRow), [...columns, t("Trusted"), ""],
      t("No trusted certificates.")),
    ...view.problems.map((problem) => el("p", { class: "message error" }, problem)));
}

load().catch((error) => notify(error.message));
