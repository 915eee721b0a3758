"""What the bot answers, in the reader's language (issue #15): `/status`, `/alarms`, the
help, the line an action adds to its message. The texts are in the notification
catalogue (gateway/notify/locale, domain "notify"); English is the source language."""

from __future__ import annotations

import gettext
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from gateway.alarms.events import AlarmState
from gateway.alarms.state import Alarm
from gateway.notify.channel import SHELVE_HOURS, ActionKind
from gateway.notify.render import DOMAIN, LOCALE_DIR
from web.i18n import N_, catalogue
from web.users import Role

ALARMS_LISTED = 30  # /alarms lists the most severe ones; a message holds 4096 characters


def translations(language: str) -> gettext.NullTranslations:
    """The notification texts in `language` (ru, en)."""
    return catalogue(LOCALE_DIR, DOMAIN, language)


def help_text(t: gettext.NullTranslations, linked_as: str | None) -> str:
    _ = t.gettext
    lines = [_("Uvelka gateway bot. Commands:"),
             _("/link CODE: link your Telegram account to your gateway user (the code is on "
               "the page, under Telegram)"),
             _("/status: the gateway's state"),
             _("/alarms: the alarms that are not normal"),
             _("/unlink: end the link of your Telegram account")]
    if linked_as is None:
        lines.append(_("You are not linked to a gateway user."))
    else:
        lines.append(_("You are linked as {user}.").format(user=linked_as))
    return "\n".join(lines)


def status_text(t: gettext.NullTranslations, overview: Mapping[str, Any],
                problems: Sequence[str]) -> str:
    """`/status`: the gateway, its devices and alarms, from the page's overview, and its
    problems in the reader's language (gateway.notify.problems)."""
    _ = t.gettext
    gateway = overview.get("gateway", {})
    devices: Sequence[Mapping[str, Any]] = overview.get("devices", [])
    counts: Mapping[str, int] = gateway.get("alarms", {})
    serving = gateway.get("status") == "ok"
    lines = [(_("Gateway {name}: serving") if serving else _("Gateway {name}: starting"))
             .format(name=gateway.get("name", "?")),
             _("Devices: {connected} of {total} connected").format(
                 connected=sum(bool(d.get("connected")) for d in devices), total=len(devices))]
    lines += [_("  down: {device} ({error})").format(device=d.get("name"),
                                                    error=d.get("last_error") or "?")
              for d in devices if not d.get("connected")]
    lines.append(_("Alarms: {standing} standing, {unacknowledged} unacknowledged, "
                   "{shelved} shelved").format(standing=counts.get("standing", 0),
                                               unacknowledged=counts.get("unacknowledged", 0),
                                               shelved=counts.get("shelved", 0)))
    if problems:
        lines.append(_("Problems:"))
        lines += [f"  {problem}" for problem in problems]
    return "\n".join(lines)


def alarms_text(t: gettext.NullTranslations, alarms: Sequence[Alarm]) -> str:
    """`/alarms`: the alarms that are not Normal, the most severe first."""
    _ = t.gettext
    standing = sorted((a for a in alarms if a.state is not AlarmState.NORMAL),
                      key=lambda a: (-a.rule.severity, a.rule.name))
    if not standing:
        return _("No alarm: everything is normal.")
    states = {AlarmState.ACTIVE_UNACKED: _("active, unacknowledged"),
              AlarmState.ACTIVE_ACKED: _("active, acknowledged"),
              AlarmState.RETURNED_UNACKED: _("cleared, unacknowledged")}
    lines = [t.ngettext("{n} alarm is not normal:", "{n} alarms are not normal:",
                        len(standing)).format(n=len(standing))]
    for alarm in standing[:ALARMS_LISTED]:
        line = _("{alarm} (severity {severity}): {state}, value {value}").format(
            alarm=alarm.rule.name, severity=alarm.rule.severity,
            state=states[alarm.state], value=_shown(alarm.value))
        if alarm.shelved_until is not None:
            line += _("; shelved until {time}").format(time=local_time(alarm.shelved_until))
        lines.append(f"• {line}")
    if len(standing) > ALARMS_LISTED:
        lines.append(_("… and {n} more on the page").format(n=len(standing) - ALARMS_LISTED))
    return "\n".join(lines)


def done_line(t: gettext.NullTranslations, kind: ActionKind, user: str, at: datetime) -> str:
    """The line an action adds to the message it was pressed on, naming who did it."""
    _ = t.gettext
    texts = {ActionKind.ACKNOWLEDGE: _("✅ Acknowledged by {user} at {time}"),
             ActionKind.SHELVE: _("💤 Shelved for {hours} h by {user} at {time}"),
             ActionKind.CONFIRMED: _("✔ Confirmed by {user} at {time}"),
             ActionKind.FALSE_ALARM: _("✖ Judged a false alarm by {user} at {time}")}
    return texts[kind].format(user=user, time=local_time(at), hours=SHELVE_HOURS)


def done_answer(t: gettext.NullTranslations, kind: ActionKind, alarm: str) -> str:
    """What the person who pressed reads once their action held."""
    _ = t.gettext
    texts = {ActionKind.ACKNOWLEDGE: _("Alarm {alarm} acknowledged"),
             ActionKind.SHELVE: _("Alarm {alarm} shelved for {hours} h"),
             ActionKind.CONFIRMED: _("Alarm {alarm}: confirmed"),
             ActionKind.FALSE_ALARM: _("Alarm {alarm}: false alarm")}
    return texts[kind].format(alarm=alarm, hours=SHELVE_HOURS)


def role_name(t: gettext.NullTranslations, role: Role) -> str:
    """A user's role in the reader's language, as the page names it."""
    names = {Role.VIEWER: N_("viewer"), Role.OPERATOR: N_("operator"),
             Role.ENGINEER: N_("engineer"), Role.ADMIN: N_("admin")}
    return t.gettext(names[role])


def local_time(at: datetime) -> str:
    """A time as the plant reads it: the gateway's local time, to the minute."""
    return at.astimezone().strftime("%Y-%m-%d %H:%M")


def _shown(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)
