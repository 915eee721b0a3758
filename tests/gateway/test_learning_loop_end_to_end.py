"""Issue #12's loop, end to end, with real parts: the gateway learns a simulated pump from
its own history while it runs.

The simulated pump (docs/simulator.md, served over Modbus TCP on a free port) runs at ten
times the demo's speed-up, polled and scored by the demo's configuration at that pace (a
simulated minute, one row of the models, every 0.1 s); everything else goes through the
web page's API logged in as admin, and OPC UA through an asyncua client:

1. normal operation is recorded into the history;
2. a model is trained from that history by a training job while polling goes on;
3. the candidate runs in shadow; the crew fits the bearing on the shelf, a bad one (the
   pump's scenario: its spares last one simulated hour), and both the demo's active model
   (its alarm) and the candidate in shadow (its recorded decisions) catch the defect;
4. an expert labels the fault where the high-frequency band left its normal, and
   confirms the alarm (a verdict);
5. a supervised retrain learns from those;
6. the agreement view's figures equal the ones this test computes from the raw history,
   the alarm's activations, the labels and the verdicts;
7. the first candidate's shadow is stopped (it stays a candidate), the supervised one is
   activated, and the asset's ModelVersion over OPC UA names it.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest

from drivers.modbus.simulator import PlantSimulator, SimulatorOptions
from drivers.plant.pump import Scenario
from gateway.cli.demo import DEMO_SPEEDUP, demo_config
from gateway.cli.simulate import repair_pump
from gateway.config.model import GatewayConfig, WebSection
from tests.fixtures.gateway import node_of, wait_value
from tests.fixtures.modbus import wait_until
from tests.fixtures.opcua import LOOPBACK_ENDPOINT
from tests.fixtures.page_api import JOB_WAIT_S, Page, serving_page
from tests.gateway.test_web_browser import PASSWORD

SPEEDUP = 10 * DEMO_SPEEDUP  # a simulated minute, one row of the models, every 0.1 s
ROW_S = DEMO_SPEEDUP / SPEEDUP
SEED = 3
# A new pump with a good bearing; the spares on the shelf are bad ones: the bearing the
# crew fits fails within a simulated hour (its defect shows in the high-frequency band
# after ~35 minutes, it seizes after ~70; never repaired by itself).
PUMP = Scenario(
    initial_wear=0.0,
    first_life_hours=120.0,
    life_hours=1.0,
    repair_after_h=None,
    cavitation_every_h=None,
    stop_probability=0.0,
)
NORMAL_ROWS = 600  # the envelope needs 400 usable rows and 100 held back: at least this
HF_DEPARTED = 1.5  # m/s2: vibration_hf of the healthy pump stays under 0.75 (seed 3)
SHIPPED = Path(__file__).parents[2] / "models_onnx"
START_S = 90.0  # tests/gateway/test_demo_scenario.py says why
# Rows of the fault the expert sees before labelling it: windows enough for the supervised
# recipe to hold some out in each of its five folds.
FAULT_ROWS = 30
FAULT_WAIT_S = 60.0  # the defect shows after ~35 rows (3.5 s) on an unloaded machine
LABELLED = "gradient-boosting-on-labelled-windows"
# The poll count is looked at this often while a job trains: 20 polls apart, so that only
# a stalled gateway misses a rise, not a busy test machine's scheduling.
LOOK_S = 2.0
pytestmark = pytest.mark.timeout(900)


def plant_config(port: int, data_dir: Path, models_dir: Path) -> GatewayConfig:
    """The demo's configuration at SPEEDUP for its first pump, polled on `port`, with the
    page on a free port and the models in a folder of the test's (activation writes it)."""
    demo = demo_config(SPEEDUP)
    device = demo.devices[0].model_copy(update={"url": f"modbus-tcp://127.0.0.1:{port}"})
    return demo.model_copy(
        update={
            "gateway": demo.gateway.model_copy(update={"data_dir": data_dir}),
            "opcua": demo.opcua.model_copy(update={"endpoint": LOOPBACK_ENDPOINT}),
            "analytics": demo.analytics.model_copy(update={"models_dir": models_dir}),
            "history": demo.history.model_copy(update={"flush_interval": 0.1}),
            "web": WebSection(host="127.0.0.1", port=0),
            "devices": [device],
            "assets": demo.assets[:1],
        }
    )


# -- what the test computes itself, from the raw records ------------------------------


Decision = tuple[datetime, bool | None]
T = TypeVar("T")


@dataclass(frozen=True)
class Episode:
    start: datetime
    end: datetime

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start <= end and start <= self.end


def replayed(decisions: Sequence[Decision], on_s: float, off_s: float) -> list[Episode]:
    """The episodes an alarm with these delays raises on recorded decisions: on once true
    has held `on_s`, off once false has held `off_s`; an unusable decision holds the state
    and restarts a pending change; one still on ends at the last decision."""
    found, active = [], False
    began: datetime | None = None
    since: datetime | None = None  # when the decisions started to disagree with `active`
    for at, value in decisions:
        if value is None or value == active:
            since = None
            continue
        since = since or at
        # As timedeltas: a delay of 3 x 0.1 s is 0.30000000000000004 s as a float, which
        # 300 ms between two rows would not meet.
        if at - since >= timedelta(seconds=off_s if active else on_s):
            active, since = not active, None
            if active:
                began = at
            else:
                assert began is not None
                found.append(Episode(began, at))
    if active and began is not None:
        found.append(Episode(began, decisions[-1][0]))
    return found


def expected(
    decisions: Sequence[Decision],
    runs: Sequence[Episode],
    ran: tuple[datetime, datetime],
    labels: Sequence[tuple[datetime, datetime]],
    judged: Sequence[tuple[str, datetime, datetime]],
) -> dict[str, Any]:
    """A version's figures as analytics/README.md ("Agreement with the experts") defines
    them: its decisions and episodes, the span it ran, the anomaly labels and verdicts."""
    usable = [at for at, value in decisions if value is not None]
    spacing = statistics.median(
        (b - a).total_seconds() for a, b in zip(usable, usable[1:], strict=False)
    )
    seen = [(lo, hi) for lo, hi in labels if lo <= ran[1] and ran[0] <= hi]
    caught = [(lo, [r.start for r in runs if r.overlaps(lo, hi)]) for lo, hi in seen]
    confirmed = [(lo, hi) for verdict, lo, hi in judged if verdict == "confirmed"]
    false_alarms = sum(
        1 for r in runs if not any(r.overlaps(lo, hi) for lo, hi in (*labels, *confirmed))
    )
    return {
        "scored_s": pytest.approx(len(usable) * spacing, rel=1e-6),
        "episodes": len(runs),
        "verdicts": {
            name: sum(
                1
                for verdict, lo, hi in judged
                if verdict == name and any(r.overlaps(lo, hi) for r in runs)
            )
            for name in ("confirmed", "false", "unsure")
        },
        "anomaly_labels": len(seen),
        "caught": sum(1 for _, starts in caught if starts),
        "false_alarms": false_alarms,
        "time_to_alarm_s": [
            pytest.approx((min(starts) - lo).total_seconds(), abs=1e-3)
            for lo, starts in caught
            if starts
        ],
    }


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


async def recorded(page: Page, key: str, start: datetime, end: datetime) -> list[Decision]:
    """Every point of `key` in [start, end) as the page's raw CSV export gives it."""
    text = await page.get(
        "/api/history", key=key, start=start.isoformat(), end=end.isoformat(), format="csv"
    )
    header, *lines = text.splitlines()
    assert header == f"time,{key}"
    points: list[Decision] = []
    for line in lines:
        time, value = line.split(",")
        points.append((at(time), None if value == "" else float(value) >= 0.5))
    return points


async def first_above(page: Page, key: str, since: datetime, limit: float) -> datetime | None:
    text = await page.get(
        "/api/history",
        key=key,
        start=since.isoformat(),
        end=datetime.now(UTC).isoformat(),
        format="csv",
    )
    for line in text.splitlines()[1:]:
        time, value = line.split(",")
        if value and float(value) > limit:
            return at(time)
    return None


async def activations(page: Page, alarm: str, start: datetime, end: datetime) -> list[datetime]:
    """When the running alarm raised `alarm` within [start, end) (the page's recent events)."""
    recent = (await page.get("/api/alarms"))["recent"]
    return sorted(
        at(event["time"])
        for event in recent
        if event["alarm"] == alarm
        and event["kind"] == "activated"
        and start <= at(event["time"]) < end
    )


async def enough_good_rows(page: Page, keys: list[str]) -> bool | None:
    """True once the history holds what training needs, with a tenth to spare: of the
    inputs' rows at the asset's interval (the page's CSV export, as the job reads them),
    those with every input Good, 400 in the first four fifths and 100 in the newest fifth.
    Polls that time out on a loaded machine leave rows out, so time alone does not tell."""
    (asset,) = (await page.get("/api/training/assets"))["assets"]
    span = asset["history"]
    if not span or at(span["last"]) - at(span["first"]) < timedelta(seconds=NORMAL_ROWS * ROW_S):
        return None
    query = [("key", key) for key in keys] + [
        ("start", span["first"]),
        ("end", span["last"]),
        ("step", str(ROW_S)),
        ("format", "csv"),
    ]
    text = await page.get("/api/history?" + urlencode(query))
    complete = [all(line.split(",")[1:]) for line in text.splitlines()[1:]]
    held_from = int(len(complete) * 0.8)
    fit, held = sum(complete[:held_from]), sum(complete[held_from:])
    return (fit >= 440 and held >= 110) or None


async def eventually(fetch: Callable[[], Awaitable[T | None]], timeout_s: float, what: str) -> T:
    """The first answer of `fetch()` that is not None, asked every 0.5 s; fail after
    `timeout_s`."""
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                answer = await fetch()
                if answer is not None:
                    return answer
                await asyncio.sleep(0.5)  # the history is flushed every 0.1 s
    except TimeoutError:
        pytest.fail(f"timed out after {timeout_s} s waiting for {what}")


async def models_entry(page: Page) -> dict[str, Any]:
    entries = await page.get("/api/models")
    found: dict[str, Any] = next(
        e for e in entries if (e["asset"], e["kind"]) == ("pump1", "anomaly")
    )
    return found


async def trained(page: Page, body: dict[str, Any]) -> dict[str, Any]:
    """A training job's result, the poll count rising at every look while it ran."""
    status, job = await page.post("/api/training/jobs", {"asset": "pump1", **body})
    assert status == 201, job
    polls = [await page.polls()]
    async with asyncio.timeout(JOB_WAIT_S):
        while (job := await page.job(job["id"]))["state"] in ("queued", "running"):
            await asyncio.sleep(LOOK_S)  # sampling the poll count while the child trains
            polls.append(await page.polls())
    assert job["state"] == "done", job["reason"]
    assert len(polls) >= 3, polls
    assert all(later > earlier for earlier, later in zip(polls, polls[1:], strict=False)), polls
    result: dict[str, Any] = job["result"]
    return result


async def test_the_gateway_learns_the_pump_it_watches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", PASSWORD)
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    for name in ("pump_anomaly.onnx", "pump_rul.onnx"):
        shutil.copy(SHIPPED / name, models_dir / name)
    options = SimulatorOptions(
        devices=1, base_port=0, seed=SEED, speedup=SPEEDUP, scenarios=(PUMP,)
    )
    async with PlantSimulator(options) as plant:
        config = plant_config(plant.ports[0], tmp_path / "var", models_dir)
        async with serving_page(config, start_s=START_S) as page:
            began = datetime.now(UTC)
            hub = page.gateway.running.hub
            alarm = hub.alarms["pump1_anomaly"]
            node = node_of(page.gateway, page.opcua)
            shipped = await node("pump1.ModelVersion").read_value()

            # 1. Normal operation recorded.
            async def trainable() -> bool | None:
                return await enough_good_rows(page, list(config.assets[0].inputs.values()))

            await eventually(trainable, NORMAL_ROWS * ROW_S * 4 + 60, "normal rows")
            assert not alarm.active  # the healthy pump raised nothing

            # 2. A model trained from that history while the gateway polls on.
            first = await trained(page, {})
            assert first["recipe"] == "envelope-of-window-means"
            candidate = first["version"]

            # 3. The candidate in shadow; the bad bearing fitted; both models catch it.
            status, answer = await page.post(
                "/api/models/pump1/anomaly/shadow", {"version": candidate}
            )
            assert (status, answer) == (200, {"status": f"shadow: {candidate}"})
            shadow = (await models_entry(page))["shadow"]
            since = at(shadow["since"])
            fitted = datetime.now(UTC)
            await repair_pump("127.0.0.1", plant.ports[0])
            await wait_until(lambda: plant.pump(0).wear < 0.05, 15, "the spare bearing fitted")
            # The defect shows in the high-frequency band first: where the expert will
            # say the fault began.
            departed = await eventually(
                lambda: first_above(page, "pump1.vibration_hf", fitted, HF_DEPARTED),
                FAULT_WAIT_S,
                "the high-frequency band to leave its normal",
            )
            await wait_until(lambda: alarm.active, FAULT_WAIT_S, "the active model's alarm")
            assert not plant.pump(0).reading.tripped  # caught before the bearing seized
            delays = (alarm.rule.on_delay_s, alarm.rule.off_delay_s)

            async def shadow_catch() -> Episode | None:
                now = datetime.now(UTC)
                decisions = await recorded(page, "pump1.shadow.Anomaly", fitted, now)
                runs = [run for run in replayed(decisions, *delays) if run.end >= departed]
                return runs[0] if runs else None

            caught = await eventually(shadow_catch, FAULT_WAIT_S, "the shadow's episode")
            seized = await first_above(page, "pump1.tripped", fitted, 0.5)
            assert seized is None or caught.start < seized
            # Nothing of the shadow reached the alarms or OPC UA.
            assert sorted(hub.alarms) == ["pump1_anomaly", "pump1_rul"]
            assert await node("pump1.ModelVersion").read_value() == shipped

            # 4. The expert, once the fault has shown for FAULT_ROWS rows, labels it from
            # where the high-frequency band left its normal, and confirms the alarm.
            async def fault_shown() -> datetime | None:
                now = datetime.now(UTC)
                rows = await recorded(page, "pump1.Anomaly", departed, now)
                return now if len(rows) >= FAULT_ROWS else None

            labelled_to = await eventually(fault_shown, FAULT_WAIT_S, "the fault's rows")
            status, label = await page.post(
                "/api/labels",
                {
                    "asset": "pump1",
                    "start": departed.isoformat(),
                    "end": labelled_to.isoformat(),
                    "kind": "anomaly",
                    "fault_code": "bearing outer race",
                    "note": "high-frequency band up, then vibration",
                },
            )
            assert status == 201, label
            status, verdict = await page.post(
                "/api/alarms/pump1_anomaly/verdict",
                {"verdict": "confirmed", "fault_code": "bearing outer race"},
            )
            assert status == 200, verdict

            # 5. A supervised retrain on the history up to the label's end.
            (asset,) = (await page.get("/api/training/assets"))["assets"]
            assert asset["anomaly_labels"] >= 1  # the page offers the supervised recipe
            second = await trained(page, {"supervised": True, "to": labelled_to.isoformat()})
            assert second["recipe"] == LABELLED
            used = second["labels_used"]
            assert {u.get("label") for u in used} >= {str(label["id"])}
            retrained = second["version"]

            # 6. The agreement view against the figures computed here, over a range
            # that has ended (nothing more is recorded in it).
            end = labelled_to
            found = await page.get(
                "/api/models/pump1/agreement", **{"from": began.isoformat(), "to": end.isoformat()}
            )
            assert found["alarm"] == {"on_delay_s": delays[0], "off_delay_s": delays[1]}
            labels = [
                (at(x["start"]), at(x["end"]))
                for x in (await page.get("/api/labels", asset="pump1"))["labels"]
                if x["kind"] == "anomaly"
            ]
            assert len(labels) == 2  # the expert's, and the confirmed verdict's
            judged = [
                (
                    v["verdict"],
                    at(v["activated"]),
                    at(v["cleared"]) if v["cleared"] else end,
                )
                for v in (await page.get("/api/verdicts", asset="pump1"))["verdicts"]
            ]
            active_decisions = await recorded(page, "pump1.Anomaly", began, end)
            active_runs = replayed(active_decisions, *delays)
            # The running alarm raised the episodes replayed from the history: on the row
            # that met its delay, or at its look at the held value around that row's time.
            raised = await activations(page, "pump1_anomaly", began, end)
            assert len(raised) == len(active_runs) >= 1
            for run, activated in zip(active_runs, raised, strict=True):
                assert abs(activated - run.start) < timedelta(seconds=ROW_S), (run, activated)
            shadow_decisions = await recorded(page, "pump1.shadow.Anomaly", began, end)
            shadow_runs = replayed(shadow_decisions, *delays)
            figures = {(v["role"], v["version"]): v for v in found["versions"]}
            version = page.gateway.running.assets.slots[0].version
            assert set(figures) == {("active", version), ("shadow", candidate)}
            for role, decisions, runs, ran in (
                ("active", active_decisions, active_runs, (began, end)),
                ("shadow", shadow_decisions, shadow_runs, (since, end)),
            ):
                want = expected(decisions, runs, ran, labels, judged)
                got = figures[(role, version if role == "active" else candidate)]
                assert {key: got[key] for key in want} == want, (role, got)
                assert got["caught"] == got["anomaly_labels"] == 2, (role, got)  # the fault
                assert got["verdicts"]["confirmed"] == 1, (role, got)

            # 7. The first candidate leaves the shadow and stays a candidate; the
            # supervised one is activated and OPC UA names it.
            status, answer = await page.post(
                "/api/models/pump1/anomaly/shadow/stop", {"version": candidate}
            )
            assert status == 200, answer
            entry = await models_entry(page)
            assert entry["shadow"] is None
            kept = {v["version"]: v for v in entry["versions"]}
            assert not kept[candidate]["discarded"]
            assert not kept[candidate]["active"]
            status, answer = await page.post(
                "/api/models/pump1/anomaly/activate", {"version": retrained}
            )
            assert status == 200, answer
            assert answer["status"].startswith("ok"), answer
            changed = await wait_value(
                node("pump1.ModelVersion"),
                lambda dv: dv.Value is not None and retrained in str(dv.Value.Value),
                "the supervised candidate's version over OPC UA",
            )
            assert changed.StatusCode is not None
            assert changed.StatusCode.is_good()
            # The stopped candidate can go back in shadow beside it.
            status, answer = await page.post(
                "/api/models/pump1/anomaly/shadow", {"version": candidate}
            )
            assert (status, answer) == (200, {"status": f"shadow: {candidate}"})
