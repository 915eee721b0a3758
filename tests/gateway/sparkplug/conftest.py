"""Fixtures of the Sparkplug tests."""

from __future__ import annotations

import pytest

from tests.fixtures.mqtt import Mosquitto, Subscriber, SubscriberFactory
from tests.gateway.sparkplug.support import Watcher, host_state, watch


@pytest.fixture
async def host_away(
    mosquitto: Mosquitto, subscribers: SubscriberFactory
) -> tuple[Watcher, Subscriber]:
    """A watcher of the group's messages, and the primary host, offline (its retained
    STATE says so)."""
    scada = await watch(subscribers, mosquitto)
    host = await subscribers(mosquitto)
    await host_state(host, online=False)
    return scada, host
