"""A gateway for the web page's HTTP tests (web.facade.WebFacade), in memory.

It keeps what the page changes and records who asked, so a test can tell an action that
reached the gateway from one the page refused; the real gateway's side is tested in
tests/gateway/test_web_end_to_end.py and the browser tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from web.facade import (
    AuditEntry,
    BadQuery,
    EditOutcome,
    FieldProblem,
    HistorySeries,
    Json,
    LabelFields,
    MaintenanceFields,
    NotFound,
    Refused,
    Stale,
    TagChoices,
    TrainingFields,
    VerdictFields,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
# Issue #11's page: an active alarm on the device, a cleared one on the asset, shelved.
ALARMS = [
    {"name": "press-1_force", "event_id": "e1", "owner": "press-1", "source": "press-1.force",
     "state": "active_unacked", "active": True, "acked": False, "shelved": False,
     "shelved_until": None, "severity": 800, "value": 12.3456, "message": "Force high",
     "time": NOW.isoformat()},
    {"name": "pump-1_anomaly", "event_id": "e2", "owner": "pump-1",
     "source": "pump-1.Anomaly", "state": "returned_unacked", "active": False, "acked": False,
     "shelved": True, "shelved_until": NOW.isoformat(), "severity": 700, "value": False,
     "message": "", "time": NOW.isoformat()},
]
ALARM_COUNTS = {"standing": 2, "active": 1, "returned_unacked": 1, "unacknowledged": 2,
                "shelved": 1}
ASSET = {
    "name": "pump-1",
    "anomaly": {"key": "pump-1.AnomalyScore", "score": 28.9486, "threshold": 3.0,
                "range": [0.0, 10.0], "anomaly": True, "quality": "Good", "good": True,
                "time": NOW.isoformat()},
    "rul": {"key": "pump-1.RemainingUsefulLife", "value": 6.00484, "unit": "h",
            "due": "2026-11-26T18:00:17.424000+00:00", "quality": "Good", "good": True,
            "time": NOW.isoformat()},
    "models": [{"kind": "anomaly", "version": "pump/1/ab12", "status": "ok: pump/1/ab12"}],
    "alarms": [ALARMS[1]],
    "recent": [],
    "inputs": [{"signal": "flow", "key": "pump-1.flow", "value": 50.01234, "unit": "m3/h",
                "quality": "Good", "good": True, "time": NOW.isoformat()}],
}


@dataclass
class FakeFacade:
    status: str = "ok"
    metrics_text: str = "# TYPE uvelka_polls_total counter\nuvelka_polls_total 42\n"
    device_tables: list[dict[str, Any]] = field(default_factory=lambda: [
        {"name": "press-1", "url": "tcp://10.0.0.7:502",
         "tags": [{"name": "force", "table": "holding", "address": 0, "type": "float32"}]},
    ])
    # Returned by apply_devices/import_config instead of applying, when set.
    problems: list[FieldProblem] = field(default_factory=list)
    revision: int = 1  # of the configuration: one more with each change
    audit_log: list[AuditEntry] = field(default_factory=list)
    acknowledged: list[tuple[str, str, str, str]] = field(default_factory=list)
    uploads: list[tuple[str, str, bytes, str]] = field(default_factory=list)
    registers: dict[str, list[int]] = field(default_factory=lambda: {"press-1": [0x3FC0, 0]})
    labels_made: dict[int, dict[str, Any]] = field(default_factory=dict)
    verdicts_given: dict[str, dict[str, Any]] = field(default_factory=dict)
    maintenance_entries: dict[int, dict[str, Any]] = field(default_factory=dict)
    training: dict[int, dict[str, Any]] = field(default_factory=dict)
    training_disk_full: bool = False  # the jobs file cannot be written
    # The notification bell's list, newest last, and what each user read (issue #15).
    notices: list[dict[str, Any]] = field(default_factory=list)
    notices_read: dict[str, set[int]] = field(default_factory=dict)

    def health(self) -> Mapping[str, object]:
        # A detail that /healthz must not show to anonymous askers.
        return {"status": self.status, "devices": {"press-1": "10.0.0.7:502"}}

    def metrics(self) -> str:
        return self.metrics_text

    def overview(self) -> Json:
        return {"time": NOW.isoformat(),
                "gateway": {"name": "test", "status": self.status, "alarms": ALARM_COUNTS},
                "devices": [{"name": d["name"], "alarms": ["press-1_force"]}
                            for d in self.device_tables],
                "assets": [{"name": "pump-1", "anomaly_score": 28.9486, "anomaly_threshold": 3.0,
                            "anomaly": True, "rul": 6.00484, "rul_unit": "h",
                            "alarms": ["pump-1_anomaly"]}]}

    def asset(self, name: str) -> Json:
        if name != ASSET["name"]:
            raise NotFound(f"no asset {name!r}")
        return ASSET

    def tag_values(self, device: str) -> list[Json]:
        for table in self.device_tables:
            if table["name"] == device:
                return [{"key": f"{device}.{tag['name']}", "value": 1.5, "quality": "Good",
                         "time": NOW.isoformat(), "unit": ""} for tag in table["tags"]]
        raise NotFound(f"no device {device!r}")

    def devices(self) -> list[dict[str, Any]]:
        return self.device_tables

    def tag_choices(self) -> TagChoices:
        return TagChoices(tables=["holding"], types=["float32"], orders=["ABCD"],
                          words={"float32": 2})

    async def check_devices(self, devices: list[dict[str, Any]]) -> list[FieldProblem]:
        return list(self.problems)

    def config_file(self) -> str | None:
        return "/etc/uvelka/uvelka.toml"

    def export_config(self) -> str:
        return '[[devices]]\nname = "press-1"\n'

    def config_revision(self) -> str:
        return str(self.revision)

    async def apply_devices(
        self, devices: list[dict[str, Any]], user: str, if_match: Collection[str] | None
    ) -> EditOutcome:
        self._check_revision(if_match)
        if self.problems:
            return EditOutcome(problems=list(self.problems), revision=self.config_revision())
        self.device_tables = devices
        self.revision += 1
        await self.record(user, "devices changed", f"{len(devices)} devices")
        return EditOutcome(changes=[f"{len(devices)} devices"], saved=True,
                           revision=self.config_revision())

    async def import_config(
        self, text: str, user: str, if_match: Collection[str] | None, *, confirmed: bool = False
    ) -> EditOutcome:
        self._check_revision(if_match)
        if self.problems:
            return EditOutcome(problems=list(self.problems), revision=self.config_revision())
        self.revision += 1
        await self.record(user, "configuration imported", f"{len(text)} characters")
        return EditOutcome(changes=["imported"], saved=True, restart_needed=["opcua"],
                           revision=self.config_revision())

    def _check_revision(self, if_match: Collection[str] | None) -> None:
        if if_match is not None and self.config_revision() not in if_match:
            raise Stale(self.config_revision())

    async def audit(self, limit: int) -> list[AuditEntry]:
        return list(reversed(self.audit_log))[:limit]

    async def record(self, user: str, action: str, detail: str) -> None:
        self.audit_log.append(AuditEntry(NOW, user, action, detail))

    async def decode_registers(
        self, device: str, table: str, address: int, count: int
    ) -> tuple[list[int], list[Json]]:
        if device not in self.registers:
            raise NotFound(f"no device {device!r} is polled")
        words = self.registers[device][:count]
        return words, [{"type": "float32", "order": "ABCD", "value": 1.5, "text": "1.5"}]

    def history_keys(self) -> list[str]:
        return ["press-1.force"]

    async def history(
        self, keys: Sequence[str], start: datetime, end: datetime, max_points: int
    ) -> list[HistorySeries]:
        return [HistorySeries(key, [start], [1.0], [0.5], [1.5], "kN") for key in keys]

    async def history_csv(
        self, columns: Sequence[str], start: datetime, end: datetime, step: timedelta | None
    ) -> AsyncIterator[str]:
        unknown = [c for c in columns if c.rpartition("=")[2] not in self.history_keys()]
        if unknown:
            raise BadQuery(f"key {unknown[0]!r}: no history of it")

        async def pieces() -> AsyncIterator[str]:
            yield "time," + ",".join(c.partition("=")[0] for c in columns) + "\n"
            yield start.isoformat(timespec="milliseconds") + ",1.0" * len(columns) + "\n"

        return pieces()

    def trends(self) -> Json:
        return {"series": [{"key": "press-1.force", "unit": "kN", "group": "press-1",
                            "boolean": False, "lines": []}],
                "assets": {}, "events": []}

    def models(self) -> list[Json]:
        return [{"asset": "press-1", "kind": "anomaly", "version": "v1", "versions": []}]

    async def upload_model(self, asset: str, kind: str, data: bytes, user: str) -> str:
        if not data.startswith(b"onnx"):
            raise Refused("the model was not taken: not an ONNX file")
        self.uploads.append((asset, kind, data, user))
        return "v2"

    async def activate_model(self, asset: str, kind: str, version: str, user: str) -> str:
        return f"ok: {version}"

    async def roll_back_model(self, asset: str, kind: str, user: str) -> str:
        return "ok: v1"

    async def shadow_model(self, asset: str, kind: str, version: str, user: str) -> str:
        return f"shadow: {version}"

    async def stop_shadow(self, asset: str, kind: str, version: str, user: str) -> str:
        return f"{version} out of shadow; kept as a candidate"

    async def discard_model(self, asset: str, kind: str, version: str, user: str) -> str:
        return f"{version} discarded"

    async def model_agreement(
        self, asset: str, start: datetime | None, end: datetime | None
    ) -> Json:
        if asset != "press-1":
            raise BadQuery(f"no asset {asset!r} with models")
        return {"asset": asset, "versions": []}

    def training_jobs(self) -> Json:
        return {"jobs": list(reversed(self.training.values()))}

    async def training_assets(self) -> Json:
        return {"assets": [{"asset": "press-1", "kinds": ["anomaly"],
                            "history": {"first": (NOW - timedelta(days=2)).isoformat(),
                                        "last": NOW.isoformat()},
                            "retention_s": 7 * 86400.0,
                            "kept_from": (NOW - timedelta(days=7)).isoformat(),
                            "anomaly_labels": 0}]}

    async def submit_training(self, fields: TrainingFields, user: str) -> Json:
        if fields.asset != "press-1":
            raise BadQuery(f"asset: no asset {fields.asset!r} (assets: press-1)")
        if fields.start and fields.end and fields.end <= fields.start:
            raise BadQuery("to: the end of the range must be after its start")
        if self.training_disk_full:
            raise Refused("the training job cannot be kept: [Errno 28] No space left on device")
        number = max(self.training, default=0) + 1
        self.training[number] = job = {
            "id": number, "user": user, "state": "queued", "stage": "", "fraction": 0.0,
            "reason": "", "result": {},
            "request": {"asset": fields.asset, "kind": fields.kind, "labels": fields.supervised,
                        "start": "" if fields.start is None else fields.start.isoformat(),
                        "end": "" if fields.end is None else fields.end.isoformat()}}
        await self.record(user, "training job queued", f"#{number}")
        return job

    async def cancel_training(self, number: int, user: str) -> Json:
        if number not in self.training:
            raise NotFound(f"no training job {number}")
        job = self.training[number]
        if job["state"] != "queued":
            raise Refused(f"job {number} has ended already ({job['state']})")
        job.update(state="cancelled", reason="cancelled before it ran")
        await self.record(user, "training job cancelled", f"#{number}")
        return job

    async def repair_asset(self, asset: str, user: str) -> str:
        if asset != "press-1":
            raise NotFound(f"asset {asset!r} has no simulated repair")
        await self.record(user, "asset repaired", asset)
        return f"{asset}: repair sent"

    def alarms(self) -> Json:
        return {"alarms": ALARMS, "counts": ALARM_COUNTS, "recent": []}

    async def acknowledge_alarm(self, name: str, event_id: str, user: str, comment: str) -> None:
        if name != "press-1_force":
            raise NotFound(f"no alarm {name!r}")
        if event_id != "e1":
            raise Refused(f"{name}: the event id is not the latest")
        self.acknowledged.append((name, event_id, user, comment))

    async def shelve_alarm(self, name: str, hours: float, user: str, comment: str) -> None:
        await self.record(user, "alarm shelved", f"{name} {hours:g} h")

    async def unshelve_alarm(self, name: str, user: str) -> None:
        await self.record(user, "alarm unshelved", name)

    async def maintenance(
        self, assets: Sequence[str], kinds: Sequence[str], start: datetime | None,
        end: datetime | None, limit: int,
    ) -> Json:
        entries = [e for e in reversed(self.maintenance_entries.values())
                   if (not assets or e["asset"] in assets) and (not kinds or e["kind"] in kinds)]
        return {"entries": entries[:limit], "assets": ["press-1"],
                "kinds": ["inspection", "repair", "other"]}

    async def add_maintenance(self, fields: MaintenanceFields, user: str) -> Json:
        number = max(self.maintenance_entries, default=0) + 1
        self.maintenance_entries[number] = entry = self._maintenance_entry(number, fields, user)
        await self.record(user, "maintenance entry added", f"#{number}")
        return entry

    async def change_maintenance(self, number: int, fields: MaintenanceFields, user: str) -> Json:
        before = self._maintenance_found(number)
        entry = self._maintenance_entry(number, fields, before["user"])
        self.maintenance_entries[number] = entry
        await self.record(user, "maintenance entry changed", f"#{number}")
        return entry

    async def delete_maintenance(self, number: int, user: str) -> None:
        self._maintenance_found(number)
        del self.maintenance_entries[number]
        await self.record(user, "maintenance entry deleted", f"#{number}")

    def _maintenance_found(self, number: int) -> dict[str, Any]:
        if number not in self.maintenance_entries:
            raise NotFound(f"no maintenance entry {number}")
        return self.maintenance_entries[number]

    @staticmethod
    def _maintenance_entry(number: int, fields: MaintenanceFields, user: str) -> dict[str, Any]:
        if fields.asset != "press-1":
            raise BadQuery(f"asset: no asset {fields.asset!r}")
        if fields.finished < fields.started:
            raise BadQuery("finished: before started")
        return {"id": number, "asset": fields.asset, "started": fields.started.isoformat(),
                "finished": fields.finished.isoformat(), "kind": fields.kind,
                "parts": fields.parts, "note": fields.note, "resets_life": fields.resets_life,
                "user": user, "entered": NOW.isoformat(), "changed_by": user,
                "changed": NOW.isoformat()}

    # -- labels and verdicts (issue #12): the gateway's checks are tested with the real
    # store in tests/gateway/store/test_labels.py; these say only what the page relies on.

    async def labels(
        self, assets: Sequence[str], start: datetime | None, end: datetime | None, limit: int
    ) -> Json:
        found = [lab for lab in self.labels_made.values() if not assets or lab["asset"] in assets]
        return {"labels": found[:limit], "assets": ["press-1"],
                "kinds": ["normal", "anomaly", "unsure"], "fault_codes": ["BRG"]}

    async def add_label(self, fields: LabelFields, user: str) -> Json:
        number = max(self.labels_made, default=0) + 1
        self.labels_made[number] = made = self._label(number, fields, user)
        await self.record(user, "label added", f"#{number}")
        return made

    async def change_label(self, number: int, fields: LabelFields, user: str) -> Json:
        before = self._label_found(number)
        self.labels_made[number] = made = self._label(number, fields, before["user"])
        await self.record(user, "label changed", f"#{number}")
        return made

    async def delete_label(self, number: int, user: str) -> None:
        self._label_found(number)
        del self.labels_made[number]
        await self.record(user, "label deleted", f"#{number}")

    async def labels_csv(
        self, asset: str, start: datetime | None, end: datetime | None
    ) -> AsyncIterator[str]:
        if asset != "press-1":
            raise NotFound(f"no asset {asset!r}")

        async def pieces() -> AsyncIterator[str]:
            yield "time,force,anomaly\n"
            yield f"{NOW.isoformat()},1.5,1\n"

        return pieces()

    async def verdicts(self, assets: Sequence[str], alarms: Sequence[str], limit: int) -> Json:
        return {"verdicts": list(self.verdicts_given.values())[:limit],
                "verdict_choices": ["confirmed", "false", "unsure"], "fault_codes": ["BRG"]}

    async def judge_alarm(self, event_id: str, fields: VerdictFields, user: str) -> Json:
        if event_id != "e1":
            raise NotFound(f"no alarm activation {event_id} is recorded")
        if fields.verdict not in ("confirmed", "false", "unsure"):
            raise BadQuery(f"verdict: {fields.verdict!r} is not one of confirmed, false, unsure")
        self.verdicts_given[event_id] = given = {
            "event_id": event_id, "alarm": "press-1_force", "verdict": fields.verdict,
            "fault_code": fields.fault_code, "note": fields.note, "user": user}
        await self.record(user, "alarm judged", f"{event_id}: {fields.verdict}")
        return {"verdict": given, "label": None}

    async def judge_latest(self, alarm: str, fields: VerdictFields, user: str) -> Json:
        if alarm != "press-1_force":
            raise NotFound(f"no alarm {alarm!r}")
        return await self.judge_alarm("e1", fields, user)

    async def notifications(self, user: str, language: str, after: int, limit: int) -> Json:
        read = self.notices_read.get(user, set())
        newer = [n for n in reversed(self.notices) if n["id"] > after][:limit]
        return {"items": [{**n, "read": n["id"] in read} for n in newer],
                "unread": sum(n["id"] not in read for n in self.notices),
                "latest": self.notices[-1]["id"] if self.notices else 0}

    async def notifications_read(self, user: str, ids: list[int] | None) -> Json:
        self.notices_read.setdefault(user, set()).update(
            ids if ids is not None else [n["id"] for n in self.notices])
        return {"unread": (await self.notifications(user, "en", 0, 0))["unread"]}

    async def notification_wait(self, after: int, timeout_s: float) -> int:
        latest = self.notices[-1]["id"] if self.notices else 0
        if latest <= after:
            await asyncio.sleep(timeout_s)  # the fake's list changes only between requests
        return self.notices[-1]["id"] if self.notices else 0

    def _label_found(self, number: int) -> dict[str, Any]:
        if number not in self.labels_made:
            raise NotFound(f"no label {number}")
        return self.labels_made[number]

    @staticmethod
    def _label(number: int, fields: LabelFields, user: str) -> dict[str, Any]:
        if fields.asset != "press-1":
            raise BadQuery(f"asset: no asset {fields.asset!r}")
        if fields.end <= fields.start:
            raise BadQuery("end: not after start; select a range from left to right")
        return {"id": number, "asset": fields.asset, "start": fields.start.isoformat(),
                "end": fields.end.isoformat(), "kind": fields.kind,
                "fault_code": fields.fault_code, "note": fields.note, "user": user,
                "entered": NOW.isoformat(), "changed_by": user, "changed": NOW.isoformat(),
                "event_id": None}
