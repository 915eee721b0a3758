"""Shelving over OPC UA (issue #14, Part 9 §5.8.10): TimedShelve, OneShotShelve and
Unshelve of a condition's ShelvingState, for operators and above, refused for viewers,
shown in the events (ShelvingState, UnshelveTime, SuppressedOrShelved, ClientUserId) and
recorded in the audit log with the session's user, as OPC UA writes and acknowledgements
are. Real asyncua clients over SignAndEncrypt with the web page's users, and the
gateway's real audit log (SQLite)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from asyncua import ua

from gateway.alarms import MAX_TIME_SHELVED, Alarm
from gateway.config.model import GatewayConfig
from gateway.core.quality import Quality
from gateway.opcua import OpcuaServer
from gateway.store.audit import AuditLog
from tests.fixtures.opcua import WAIT_S, AlarmHub, EventWatch, RecordingWriteHandler
from tests.gateway.opcua import test_security
from tests.gateway.opcua.test_conditions_methods import HOT, SERVER, T0, acknowledge, call
from tests.gateway.opcua.test_security import secure_client, tag, write
from web.users import UserStore

HOUR_MS = 3_600_000.0
TIMED_SHELVE = ua.NodeId(ua.ObjectIds.ShelvedStateMachineType_TimedShelve)
ONE_SHOT_SHELVE = ua.NodeId(ua.ObjectIds.ShelvedStateMachineType_OneShotShelve)
UNSHELVE = ua.NodeId(ua.ObjectIds.ShelvedStateMachineType_Unshelve)
TIMED_SHELVED = ua.NodeId(ua.ObjectIds.ShelvedStateMachineType_TimedShelved)
ONE_SHOT_SHELVED = ua.NodeId(ua.ObjectIds.ShelvedStateMachineType_OneShotShelved)
UNSHELVED = ua.NodeId(ua.ObjectIds.ShelvedStateMachineType_Unshelved)
GOOD = ua.StatusCode(ua.StatusCodes.Good)

Cert = tuple[Path, Path]

# The web page's users vera (viewer), oleg (operator), elena (engineer); the fake hub; the
# server's configuration with the default SignAndEncrypt endpoints.
users = test_security.users
hub = test_security.hub
opcua_config = test_security.opcua_config
trusted_client = test_security.trusted_client  # in trusted/certs/


@pytest.fixture
async def audit(tmp_path: Path) -> AsyncIterator[AuditLog]:
    async with AuditLog.open(tmp_path / "audit.sqlite") as log:
        yield log


@pytest.fixture
async def opcua_server(
    opcua_config: GatewayConfig,
    write_handler: RecordingWriteHandler,
    hub: AlarmHub,
    users: UserStore,
    audit: AuditLog,
) -> AsyncIterator[OpcuaServer]:
    async with OpcuaServer(opcua_config, write_handler, hub, users, audit) as server:
        hub.server = server
        yield server
        await hub.settled()


@pytest.fixture
async def hot(hub: AlarmHub, opcua_server: OpcuaServer) -> Alarm:
    alarm = await hub.add(Alarm(HOT), device="pump")
    await hub.fire(alarm.observe(85.0, Quality.GOOD, T0))
    return alarm


def shelving_state(server: OpcuaServer) -> ua.NodeId:
    return ua.NodeId("Alarms.pump_hot.ShelvingState", server.namespace_index)


def instance_method(server: OpcuaServer, name: str) -> ua.NodeId:
    return ua.NodeId(f"Alarms.pump_hot.ShelvingState.{name}", server.namespace_index)


def duration(ms: float) -> ua.Variant:
    return ua.Variant(ms, ua.VariantType.Double)


async def audited(audit: AuditLog) -> list[tuple[str, str, str]]:
    return [(entry.user, entry.action, entry.detail) for entry in await audit.recent(20)]


async def test_an_operator_timed_shelves_the_event_shows_it_a_viewer_cannot(
    opcua_server: OpcuaServer, trusted_client: Cert, hub: AlarmHub, hot: Alarm, audit: AuditLog
) -> None:
    method = instance_method(opcua_server, "TimedShelve")
    async with await secure_client(opcua_server, trusted_client, "vera") as viewer:
        refused = await call(viewer, shelving_state(opcua_server), method, duration(HOUR_MS))
        assert refused.StatusCode == ua.StatusCode(ua.StatusCodes.BadUserAccessDenied)
    async with await secure_client(opcua_server, trusted_client, "oleg") as operator:
        watch = await EventWatch.on(operator, SERVER)

        result = await call(operator, shelving_state(opcua_server), method, duration(HOUR_MS))

        assert result.StatusCode == GOOD
        shelved = await watch.next()
        state = operator.get_node(
            ua.NodeId("Alarms.pump_hot.ShelvingState.CurrentState", opcua_server.namespace_index)
        )
        assert await state.read_value() == ua.LocalizedText("TimedShelved")
    assert shelved.SuppressedOrShelved is True
    assert getattr(shelved, "ShelvingState/CurrentState") == ua.LocalizedText("TimedShelved")
    assert getattr(shelved, "ShelvingState/CurrentState/Id") == TIMED_SHELVED
    assert HOUR_MS - 1000 <= getattr(shelved, "ShelvingState/UnshelveTime") <= HOUR_MS
    assert shelved.MaxTimeShelved == MAX_TIME_SHELVED.total_seconds() * 1000
    assert shelved.ClientUserId == "oleg"
    [(name, user, until, one_shot)] = hub.shelved
    assert (name, user, one_shot) == ("pump_hot", "oleg", False)
    assert hot.shelved_until == until
    assert await audited(audit) == [("oleg", "alarm shelved over OPC UA", "pump_hot for 1 h")]


async def test_timed_shelve_by_the_type_method_refuses_bad_times_and_shelving_twice(
    opcua_server: OpcuaServer, trusted_client: Cert, hub: AlarmHub, hot: Alarm
) -> None:
    target = shelving_state(opcua_server)
    async with await secure_client(opcua_server, trusted_client, "oleg") as operator:
        too_long = MAX_TIME_SHELVED.total_seconds() * 1000 + 1
        for ms in (0.0, -5.0, too_long):
            result = await call(operator, target, TIMED_SHELVE, duration(ms))
            assert result.StatusCode == ua.StatusCode(ua.StatusCodes.BadShelvingTimeOutOfRange)
        wrong = await call(operator, target, TIMED_SHELVE, ua.Variant("1 h", ua.VariantType.String))
        assert wrong.StatusCode == ua.StatusCode(ua.StatusCodes.BadInvalidArgument)
        missing = await call(operator, target, TIMED_SHELVE)
        assert missing.StatusCode == ua.StatusCode(ua.StatusCodes.BadArgumentsMissing)
        not_a_condition = await call(operator, tag(opcua_server, "pump.speed"), TIMED_SHELVE,
                                     duration(HOUR_MS))
        assert not_a_condition.StatusCode == ua.StatusCode(ua.StatusCodes.BadNodeIdUnknown)
        assert hub.shelved == []

        assert (await call(operator, target, TIMED_SHELVE, duration(60_000))).StatusCode == GOOD
        again = await call(operator, target, TIMED_SHELVE, duration(60_000))
        assert again.StatusCode == ua.StatusCode(ua.StatusCodes.BadConditionAlreadyShelved)
    assert [entry[1] for entry in hub.shelved] == ["oleg"]
    assert hot.shelved


async def test_one_shot_shelve_ends_when_the_alarm_clears(
    opcua_server: OpcuaServer, trusted_client: Cert, hub: AlarmHub, hot: Alarm, audit: AuditLog
) -> None:
    async with await secure_client(opcua_server, trusted_client, "oleg") as operator:
        watch = await EventWatch.on(operator, SERVER)
        method = instance_method(opcua_server, "OneShotShelve")

        assert (await call(operator, shelving_state(opcua_server), method)).StatusCode == GOOD

        shelved = await watch.next()
        assert getattr(shelved, "ShelvingState/CurrentState") == ua.LocalizedText("OneShotShelved")
        assert getattr(shelved, "ShelvingState/CurrentState/Id") == ONE_SHOT_SHELVED
        again = await call(operator, shelving_state(opcua_server), ONE_SHOT_SHELVE)
        assert again.StatusCode == ua.StatusCode(ua.StatusCodes.BadConditionAlreadyShelved)

        cleared, unshelved = await hub.fire(hot.observe(70.0, Quality.GOOD, T0 + timedelta(1)))

        assert (cleared.kind, cleared.shelved) == ("cleared", True)
        assert (unshelved.kind, unshelved.shelved) == ("unshelved", False)
        shown_cleared, shown_unshelved = await watch.next(), await watch.next()
    assert getattr(shown_cleared, "ActiveState/Id") is False
    assert shown_unshelved.SuppressedOrShelved is False
    assert getattr(shown_unshelved, "ShelvingState/CurrentState/Id") == UNSHELVED
    assert getattr(shown_unshelved, "ShelvingState/UnshelveTime") == 0.0
    assert hub.shelved[0][1:] == ("oleg", hub.shelved[0][2], True)
    assert await audited(audit) == [
        ("oleg", "alarm shelved over OPC UA", "pump_hot until it clears (one-shot)")
    ]


async def test_unshelve_by_an_operator_and_refused_when_not_shelved(
    opcua_server: OpcuaServer, trusted_client: Cert, hub: AlarmHub, hot: Alarm, audit: AuditLog
) -> None:
    target = shelving_state(opcua_server)
    async with await secure_client(opcua_server, trusted_client, "oleg") as operator:
        refused = await call(operator, target, UNSHELVE)
        assert refused.StatusCode == ua.StatusCode(ua.StatusCodes.BadConditionNotShelved)
        watch = await EventWatch.on(operator, SERVER)
        assert (await call(operator, target, TIMED_SHELVE, duration(HOUR_MS))).StatusCode == GOOD
        await watch.next()
        async with await secure_client(opcua_server, trusted_client, "vera") as viewer:
            denied = await call(viewer, target, instance_method(opcua_server, "Unshelve"))
            assert denied.StatusCode == ua.StatusCode(ua.StatusCodes.BadUserAccessDenied)

        result = await call(operator, target, instance_method(opcua_server, "Unshelve"))

        assert result.StatusCode == GOOD
        unshelved = await watch.next()
    assert getattr(unshelved, "ShelvingState/CurrentState") == ua.LocalizedText("Unshelved")
    assert unshelved.SuppressedOrShelved is False
    assert unshelved.ClientUserId == "oleg"
    assert hub.unshelved == [("pump_hot", "oleg")]
    assert not hot.shelved
    assert await audited(audit) == [
        ("oleg", "alarm unshelved over OPC UA", "pump_hot"),
        ("oleg", "alarm shelved over OPC UA", "pump_hot for 1 h"),
    ]


async def test_writes_and_acknowledgements_over_opc_ua_are_audited_with_the_user(
    opcua_server: OpcuaServer,
    trusted_client: Cert,
    hub: AlarmHub,
    hot: Alarm,
    audit: AuditLog,
    write_handler: RecordingWriteHandler,
) -> None:
    speed = tag(opcua_server, "pump.speed")
    async with await secure_client(opcua_server, trusted_client, "vera") as viewer:
        refused = await write(viewer, speed, 1500)
        assert refused == ua.StatusCode(ua.StatusCodes.BadUserAccessDenied)
    async with await secure_client(opcua_server, trusted_client, "elena") as engineer:
        assert await write(engineer, speed, 1200) == GOOD
    assert hot.last_event is not None
    async with await secure_client(opcua_server, trusted_client, "oleg") as operator:
        condition = ua.NodeId("Alarms.pump_hot", opcua_server.namespace_index)
        assert await acknowledge(operator, condition, hot.last_event.id.bytes, "seen") == GOOD

    assert write_handler.writes == [("pump.speed", 1200)]
    assert await audited(audit) == [
        ("oleg", "alarm acknowledged over OPC UA", "pump_hot: seen"),
        ("elena", "tag written over OPC UA", "pump.speed = 1200"),
    ]


async def test_unshelve_time_counts_down_when_read(
    opcua_server: OpcuaServer, trusted_client: Cert, hub: AlarmHub, hot: Alarm
) -> None:
    left = ua.NodeId("Alarms.pump_hot.ShelvingState.UnshelveTime", opcua_server.namespace_index)
    async with await secure_client(opcua_server, trusted_client, "oleg") as operator:
        node = operator.get_node(left)
        assert await node.read_value() == 0.0  # not shelved
        target = shelving_state(opcua_server)
        assert (await call(operator, target, TIMED_SHELVE, duration(HOUR_MS))).StatusCode == GOOD
        await hub.settled()
        first = await node.read_value()
        assert HOUR_MS - 2000 < first <= HOUR_MS

        later = first
        async with asyncio.timeout(WAIT_S):
            while later >= first:
                await asyncio.sleep(0.05)  # polls the clock the variable counts with
                later = await node.read_value()

        assert HOUR_MS - 2000 < later < first
        assert (await call(operator, target, UNSHELVE)).StatusCode == GOOD
        await hub.settled()
        assert await node.read_value() == 0.0
