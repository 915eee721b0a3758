"""The gateway as the web page sees it (web.facade.WebFacade).

Read-outs come from the state the running gateway holds and never block; actions go to
the part of the gateway that owns them and are recorded in the audit log once done.
"""

from __future__ import annotations

import asyncio
import contextlib
import gettext
import uuid
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from drivers.base import ByteOrder, DataType, DriverError, Table
from drivers.modbus.codec import decode_every_way
from gateway.alarms.hub import AlarmHub
from gateway.alarms.state import AlarmError
from gateway.config.problem import Problem
from gateway.core.writes import WriteFailure
from gateway.notify.telegram.links import LinkError, NoLink
from gateway.opcua.pki import PkiFolders
from gateway.page.agreement import AgreementError
from gateway.page.device_editor import DangerousImport, StaleRevision
from gateway.page.label_desk import training_csv
from gateway.page.maintenance import repair_key
from gateway.page.metrics import GatewayMetrics
from gateway.page.model_manager import ModelRequestError, model_json
from gateway.page.pki_desk import PkiDesk, described
from gateway.page.running import Running
from gateway.page.training_desk import Asked, asset_history, job_request
from gateway.page.training_desk import BadRequest as TrainingRequestError
from gateway.page.training_jobs import JobFinished, JobsNotSaved
from gateway.page.trend_view import trends
from gateway.page.views import alarms, asset, health, overview, problems, tag_values, units
from gateway.runtime.fleet import UnknownDevice
from gateway.store.audit import AuditLog
from gateway.store.history import History
from gateway.store.history_export import ExportError, check_range, columns_of
from gateway.store.labels import KINDS as LABEL_KINDS
from gateway.store.labels import (
    VERDICTS,
    InvalidLabel,
    Label,
    LabelDraft,
    UnknownEvent,
    UnknownLabel,
    Verdict,
    VerdictDraft,
)
from gateway.store.labels import NotStored as LabelsNotStored
from gateway.store.maintenance_log import KINDS as MAINTENANCE_KINDS
from gateway.store.maintenance_log import (
    Draft,
    Entry,
    InvalidEntry,
    NotStored,
    UnknownEntry,
)
from web.facade import (
    AuditEntry,
    BadQuery,
    EditOutcome,
    HistorySeries,
    Json,
    LabelFields,
    MaintenanceFields,
    NeedsConfirmation,
    NotFound,
    Refused,
    Stale,
    TagChoices,
    TrainingFields,
    VerdictFields,
)

if TYPE_CHECKING:
    # With [telegram] only: it brings aiohttp's client (gateway.app, issue #10).
    from gateway.notify.telegram.linking import Linking

# The helper's read waits its turn in the device's poll loop, which may be backing off.
REGISTER_READ_TIMEOUT_S = 10.0


class GatewayWebFacade:
    """Answers from the state the running gateway holds; never blocks."""

    def __init__(self, running: Running) -> None:
        self._running = running
        self._metrics = GatewayMetrics(running)
        self._pki = PkiDesk(PkiFolders(running.config.current.gateway.data_dir / "pki"))

    # -- monitoring ------------------------------------------------------------------------

    def health(self) -> Json:
        return health(self._running)

    def metrics(self) -> str:
        return self._metrics.text()

    def overview(self) -> Json:
        return overview(self._running, self._running.clock.now())

    def problems(self, t: gettext.NullTranslations) -> list[str]:
        """The overview's problems in `t`'s language (the Telegram bot's /status)."""
        return problems(self._running, t)

    def tag_values(self, device: str) -> list[Json]:
        values = tag_values(self._running, device)
        if values is None:
            raise NotFound(f"no device {device!r}")
        return list(values)

    def asset(self, name: str) -> Json:
        found = asset(self._running, name, self._running.recent_alarm_events.newest())
        if found is None:
            raise NotFound(f"no asset {name!r}")
        return found

    # -- devices and tags ------------------------------------------------------------------

    def devices(self) -> list[dict[str, Any]]:
        return self._running.editor.devices()

    def tag_choices(self) -> TagChoices:
        return TagChoices(tables=list(Table), types=list(DataType), orders=list(ByteOrder),
                          words={kind: kind.fixed_words for kind in DataType})

    async def check_devices(self, devices: list[dict[str, Any]]) -> Sequence[Problem]:
        return await self._running.editor.check_devices(devices)

    def config_file(self) -> str | None:
        path = self._running.editor.config_file
        return None if path is None else str(path)

    def export_config(self) -> str:
        return self._running.editor.export_text()

    def config_revision(self) -> str:
        return self._running.editor.revision

    async def apply_devices(
        self, devices: list[dict[str, Any]], user: str, if_match: Collection[str] | None
    ) -> EditOutcome:
        try:
            outcome = await self._running.editor.apply_devices(devices, if_match)
        except StaleRevision as exc:
            raise Stale(exc.current) from None
        return await self._recorded(outcome, user, "devices changed")

    async def import_config(
        self, text: str, user: str, if_match: Collection[str] | None, *, confirmed: bool = False
    ) -> EditOutcome:
        editor = self._running.editor
        try:
            outcome = await editor.import_text(text, if_match, confirmed=confirmed)
        except StaleRevision as exc:
            raise Stale(exc.current) from None
        except DangerousImport as exc:
            raise NeedsConfirmation(exc.dangers) from None
        return await self._recorded(outcome, user, "configuration imported")

    async def _recorded(self, outcome: EditOutcome, user: str, action: str) -> EditOutcome:
        if outcome.applied and outcome.changes:
            detail = "; ".join(outcome.changes)
            if outcome.restart_needed:
                detail += f" (at next start: {', '.join(outcome.restart_needed)})"
            await self.record(user, action, detail)
        return outcome

    async def audit(self, limit: int) -> list[AuditEntry]:
        records = await self._audit_log().recent(limit)
        return [AuditEntry(r.time, r.user, r.action, r.detail) for r in records]

    async def record(self, user: str, action: str, detail: str) -> None:
        await self._audit_log().record(user, action, detail)

    async def decode_registers(
        self, device: str, table: str, address: int, count: int
    ) -> tuple[list[int], list[Json]]:
        try:
            kind = Table(table)
        except ValueError:
            raise Refused(f"table: unknown table {table!r}; expected holding or input") from None
        if kind.is_bit:
            raise Refused("the byte-order helper reads registers: choose holding or input")
        try:
            async with asyncio.timeout(REGISTER_READ_TIMEOUT_S):
                words = await self._running.fleet.read_registers(device, kind, address, count)
        except UnknownDevice:
            raise NotFound(f"no device {device!r} is polled") from None
        except TimeoutError:
            raise Refused(f"{device}: no answer within {REGISTER_READ_TIMEOUT_S:g} s") from None
        except (DriverError, ValueError) as exc:
            raise Refused(f"{device}: {exc}") from None
        return list(words), [
            {"type": d.data_type, "order": d.byte_order, "value": d.value, "text": d.text}
            for d in decode_every_way(words)
        ]

    # -- trends ----------------------------------------------------------------------------

    def history_keys(self) -> list[str]:
        history = self._history()
        return [] if history is None else history.keys()

    async def history(
        self, keys: Sequence[str], start: datetime, end: datetime, max_points: int
    ) -> list[HistorySeries]:
        buckets = await self._open_history().query(keys, start, end, max_points)
        unit_of = units(self._running)
        return [
            HistorySeries(
                key=key,
                times=[b.start for b in found],
                mean=[b.mean for b in found],
                low=[b.min for b in found],
                high=[b.max for b in found],
                unit=unit_of.get(key, ""),
            )
            for key, found in buckets.items()
        ]

    async def history_csv(
        self, columns: Sequence[str], start: datetime, end: datetime, step: timedelta | None
    ) -> AsyncIterator[str]:
        history = self._open_history()
        try:
            chosen = columns_of(columns, history.keys())
            check_range(start, end, step)
        except ExportError as exc:
            raise BadQuery(str(exc)) from None
        return history.export(chosen, start, end, step)

    def trends(self) -> Json:
        history = self._history()
        return trends(self._running, [] if history is None else history.keys(),
                      self._running.recent_alarm_events.newest())

    # -- models ----------------------------------------------------------------------------

    def models(self) -> list[Json]:
        config = self._running.config.current
        shadows = self._running.shadows
        return [{**model_json(asset.asset, info, repair_key(config, asset.asset)),
                 "shadow": shadows.shadow_of(asset.asset, info.kind)}
                for asset in self._running.models.assets() for info in asset.models]

    async def upload_model(self, asset: str, kind: str, data: bytes, user: str) -> str:
        try:
            outcome = await self._running.models.upload(asset, kind, data, user)
        except ModelRequestError as exc:
            raise NotFound(str(exc)) from None
        if outcome.reason is not None or outcome.version is None:
            raise Refused(f"the model was not taken: {outcome.reason}")
        await self.record(user, "model uploaded",
                          f"{asset} {kind}: {outcome.version}{'' if outcome.new else ' (known)'}")
        return outcome.version

    async def activate_model(self, asset: str, kind: str, version: str, user: str) -> str:
        try:
            # A candidate in shadow leaves it once the slot runs it (issue #12).
            status = await self._running.shadows.activate(asset, kind, version, user)
        except ModelRequestError as exc:
            raise Refused(str(exc)) from None
        await self.record(user, "model activated", f"{asset} {kind}: {version}: {status}")
        return status

    async def roll_back_model(self, asset: str, kind: str, user: str) -> str:
        try:
            status = await self._running.models.roll_back(asset, kind, user)
        except ModelRequestError as exc:
            raise Refused(str(exc)) from None
        await self.record(user, "model rolled back", f"{asset} {kind}: {status}")
        return status

    async def shadow_model(self, asset: str, kind: str, version: str, user: str) -> str:
        try:
            status = await self._running.shadows.start(asset, kind, version, user)
        except ModelRequestError as exc:
            raise Refused(str(exc)) from None
        await self.record(user, "model in shadow", f"{asset} {kind}: {version}: {status}")
        return status

    async def stop_shadow(self, asset: str, kind: str, version: str, user: str) -> str:
        try:
            status = await self._running.shadows.stop(asset, kind, version, user)
        except ModelRequestError as exc:
            raise Refused(str(exc)) from None
        await self.record(user, "shadow stopped", f"{asset} {kind}: {version}")
        return status

    async def discard_model(self, asset: str, kind: str, version: str, user: str) -> str:
        try:
            status = await self._running.shadows.discard(asset, kind, version, user)
        except ModelRequestError as exc:
            raise Refused(str(exc)) from None
        await self.record(user, "model discarded", f"{asset} {kind}: {version}")
        return status

    async def model_agreement(
        self, asset: str, start: datetime | None, end: datetime | None
    ) -> Json:
        try:
            return await self._running.shadows.agreement(asset, start, end)
        except (AgreementError, ExportError) as exc:
            raise BadQuery(str(exc)) from None

    async def repair_asset(self, asset: str, user: str) -> str:
        key = repair_key(self._running.config.current, asset)
        if key is None:
            raise NotFound(f"asset {asset!r} has no simulated repair (a writable "
                           "maintenance_reset tag on its device)")
        try:
            await self._running.fleet.write(key, True)
        except WriteFailure as exc:
            raise Refused(f"{key}: {exc}") from None
        await self.record(user, "asset repaired", f"{asset}: {key} written true")
        return f"{asset}: repair sent ({key})"

    # -- training from history (issue #12) -------------------------------------------------

    def training_jobs(self) -> Json:
        return {"jobs": [job.to_json() for job in self._running.training.jobs()]}

    async def training_assets(self) -> Json:
        history = self._open_history()
        config = self._running.config.current
        async with _label_refusals():
            labelled = await self._running.labels.store.labels(kinds=["anomaly"])
        counts: dict[str, int] = {}
        for label in labelled:
            counts[label.draft.asset] = counts.get(label.draft.asset, 0) + 1
        now = self._running.clock.now()
        return {"assets": await asset_history(history, config, counts, now)}

    async def submit_training(self, fields: TrainingFields, user: str) -> Json:
        self._open_history()  # what the job trains on
        asked = Asked(fields.asset, fields.kind, fields.start, fields.end, fields.supervised)
        try:
            request = job_request(self._running.config.current, asked,
                                  self._running.clock.now())
            job = self._running.training.submit(request, user)
        except TrainingRequestError as exc:
            raise BadQuery(str(exc)) from None
        except JobsNotSaved as exc:
            raise Refused(str(exc)) from None
        span = f"{request.start or 'the oldest history'} to {request.end or 'the newest'}"
        await self.record(user, "training job queued", f"#{job.id} {request.asset} "
                          f"{request.kind}{' supervised' if request.labels else ''}: {span}")
        return job.to_json()

    async def cancel_training(self, number: int, user: str) -> Json:
        try:
            job = self._running.training.cancel(number)
        except KeyError:
            raise NotFound(f"no training job {number}") from None
        except JobFinished as exc:
            raise Refused(str(exc)) from None
        await self.record(user, "training job cancelled",
                          f"#{job.id} {job.request.asset} {job.request.kind}")
        return job.to_json()

    # -- alarms ----------------------------------------------------------------------------

    def alarms(self) -> Json:
        return alarms(self._running, self._running.recent_alarm_events.newest())

    async def acknowledge_alarm(self, name: str, event_id: str, user: str, comment: str) -> None:
        try:
            event = uuid.UUID(event_id)
        except ValueError:
            raise Refused(f"event_id: not an event id: {event_id!r}") from None
        self._alarm_action(lambda hub: hub.acknowledge(name, user, comment, event), name)
        await self.record(user, "alarm acknowledged", f"{name}: {comment}".rstrip(": "))

    async def shelve_alarm(self, name: str, hours: float, user: str, comment: str) -> None:
        until = self._running.clock.now() + timedelta(hours=hours)
        self._alarm_action(lambda hub: hub.shelve(name, until, user, comment), name)
        await self.record(user, "alarm shelved", f"{name} for {hours:g} h: {comment}".rstrip(": "))

    async def unshelve_alarm(self, name: str, user: str) -> None:
        self._alarm_action(lambda hub: hub.unshelve(name, user), name)
        await self.record(user, "alarm unshelved", name)

    # -- OPC UA certificates (issue #14) ---------------------------------------------------

    async def certificates(self) -> Json:
        return await self._pki.view()

    async def trust_certificate(self, thumbprint: str, user: str) -> Json:
        found = await self._pki.trust(thumbprint)
        await self.record(user, "OPC UA certificate trusted", described(found))
        return {"thumbprint": found.thumbprint, "file": found.path.name}

    async def delete_certificate(self, thumbprint: str, user: str) -> None:
        found = await self._pki.delete(thumbprint)
        await self.record(user, "rejected OPC UA certificate deleted", described(found))

    async def untrust_certificate(self, thumbprint: str, user: str) -> Json:
        found = await self._pki.untrust(thumbprint)
        await self.record(user, "OPC UA certificate no longer trusted", described(found))
        return {"thumbprint": found.thumbprint, "file": found.path.name}

    # -- maintenance log (issue #12) -------------------------------------------------------

    async def maintenance(
        self, assets: Sequence[str], kinds: Sequence[str], start: datetime | None,
        end: datetime | None, limit: int,
    ) -> Json:
        desk = self._running.maintenance
        try:
            found = await desk.log.entries(assets=assets, kinds=kinds, start=start, end=end,
                                           limit=limit)
        except NotStored as exc:
            raise Refused(str(exc)) from None
        return {"entries": [entry.to_json() for entry in found],
                "assets": sorted(desk.assets), "kinds": list(MAINTENANCE_KINDS)}

    async def add_maintenance(self, fields: MaintenanceFields, user: str) -> Json:
        async with _maintenance_refusals():
            entry = await self._running.maintenance.add(_draft(fields), user)
        await self.record(user, "maintenance entry added", _described(entry))
        return entry.to_json()

    async def change_maintenance(self, number: int, fields: MaintenanceFields, user: str) -> Json:
        async with _maintenance_refusals():
            before, after = await self._running.maintenance.change(number, _draft(fields), user)
        await self.record(user, "maintenance entry changed",
                          f"{_described(before)} -> {_described(after)}")
        return after.to_json()

    async def delete_maintenance(self, number: int, user: str) -> None:
        async with _maintenance_refusals():
            entry = await self._running.maintenance.delete(number, user)
        await self.record(user, "maintenance entry deleted", _described(entry))

    # -- expert labels and alarm verdicts (issue #12) --------------------------------------

    async def labels(
        self, assets: Sequence[str], start: datetime | None, end: datetime | None, limit: int
    ) -> Json:
        desk = self._running.labels
        async with _label_refusals():
            found = await desk.store.labels(assets=assets, start=start, end=end, limit=limit)
            codes = await desk.store.fault_codes()
        return {"labels": [label.to_json() for label in found], "assets": sorted(desk.assets),
                "kinds": list(LABEL_KINDS), "fault_codes": codes}

    async def add_label(self, fields: LabelFields, user: str) -> Json:
        async with _label_refusals():
            label = await self._running.labels.add(_label_draft(fields), user)
        await self.record(user, "label added", _label_line(label))
        return label.to_json()

    async def change_label(self, number: int, fields: LabelFields, user: str) -> Json:
        async with _label_refusals():
            before, after = await self._running.labels.change(number, _label_draft(fields), user)
        await self.record(user, "label changed", f"{_label_line(before)} -> {_label_line(after)}")
        return after.to_json()

    async def delete_label(self, number: int, user: str) -> None:
        async with _label_refusals():
            label = await self._running.labels.delete(number)
        await self.record(user, "label deleted", _label_line(label))

    async def labels_csv(
        self, asset: str, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[str]:
        desk = self._running.labels
        config = next((a for a in self._running.config.current.assets if a.name == asset), None)
        if config is None:
            raise NotFound(f"no asset {asset!r}")
        async with _label_refusals():
            found = [label for label in await desk.store.labels(assets=[asset], start=start,
                                                                end=end)
                     if label.kind != "unsure"]
        if not found:
            raise BadQuery(f"{asset}: no normal or anomaly label in the range to export")
        first = max(start or found[0].start, min(label.start for label in found))
        last = min(end or found[-1].end, max(label.end for label in found))
        columns = [f"{name}={key}" for name, key in config.inputs.items()]
        history = await self.history_csv(columns, first, last + timedelta(milliseconds=1),
                                         timedelta(seconds=config.interval))
        return training_csv(history, found)

    async def verdicts(self, assets: Sequence[str], alarms: Sequence[str], limit: int) -> Json:
        store = self._running.labels.store
        async with _label_refusals():
            found = await store.verdicts(assets=assets, alarms=alarms, limit=limit)
            codes = await store.fault_codes()
        return {"verdicts": [verdict.to_json() for verdict in found],
                "verdict_choices": list(VERDICTS), "fault_codes": codes}

    async def judge_alarm(self, event_id: str, fields: VerdictFields, user: str) -> Json:
        try:
            event = uuid.UUID(event_id)
        except ValueError:
            raise BadQuery(f"event_id: not an event id: {event_id!r}") from None
        async with _label_refusals():
            verdict, label = await self._running.labels.judge(event, _verdict_draft(fields), user)
        return await self._judged(verdict, label, user)

    async def judge_latest(self, alarm: str, fields: VerdictFields, user: str) -> Json:
        if alarm not in self._running.hub.alarms:
            raise NotFound(f"no alarm {alarm!r}")
        async with _label_refusals():
            verdict, label = await self._running.labels.judge_latest(
                alarm, _verdict_draft(fields), user)
        return await self._judged(verdict, label, user)

    async def _judged(self, verdict: Verdict, label: Label | None, user: str) -> Json:
        found = verdict.activation
        labelled = "" if label is None else f"; {_label_line(label)}"
        await self.record(user, "alarm judged", f"{found.alarm} activated "
                          f"{found.activated.isoformat()} ({found.event_id}): "
                          f"{verdict.verdict} {verdict.draft.fault_code}".rstrip() + labelled)
        return {"verdict": verdict.to_json(), "label": None if label is None else label.to_json()}

    # -- Telegram links (issue #15) --------------------------------------------------------

    def telegram_links(self, user: str | None) -> Json:
        linking = self._running.telegram
        links = [] if linking is None else linking.links(user)
        return {"configured": linking is not None,
                "links": [link.model_dump(mode="json", exclude={"user_created"})
                          for link in links]}

    async def telegram_code(self, user: str, by: str) -> Json:
        try:
            code = await self._linking().issue(user)
        except LinkError as exc:
            raise NotFound(str(exc)) from None
        await self.record(by, "Telegram link code issued", f"for {user}, until "
                          f"{code.expires.isoformat(timespec='seconds')}")
        return {"code": code.code, "user": code.user, "expires": code.expires.isoformat()}

    async def telegram_unlink(self, telegram_id: int, user: str | None, by: str) -> Json:
        try:
            link = await self._linking().unlink(telegram_id, user)
        except NoLink as exc:
            raise NotFound(str(exc)) from None
        except LinkError as exc:
            raise Refused(str(exc)) from None
        await self.record(by, "Telegram unlinked", f"{link.telegram_name} ({link.telegram_id})"
                          f" of {link.user}")
        return link.model_dump(mode="json", exclude={"user_created"})

    # -- The notification bell (issue #15) -------------------------------------------------

    async def notifications(self, user: str, language: str, after: int, limit: int) -> Json:
        bell = self._running.bell
        if bell is None:
            return {"items": [], "unread": 0, "latest": 0}
        return await bell.items(user, language, after, limit)

    async def notifications_read(self, user: str, ids: list[int] | None) -> Json:
        bell = self._running.bell
        return {"unread": 0} if bell is None else await bell.mark_read(user, ids)

    async def notification_wait(self, after: int, timeout_s: float) -> int:
        bell = self._running.bell
        if bell is None:
            await asyncio.sleep(timeout_s)  # nothing will ever come: the stream just waits
            return after
        return await bell.wait(after, timeout_s)

    def _linking(self) -> Linking:
        linking = self._running.telegram
        if linking is None:
            raise Refused("Telegram is not configured: no [telegram] in the configuration")
        return linking

    def _history(self) -> History | None:
        """The history, None when it is turned off or cannot be opened now (issue #17)."""
        return None if self._running.history is None else self._running.history.current

    def _open_history(self) -> History:
        if self._running.history is None:
            raise Refused("history is turned off in the configuration ([history] enabled)")
        history = self._history()
        if history is None:
            raise Refused("the history file cannot be opened now: see the gateway's problems")
        return history

    def _audit_log(self) -> AuditLog:
        audit_log = self._running.audit_log
        if audit_log is None:
            raise Refused("the web page's audit log is not open")
        return audit_log

    def _alarm_action(self, action: Callable[[AlarmHub], object], name: str) -> None:
        try:
            action(self._running.hub)
        except KeyError:
            raise NotFound(f"no alarm {name!r}") from None
        except AlarmError as exc:
            raise Refused(f"{name}: {exc}") from None


def _draft(fields: MaintenanceFields) -> Draft:
    return Draft(fields.asset, fields.started, fields.finished, fields.kind, fields.parts,
                 fields.note, fields.resets_life)


def _described(entry: Entry) -> str:
    """An entry in one line of the audit log."""
    draft = entry.draft
    renews = ", resets life" if draft.resets_life else ""
    return (f"#{entry.id} {draft.asset} {draft.kind} {draft.started.isoformat()}"
            f" to {draft.finished.isoformat()}{renews}")


@contextlib.asynccontextmanager
async def _maintenance_refusals() -> AsyncIterator[None]:
    """The maintenance log's refusals as the page's."""
    try:
        yield
    except InvalidEntry as exc:
        raise BadQuery("; ".join(exc.problems)) from None
    except UnknownEntry as exc:
        raise NotFound(f"no maintenance entry {exc.args[0]}") from None
    except NotStored as exc:
        raise Refused(str(exc)) from None


def _label_draft(fields: LabelFields) -> LabelDraft:
    return LabelDraft(fields.asset, fields.start, fields.end, fields.kind, fields.fault_code,
                      fields.note)


def _verdict_draft(fields: VerdictFields) -> VerdictDraft:
    return VerdictDraft(fields.verdict, fields.fault_code, fields.note)


def _label_line(label: Label) -> str:
    """A label in one line of the audit log."""
    code = f" {label.fault_code}" if label.fault_code else ""
    return (f"#{label.id} {label.draft.asset} {label.kind}{code} {label.start.isoformat()}"
            f" to {label.end.isoformat()}")


@contextlib.asynccontextmanager
async def _label_refusals() -> AsyncIterator[None]:
    """The label store's refusals as the page's."""
    try:
        yield
    except InvalidLabel as exc:
        raise BadQuery("; ".join(exc.problems)) from None
    except UnknownLabel as exc:
        raise NotFound(f"no label {exc.args[0]}") from None
    except UnknownEvent as exc:
        raise NotFound(str(exc.args[0])) from None
    except LabelsNotStored as exc:
        raise Refused(str(exc)) from None
