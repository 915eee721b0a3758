"""The bot's answers in Russian and English (gateway/notify/telegram/replies.py)."""

from __future__ import annotations

import errno
import gettext
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.alarms.rules import AlarmRule, Condition
from gateway.alarms.state import Alarm
from gateway.core.failures import Failures
from gateway.core.quality import Quality
from gateway.core.storage import StorageHealth
from gateway.notify.channel import ActionKind
from gateway.notify.problems import ENGLISH, problem_lines
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
    "gateway": {"name": "plant", "status": "ok", "problems": ["the page's, in English"],
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


def _problems(folder: Path, t: gettext.NullTranslations) -> list[str]:
    """A full disk with 3 alarms held, a store failing otherwise, a task failing."""
    storage = StorageHealth(folder)
    storage.failed("alarm states", "save the alarm states",
                   OSError(errno.ENOSPC, "No space left on device"))
    storage.failed("history", "write the points", OSError(errno.EIO, "I/O error"))
    failures = Failures("task", logging.getLogger(__name__))
    failures.failed("model-watch", RuntimeError("a bug"), "restarted")
    return problem_lines(t, storage, 3, [failures], [])


def test_the_state_in_russian(tmp_path: Path) -> None:
    t = translations("ru")
    assert status_text(t, OVERVIEW, _problems(tmp_path, t)).splitlines() == [
        "Шлюз plant: работает",
        "Устройства: на связи 1 из 2",
        "  нет связи: pump2 (timed out)",
        "Аварии: не в норме 2, не квитировано 1, отложено 0",
        "Неполадки:",
        # The frames in Russian; names and errors as the gateway wrote them (the page's).
        f"  диск заполнен в {tmp_path}: в памяти очереди 3 аварии; не сохранено: alarm states",
        "  history: cannot write the points: [Errno 5] I/O error",
        "  сбой: task model-watch: RuntimeError: a bug",
    ]


def test_the_problems_in_english_are_the_pages(tmp_path: Path) -> None:
    assert _problems(tmp_path, ENGLISH) == [
        f"disk full under {tmp_path}: outbox holding 3 alarms in memory; "
        "not saved: alarm states",
        "history: cannot write the points: [Errno 5] I/O error",
        "task model-watch failing: RuntimeError: a bug",
    ]
    assert _problems(tmp_path, translations("en")) == _problems(tmp_path, ENGLISH)


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
