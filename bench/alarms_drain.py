"""Part 2 of bench/alarms.py: how fast the outbox drains after an outage, next to what one
raw paho client publishes to the same broker in the same run (see bench/README.md).

Each publisher runs in its own process (bench/alarms_publisher.py), one at a time; a
round is raw paho then the bridge, and the ratio is taken per round (the two ran seconds
apart, on the same machine load), its median over the rounds judged. The subscriber
(QoS 1, as MES would) counts what arrives and checks each publisher's `seq` numbers for
duplicates, gaps and order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import psutil
from alarms_broker import MqttCollector, Received, start_mosquitto
from alarms_publisher import TOPIC_PREFIX
from alarms_transitions import SeqCheck, seq_check
from children import ChildProcesses
from poll import _cpu_s

from gateway.mqtt.topics import Topics

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
PUBLISHER = Path(__file__).resolve().parent / "alarms_publisher.py"
PUBLISH_TIMEOUT_S = 600.0
ARRIVAL_GRACE_S = 30.0  # for the subscriber to receive what the broker confirmed


@dataclass(frozen=True)
class DrainOptions:
    messages: int
    window: int
    rounds: int


@dataclass
class DrainRound:
    """One raw paho run and one drain, back to back."""

    raw_s: float  # first publish to the last PUBACK
    raw_rate: float
    raw_handover_s: float  # how long paho's publish() calls took, all of them
    raw_pauses: int  # waits for PUBACKs while paho's 65,535 message ids were all in use
    raw_cpu_pct: float  # the raw publisher process, of one core
    raw_cpu_us: float  # the raw publisher's CPU per message
    raw_broker_cpu_pct: float  # mosquitto meanwhile
    raw_subscriber_cpu_pct: float  # this process (the subscriber) meanwhile
    fill_s: float  # queueing every message in the outbox (not part of the drain)
    connect_s: float | None  # the bridge's start to its connection
    drain_s: float  # the bridge's start to an empty outbox
    drain_rate: float
    drain_cpu_pct: float  # the bridge's process, of one core
    drain_cpu_us: float  # the bridge's CPU per message
    drain_broker_cpu_pct: float
    drain_subscriber_cpu_pct: float
    ratio_pct: float  # drain rate / raw rate
    delivered: int  # confirmed by the broker, as the bridge counts
    rejected: int
    dropped: int
    raw_received: SeqCheck
    raw_subscriber_rate: float  # distinct messages / first to last arrival
    drain_received: SeqCheck
    drain_subscriber_rate: float


@dataclass
class DrainFigures:
    messages: int
    window: int
    payload_bytes: int
    rounds: list[DrainRound]
    raw_rate: float  # medians over the rounds
    drain_rate: float
    ratio_pct: float
    lost: int  # drained messages the subscriber never got, all rounds
    duplicates: int
    load_average: tuple[float, float]  # 1-minute, at the start and at the end


async def run_drain(options: DrainOptions, children: ChildProcesses,
                    work_dir: Path) -> DrainFigures:
    broker = await start_mosquitto(children, work_dir, "mosquitto-drain")
    port = broker.port
    watched = _Watched(psutil.Process(broker.child.pid), psutil.Process())
    collector = MqttCollector(port, [f"{TOPIC_PREFIX}/+/alarms/#"])
    await collector.start()
    rounds: list[DrainRound] = []
    payload_bytes = 0
    load_at_start = os.getloadavg()[0]
    try:
        for number in range(1, options.rounds + 1):
            common = ["--port", str(port), "--messages", str(options.messages),
                      "--window", str(options.window)]
            logger.info("round %d: raw paho, %d messages at QoS 1, %d in flight", number,
                        options.messages, options.window)
            raw = await _publish(children, f"publisher-raw{number}",
                                 ["raw", *common, "--gateway", f"raw{number}"], watched)
            raw_seen = await _subscribed(collector, f"raw{number}", options.messages)
            logger.info("round %d: raw paho %.0f messages/s; now the outbox", number,
                        options.messages / raw["elapsed_s"])
            outbox = work_dir / f"drain{number}-outbox.sqlite"
            drain = await _publish(children, f"publisher-drain{number}",
                                   ["bridge", *common, "--gateway", f"drain{number}",
                                    "--outbox", str(outbox)], watched)
            drain_seen = await _subscribed(collector, f"drain{number}", options.messages)
            rounds.append(_round(options.messages, raw, raw_seen, drain, drain_seen))
            payload_bytes = raw["payload_bytes"]
    finally:
        await collector.stop()
    return DrainFigures(
        messages=options.messages, window=options.window, payload_bytes=payload_bytes,
        rounds=rounds,
        raw_rate=statistics.median(r.raw_rate for r in rounds),
        drain_rate=statistics.median(r.drain_rate for r in rounds),
        ratio_pct=statistics.median(r.ratio_pct for r in rounds),
        lost=sum(r.drain_received.missing for r in rounds),
        duplicates=sum(r.drain_received.duplicates for r in rounds),
        load_average=(load_at_start, os.getloadavg()[0]),
    )


def total(checks: list[SeqCheck]) -> SeqCheck:
    """The checks of several rounds added up."""
    return SeqCheck(*(sum(getattr(c, f.name) for c in checks) for f in fields(SeqCheck)))


@dataclass(frozen=True)
class _Subscribed:
    seq: SeqCheck
    rate: float


def _round(messages: int, raw: dict[str, Any], raw_seen: _Subscribed, drain: dict[str, Any],
           drain_seen: _Subscribed) -> DrainRound:
    raw_rate = messages / raw["elapsed_s"]
    drain_rate = messages / drain["elapsed_s"]
    return DrainRound(
        raw_s=raw["elapsed_s"], raw_rate=raw_rate, raw_handover_s=raw["handover_s"],
        raw_pauses=raw["pauses"], raw_cpu_pct=raw["cpu_s"] / raw["elapsed_s"] * 100.0,
        raw_cpu_us=raw["cpu_s"] / messages * 1e6,
        raw_broker_cpu_pct=raw["broker_cpu_pct"],
        raw_subscriber_cpu_pct=raw["subscriber_cpu_pct"],
        fill_s=drain["fill_s"], connect_s=drain["connect_s"], drain_s=drain["elapsed_s"],
        drain_rate=drain_rate, drain_cpu_pct=drain["cpu_s"] / drain["elapsed_s"] * 100.0,
        drain_cpu_us=drain["cpu_s"] / messages * 1e6,
        drain_broker_cpu_pct=drain["broker_cpu_pct"],
        drain_subscriber_cpu_pct=drain["subscriber_cpu_pct"],
        ratio_pct=drain_rate / raw_rate * 100.0,
        delivered=drain["delivered"], rejected=drain["rejected"], dropped=drain["dropped"],
        raw_received=raw_seen.seq, raw_subscriber_rate=raw_seen.rate,
        drain_received=drain_seen.seq, drain_subscriber_rate=drain_seen.rate,
    )


@dataclass(frozen=True)
class _Watched:
    """The processes whose CPU a publisher's run is shared with."""

    broker: psutil.Process
    subscriber: psutil.Process


async def _publish(children: ChildProcesses, name: str, args: list[str],
                   watched: _Watched) -> dict[str, Any]:
    """Run one publisher child until it reports; its figures, with the broker's and the
    subscriber's CPU over its timed part (% of one core) added."""
    loop = asyncio.get_running_loop()
    reported: asyncio.Future[dict[str, Any]] = loop.create_future()
    began: list[tuple[float, float, float]] = []  # when the timed part started: CPU, wall

    def on_line(line: str) -> None:
        message = json.loads(line)
        if "publishing" in message:
            began.append((_cpu_s(watched.broker), _cpu_s(watched.subscriber), time.monotonic()))
        elif not reported.done():
            reported.set_result(message)

    child = await children.start(name, [sys.executable, str(PUBLISHER), *args],
                                 cwd=REPO_ROOT, on_stdout=on_line)
    ended = asyncio.ensure_future(child.process.wait())
    either: list[asyncio.Future[Any]] = [reported, ended]
    try:
        await asyncio.wait(either, timeout=PUBLISH_TIMEOUT_S + 60.0,
                           return_when=asyncio.FIRST_COMPLETED)
        if ended.done() and not reported.done():
            # Its exit can be seen before its last line is read from the pipe.
            await asyncio.wait([reported], timeout=5.0)
    finally:
        ended.cancel()
    if not reported.done():
        child.check_running()  # raises with the end of its log if it exited without a report
        raise TimeoutError(f"{name} did not report; log:\n{child.log_tail()}")
    broker0, subscriber0, at = began[0]
    span_s = time.monotonic() - at
    return {**reported.result(),
            "broker_cpu_pct": (_cpu_s(watched.broker) - broker0) / span_s * 100.0,
            "subscriber_cpu_pct": (_cpu_s(watched.subscriber) - subscriber0) / span_s * 100.0}


async def _subscribed(collector: MqttCollector, gateway: str, expected: int) -> _Subscribed:
    """Wait (bounded) until the subscriber has `expected` messages of `gateway`; check them."""
    prefix = Topics(TOPIC_PREFIX, gateway).alarm("")
    await collector.gathered(expected, ARRIVAL_GRACE_S)  # the check below tells what is missing
    taken = collector.take()
    mine: list[Received] = [r for r in taken if r.topic.startswith(prefix)]
    if len(mine) != len(taken):
        logger.warning("%d messages of an earlier publisher arrived late",
                       len(taken) - len(mine))
    seqs = [int(json.loads(r.payload)["seq"]) for r in mine]
    span_s = mine[-1].t - mine[0].t if len(mine) > 1 else 0.0
    return _Subscribed(seq_check(seqs, expected), len(set(seqs)) / span_s if span_s else 0.0)
