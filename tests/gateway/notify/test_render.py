"""Messages in Russian and English, plain text and HTML (gateway/notify/render.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.notify.channel import ActionKind
from gateway.notify.events import Contribution, NotificationEvent, NotificationKind
from gateway.notify.render import DIGEST_LINES, Renderer

AT = datetime(2026, 12, 7, 10, 30, tzinfo=UTC)


def _raised(**changes: object) -> NotificationEvent:
    fields: dict[str, object] = dict(
        kind=NotificationKind.ALARM_RAISED, severity=700, gateway="plant-1", time=AT,
        asset="pump3", source="pump3.AnomalyScore", alarm="pump3_anomaly",
        event_id="e-1", value=1234.5, limit=0.8, score=0.93,
        contributions=(Contribution("vibration", 0.6), Contribution("flow", 0.25)),
        detail="<bearing> & co", link="/alarms#pump3_anomaly", actionable=True)
    fields.update(changes)
    return NotificationEvent(**fields)  # type: ignore[arg-type]


def test_an_alarm_in_russian_names_everything_a_crew_needs() -> None:
    message = Renderer("plant-1", "https://gw.plant.example:8443/").message(_raised(), "ru")
    assert message.subject == "plant-1: Авария pump3_anomaly на pump3"
    assert "Значение: 1\u00a0234,5" in message.text
    assert "Уставка: 0,8" in message.text
    assert "Оценка аномалии: 0,93" in message.text
    assert "Основные сигналы: vibration (60 %), flow (25 %)" in message.text
    assert "Открыть на странице: https://gw.plant.example:8443/alarms#pump3_anomaly" in message.text
    assert "&lt;bearing&gt; &amp; co" in message.html
    assert "<bearing>" not in message.html
    assert [a.kind for a in message.actions] == list(ActionKind)
    assert {a.event_id for a in message.actions} == {"e-1"}
    assert message.actions[0].label == "Квитировать"
    assert message.actions[1].label == "Отложить на 8 ч"


def test_the_same_alarm_in_english() -> None:
    message = Renderer("plant-1", None).message(_raised(), "en")
    assert message.subject == "plant-1: Alarm pump3_anomaly on pump3"
    assert "Value: 1,234.5" in message.text
    assert "Open on the page" not in message.text  # no page_url: no link
    assert message.actions[0].label == "Acknowledge"


def test_maintenance_due_gives_the_interval() -> None:
    event = _raised(kind=NotificationKind.MAINTENANCE_DUE, value=52.0, interval=(40.0, 70.0),
                    unit="h", limit=None, score=None, contributions=(), actionable=False)
    message = Renderer("plant-1", None).message(event, "ru")
    assert message.subject == "plant-1: pump3: требуется техническое обслуживание"
    assert "ТО потребуется: примерно через 40–70 h" in message.text
    assert message.actions == ()


def test_a_digest_lists_the_events_and_counts_the_rest() -> None:
    events = [_raised(event_id=f"e-{n}", alarm=f"a{n}") for n in range(DIGEST_LINES + 5)]
    message = Renderer("plant-1", None).digest(events, "ru")
    assert message.subject == "plant-1: 35 событий за короткое время"
    assert message.text.count("Авария a") == DIGEST_LINES
    assert "и ещё 5" in message.text
    assert message.actions == ()


def test_a_stored_message_reads_back_equal() -> None:
    message = Renderer("plant-1", None).message(_raised(), "ru")
    assert type(message).from_json(message.to_json()) == message
