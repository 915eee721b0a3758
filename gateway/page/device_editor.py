"""Devices and tags edited while the gateway runs: the web page's side of issue #5.

An edit is a candidate configuration document, checked by `uvelka check-config`'s
validator; with any error nothing changes. Otherwise the file is saved (atomically, the
previous one kept as `.bak`) and the devices that differ are applied live: a removed
device's loop stops and its nodes and alarm conditions go, an added one gets them and a
loop, a changed one's loop restarts and its nodes are updated so that unchanged tags keep
theirs (OpcuaServer.update_device). Other devices are not touched.

Only devices apply live. An imported file whose other sections differ from the running
ones is saved and those sections are reported as needing a restart; its devices still
apply live unless the running alarms or assets need a tag it removes, in which case they
wait for the restart too. Without a file (the demo), edits apply live and are not saved.

An import that removes `[web]`, changes `[opcua]` or has no devices while the file has
some is hard to undo from the page (issue #17): it raises `DangerousImport`, doing
nothing, unless confirmed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.alarms.hub import AlarmHub
from gateway.config.device_diff import DeviceDiff, diff_devices
from gateway.config.document import ConfigDocument
from gateway.config.loader import validate_text
from gateway.config.model import DeviceConfig, GatewayConfig, OpcuaSection
from gateway.config.problem import Problem
from gateway.config.sources import SourceKind
from gateway.opcua.server import OpcuaServer
from gateway.runtime.fleet import DeviceFleet
from web.facade import EditOutcome

logger = logging.getLogger(__name__)

EMBEDDED = "(embedded configuration)"  # how problems name a configuration without a file
DEVICES = "devices"
_SECTIONS = [name for name in GatewayConfig.model_fields if name != DEVICES]


class DangerousImport(Exception):
    """An import that needs an explicit confirmation; nothing was done."""

    def __init__(self, dangers: list[str]) -> None:
        super().__init__("; ".join(dangers))
        self.dangers = dangers  # one line per danger, in words for the engineer


class StaleRevision(Exception):
    """A change made against a revision of the file that is no longer its own; nothing was
    done."""

    def __init__(self, current: str) -> None:
        super().__init__(f"the configuration's revision is {current}")
        self.current = current


class RunningConfig:
    """The configuration the gateway runs: the one it started with, until the device editor
    applies an edit of the devices (issue #5)."""

    def __init__(self, config: GatewayConfig) -> None:
        self.current = config


@dataclass(frozen=True)
class _Plan:
    """What applying a valid candidate means, worked out off the event loop."""

    problems: list[Problem]
    candidate: ConfigDocument
    config: GatewayConfig  # the candidate's, as the next start will run it
    diff: DeviceDiff
    restart_needed: list[str]
    # The running configuration once the devices are applied, and its document; None
    # when the devices wait for the restart too.
    live: tuple[GatewayConfig, ConfigDocument] | None


class DeviceEditor:
    """Lists, applies, imports and exports the gateway's devices; one edit at a time."""

    def __init__(
        self,
        running: RunningConfig,
        group: asyncio.TaskGroup,
        fleet: DeviceFleet,
        server: OpcuaServer,
        hub: AlarmHub,
        document: ConfigDocument,
        config_file: Path | None,
    ) -> None:
        self.config_file = config_file
        self._config = running
        self._group = group
        self._fleet = fleet
        self._server = server
        self._hub = hub
        self._document = document  # what the file holds
        self._running = document  # what runs: differs from the file until a restart
        self._saved = running.current  # what the file holds, validated
        self._file = str(config_file) if config_file is not None else EMBEDDED
        self._lock = asyncio.Lock()

    @classmethod
    async def open(
        cls,
        running: RunningConfig,
        group: asyncio.TaskGroup,
        fleet: DeviceFleet,
        server: OpcuaServer,
        hub: AlarmHub,
        config_file: Path | None,
    ) -> DeviceEditor:
        """The editor of the running configuration, read from `config_file` when given."""
        document = None
        if config_file is not None:
            try:
                # Read through tomllib: an edit parses with tomlkit only the device tables
                # it changes (gateway.config.document, issue #10).
                document = await asyncio.to_thread(ConfigDocument.read, config_file)
            except (OSError, ValueError) as exc:
                logger.warning("%s: cannot read it again for editing (%s); edits will "
                               "rewrite it from the running configuration", config_file, exc)
        if document is None:
            document = ConfigDocument.from_config(running.current)
        return cls(running, group, fleet, server, hub, document, config_file)

    def devices(self) -> list[dict[str, Any]]:
        """The `[[devices]]` tables as the file writes them (no defaults filled in)."""
        return self._document.devices()

    def export_text(self) -> str:
        """The configuration file's text."""
        return self._document.text()

    @property
    def revision(self) -> str:
        """The revision of the file's text: a change names the one it was made against."""
        return self._document.revision

    async def apply_devices(
        self, devices: list[dict[str, Any]], if_match: Collection[str] | None = None
    ) -> EditOutcome:
        """Make `devices` the gateway's devices: checked, saved, applied live. Raises
        StaleRevision, doing nothing, unless the revision is among `if_match` (None: any)."""
        async with self._lock:
            self._check_revision(if_match)
            candidate = await asyncio.to_thread(self._with_devices, devices)
            if isinstance(candidate, list):
                return self._refused(candidate)
            running = self._config.current
            plan = await asyncio.to_thread(self._plan, candidate, running, None)
            return await self._carry_out(plan)

    async def check_devices(self, devices: list[dict[str, Any]]) -> list[Problem]:
        """The problems `devices` would have as the gateway's devices, as `apply_devices`
        finds them; nothing changes (the page checks as the engineer edits, issue #11)."""

        def check() -> list[Problem]:
            candidate = self._with_devices(devices)
            if isinstance(candidate, list):
                return candidate
            return candidate.validate(self._file)[1]

        return await asyncio.to_thread(check)

    def _with_devices(self, devices: list[dict[str, Any]]) -> ConfigDocument | list[Problem]:
        """The file's document with `devices`, or why it cannot hold them (blocking)."""
        try:
            return self._document.with_devices(devices)
        except ValueError as exc:
            return [Problem(self._file, DEVICES, f"not TOML values: {exc}")]

    async def import_text(
        self, text: str, if_match: Collection[str] | None = None, *, confirmed: bool = False
    ) -> EditOutcome:
        """Make `text` the configuration file: checked, saved, its devices applied live.
        Raises StaleRevision as `apply_devices` does, and DangerousImport, doing nothing,
        when it needs to be `confirmed`."""
        async with self._lock:
            self._check_revision(if_match)
            text = text.removeprefix("\ufeff")  # as the loader reads a file
            checked = await asyncio.to_thread(validate_text, text, self._file)
            if checked[0] is None:
                return self._refused(checked[1])
            try:
                candidate = await asyncio.to_thread(ConfigDocument.from_text, text)
            except ValueError as exc:  # tomllib accepted it; tomlkit should too
                return self._refused([Problem(self._file, "", f"cannot edit this TOML: {exc}")])
            running = self._config.current
            plan = await asyncio.to_thread(self._plan, candidate, running, checked)
            if isinstance(plan, _Plan) and not confirmed:
                dangers = _dangers(self._saved, plan)
                if dangers:
                    raise DangerousImport(dangers)
            return await self._carry_out(plan)

    def _check_revision(self, if_match: Collection[str] | None) -> None:
        # Under the lock: of edits made against the same revision only the first applies,
        # the others would drop what it changed (issue #17).
        if if_match is not None and self.revision not in if_match:
            raise StaleRevision(self.revision)

    def _plan(
        self,
        candidate: ConfigDocument,
        running: GatewayConfig,
        checked: tuple[GatewayConfig | None, list[Problem]] | None,
    ) -> _Plan | list[Problem]:
        """The plan for `candidate`, or its problems when it has errors (blocking)."""
        config, problems = checked if checked is not None else candidate.validate(self._file)
        if config is None:
            return problems
        differ = {name for name in _SECTIONS if getattr(config, name) != getattr(running, name)}
        live: tuple[GatewayConfig, ConfigDocument] | None = (config, candidate)
        if differ:
            # The running alarms and assets stay until the restart: the new devices must
            # still hold every tag they watch.
            document = self._running.with_devices(candidate.devices())
            live_config, live_problems = document.validate(self._file)
            if live_config is None:
                logger.info("%s: the devices apply at the restart, with the sections that "
                            "need them: %s", self._file,
                            "; ".join(str(p) for p in live_problems if p.is_error))
                differ.add(DEVICES)
                live = None
            else:
                live = (live_config, document)
        return _Plan(
            problems=problems,
            candidate=candidate,
            config=config,
            diff=diff_devices(running.devices, config.devices),
            restart_needed=[name for name in GatewayConfig.model_fields if name in differ],
            live=live,
        )

    async def _carry_out(self, plan: _Plan | list[Problem]) -> EditOutcome:
        if isinstance(plan, list):
            return self._refused(plan)
        if self.config_file is not None and plan.candidate.text() != self._document.text():
            # Saved before anything runs differently: a failed save leaves nothing changed.
            try:
                await asyncio.to_thread(plan.candidate.save, self.config_file)
            except OSError as exc:
                failure = Problem(self._file, "", f"cannot save the file: {exc}")
                return self._refused([*plan.problems, failure])
        self._document = plan.candidate
        self._saved = plan.config
        if plan.live is not None:
            config, document = plan.live
            await self._apply_live(self._config.current.devices, config.devices)
            self._config.current = config
            self._running = document
        changes = plan.diff.lines()
        for line in changes:
            logger.info("%s: %s", self._file, line)
        if plan.restart_needed:
            logger.info("%s: saved; %s take effect at the next start", self._file,
                        ", ".join(plan.restart_needed))
        return EditOutcome(
            problems=plan.problems,
            changes=changes,
            saved=self.config_file is not None,
            restart_needed=plan.restart_needed,
            revision=self.revision,
        )

    async def _apply_live(self, old: list[DeviceConfig], new: list[DeviceConfig]) -> None:
        """Stop, update and start the device loops and nodes that differ. A disabled
        device has neither, so enabling or disabling one adds or removes it."""
        before = {device.name: device for device in old if device.enabled}
        after = {device.name: device for device in new if device.enabled}
        for name in before:
            if name not in after:
                await self._fleet.stop(name)
                for alarm in self._device_alarms(name):
                    await self._server.remove_alarm(alarm)  # before its device: see remove_alarm
                await self._server.remove_device(name)
        for name, device in after.items():
            previous = before.get(name)
            if previous is None:
                await self._server.add_device(device)
                for alarm in self._device_alarms(name):
                    await self._server.add_alarm(self._hub.alarms[alarm], device=name)
                self._fleet.start(self._group, device)
            elif previous != device:
                await self._fleet.stop(name)
                await self._server.update_device(previous, device)
                self._fleet.start(self._group, device)

    def _refused(self, problems: list[Problem]) -> EditOutcome:
        return EditOutcome(problems=problems, changes=[], saved=False, restart_needed=[],
                           revision=self.revision)

    def _device_alarms(self, device: str) -> list[str]:
        """The alarms watching a tag of `device`: their conditions live below its object."""
        return [
            name
            for name, source in self._hub.sources.items()
            if source.kind is SourceKind.TAG and source.owner == device
        ]


def _dangers(saved: GatewayConfig, plan: _Plan) -> list[str]:
    """What an import would do that is hard to undo from the page, compared with the file."""
    new = plan.config
    dangers = []
    if saved.web is not None and new.web is None:
        dangers.append("it has no [web] section: this page will not be served after the "
                       "next start")
    opcua = [key for key in OpcuaSection.model_fields
             if getattr(saved.opcua, key) != getattr(new.opcua, key)]
    if opcua:
        dangers.append(f"it changes [opcua] {', '.join(opcua)}: OPC UA clients must use the "
                       "new settings after the next start")
    if saved.devices and not new.devices:
        names = ", ".join(device.name for device in saved.devices)
        one = len(saved.devices) == 1
        when = "now" if plan.live is not None else "at the next start"
        dangers.append(f"it has no devices: {names} {'stops' if one else 'stop'} being "
                       f"polled {when} and {'its' if one else 'their'} OPC UA nodes go")
    return dangers

