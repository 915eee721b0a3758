"""A press of a Telegram button on a real gateway (issue #15), against the fake Bot API
server: a simulated device's alarm reaches the chat with its buttons, a linked operator's
press acknowledges it as them, seen by an asyncua client's ConditionRefresh, on MQTT (real
mosquitto) and in the audit log, and the message is edited to say who; an unlinked user's
and a viewer's presses are refused with a reply."""

from __future__ import annotations

import copy
import json

import pytest
from asyncua import ua

from drivers.base import Table
from tests.fixtures.gateway import wait_value
from tests.fixtures.modbus import PymodbusServer
from tests.fixtures.mqtt import Mosquitto, SubscriberFactory
from tests.fixtures.opcua import EventWatch
from tests.fixtures.page_api import Page
from tests.fixtures.prometheus import metric_value
from tests.fixtures.telegram import FakeBotApi
from tests.gateway.notify.telegram.support import (
    CHAT,
    GATEWAY,
    OLGA,
    STRANGER,
    VERA,
    WAIT_S,
    audit,
    link,
    words,
)
from tests.gateway.opcua.test_conditions_methods import REFRESH_END, REFRESH_START, refresh

# A gateway with the page starts in 5-16 s on a loaded machine; users are hashed with scrypt.
pytestmark = pytest.mark.timeout(180)


async def test_a_press_acknowledges_as_the_linked_operator_and_others_are_refused(
    plant: Page, modbus_tcp_server: PymodbusServer, mosquitto: Mosquitto,
    subscribers: SubscriberFactory, bot_api: FakeBotApi,
) -> None:
    mes = await subscribers(mosquitto, f"uvelka/{GATEWAY}/alarms/+")
    assert (await link(plant, bot_api, "olga", OLGA)).startswith("Linked")
    assert (await link(plant, bot_api, "vera", VERA)).startswith("Linked")

    modbus_tcp_server.set(Table.HOLDING, 0, words(12.5))
    await bot_api.wait_for(lambda: bot_api.in_chat(CHAT), "the alarm's message",
                           timeout_s=WAIT_S)
    (message,) = bot_api.in_chat(CHAT)
    assert message.text.startswith(f"{GATEWAY}: Alarm pressure_high on pump1")
    assert "Value: 12.5" in message.text
    assert [[b["text"] for b in row] for row in message.buttons] == [
        ["Acknowledge", "Shelve 8 h"], ["Confirmed", "False alarm"]]
    raised = json.loads((await mes.get()).payload)
    assert (raised["active"], raised["acked"]) == (True, False)
    # The same message as another chat holds it, never edited (for the last check).
    elsewhere = copy.deepcopy(message)

    # Nobody linked, then a viewer: refused, each told why; the alarm stays unacked.
    stranger = bot_api.press(STRANGER, message, "Acknowledge")
    viewer = bot_api.press(VERA, message, "Acknowledge", username="vera_tg")
    await bot_api.wait_for(lambda: bot_api.answer_to(viewer), "the viewer's answer")
    assert "You are not linked" in str(bot_api.answer_to(stranger))
    assert "user vera is a viewer" in str(bot_api.answer_to(viewer))
    assert plant.gateway.running.hub.alarms["pressure_high"].acked is False

    press = bot_api.press(OLGA, message, "Acknowledge", username="olga_tg")
    await bot_api.wait_for(lambda: bot_api.answer_to(press), "the operator's answer")
    assert bot_api.answer_to(press)["text"] == "Alarm pressure_high acknowledged"
    await bot_api.wait_for(lambda: message.edits == 1, "the message edited")
    assert message.text.count("✅ Acknowledged by olga at ") == 1  # the press's edit only
    assert [[b["text"] for b in row] for row in message.buttons] == [
        ["Shelve 8 h"], ["Confirmed", "False alarm"]]

    # SCADA: the condition, refreshed, is acknowledged by olga from Telegram. The hub hands
    # the acknowledgement to OPC UA after the press was answered: wait for it there first.
    ns = plant.gateway.running.server.namespace_index
    acked_state = plant.opcua.get_node(ua.NodeId("Alarms.pressure_high.AckedState.Id", ns))
    await wait_value(acked_state, lambda value: value.Value.Value is True, "AckedState True")
    scada = await EventWatch.on(plant.opcua, ua.ObjectIds.Server)
    assert await refresh(plant.opcua, scada.subscription.subscription_id) == ua.StatusCode(
        ua.StatusCodes.Good)
    seen = [await scada.next()]
    while seen[-1].EventType != REFRESH_END:
        seen.append(await scada.next())
    start = next(i for i, event in enumerate(seen) if event.EventType == REFRESH_START)
    (replayed,) = seen[start + 1:-1]  # between the refresh's start and end
    assert replayed.ConditionName == "pressure_high"
    assert getattr(replayed, "AckedState/Id") is True
    assert replayed.ClientUserId == "olga"
    assert replayed.Comment == ua.LocalizedText("Telegram @olga_tg")
    # MES: the acknowledgement names her too.
    acked = json.loads((await mes.get()).payload)
    assert (acked["acked"], acked["user"], acked["comment"]) == (
        True, "olga", "Telegram @olga_tg")
    (audited,) = await audit(plant, "alarm acknowledged")
    assert (audited["user"], audited["detail"]) == ("olga",
                                                    "pressure_high: Telegram @olga_tg")

    # A verdict from the same message, as her.
    verdict = bot_api.press(OLGA, message, "False alarm", username="olga_tg")
    await bot_api.wait_for(lambda: bot_api.answer_to(verdict), "the verdict's answer")
    assert bot_api.answer_to(verdict)["text"] == "Alarm pressure_high: false alarm"
    verdicts = (await plant.get("/api/verdicts"))["verdicts"]
    assert [(v["alarm"], v["verdict"], v["user"]) for v in verdicts] == [
        ("pressure_high", "false", "olga")]

    # A press on the same message now: already acknowledged, said so.
    again = bot_api.press(OLGA, elsewhere, "Acknowledge", username="olga_tg")
    await bot_api.wait_for(lambda: bot_api.answer_to(again), "the second press's answer")
    assert bot_api.answer_to(again)["text"] == "Alarm pressure_high is already acknowledged."
    # Cleared, then raised again: the first message's button does not acknowledge the
    # new activation, which nobody pressing it has seen; the new message's does.
    hub = plant.gateway.running.hub
    modbus_tcp_server.set(Table.HOLDING, 0, words(5.0))
    await bot_api.wait_for(lambda: not hub.alarms["pressure_high"].active, "the clear")
    modbus_tcp_server.set(Table.HOLDING, 0, words(13.0))
    await bot_api.wait_for(lambda: len(bot_api.in_chat(CHAT)) == 2, "the second message",
                           timeout_s=WAIT_S)
    stale = bot_api.press(OLGA, elsewhere, "Acknowledge", username="olga_tg")
    await bot_api.wait_for(lambda: bot_api.answer_to(stale), "the stale press's answer")
    assert "raised again since this message" in bot_api.answer_to(stale)["text"]
    assert hub.alarms["pressure_high"].acked is False
    fresh = bot_api.press(OLGA, bot_api.in_chat(CHAT)[1], "Acknowledge", username="olga_tg")
    await bot_api.wait_for(lambda: bot_api.answer_to(fresh), "the fresh press's answer")
    assert hub.alarms["pressure_high"].acked is True

    # /metrics counts the presses: olga's acknowledgements and verdict acted; the stranger's,
    # the viewer's, the second and the stale one were refused.
    parts = plant.gateway.running.telegram_parts
    assert parts is not None
    await bot_api.wait_for(lambda: parts.counts.presses_acted == 3, "the fresh press done")
    metrics = await plant.get("/metrics")
    assert metric_value(metrics, "uvelka_telegram_presses_acted_total") == 3
    assert metric_value(metrics, "uvelka_telegram_presses_refused_total") == 4
    assert metric_value(metrics, "uvelka_telegram_edits_total") >= 2  # the ack, the verdict
    assert metric_value(metrics, "uvelka_telegram_links") == 2
    assert metric_value(metrics, "uvelka_telegram_api_up") == 1
    assert metric_value(metrics, "uvelka_telegram_updates_failed_total") == 0


async def test_an_acknowledgement_on_the_page_shows_on_the_telegram_message(
    plant: Page, modbus_tcp_server: PymodbusServer, bot_api: FakeBotApi
) -> None:

    modbus_tcp_server.set(Table.HOLDING, 0, words(12.5))
    await bot_api.wait_for(lambda: bot_api.in_chat(CHAT), "the alarm's message",
                           timeout_s=WAIT_S)
    (message,) = bot_api.in_chat(CHAT)
    (alarm,) = (await plant.get("/api/alarms"))["alarms"]
    status, _ = await plant.post("/api/alarms/pressure_high/acknowledge",
                                {"event_id": alarm["event_id"], "comment": "on my way"})
    assert status == 200
    await bot_api.wait_for(lambda: message.edits == 1, "the message edited")
    assert message.text.count("✅ Acknowledged by admin at ") == 1
    assert [[b["text"] for b in row] for row in message.buttons] == [
        ["Shelve 8 h"], ["Confirmed", "False alarm"]]
