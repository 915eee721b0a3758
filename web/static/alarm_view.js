// An alarm and an alarm event as a table row, in words a person uses (issue #11): the
// alarms page and each asset's page draw them alike.
import { el, formatNumber, formatTime, t, tn, trendsUrl } from "./common.js";

// ISA-18.2 states (gateway.alarms.events.AlarmState) in words, and the class that colours them.
export const STATES = {
  active_unacked: t("Active, not acknowledged"),
  active_acked: t("Active, acknowledged"),
  returned_unacked: t("Cleared, not acknowledged"),
  normal: t("Normal"),
};
const EVENTS = {
  activated: t("Activated"), cleared: t("Cleared"), acknowledged: t("Acknowledged"),
  shelved: t("Shelved"), unshelved: t("Unshelved"), quality: t("Input quality changed"),
};

// OPC UA Part 9's severity 1-1000 in three bands.
export function severityWords(severity) {
  if (severity === null || severity === undefined) return "";
  const band = severity >= 700 ? t("High") : severity >= 400 ? t("Medium") : t("Low");
  return `${band} (${severity})`;
}

export function stateWords(alarm) {
  const words = STATES[alarm.state] || alarm.state;
  return alarm.shelved ? t("{state}; shelved until {time}", { state: words, time: formatTime(alarm.shelved_until) }) : words;
}

// What the overview's header and the alarms page say they count, in the same words
// (gateway/page/views.py alarm_counts): "standing" is every alarm not Normal, and the
// overview lists those per device and asset.
export function countsText(counts) {
  const standing = tn("{n} standing alarm", "{n} standing alarms", counts.standing);
  return t("{standing} ({active} active, {cleared} cleared but not acknowledged); {unacknowledged} not acknowledged, {shelved} shelved",
    { standing, active: counts.active, cleared: counts.returned_unacked, unacknowledged: counts.unacknowledged,
      shelved: counts.shelved });
}

export const ALARM_HEADINGS = [t("Alarm"), t("State"), t("Severity"), t("Value"), t("Message"), t("Since"), t("Trend")];

// `extra`: cells after the standard ones (the alarms page's actions).
export function alarmRow(alarm, ...extra) {
  return el("tr", { dataset: { alarm: alarm.name, state: alarm.state },
                    class: `alarm-${alarm.state}${alarm.shelved ? " shelved" : ""}` },
    el("td", {}, alarm.name),
    el("td", { class: "state" }, stateWords(alarm)),
    el("td", { class: "severity" }, severityWords(alarm.severity)),
    el("td", { class: "number" }, formatNumber(alarm.value)),
    el("td", {}, alarm.message || ""),
    el("td", {}, formatTime(alarm.time)),
    el("td", {}, alarm.source
      ? el("a", { href: trendsUrl({ keys: [alarm.source] }), class: "trend-link" }, alarm.source) : ""),
    ...extra);
}

export const EVENT_HEADINGS = [t("Time"), t("Alarm"), t("Event"), t("State after"), t("User"), t("Comment"), t("Value")];

export function eventRow(event) {
  return el("tr", {},
    el("td", {}, formatTime(event.time)), el("td", {}, event.alarm),
    el("td", {}, EVENTS[event.kind] || event.kind), el("td", {}, STATES[event.state] || event.state),
    el("td", {}, event.user || ""), el("td", {}, event.comment || ""),
    el("td", { class: "number" }, formatNumber(event.value)));
}
