// The header's notification bell on every page (issue #15): the unread count, live through
// server-sent events; the list of notifications with links to the alarm or asset; mark
// read; and, for a user who opts in, desktop notifications (the browser's Notification API)
// while a page of the gateway is open.
import { el, formatTime, getJson, listen, postJson, putJson, t } from "./common.js";

const SHOWN = 50;
const holder = document.getElementById("bell");
if (holder) start(holder);

function start(holder) {
  // Opt-in per user, kept with the user on the gateway (PUT /api/me/desktop-notifications),
  // so it follows them to another browser; each browser still asks its own permission.
  let optedIn = document.body.dataset.desktopNotifications === "on";
  const permitted = () => "Notification" in window && Notification.permission === "granted";
  let items = [];
  const count = el("span", { class: "bell-count", id: "bell-count", hidden: true });
  const button = el("button", {
    type: "button", class: "bell", id: "bell-button", title: t("Notifications"),
    "aria-label": t("Notifications"), "aria-expanded": "false",
  }, "🔔", count);
  const panel = el("div", { class: "bell-panel", id: "bell-panel", hidden: true });
  holder.append(button, panel);

  const show = (unread) => {
    count.textContent = unread > 99 ? "99+" : String(unread);
    count.hidden = unread === 0;
  };
  const markRead = async (body) => show((await postJson("/api/notifications/read", body)).unread);

  const row = (item) => el("li", { class: item.read ? "read" : "unread", dataset: { id: item.id } },
    el("a", { href: item.link, on: { click: () => markRead({ ids: [item.id] }) } }, item.title),
    el("span", { class: "bell-time" }, formatTime(item.time)),
    item.detail ? el("span", { class: "bell-detail" }, item.detail) : null);

  const desktopChoice = () => {
    if (!("Notification" in window)) return null;
    const box = el("input", { type: "checkbox", id: "bell-desktop", checked: optedIn });
    box.addEventListener("change", async () => {
      if (box.checked && !permitted()) {
        box.checked = (await Notification.requestPermission()) === "granted";
      }
      optedIn = (await putJson("/api/me/desktop-notifications", { on: box.checked }))
        .desktop_notifications;
      draw();
    });
    const choice = el("label", {}, box, " ", t("Desktop notifications"));
    if (!optedIn || permitted()) return choice;
    // Chosen in another browser: this one has not been allowed to show them yet.
    const allow = Notification.permission === "denied"
      ? el("span", { class: "bell-detail", id: "bell-desktop-blocked" },
        t("Blocked in this browser's settings"))
      : el("button", {
        type: "button", id: "bell-desktop-allow",
        on: { click: async () => { await Notification.requestPermission(); draw(); } },
      }, t("Allow in this browser"));
    return el("span", {}, choice, " ", allow);
  };

  const draw = () => panel.replaceChildren(
    el("div", { class: "bell-actions" },
      el("button", {
        type: "button", id: "bell-read-all",
        on: {
          click: async () => {
            await markRead({ all: true });
            items = items.map((item) => ({ ...item, read: true }));
            draw();
          },
        },
      }, t("Mark all read")),
      desktopChoice()),
    items.length ? el("ul", {}, ...items.map(row)) : el("p", {}, t("No notifications")));

  button.addEventListener("click", async () => {
    panel.hidden = !panel.hidden;
    button.setAttribute("aria-expanded", String(!panel.hidden));
    if (panel.hidden) return;
    const answer = await getJson("/api/notifications");
    items = answer.items;
    show(answer.unread);
    draw();
  });

  const onDesktop = (fresh) => {
    if (!optedIn || !permitted()) return;
    for (const item of fresh) {
      const shown = new Notification(item.title, { body: item.detail, tag: `uvelka-${item.id}` });
      shown.onclick = () => { window.focus(); window.location.href = item.link; };
    }
  };

  listen("/api/notifications/stream", {
    notifications: (answer) => {
      show(answer.unread);
      if (!answer.items.length) return;
      items = [...answer.items, ...items].slice(0, SHOWN);
      if (!panel.hidden) draw();
      onDesktop(answer.items);
    },
  });
}
