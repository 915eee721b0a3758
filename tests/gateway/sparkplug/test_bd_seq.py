"""bdSeq across restarts of the edge node: one more than the last CONNECT's, saved in
<data_dir>/sparkplug-bdseq.json, and 0 when that file is missing or damaged
(tck-id-topics-nbirth-bdseq-increment, tck-id-message-flow-edge-node-birth-publish-will-
message-payload-bdSeq, tck-id-topics-nbirth-bdseq-matching). The restart of a process
killed with SIGKILL is in test_sigkill.py."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from gateway.sparkplug.bd_seq import FILE
from tests.fixtures.disk import SmallDisk
from tests.fixtures.mqtt import Mosquitto, SubscriberFactory
from tests.gateway.sparkplug.harness import edge
from tests.gateway.sparkplug.support import Watcher, watch


async def session_bd_seqs(scada: Watcher, url: str, data_dir: Path) -> tuple[int, int]:
    """Run the edge node once; the bdSeq of its NBIRTH and of its NDEATH."""
    async with edge(url, data_dir):
        nbirth, _ = await scada.until("NBIRTH")
    ndeath, _ = await scada.until("NDEATH")
    return int(nbirth.metric("bdSeq")["value"]), int(ndeath.metric("bdSeq")["value"])


def saved(data_dir: Path) -> object:
    return json.loads((data_dir / FILE).read_text(encoding="utf-8"))


async def test_each_start_takes_the_next_bd_seq(
    mosquitto: Mosquitto, subscribers: SubscriberFactory, tmp_path: Path
) -> None:
    scada = await watch(subscribers, mosquitto)
    assert await session_bd_seqs(scada, mosquitto.url, tmp_path) == (0, 0)
    assert saved(tmp_path) == {"bdSeq": 0}
    assert await session_bd_seqs(scada, mosquitto.url, tmp_path) == (1, 1)
    assert await session_bd_seqs(scada, mosquitto.url, tmp_path) == (2, 2)
    assert saved(tmp_path) == {"bdSeq": 2}

    # After 255 comes 0.
    (tmp_path / FILE).write_text('{"bdSeq": 255}', encoding="utf-8")
    assert await session_bd_seqs(scada, mosquitto.url, tmp_path) == (0, 0)


@pytest.mark.parametrize("content", [
    b"", b"{", b"\xff\xfe", b"[3]", b'{"bdSeq": 256}', b'{"bdSeq": -1}', b'{"bdSeq": "3"}',
    b'{"bdSeq": 3.5}', b'{"seq": 3}',
])
async def test_a_damaged_file_starts_at_zero_and_says_so(
    content: bytes, mosquitto: Mosquitto, subscribers: SubscriberFactory, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    scada = await watch(subscribers, mosquitto)
    (tmp_path / FILE).write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="gateway.sparkplug.bd_seq"):
        assert await session_bd_seqs(scada, mosquitto.url, tmp_path) == (0, 0)
    [warning] = [record.getMessage() for record in caplog.records
                 if record.name == "gateway.sparkplug.bd_seq"]
    assert warning.startswith(
        f"Sparkplug: the saved bdSeq {tmp_path / FILE} is damaged ({_problem(content)}")
    assert warning.endswith("); starting at 0")
    assert saved(tmp_path) == {"bdSeq": 0}  # replaced by a good one


def _problem(content: bytes) -> str:
    """How the warning says what is wrong, by the kind of damage (pydantic's words; for
    JSON that does not parse, followed by the parser's)."""
    return {
        b"[3]": "Input should be an object",
        b'{"bdSeq": 256}': "bdSeq: Input should be less than or equal to 255",
        b'{"bdSeq": -1}': "bdSeq: Input should be greater than or equal to 0",
        b'{"bdSeq": "3"}': "bdSeq: Input should be a valid integer",
        b'{"bdSeq": 3.5}': "bdSeq: Input should be a valid integer",
        b'{"seq": 3}': "bdSeq: Field required; seq: Extra inputs are not permitted",
    }.get(content, "Invalid JSON")


async def test_a_full_disk_does_not_hold_the_connection_back_and_is_reported(
    mosquitto: Mosquitto, subscribers: SubscriberFactory, small_disk: SmallDisk,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="gateway.core.storage")
    scada = await watch(subscribers, mosquitto)
    async with edge(mosquitto.url, small_disk.path):
        nbirth, _ = await scada.until("NBIRTH")
        assert nbirth.metric("bdSeq")["value"] == "0"
        small_disk.fill()
        # A new CONNECT while its number cannot be saved: the session goes on with it.
        await mosquitto.stop()
        await mosquitto.start()
        again = await watch(subscribers, mosquitto)
        reborn, _ = await again.until("NBIRTH", timeout_s=30.0)
        assert reborn.metric("bdSeq")["value"] == "1"
        assert saved(small_disk.path) == {"bdSeq": 0}  # the old file, whole
        assert any(record.name == "gateway.core.storage" and record.getMessage().startswith(
            f"Sparkplug bdSeq: cannot save the bdSeq in {small_disk.path / FILE}")
            for record in caplog.records), caplog.text

        small_disk.free()
        await mosquitto.stop()
        await mosquitto.start()
        again = await watch(subscribers, mosquitto)
        reborn, _ = await again.until("NBIRTH", timeout_s=30.0)
        assert reborn.metric("bdSeq")["value"] == "2"
        assert saved(small_disk.path) == {"bdSeq": 2}
        assert "Sparkplug bdSeq works again" in caplog.text
