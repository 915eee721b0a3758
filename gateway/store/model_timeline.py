"""Which model version scored an asset when, as active or in shadow (issue #12), in
`<data_dir>/shadow.json`.

The history keeps an asset's outputs under `<asset>.<output>` (the active model) and
`<asset>.shadow.<output>` (a candidate in shadow) without the version that made them; the
agreement of each version with the experts (gateway.page.agreement) needs to know which
version that was. The file holds:

- `periods`: per asset and model kind, each version's time as `active` or `shadow`, from
  when it started to when another took its place (`end` null: still running). The
  gateway opens a period when a slot takes a version and when a candidate goes into shadow,
  and closes it when it gives way; a restart with the same version continues its period.
- `shadows`: the candidates in shadow now, chosen on the Models page: the gateway puts them
  back in shadow when it starts.
- `alarms`: each asset's anomaly alarm delays as the running gateway applies them, so that
  `uvelka report` counts alarm episodes as the gateway raises them without its
  configuration.

Written whole, beside and renamed over (gateway.core.files); blocking: call `save` from a
worker thread. A file that cannot be read starts the timeline empty (logged), its content
kept aside as `shadow.json.damaged`.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic import dataclasses as pydantic_dataclasses

from gateway.core.files import SHARED, explain, write_atomically

logger = logging.getLogger(__name__)

FILE_NAME = "shadow.json"  # in data_dir
FORMAT: Final = 1
Role = Literal["active", "shadow"]


@pydantic_dataclasses.dataclass(frozen=True, slots=True)
class Period:
    """`version` scored `asset`'s `kind` model as `role` over [start, end) (end None:
    still running)."""

    asset: str
    kind: str
    role: Role
    version: str
    start: datetime
    end: datetime | None = None


@pydantic_dataclasses.dataclass(frozen=True, slots=True)
class ShadowChoice:
    """A candidate put in shadow: the archived `version` of the asset's `kind` model."""

    asset: str
    kind: str
    version: str
    since: datetime
    by: str


@pydantic_dataclasses.dataclass(frozen=True, slots=True)
class AlarmDelays:
    """An asset's anomaly alarm delays, in seconds (gateway.alarms.rules.AlarmRule)."""

    on_delay_s: float
    off_delay_s: float


@dataclass
class ModelTimeline:
    """The periods, shadow choices and alarm delays of one data_dir."""

    path: Path
    periods: list[Period] = field(default_factory=list)
    shadows: list[ShadowChoice] = field(default_factory=list)
    alarms: dict[str, AlarmDelays] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path, *, set_aside: bool = True) -> ModelTimeline:
        """The timeline in `path`; empty when there is none or it is damaged (then logged,
        and moved aside when `set_aside`: the offline report leaves the file alone)."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            try:
                saved = _TimelineFile.model_validate(raw)
            except ValidationError as error:
                raise ValueError(explain(error)) from None
        except FileNotFoundError:
            return cls(path)
        except (OSError, ValueError) as exc:
            aside = path.with_name(f"{FILE_NAME}.damaged")
            if set_aside:
                with contextlib.suppress(OSError):
                    path.replace(aside)
            logger.warning(
                "cannot read the model timeline %s (%s): it starts empty%s",
                path,
                exc,
                f"; the old file is kept as {aside}" if set_aside else "",
            )
            return cls(path)
        return cls(path, list(saved.periods), list(saved.shadows), dict(saved.alarms))

    def save(self) -> None:
        """Write the file (blocking); raises OSError."""
        saved = _TimelineFile(
            format=FORMAT,
            periods=tuple(self.periods),
            shadows=tuple(self.shadows),
            alarms=self.alarms,
        )
        write_atomically(self.path, saved.model_dump_json(indent=1).encode("utf-8"), mode=SHARED)

    def running(self, asset: str, kind: str, role: Role) -> Period | None:
        """The open period of `role` for the asset's model, if any."""
        return next(
            (
                p
                for p in reversed(self.periods)
                if p.end is None and (p.asset, p.kind, p.role) == (asset, kind, role)
            ),
            None,
        )

    def begin(self, asset: str, kind: str, role: Role, version: str | None, at: datetime) -> bool:
        """`version` scores from `at` on as `role` (None: nothing does); the open period of
        another version ends at `at`. Whether anything changed."""
        current = self.running(asset, kind, role)
        if current is not None and current.version == version:
            return False
        if current is None and version is None:
            return False
        if current is not None:
            self.periods[self.periods.index(current)] = replace(current, end=at)
        if version is not None:
            self.periods.append(Period(asset, kind, role, version, at))
        return True

    def of(self, asset: str, kind: str = "anomaly") -> list[Period]:
        """The periods of an asset's model, oldest first."""
        return [p for p in self.periods if p.asset == asset and p.kind == kind]


class _TimelineFile(BaseModel):
    """`shadow.json` as written."""

    model_config = ConfigDict(frozen=True)

    format: Literal[1]  # FORMAT
    periods: tuple[Period, ...]
    shadows: tuple[ShadowChoice, ...]
    alarms: dict[str, AlarmDelays]
