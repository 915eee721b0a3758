"""What changed between two device lists: for the live apply and for the audit log.

Devices are matched by name, and so are the tags of a device: a renamed device or tag is
one removed and another added. `DeviceDiff.lines()` reads like
`device pump1: tag speed changed (address 3 -> 4)`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from gateway.config.model import DeviceConfig, TagConfig

# A field's (old, new) values, by field name.
FieldChanges = dict[str, tuple[object, object]]

_DEVICE_FIELDS = [name for name in DeviceConfig.model_fields if name != "tags"]
_TAG_FIELDS = [name for name in TagConfig.model_fields if name != "name"]


@dataclass(frozen=True)
class TagChange:
    name: str
    old: TagConfig
    new: TagConfig
    fields: FieldChanges


@dataclass(frozen=True)
class DeviceChange:
    """A device in both lists that differs: its own fields, its tags, their order."""

    old: DeviceConfig
    new: DeviceConfig
    fields: FieldChanges
    tags_added: tuple[TagConfig, ...]
    tags_removed: tuple[TagConfig, ...]
    tags_changed: tuple[TagChange, ...]
    tags_reordered: bool

    @property
    def name(self) -> str:
        return self.new.name


@dataclass(frozen=True)
class DeviceDiff:
    added: tuple[DeviceConfig, ...]
    removed: tuple[DeviceConfig, ...]
    changed: tuple[DeviceChange, ...]
    reordered: bool

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed or self.reordered)

    def lines(self) -> list[str]:
        """One line per change, for people: removed devices, changed ones, added ones."""
        lines = [f"device {device.name} removed" for device in self.removed]
        for change in self.changed:
            lines += _device_lines(change)
        lines += [
            f"device {device.name} added ({_count(len(device.tags), 'tag')})"
            for device in self.added
        ]
        if self.reordered:
            lines.append("devices reordered")
        return lines


def diff_devices(old: Sequence[DeviceConfig], new: Sequence[DeviceConfig]) -> DeviceDiff:
    """The changes that turn the device list `old` into `new`."""
    before = {device.name: device for device in old}
    after = {device.name: device for device in new}
    changed = tuple(
        change
        for name, device in after.items()
        if name in before and (change := _device_change(before[name], device)) is not None
    )
    return DeviceDiff(
        added=tuple(device for name, device in after.items() if name not in before),
        removed=tuple(device for name, device in before.items() if name not in after),
        changed=changed,
        reordered=_reordered(list(before), list(after)),
    )


def _device_change(old: DeviceConfig, new: DeviceConfig) -> DeviceChange | None:
    if old == new:
        return None
    before = {tag.name: tag for tag in old.tags}
    after = {tag.name: tag for tag in new.tags}
    return DeviceChange(
        old=old,
        new=new,
        fields=_field_changes(old, new, _DEVICE_FIELDS),
        tags_added=tuple(tag for name, tag in after.items() if name not in before),
        tags_removed=tuple(tag for name, tag in before.items() if name not in after),
        tags_changed=tuple(
            TagChange(name, before[name], tag, _field_changes(before[name], tag, _TAG_FIELDS))
            for name, tag in after.items()
            if name in before and before[name] != tag
        ),
        tags_reordered=_reordered(list(before), list(after)),
    )


def _field_changes(old: object, new: object, fields: list[str]) -> FieldChanges:
    return {
        name: (getattr(old, name), getattr(new, name))
        for name in fields
        if getattr(old, name) != getattr(new, name)
    }


def _reordered(before: list[str], after: list[str]) -> bool:
    """Whether the names both lists share come in another order."""
    kept = set(before) & set(after)
    return [name for name in before if name in kept] != [name for name in after if name in kept]


def _device_lines(change: DeviceChange) -> list[str]:
    prefix = f"device {change.name}:"
    lines: list[str] = []
    if change.fields:
        lines.append(f"device {change.name} changed ({_fields_shown(change.fields)})")
    lines += [f"{prefix} tag {tag.name} removed" for tag in change.tags_removed]
    lines += [
        f"{prefix} tag {tag.name} changed ({_fields_shown(tag.fields)})"
        for tag in change.tags_changed
    ]
    lines += [f"{prefix} tag {tag.name} added" for tag in change.tags_added]
    if change.tags_reordered:
        lines.append(f"{prefix} tags reordered")
    return lines


def _fields_shown(fields: FieldChanges) -> str:
    return ", ".join(
        f"{name} {_shown(old)} -> {_shown(new)}" for name, (old, new) in fields.items()
    )


def _shown(value: object) -> str:
    """A value as the TOML file spells it: strings quoted, booleans lower case."""
    if value is None:
        return "unset"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, tuple):
        return "[" + ", ".join(_shown(item) for item in value) + "]"
    return str(value)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"
