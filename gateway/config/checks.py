"""Checks across keys and items that the models cannot express, each at its exact key path.

They run on whatever validated: each device's own keys, and each tag, are validated on
their own, so one bad tag does not hide its neighbours' problems and a device whose own
keys are wrong still has its tags checked. Checks on a device's own keys (URL, unit id,
names, limits) wait until all of them validate. A tag the model refused is checked on the
keys it did accept (issue #14): a misspelled type still leaves its name to the duplicate
check, a misspelled key or table still leaves its address to the bounds check.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from drivers.base import Driver, Table, tag_problems
from drivers.registry import DRIVERS
from gateway.config.model import DeviceConfig, TagConfig
from gateway.config.problem import Finding, Loc, Severity, format_path

_NUMERIC_ONLY = ("scale", "offset", "deadband", "range", "unit")
# Names the OPC UA address space gives a meaning of its own (gateway/opcua/README.md).
RESERVED_DEVICE_NAMES = ("Devices", "Assets")
RESERVED_TAG_NAMES = ("Status",)
ALARMS_PREFIX = "Alarms"  # the alarm conditions' NodeIds are "Alarms.<alarm>"


@dataclass(frozen=True, slots=True)
class DeviceParts:
    """What validated of one [[devices]] table: its own keys, and each tag on its own."""

    device: DeviceConfig | None
    tags: Mapping[int, TagConfig] = field(default_factory=dict)  # by index in the file
    # The device's url as written, even when its other keys do not validate: it names the
    # driver whose address rules its tags are checked by.
    url: str | None = None
    # Keys of a tag the model refused (already reported), by index: the tag in `tags` holds
    # a stand-in (PLACEHOLDERS) or the default for each, and no check reads them.
    refused: Mapping[int, frozenset[str]] = field(default_factory=dict)


# Stand-ins for a tag's required keys the model refused, so that its other keys can be
# checked; a tag with a stand-in table or type has only its address bounds checked.
PLACEHOLDERS = {"name": "_", "table": "holding", "address": 0, "type": "uint16"}
_PLACE = frozenset(("table", "address", "type", "bit", "length", "order"))


def check(devices: Sequence[DeviceParts], gateway_name: str | None = None) -> list[Finding]:
    """Every semantic problem of the devices, in no particular order."""
    named = (
        (("devices", i), part.device.name)
        for i, part in enumerate(devices)
        if part.device is not None
    )
    findings = duplicate_names(named)
    for index, part in enumerate(devices):
        at: Loc = ("devices", index)
        if part.device is not None:
            findings += _device(at, part.device)
            findings += _reserved_device_name(at, part.device.name, gateway_name)
        tag_locs = {j: (*at, "tags", j) for j in part.tags}
        refused = {j: part.refused.get(j, frozenset()) for j in part.tags}
        findings += duplicate_names(
            (tag_locs[j], tag.name) for j, tag in part.tags.items() if "name" not in refused[j]
        )
        max_registers = part.device.max_registers if part.device is not None else None
        driver = _driver(part)
        for j, tag in part.tags.items():
            findings += [
                finding
                for finding in _tag(tag_locs[j], tag, driver, max_registers, refused[j])
                if finding.loc[-1] not in refused[j]
            ]
        placed = [(tag_locs[j], tag) for j, tag in part.tags.items() if not refused[j] & _PLACE]
        findings += _overlaps(placed, driver)
    return findings


def duplicate_names(named: Iterable[tuple[Loc, str]]) -> list[Finding]:
    """A finding at each `name` that an earlier item already took."""
    first: dict[str, Loc] = {}
    seen: dict[str, int] = {}
    findings = []
    for loc, name in named:
        seen[name] = seen.get(name, 0) + 1
        if name not in first:
            first[name] = loc
            continue
        times = "twice" if seen[name] == 2 else "again"
        message = f"name {name!r} is used {times}; first at {format_path(first[name])}"
        findings.append(Finding((*loc, "name"), message))
    return findings


def _driver(part: DeviceParts) -> Driver | None:
    """The driver of the device's URL scheme; None when there is none (the URL's own
    finding says why), and then its tags get the checks every table shares."""
    url = part.device.url if part.device is not None else part.url
    if url is None:
        return None
    try:
        return DRIVERS.driver_for(url)
    except ValueError:
        return None


def _device(at: Loc, device: DeviceConfig) -> list[Finding]:
    findings = []
    driver: Driver | None = None
    link: object = None
    try:
        driver = DRIVERS.driver_for(device.url)
        link = driver.link(device.url)
    except ValueError as exc:
        findings.append(Finding((*at, "url"), str(exc)))
    if device.unit_id == 0:
        # Modbus over Serial Line V1.02 §2.2: every device executes a broadcast write and
        # none answers, so a read to unit 0 can only time out.
        findings.append(
            Finding(
                (*at, "unit_id"),
                "unit_id 0 is the broadcast address: no device answers it, so it cannot be "
                "polled; use the device's own unit id",
            )
        )
    elif driver is not None and link is not None:
        try:
            # What the device's poll loop builds at start: what it refuses must be refused
            # here (issue #17), e.g. unit 250 on an RTU line.
            driver.settings(link, device.unit_id, device.timeout)
        except ValueError as exc:
            findings.append(Finding((*at, "unit_id"), str(exc)))
    if device.max_gap >= device.max_registers:
        if "max_gap" in device.model_fields_set:
            findings.append(
                Finding(
                    (*at, "max_gap"),
                    f"must be less than max_registers = {device.max_registers} "
                    f"(got {device.max_gap})",
                )
            )
        else:
            findings.append(
                Finding(
                    (*at, "max_registers"),
                    f"must be greater than max_gap, which defaults to {device.max_gap}; "
                    f"set max_gap lower too (got {device.max_registers})",
                )
            )
    return findings


def _reserved_device_name(at: Loc, name: str, gateway_name: str | None) -> list[Finding]:
    if name in RESERVED_DEVICE_NAMES:
        return [Finding((*at, "name"), f"{name!r} is reserved for the OPC UA folder of that "
                        "name; choose another device name")]
    if name == ALARMS_PREFIX:
        return [Finding((*at, "name"), f"{name!r} is reserved: alarm conditions take the "
                        f"OPC UA NodeIds \"{ALARMS_PREFIX}.<alarm>\"; choose another device name")]
    if name == gateway_name:
        return [Finding((*at, "name"), f"{name!r} is the gateway's name, whose OPC UA "
                        "object holds the devices; choose another device name")]
    return []


def _tag(
    at: Loc,
    tag: TagConfig,
    driver: Driver | None,
    max_registers: int | None,
    refused: frozenset[str] = frozenset(),
) -> list[Finding]:
    field_tag = tag.as_tag(tag.name)
    if driver is None:
        problems = tag_problems(field_tag, writable=tag.writable, max_words=max_registers)
        hints = []
    else:
        problems = driver.address_problems(
            field_tag, writable=tag.writable, max_registers=max_registers
        )
        hints = driver.address_hints(field_tag)
    if refused & {"table", "type"}:
        # Stand-ins: only the address's own bounds hold whatever the table and type (the
        # stand-in type is one register wide, so a span past the end is never made up).
        return [Finding((*at, key), message) for key, message in problems if key == "address"]
    findings = [Finding((*at, key), message) for key, message in problems]
    findings += [Finding((*at, key), message, Severity.WARNING) for key, message in hints]
    if tag.name in RESERVED_TAG_NAMES:
        findings.append(Finding((*at, "name"), f"{tag.name!r} is reserved for the device's "
                                "status object in OPC UA; choose another tag name"))
    if not tag.type.is_numeric:
        findings += [
            Finding((*at, key), f"{key} is only allowed on a numeric type, not on a {tag.type}")
            for key in _NUMERIC_ONLY
            if key in tag.model_fields_set
        ]
    return findings


def _overlaps(tags: Sequence[tuple[Loc, TagConfig]], driver: Driver | None) -> list[Finding]:
    """Tags that read the same registers (or bits), which is rarely meant.

    Bits of a register do not overlap each other, nor the register read whole: a status
    word next to its bits is a common and deliberate layout. Tags that run past the end
    of the table, or strings without a length, are errors already.
    """
    findings: list[Finding] = []
    by_table: dict[Table, list[tuple[Loc, TagConfig]]] = {}
    bits: dict[tuple[Table, int, int], tuple[Loc, TagConfig]] = {}
    for loc, tag in tags:
        field_tag = tag.as_tag(tag.name)
        if field_tag.width == 0 or (driver is not None and field_tag.end > driver.address_space):
            continue
        if tag.bit is None:
            by_table.setdefault(tag.table, []).append((loc, tag))
            continue
        first = bits.setdefault((tag.table, tag.address, tag.bit), (loc, tag))
        if first[0] != loc:
            findings.append(_overlap(loc, first, f"{tag.table} {tag.address} bit {tag.bit}"))
    for table, spans in by_table.items():
        findings += _overlapping_spans(table, spans)
    return findings


def _overlapping_spans(table: Table, spans: list[tuple[Loc, TagConfig]]) -> list[Finding]:
    findings = []
    # Sweep in address order, keeping the tags whose registers are still running.
    ordered = sorted(spans, key=lambda item: (item[1].address, item[0]))
    running: list[tuple[int, Loc, TagConfig]] = []
    for loc, tag in ordered:
        end = tag.as_tag(tag.name).end
        running = [item for item in running if item[0] > tag.address]
        for other_end, other_loc, other in running:
            last = min(end, other_end) - 1
            where = f"{table} {tag.address}" + (f"-{last}" if last > tag.address else "")
            # Reported at whichever comes later in the file, naming the earlier one.
            if other_loc < loc:
                findings.append(_overlap(loc, (other_loc, other), where))
            else:
                findings.append(_overlap(other_loc, (loc, tag), where))
        running.append((end, loc, tag))
    return findings


def _overlap(at: Loc, earlier: tuple[Loc, TagConfig], where: str) -> Finding:
    loc, tag = earlier
    message = f"overlaps {format_path(loc)} ({tag.name!r}) at {where}"
    return Finding((*at, "address"), message, Severity.WARNING)
