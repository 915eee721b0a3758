"""The bot's answers in Russian and English (gateway/notify/telegram/replies.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.alarms.rules import AlarmRule, Condition
from gateway.alarms.state import Alarm
from gateway.core.quality import Quality
from gateway.notify.channel import ActionKind
from gateway.notify.telegram.replies import (
    alarms_text,
    done_line,
    help_text,
    role_name,
    status_text,
    translations,
)
from web.users import Role

T0 = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
OVERVIEW = {
    "gateway": {"name": "plant", "status": "ok", "problems": ["history failing: disk full"],
                "alarms": {"standing": 2, "unacknowledged": 1, "shelved": 0}},
    "devices": [{"name": "pump1", "connected": True, "last_error": ""},
                {"name": "pump2", "connected": False, "last_error": "timed out"}],
}


def _alarm(name: str, severity: int, value: float, *, acked: bool = False) -> Alarm:
    alarm = Alarm(AlarmRule(name, f"pump.{name}", Condition.ABOVE, limit=10.0,
                            severity=severity))
    alarm.observe(value, Quality.GOOD, T0)
    if acked:
        alarm.acknowledge("olga", "", T0 + timedelta(seconds=1))
    return alarm


def test_the_state_in_russian() -> None:
    assert status_text(translations("ru"), OVERVIEW).splitlines() == [
        "Шлюз plant: работает",
        "Устройства: на связи 1 из 2",
        "  нет связи: pump2 (timed out)",
        "Аварии: не в норме 2, не квитировано 1, отложено 0",
        "Неполадки:",
        "  history failing: disk full",  # as the log says it
    ]


def test_the_alarms_most_severe_first_with_russian_plurals() -> None:
    alarms = [_alarm("hot", 500, 12.0, acked=True), _alarm("burst", 900, 31.25),
              _alarm("calm", 900, 1.0)]
    assert alarms_text(translations("ru"), alarms).splitlines() == [
        "2 аварии не в норме:",
        "• burst (важность 900): активна, не квитирована, значение 31.25",
        "• hot (важность 500): активна, квитирована, значение 12",
    ]
    assert alarms_text(translations("en"), alarms[2:]) == "No alarm: everything is normal."


def test_help_and_the_lines_that_name_who_acted() -> None:
    russian = translations("ru")
    assert help_text(russian, "olga").splitlines()[-1] == "Вы привязаны как olga."
    assert "/link КОД" in help_text(russian, None)
    assert done_line(russian, ActionKind.SHELVE, "olga", T0).startswith(
        "💤 Отложил(а) на 8 ч olga в ")
    assert done_line(translations("en"), ActionKind.ACKNOWLEDGE, "olga", T0).startswith(
        "✅ Acknowledged by olga at ")
    assert role_name(russian, Role.VIEWER) == "наблюдатель"
