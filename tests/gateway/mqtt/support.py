"""Helpers for the MQTT bridge tests: settings for a test broker, alarm events, a running
bridge, the payload schemas."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from gateway.alarms import AlarmEvent, EventKind
from gateway.config.model import MqttSection
from gateway.core.quality import Quality
from gateway.mqtt import MqttBridge
from gateway.mqtt.bridge import Acknowledge
from gateway.store import Outbox
from tests.fixtures.modbus import wait_until as poll_until

GATEWAY = "plant1"
PREFIX = "uvelka"
WAIT_S = 10.0
SCHEMAS = Path(__file__).resolve().parents[3] / "gateway" / "mqtt" / "schemas"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def settings(url: str, **overrides: Any) -> MqttSection:
    return MqttSection.model_validate({"url": url, "topic_prefix": PREFIX, **overrides})


def topic(rest: str) -> str:
    return f"{PREFIX}/{GATEWAY}/{rest}"


def event(alarm: str = "pump1_pressure", n: int = 0, **fields: Any) -> AlarmEvent:
    """An activation of `alarm`, `n` seconds after T0."""
    values: dict[str, Any] = {
        "kind": EventKind.ACTIVATED,
        "alarm": alarm,
        "source": "pump1.pressure",
        "time": T0 + timedelta(seconds=n),
        "active": True,
        "acked": False,
        "shelved": False,
        "severity": 700,
        "value": 12.5,
        "limit": 10.0,
        "quality": Quality.GOOD,
        "message": "Discharge pressure high",
    }
    return AlarmEvent(**(values | fields))


def opened(path: Path) -> AbstractAsyncContextManager[Outbox]:
    return Outbox.open(path, max_messages=1_000_000, max_age_s=3600.0, fsync=False)


def refuse_all(alarm: str, user: str, comment: str, event_id: uuid.UUID | None) -> None:
    raise KeyError(alarm)


@asynccontextmanager
async def bridged(
    section: MqttSection, path: Path, acknowledge: Acknowledge = refuse_all, *, window: int = 200
) -> AsyncIterator[MqttBridge]:
    """A running bridge on the outbox file at `path`, until the block ends."""
    async with (
        opened(path) as outbox,
        running(section, outbox, acknowledge, window=window) as bridge,
    ):
        yield bridge


@asynccontextmanager
async def running(
    section: MqttSection,
    outbox: Outbox,
    acknowledge: Acknowledge = refuse_all,
    *,
    window: int = 200,
) -> AsyncIterator[MqttBridge]:
    """A bridge running until the block ends, retrying every second; it must stop cleanly."""
    bridge = MqttBridge(section, GATEWAY, outbox, acknowledge, window=window, reconnect_max_s=1)
    task = asyncio.create_task(bridge.run(), name="bridge")
    try:
        yield bridge
    finally:
        task.cancel()
        await asyncio.wait([task])
        if not task.cancelled():
            task.result()


async def wait_until(predicate: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Poll `predicate` until true; fail after `timeout_s` (WAIT_S by default)."""
    await poll_until(predicate, timeout_s, what)


def schema(name: str) -> Draft202012Validator:
    """The validator of gateway/mqtt/schemas/<name>.json, itself checked against the
    draft 2020-12 meta-schema."""
    document = json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(document)
    return Draft202012Validator(document)
