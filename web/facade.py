"""What the web page needs from the gateway; gateway/ implements it, web/ never imports it.

Plain methods are called on the event loop for each request: they answer from state the
gateway already holds, without blocking. Coroutines may do I/O (off the loop). Read-outs
are JSON-ready mappings and lists, passed to the browser as they are; actions that can be
refused raise `Refused` with a reason for the person who asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

Json = Mapping[str, Any]
# The largest model file the page takes (`upload_model` is never handed a bigger one); the
# gateway's model manager refuses bigger ones by the same figure.
MAX_MODEL_BYTES = 64 * 1024 * 1024


class Refused(Exception):
    """The gateway refused an action; str(exc) says why, in words for the engineer."""


class BadQuery(Refused):
    """A query names something the gateway cannot answer for (a key without history, an
    empty range); str(exc) says which, in one line. The page answers 400."""


class NotFound(Refused):
    """The action names a device, alarm, asset or version the gateway does not have."""


class Stale(Refused):
    """A change made against a revision of the configuration that is no longer current
    (issue #17); nothing was done."""

    def __init__(self, current: str) -> None:
        super().__init__("the configuration was changed by someone else since you loaded it; "
                         "load it again and redo your change")
        self.current = current  # the configuration's revision now


class NeedsConfirmation(Refused):
    """An import that would do something hard to undo (issue #17); nothing was done. It goes
    ahead when sent again confirmed."""

    def __init__(self, dangers: Sequence[str]) -> None:
        super().__init__(f"this import needs your confirmation: {'; '.join(dangers)}")
        self.dangers = list(dangers)  # one line per danger, for the person to confirm


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """One problem of a configuration, as `uvelka check-config` prints it."""

    path: str  # the key path, e.g. "devices[2].tags[5].type"; "" for the whole file
    message: str
    severity: str  # "error" or "warning"


class ConfigProblem(Protocol):
    """A problem as an edit's outcome holds it: a FieldProblem, or any object with these
    fields (the implementation's own problems, which may print with their file)."""

    @property
    def path(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def severity(self) -> str: ...


@dataclass(frozen=True, slots=True)
class EditOutcome:
    """What became of a configuration change; with any error, nothing changed."""

    problems: Sequence[ConfigProblem] = ()
    changes: Sequence[str] = ()  # one line per change; empty when nothing changed
    saved: bool = False  # written to the configuration file (there may be none)
    restart_needed: Sequence[str] = ()  # sections that take effect at the next start
    revision: str = ""  # the configuration's revision after it

    @property
    def applied(self) -> bool:
        return not any(problem.severity == "error" for problem in self.problems)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded change: who, when, what."""

    time: datetime
    user: str
    action: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class HistorySeries:
    """One key's downsampled history: bucket start times with min, mean, max (None where a
    bucket held only bad values)."""

    key: str
    times: Sequence[datetime] = ()
    mean: Sequence[float | None] = ()
    low: Sequence[float | None] = ()
    high: Sequence[float | None] = ()
    unit: str = ""


@dataclass(frozen=True, slots=True)
class TagChoices:
    """The values the device form offers for a tag's enumerated fields."""

    tables: Sequence[str] = ()
    types: Sequence[str] = ()
    orders: Sequence[str] = ()
    # Words a value of each type occupies in a word table; None where `length` decides
    # (strings): the page lays consecutive tags out by it.
    words: Mapping[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MaintenanceFields:
    """A maintenance entry as the page sends it (issue #12); the gateway checks what it
    means (the asset, the kind, the times, the lengths) and raises BadQuery if wrong."""

    asset: str
    started: datetime
    finished: datetime
    kind: str
    parts: str = ""
    note: str = ""
    resets_life: bool = False


@dataclass(frozen=True, slots=True)
class TrainingFields:
    """A training job as the page asks for it (issue #12): the asset's `kind` model from
    its history over [start, end) (None: the oldest, the newest recorded); `supervised`:
    the recipe that learns from the asset's anomaly labels. The gateway checks what it
    means and raises BadQuery if wrong."""

    asset: str
    kind: str
    start: datetime | None = None
    end: datetime | None = None
    supervised: bool = False


@dataclass(frozen=True, slots=True)
class LabelFields:
    """An expert label as the page sends it (issue #12): `kind` is normal, anomaly or
    unsure; the gateway checks what it means and raises BadQuery if wrong."""

    asset: str
    start: datetime
    end: datetime
    kind: str
    fault_code: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class VerdictFields:
    """A verdict on an alarm activation as the page sends it (issue #12): confirmed, false
    or unsure."""

    verdict: str
    fault_code: str = ""
    note: str = ""


class WebFacade(Protocol):
    """The gateway as the web page sees it."""

    def health(self) -> Json:
        """The gateway's health; its "status" is "ok" when healthy. Only "status" is shown
        (unauthenticated, at /healthz), so other keys may hold details for the page."""
        ...

    def metrics(self) -> str:
        """Every metric in the Prometheus text exposition format, version 0.0.4."""
        ...

    def overview(self) -> Json:
        """{"gateway": {...}, "devices": [...], "assets": [...]} for the overview page."""
        ...

    def tag_values(self, device: str) -> list[Json]:
        """The latest value of each of a device's tags: key, value, quality, time, unit;
        raises NotFound for an unknown device."""
        ...

    def asset(self, name: str) -> Json:
        """One asset's health for its page (anomaly against threshold, RUL and due date,
        models, alarms, recent events, inputs); raises NotFound for an unknown asset."""
        ...

    # -- devices and tags ------------------------------------------------------------------

    def devices(self) -> list[dict[str, Any]]:
        """The [[devices]] tables as written in the configuration (no defaults filled in)."""
        ...

    def tag_choices(self) -> TagChoices:
        ...

    async def check_devices(self, devices: list[dict[str, Any]]) -> Sequence[ConfigProblem]:
        """The problems `devices` would have as the gateway's devices, by the validator
        `apply_devices` uses; nothing changes."""
        ...

    def config_file(self) -> str | None:
        """Where changes are saved; None when the gateway runs without a file (the demo)."""
        ...

    def export_config(self) -> str:
        """The configuration file's TOML text."""
        ...

    def config_revision(self) -> str:
        """The revision of the configuration file's text; it changes with every change."""
        ...

    async def apply_devices(
        self, devices: list[dict[str, Any]], user: str, if_match: Collection[str] | None
    ) -> EditOutcome:
        """Validate, apply live and save a new list of devices. Raises Stale, doing nothing,
        unless the configuration's revision is among `if_match` (None: whatever it is)."""
        ...

    async def import_config(
        self, text: str, user: str, if_match: Collection[str] | None, *, confirmed: bool = False
    ) -> EditOutcome:
        """Validate, apply live and save a whole configuration file. Raises Stale as
        `apply_devices` does, and NeedsConfirmation, doing nothing, when the file removes
        [web], changes [opcua] or has no devices unless `confirmed`."""
        ...

    async def audit(self, limit: int) -> list[AuditEntry]:
        """The newest recorded changes, newest first."""
        ...

    async def record(self, user: str, action: str, detail: str) -> None:
        """Add a change made on the page itself (users) to the audit log."""
        ...

    async def decode_registers(
        self, device: str, table: str, address: int, count: int
    ) -> tuple[list[int], list[Json]]:
        """Read registers live from a device and decode them every way:
        (words, [{"type", "order", "value", "text"}, ...]); raises Refused."""
        ...

    # -- trends ----------------------------------------------------------------------------

    def history_keys(self) -> list[str]:
        ...

    async def history(
        self, keys: Sequence[str], start: datetime, end: datetime, max_points: int
    ) -> list[HistorySeries]:
        ...

    async def history_csv(
        self, columns: Sequence[str], start: datetime, end: datetime, step: timedelta | None
    ) -> AsyncIterator[str]:
        """The CSV `uvelka train` reads, in pieces: a time column, then one per column given
        as KEY or NAME=KEY; the stored points, or one row per `step` of each key's mean.
        Raises BadQuery (a key without history, a bad range) or Refused before any text."""
        ...

    def trends(self) -> Json:
        """What the Trends page draws beside the history: {"series": [{key, unit, group,
        boolean, lines: [{label, value, kind}]}], "assets": {asset: [keys]}, "events":
        [{alarm, key, kind ("activated" or "cleared"), time}]}."""
        ...

    # -- models ----------------------------------------------------------------------------

    def models(self) -> list[Json]:
        """Per asset and kind: file, running version, manifest, metrics, status, versions."""
        ...

    async def upload_model(self, asset: str, kind: str, data: bytes, user: str) -> str:
        """Validate and keep an uploaded model file; its version. Raises Refused."""
        ...

    async def activate_model(self, asset: str, kind: str, version: str, user: str) -> str:
        """Run an archived version; the slot's status after. Raises Refused."""
        ...

    async def roll_back_model(self, asset: str, kind: str, user: str) -> str:
        """Run the version that ran before the current one; the slot's status after."""
        ...

    async def shadow_model(self, asset: str, kind: str, version: str, user: str) -> str:
        """Run an archived candidate in shadow beside the active model (issue #12); its
        status. Raises NotFound, Refused."""
        ...

    async def stop_shadow(self, asset: str, kind: str, version: str, user: str) -> str:
        """Stop the candidate's shadow; it stays a candidate (to shadow or activate later).
        What was done. Raises Refused."""
        ...

    async def discard_model(self, asset: str, kind: str, version: str, user: str) -> str:
        """Take a candidate out of shadow and mark it discarded; what was done. Refused."""
        ...

    async def model_agreement(
        self, asset: str, start: datetime | None, end: datetime | None
    ) -> Json:
        """Per version of the asset's anomaly model, active and in shadow, its agreement
        with the experts over [start, end) (default: what the gateway recorded, at most 30
        days): {"asset", "from", "to", "alarm": {on_delay_s, off_delay_s}, "versions":
        [{role, version, scored_s, episodes, verdicts, anomaly_labels, caught, recall,
        false_alarms, false_alarms_per_day, time_to_alarm_s}]}. Raises BadQuery."""
        ...

    async def repair_asset(self, asset: str, user: str) -> str:
        """The simulated plant's repair of the asset (`repair` in `models()` names the tag it
        writes); what was done. Raises NotFound, Refused."""
        ...

    # -- alarms ----------------------------------------------------------------------------

    def alarms(self) -> Json:
        """{"alarms": [every alarm with its state], "recent": [newest events first]}."""
        ...

    async def acknowledge_alarm(self, name: str, event_id: str, user: str, comment: str) -> None:
        ...

    async def shelve_alarm(self, name: str, hours: float, user: str, comment: str) -> None:
        ...

    async def unshelve_alarm(self, name: str, user: str) -> None:
        ...

    # -- OPC UA certificates (issue #14) ---------------------------------------------------

    async def certificates(self) -> Json:
        """{"own": the server's certificate or None, "previous": the one it replaced (its
        "changed": when) or None, "rejected": [client certificates refused, "changed": first
        seen], "trusted": [...], "problems": [files that hold no certificate]}; each
        certificate {file, subject, thumbprint, application_uri, not_before, not_after,
        changed}."""
        ...

    async def trust_certificate(self, thumbprint: str, user: str) -> Json:
        """Trust the rejected client certificate `thumbprint` (audited); it as trusted now.
        NotFound, Refused."""
        ...

    async def delete_certificate(self, thumbprint: str, user: str) -> None:
        """Delete the rejected client certificate `thumbprint` (audited). NotFound, Refused."""
        ...

    async def untrust_certificate(self, thumbprint: str, user: str) -> Json:
        """Stop trusting `thumbprint` (audited): it moves to the rejected ones. NotFound,
        Refused."""
        ...

    # -- maintenance log (issue #12) -------------------------------------------------------

    async def maintenance(
        self, assets: Sequence[str], kinds: Sequence[str], start: datetime | None,
        end: datetime | None, limit: int,
    ) -> Json:
        """{"entries": [newest start first: id, asset, started, finished, kind, parts, note,
        resets_life, user, entered, changed_by, changed], "assets": [...], "kinds": [...]}:
        the entries of any of `assets` and `kinds` (empty: all) overlapping [start, end]."""
        ...

    async def add_maintenance(self, fields: MaintenanceFields, user: str) -> Json:
        """Store a new entry entered by `user` (audited); the entry. BadQuery, Refused."""
        ...

    async def change_maintenance(self, number: int, fields: MaintenanceFields, user: str) -> Json:
        """Replace entry `number` (audited); the entry. BadQuery, NotFound, Refused."""
        ...

    async def delete_maintenance(self, number: int, user: str) -> None:
        """Delete entry `number` (audited). NotFound, Refused."""
        ...

    # -- training from history (issue #12) -------------------------------------------------

    def training_jobs(self) -> Json:
        """{"jobs": [newest first: id, request {asset, kind, start, end, labels, ...}, user,
        created, state (queued, running, done, failed, cancelled, interrupted), stage,
        fraction, reason, result {version, validation, range, labels_used, ...} once
        done]}."""
        ...

    async def training_assets(self) -> Json:
        """{"assets": [per asset with a model: asset, kinds, history {first, last} of its
        inputs (null without any), retention_s, kept_from (older history is deleted),
        anomaly_labels]}. Refused when the history is off or cannot be read."""
        ...

    async def submit_training(self, fields: TrainingFields, user: str) -> Json:
        """Queue a training job (audited); the job. BadQuery (unknown asset or model,
        a bad range), Refused (history off, the disk full)."""
        ...

    async def cancel_training(self, number: int, user: str) -> Json:
        """Cancel job `number` (audited); the job. NotFound, Refused (it has ended)."""
        ...

    # -- expert labels and alarm verdicts (issue #12) --------------------------------------

    async def labels(
        self, assets: Sequence[str], start: datetime | None, end: datetime | None, limit: int
    ) -> Json:
        """{"labels": [oldest start first: id, asset, start, end, kind, fault_code, note,
        user, entered, changed_by, changed, event_id], "assets": [...], "kinds": [...],
        "fault_codes": [the codes used, most used first]}: the labels of any of `assets`
        (empty: all) overlapping [start, end]."""
        ...

    async def add_label(self, fields: LabelFields, user: str) -> Json:
        """Store a new label made by `user` (audited); the label. BadQuery (an overlap
        too), Refused."""
        ...

    async def change_label(self, number: int, fields: LabelFields, user: str) -> Json:
        """Replace label `number` (audited); the label. BadQuery, NotFound, Refused."""
        ...

    async def delete_label(self, number: int, user: str) -> None:
        """Delete label `number` (audited). NotFound, Refused."""
        ...

    async def labels_csv(
        self, asset: str, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[str]:
        """The asset's labelled history as `uvelka train anomaly --labels` reads it, in
        pieces (gateway/page/label_desk.py training_csv). BadQuery, NotFound, Refused."""
        ...

    async def verdicts(self, assets: Sequence[str], alarms: Sequence[str], limit: int) -> Json:
        """{"verdicts": [event_id, alarm, source, asset, activated, cleared, verdict,
        fault_code, note, user, entered, changed_by, changed], "verdict_choices": [...],
        "fault_codes": [...]}."""
        ...

    async def judge_alarm(self, event_id: str, fields: VerdictFields, user: str) -> Json:
        """Store `user`'s verdict on the activation `event_id` (audited): {"verdict": ...,
        "label": the label it made on a model alarm, or None}. BadQuery, NotFound,
        Refused."""
        ...

    async def judge_latest(self, alarm: str, fields: VerdictFields, user: str) -> Json:
        """As `judge_alarm`, on the latest activation of `alarm` (the alarms page's rows)."""
        ...

    # -- Telegram links (issue #15) --------------------------------------------------------

    def telegram_links(self, user: str | None) -> Json:
        """{"configured": whether [telegram] is, "links": [telegram_id, telegram_name, user,
        linked]}: the links of `user` (None: everyone's)."""
        ...

    async def telegram_code(self, user: str, by: str) -> Json:
        """A one-time code for `user` to send to the bot as `/link CODE`, asked by `by`
        (audited): {"code", "user", "expires"}. NotFound (no such user), Refused (no
        [telegram])."""
        ...

    async def telegram_unlink(self, telegram_id: int, user: str | None, by: str) -> Json:
        """End the link of `telegram_id`, only if it is `user`'s (None: anyone's), as `by`
        (audited); the link as it was. NotFound, Refused."""
        ...

    # -- The notification bell (issue #15) -------------------------------------------------

    async def notifications(self, user: str, language: str, after: int, limit: int) -> Json:
        """{"items": the newest `limit` notifications above id `after`, newest first, each
        {id, time, kind, severity, title (in `language`), detail, link, read (by `user`)},
        "unread": `user`'s unread count, "latest": the newest id}."""
        ...

    async def notifications_read(self, user: str, ids: list[int] | None) -> Json:
        """Mark `ids` (None: all) read for `user`: {"unread": the count after}."""
        ...

    async def notification_wait(self, after: int, timeout_s: float) -> int:
        """The newest notification id, once above `after` or after `timeout_s`."""
        ...
