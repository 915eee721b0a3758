// Telegram links (issue #15): get a one-time code and send it to the gateway's bot as
// "/link CODE"; the bot's buttons then act as you, with your role. An engineer or admin
// gets codes for other users too, and sees and ends everyone's links.
import { deleteJson, el, formatTime, getJson, may, notify, postJson, t, table } from "./common.js";

export const TEXT = {
  intro: t("Link your Telegram account to your user: get a code here, then send it to the gateway's bot as /link CODE within 10 minutes. The bot's buttons (acknowledge, shelve, verdicts) then act as you, with your role; /status and /alarms answer you."),
  notConfigured: t("Telegram is not configured on this gateway: see [telegram] in docs/notifications.md."),
  forUser: t("For user"),
  getCode: t("Get a link code"),
  send: t("Send this to the bot:"),
  expires: (time) => t("The code works once, until {time}.", { time }),
  account: t("Telegram account"),
  user: t("User"),
  linked: t("Linked"),
  unlink: t("Unlink"),
  confirmUnlink: (link) => t("Unlink {account}? Its presses no longer act as {user}.", { account: link.telegram_name, user: link.user }),
  unlinked: (link) => t("{account} unlinked", { account: link.telegram_name }),
  none: t("No Telegram account is linked."),
};

const app = document.getElementById("app");
const me = document.body.dataset.user;

function row(link, everyone, reload) {
  const unlink = () => {
    if (!confirm(TEXT.confirmUnlink(link))) return;
    deleteJson(`/api/telegram/links/${encodeURIComponent(link.telegram_id)}`)
      .then(() => { notify(TEXT.unlinked(link), "ok"); reload(); }, (error) => notify(error.message));
  };
  const cells = [el("td", {}, link.telegram_name)];
  if (everyone) cells.push(el("td", {}, link.user));
  cells.push(el("td", {}, formatTime(link.linked)),
    el("td", {}, el("button", { type: "button", class: "danger", on: { click: unlink } }, TEXT.unlink)));
  return el("tr", { dataset: { telegram: String(link.telegram_id) } }, ...cells);
}

async function load(code = null) {
  const state = await getJson("/api/telegram");
  if (!state.configured) {
    app.replaceChildren(el("p", {}, TEXT.intro), el("p", { class: "message" }, TEXT.notConfigured));
    return;
  }
  const everyone = may("engineer");
  const user = el("input", { name: "user", value: me, maxlength: 32, "aria-label": TEXT.forUser });
  const ask = (event) => {
    event.preventDefault();
    postJson("/api/telegram/codes", { user: everyone ? user.value.trim() || me : me })
      .then((made) => load(made), (error) => notify(error.message));
  };
  const shown = code === null ? [] : [
    el("p", { class: "message ok" }, TEXT.send),
    el("pre", { id: "link-code" }, `/link ${code.code}`),
    el("p", {}, TEXT.expires(formatTime(code.expires))),
  ];
  const headings = everyone ? [TEXT.account, TEXT.user, TEXT.linked, ""] : [TEXT.account, TEXT.linked, ""];
  const form = el("form", { class: "inline", on: { submit: ask } },
    ...(everyone ? [el("label", {}, TEXT.forUser, " ", user)] : []),
    el("button", { type: "submit" }, TEXT.getCode));
  app.replaceChildren(el("p", {}, TEXT.intro), form, ...shown,
    state.links.length ? table(headings, state.links.map((link) => row(link, everyone, () => load())))
      : el("p", {}, TEXT.none));
}

load().catch((error) => notify(error.message));
