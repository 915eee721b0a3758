"""Data stored while the primary host is offline survives a SIGKILL of the gateway and is
replayed, in order and historical, by the next process once the host is back; the killed
node's Will is its NDEATH, and the next process's bdSeq follows it."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.fixtures.mqtt import Mosquitto, Subscriber
from tests.fixtures.process import child
from tests.gateway.sparkplug.support import Watcher, host_state, topic

NODE = "tests.gateway.sparkplug.node_process"


async def test_stored_data_survives_sigkill_and_is_replayed_in_order(
    mosquitto: Mosquitto, host_away: tuple[Watcher, Subscriber], tmp_path: Path
) -> None:
    scada, host = host_away
    async with child(NODE, mosquitto.url, str(tmp_path)) as first:
        for n, value in enumerate(range(100, 105), start=1):
            await first.ask(f"level {value}", f"stored {n}")
        assert await first.end(signal.SIGKILL) == -signal.SIGKILL
    # tck-id-payloads-ndeath-will-message: the broker publishes the Will of the killed node
    ndeath, before = await scada.until("NDEATH")
    assert before == []  # nothing was born while the host was offline
    assert ndeath.metric("bdSeq")["value"] == "0"

    async with child(NODE, mosquitto.url, str(tmp_path)):
        assert await scada.quiet(1.0) == []  # still waiting for the host
        await host_state(host, online=True)
        nbirth, _ = await scada.until("NBIRTH")
        # tck-id-topics-nbirth-bdseq-increment across the restart: the killed process's
        # CONNECT (its Will) was bdSeq 0, this one's is 1 (saved under data_dir).
        assert nbirth.metric("bdSeq")["value"] == "1"
        await scada.until("DBIRTH", "asset-pump1")
        replayed = await scada.many(5)
    assert [s.topic for s in replayed] == [topic("DDATA", "tank")] * 5
    assert [s.payload["metrics"][0]["value"] for s in replayed] == [100, 101, 102, 103, 104]
    assert all(s.payload["metrics"][0]["isHistorical"] is True for s in replayed)
    assert [s.seq for s in replayed] == [3, 4, 5, 6, 7]
