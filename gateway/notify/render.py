"""Notification events as messages in Russian or English: plain text and HTML (issue #15).

The texts are gettext messages of the "notify" domain (gateway/notify/locale, web/i18n.py
says how to mark and translate them); numbers are formatted by Babel for the language
(Russian: 1 234,5), times in the gateway's local time zone. Every message names the
gateway, the asset, what happened, when, the value and limit when there are some, and
links to the page when `[notify] page_url` is set.
"""

from __future__ import annotations

import gettext
import html
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from babel.numbers import format_decimal

from gateway.notify.channel import SHELVE_HOURS, Action, ActionKind, RenderedMessage
from gateway.notify.events import NotificationEvent, NotificationKind
from web.i18n import N_, catalogue

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "notify"
# A digest lists this many events at most; the rest are counted (the page lists them all).
DIGEST_LINES = 30

_Translate = Callable[[str], str]


_HEADLINES: dict[NotificationKind, str] = {
    NotificationKind.ALARM_RAISED: N_("Alarm {alarm} on {asset}"),
    NotificationKind.ALARM_CLEARED: N_("Alarm {alarm} on {asset} cleared"),
    NotificationKind.ALARM_UNACKNOWLEDGED: N_("Alarm {alarm} on {asset} is still "
                                             "unacknowledged"),
    NotificationKind.MAINTENANCE_DUE: N_("{asset} needs maintenance"),
    NotificationKind.DEVICE_DOWN: N_("Device {asset} is down"),
    NotificationKind.MODEL_REJECTED: N_("The model for {asset} was rejected"),
    NotificationKind.TRAINING_FINISHED: N_("Training for {asset} finished"),
}


class Renderer:
    """Renders events for one gateway, in the language each audience reads."""

    def __init__(self, gateway: str, page_url: str | None) -> None:
        self._gateway = gateway
        self._page_url = None if page_url is None else page_url.rstrip("/")

    def message(self, event: NotificationEvent, language: str) -> RenderedMessage:
        """One event as one message, with its buttons when it can be acted on."""
        tr = _translations(language)
        _ = tr.gettext
        subject = self._subject(_headline(event, _), _)
        lines = _facts(event, tr, language)
        link = self._url(event.link)
        # The alarm's event id is the actions'; an escalation shares it with the alarm's
        # first message, and the outbox takes one message per id and recipient.
        return _rendered(subject, lines, link, _, language, f"{event.kind}:{event.event_id}",
                         _actions(event, _))

    def digest(self, events: Sequence[NotificationEvent], language: str) -> RenderedMessage:
        """Many events as one message listing them (a flood, issue #15)."""
        tr = _translations(language)
        _ = tr.gettext
        count = len(events)
        subject = self._subject(tr.ngettext("{n} event in a short time",
                                            "{n} events in a short time", count).format(n=count),
                                _)
        lines = [(_time(e.time), _headline(e, _)) for e in events[:DIGEST_LINES]]
        if count > DIGEST_LINES:
            more = count - DIGEST_LINES
            lines.append(("…", tr.ngettext("and {n} more", "and {n} more", more).format(n=more)))
        link = self._url("/alarms")
        return _rendered(subject, lines, link, _, language, f"digest-{events[0].event_id}")

    def _subject(self, headline: str, _: _Translate) -> str:
        return _("{gateway}: {headline}").format(gateway=self._gateway, headline=headline)

    def _url(self, path: str) -> str | None:
        return None if self._page_url is None else self._page_url + path


def headline(event: NotificationEvent, language: str) -> str:
    """What happened, in a few words of `language` (the page's notification list)."""
    return _headline(event, _translations(language).gettext)


def _translations(language: str) -> gettext.NullTranslations:
    return catalogue(LOCALE_DIR, DOMAIN, language)


def _headline(event: NotificationEvent, _: _Translate) -> str:
    return _(_HEADLINES[event.kind]).format(
        alarm=event.alarm or "", asset=event.asset or event.source or "")


def _facts(event: NotificationEvent, tr: gettext.NullTranslations,
           language: str) -> list[tuple[str, str]]:
    """The message's lines as (label, text), in the order people read them."""
    _ = tr.gettext
    facts: list[tuple[str, str]] = []
    if event.detail:
        facts.append((_("What"), event.detail))
    facts.append((_("When"), _time(event.time)))
    if event.source:
        facts.append((_("Source"), event.source))
    unit = f" {event.unit}" if event.unit else ""
    if event.kind is NotificationKind.MAINTENANCE_DUE and isinstance(event.value, float):
        due = _number(event.value, language) + unit
        if event.interval is not None:
            low, high = event.interval
            due = f"{_number(low, language)}–{_number(high, language)}{unit}"
        facts.append((_("Maintenance due"), _("in about {due}").format(due=due)))
    elif event.value is not None:
        facts.append((_("Value"), _value(event.value, language, _) + unit))
    if event.limit is not None:
        facts.append((_("Limit"), _number(event.limit, language) + unit))
    if event.score is not None:
        facts.append((_("Anomaly score"), _number(event.score, language)))
    if event.contributions:
        signals = ", ".join(f"{c.signal} ({_number(c.share * 100, language)} %)"
                            for c in event.contributions)
        facts.append((_("Top signals"), signals))
    facts.append((_("Severity"), str(event.severity)))
    return facts


def _actions(event: NotificationEvent, _: _Translate) -> tuple[Action, ...]:
    if not event.actionable or event.alarm is None:
        return ()
    labels = {
        ActionKind.ACKNOWLEDGE: _("Acknowledge"),
        ActionKind.SHELVE: _("Shelve {hours} h").format(hours=SHELVE_HOURS),
        ActionKind.CONFIRMED: _("Confirmed"),
        ActionKind.FALSE_ALARM: _("False alarm"),
    }
    return tuple(Action(kind, event.event_id, label, event.alarm)
                 for kind, label in labels.items())


def _rendered(subject: str, lines: list[tuple[str, str]], link: str | None, _: _Translate,
              language: str, event_id: str, actions: tuple[Action, ...] = ()
              ) -> RenderedMessage:
    return RenderedMessage(subject=subject, text=_text(subject, lines, link, _),
                           html=_html(subject, lines, link, _), language=language,
                           event_id=event_id, actions=actions)


def _text(subject: str, lines: list[tuple[str, str]], link: str | None,
          _: _Translate) -> str:
    body = [subject, ""] + [f"{label}: {text}" for label, text in lines]
    if link is not None:
        body += ["", _("Open on the page: {link}").format(link=link)]
    return "\n".join(body) + "\n"


def _html(subject: str, lines: list[tuple[str, str]], link: str | None,
          _: _Translate) -> str:
    rows = "".join(f"<tr><th align=\"left\">{html.escape(label)}</th>"
                   f"<td>{html.escape(text)}</td></tr>" for label, text in lines)
    parts = [f"<h3>{html.escape(subject)}</h3>", f"<table>{rows}</table>"]
    if link is not None:
        label = _("Open on the page")
        parts.append(f"<p><a href=\"{html.escape(link)}\">{html.escape(label)}</a></p>")
    return "<html><body>" + "".join(parts) + "</body></html>"


def _time(at: datetime) -> str:
    local = at.astimezone()
    return local.strftime("%Y-%m-%d %H:%M:%S ") + (local.tzname() or "")


def _number(value: float, language: str) -> str:
    return format_decimal(value, format="#,##0.###", locale=language)


def _value(value: float | bool | str, language: str, _: _Translate) -> str:
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, float | int):
        return _number(value, language)
    return value
