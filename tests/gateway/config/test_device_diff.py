"""The difference between two device lists, and its lines for the audit log."""

from __future__ import annotations

from typing import Any

from gateway.config.device_diff import diff_devices
from gateway.config.model import DeviceConfig


def device(name: str, *tags: dict[str, Any], **extra: Any) -> DeviceConfig:
    return DeviceConfig.model_validate(
        {"name": name, "url": "modbus-tcp://10.0.0.5", "tags": list(tags), **extra}
    )


def tag(name: str, address: int, **extra: Any) -> dict[str, Any]:
    return {"name": name, "table": "holding", "address": address, "type": "uint16", **extra}


PUMP1 = device("pump1", tag("speed", 3), tag("pressure", 4, type="float32"))


def test_equal_lists_have_no_difference() -> None:
    diff = diff_devices([PUMP1], [device("pump1", tag("speed", 3), tag("pressure", 4,
                                                                         type="float32"))])
    assert not diff
    assert diff.lines() == []


def test_devices_added_and_removed() -> None:
    pump4 = device("pump4", tag("a", 0), tag("b", 1), tag("c", 2))
    fan = device("fan", tag("rpm", 0))

    diff = diff_devices([PUMP1, fan], [PUMP1, pump4])

    assert diff.added == (pump4,)
    assert diff.removed == (fan,)
    assert diff.changed == ()
    assert diff.lines() == ["device fan removed", "device pump4 added (3 tags)"]
    assert diff_devices([], [fan]).lines() == ["device fan added (1 tag)"]


def test_tags_changed_added_and_removed_by_name() -> None:
    new = device("pump1", tag("speed", 4), tag("flow", 8, type="float32", unit="m3/h"))

    diff = diff_devices([PUMP1], [new])

    (change,) = diff.changed
    assert change.name == "pump1"
    assert change.fields == {}
    assert [t.name for t in change.tags_added] == ["flow"]
    assert [t.name for t in change.tags_removed] == ["pressure"]
    assert [(t.name, t.fields) for t in change.tags_changed] == [("speed", {"address": (3, 4)})]
    assert diff.lines() == [
        "device pump1: tag pressure removed",
        "device pump1: tag speed changed (address 3 -> 4)",
        "device pump1: tag flow added",
    ]


def test_field_values_are_shown_as_toml_spells_them() -> None:
    old = device("pump1", tag("speed", 3), url="modbus-tcp://10.0.0.5")
    new = device(
        "pump1",
        tag("speed", 3, type="int16", order="BADC", writable=True, range=[0, 10],
            description='say "hi"'),
        url="modbus-tcp://10.0.0.9", poll_interval=0.5, enabled=False,
    )

    assert diff_devices([old], [new]).lines() == [
        'device pump1 changed (url "modbus-tcp://10.0.0.5" -> "modbus-tcp://10.0.0.9", '
        "poll_interval 1.0 -> 0.5, enabled true -> false)",
        'device pump1: tag speed changed (type uint16 -> int16, order ABCD -> BADC, '
        'description "" -> "say \\"hi\\"", range unset -> [0.0, 10.0], writable false -> true)',
    ]


def test_order_alone_is_a_change() -> None:
    fan = device("fan", tag("rpm", 0))
    reordered = device("pump1", tag("pressure", 4, type="float32"), tag("speed", 3))

    assert diff_devices([PUMP1, fan], [fan, PUMP1]).lines() == ["devices reordered"]
    assert diff_devices([PUMP1], [reordered]).lines() == ["device pump1: tags reordered"]
    # Names that come and go do not make an order change.
    assert not diff_devices([PUMP1, fan], [fan]).reordered
