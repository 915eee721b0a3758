"""Exports at a step through the running gateway's page (issue #12): `/api/history?format=csv
&step=S` carries a steady value and keeps an outage a gap, and the labels' training CSV
(`/api/labels?format=csv&asset=A`, the asset's inputs at its interval) of an asset whose
inputs held steady has no empty cell. The history was recorded through the History store."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest

from gateway.config.model import WebSection
from gateway.store import History
from gateway.store.history_export import FILE_NAME
from gateway.store.labels import FILE_NAME as LABELS_FILE
from gateway.store.labels import LabelDraft, LabelStore
from tests.fixtures.assets import config_for, serve_values
from tests.fixtures.gateway import running
from tests.fixtures.modbus import PymodbusServer
from tests.gateway.store.test_history_steps import (
    KEYS,
    SPAN,
    csv_lines,
    expected_at_one_second,
    steady_with_outage,
)
from tests.gateway.test_history_end_to_end import with_history
from tests.web.conftest import csrf_field

PASSWORD = "correct horse battery staple"  # noqa: S105 - a test credential
START_S = 60.0
# The scenario's inputs are all Good, steady or changing, from 1 s (pressure's first point
# is at 0.5 s) to 20 s: the labelled range.
LABELLED_S = (1, 20)


async def test_the_page_exports_held_values_and_a_steady_assets_labels_whole(
    modbus_tcp_server: PymodbusServer,
    models_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("UVELKA_ADMIN_PASSWORD", PASSWORD)
    data_dir = tmp_path / "var"
    now = datetime.now(UTC)
    base = now.replace(second=0, microsecond=0) - timedelta(minutes=10)
    async with History.open(data_dir / FILE_NAME, retention_s=86400.0) as history:
        history.record(steady_with_outage(base))
    async with LabelStore.open(data_dir / LABELS_FILE) as labels:
        first, last = (base + timedelta(seconds=s) for s in LABELLED_S)
        await labels.add(
            LabelDraft("pump1", first, last - timedelta(milliseconds=50), "normal"), "anna"
        )
    serve_values(modbus_tcp_server)
    config = with_history(config_for(modbus_tcp_server, models_dir), data_dir)
    config = config.model_copy(update={"web": WebSection(port=0)})

    # A first start builds the data_dir's OPC UA cache and the page's first user: on the
    # loaded 2-core machine that passed the default 15 s once.
    async with running(config, start_s=START_S) as (gateway, _):
        page = f"http://127.0.0.1:{gateway.running.web.port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as client:
            async with client.get(f"{page}/login") as response:
                token = csrf_field(await response.text())
            form = {"name": "admin", "password": PASSWORD, "csrf_token": token}
            async with client.post(f"{page}/login", data=form, allow_redirects=False) as response:
                assert response.status == 303
            span = {"start": base.isoformat(), "end": (base + timedelta(seconds=SPAN)).isoformat()}
            query = urlencode(
                [*(("key", key) for key in KEYS), *span.items(), ("format", "csv"), ("step", "1")]
            )
            async with client.get(f"{page}/api/history?{query}") as response:
                assert response.status == 200
                history_csv = await response.text()
            query = urlencode({"format": "csv", "asset": "pump1", **span})
            async with client.get(f"{page}/api/labels?{query}") as response:
                assert response.status == 200, await response.text()
                labels_csv = await response.text()

    assert history_csv.splitlines() == csv_lines(KEYS, expected_at_one_second(), 1.0, base)
    rows = list(csv.reader(io.StringIO(labels_csv)))
    assert rows[0] == ["time", "flow", "pressure", "temperature", "anomaly"]
    interval = timedelta(seconds=config.assets[0].interval)
    assert len(rows) - 1 == round((last - first) / interval)
    assert [row[0] for row in rows[1:]] == [
        (first + n * interval).isoformat(timespec="milliseconds") for n in range(len(rows) - 1)
    ]
    assert all(all(row) for row in rows[1:])  # no empty cell: the inputs held steady
    assert {row[3] for row in rows[1:]} == {"60.0"}  # set once, never changed
