"""/metrics of a running gateway with every part on (an asset, MQTT, the history, the web
page, Sparkplug, the ClickHouse export), read by prometheus_client's parser: each metric
family the gateway serves, with its type and labels, and no other series (no `_created`,
no process or platform metrics)."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.fixtures.assets import config_for, good, serve_values
from tests.fixtures.gateway import node_of, running, wait_value
from tests.fixtures.modbus import PymodbusServer, wait_until
from tests.fixtures.mqtt import Mosquitto
from tests.fixtures.prometheus import families, metric_value

WAIT_S = 15.0

# name (a counter's without `_total`, as the parser names it) -> (type, label names)
FAMILIES = {
    "uvelka_device_connected": ("gauge", {"device"}),
    "uvelka_device_polls": ("counter", {"device"}),
    "uvelka_device_errors": ("counter", {"device"}),
    "uvelka_device_overruns": ("counter", {"device"}),
    "uvelka_device_round_trip_seconds": ("gauge", {"device"}),
    "uvelka_device_unexpected_errors": ("counter", {"device"}),
    "uvelka_task_failures": ("counter", {"task"}),
    "uvelka_sink_failures": ("counter", {"sink"}),
    "uvelka_alarms": ("gauge", {"state"}),
    "uvelka_alarm_events_undelivered": ("counter", {"sink"}),
    "uvelka_mqtt_connected": ("gauge", set()),
    "uvelka_mqtt_delivered": ("counter", set()),
    "uvelka_mqtt_rejected": ("counter", set()),
    "uvelka_outbox_depth": ("gauge", set()),
    "uvelka_outbox_dropped": ("counter", set()),
    "uvelka_outbox_held_alarms": ("gauge", set()),
    "uvelka_mqtt_commands": ("counter", {"outcome"}),
    "uvelka_mqtt_command_failures": ("counter", set()),
    "uvelka_inference_seconds": ("summary", {"model"}),
    "uvelka_inference_windows": ("counter", {"model"}),
    "uvelka_inference_last_seconds": ("gauge", {"model"}),
    "uvelka_inference_max_seconds": ("gauge", {"model"}),
    "uvelka_model_running": ("gauge", {"asset", "kind"}),
    "uvelka_model_refusals": ("counter", {"asset", "kind"}),
    "uvelka_history_points_written": ("counter", set()),
    "uvelka_history_points_dropped": ("counter", set()),
    "uvelka_history_points_expired": ("counter", set()),
    "uvelka_history_points_pending": ("gauge", set()),
    "uvelka_history_file_bytes": ("gauge", set()),
    "uvelka_storage_errors": ("counter", {"store"}),
    "uvelka_storage_degraded": ("gauge", {"store"}),
    "uvelka_notifications_sent": ("counter", {"channel"}),
    "uvelka_notifications_undeliverable": ("counter", {"channel"}),
    "uvelka_notifications_waiting": ("gauge", {"channel"}),
    "uvelka_notification_channel_up": ("gauge", {"channel"}),
    "uvelka_notifications_held_for_digest": ("gauge", set()),
    "uvelka_sparkplug_online": ("gauge", set()),
    "uvelka_sparkplug_births": ("counter", set()),
    "uvelka_sparkplug_published": ("counter", set()),
    "uvelka_sparkplug_stored": ("counter", set()),
    "uvelka_sparkplug_replayed": ("counter", set()),
    "uvelka_sparkplug_dropped": ("counter", set()),
    "uvelka_sparkplug_queued": ("gauge", set()),
    "uvelka_sparkplug_writes": ("counter", set()),
    "uvelka_sparkplug_commands_refused": ("counter", set()),
    "uvelka_sparkplug_states_ignored": ("counter", set()),
    "uvelka_export_rows_sent": ("counter", set()),
    "uvelka_export_batches_sent": ("counter", set()),
    "uvelka_export_insert_failures": ("counter", set()),
    "uvelka_export_rows_dropped": ("counter", set()),
    "uvelka_export_batches_dropped": ("counter", set()),
    "uvelka_export_waiting": ("gauge", set()),
    "uvelka_export_up": ("gauge", set()),
}
# Families that may have no sample yet: a part is counted once it has failed, a store once
# it has reported a read or write.
MAY_BE_EMPTY = {"uvelka_alarm_events_undelivered", "uvelka_task_failures",
                "uvelka_sink_failures", "uvelka_storage_errors", "uvelka_storage_degraded",
                # Per notification channel: this gateway has none configured.
                "uvelka_notifications_sent", "uvelka_notifications_undeliverable",
                "uvelka_notifications_waiting", "uvelka_notification_channel_up"}
# The samples of a family of each type, by suffix of its name.
SUFFIXES = {"gauge": {""}, "counter": {"_total"}, "summary": {"_count", "_sum"}}


async def test_every_metric_family_is_served_as_prometheus_reads_it(
    modbus_tcp_server: PymodbusServer, models_dir: Path, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    serve_values(modbus_tcp_server)
    base = config_for(modbus_tcp_server, models_dir)
    config = base.model_validate(base.model_dump() | {
        "gateway": {"name": "plant", "data_dir": str(tmp_path / "var")},
        "mqtt": {"url": mosquitto.url},
        "web": {"port": 0, "metrics_open": True},
        "sparkplug": {"group_id": "line1"},
        # A ClickHouse that is not there: its failed inserts are what /metrics shows.
        "export": {"clickhouse": {"url": "http://127.0.0.1:1", "max_delay": 0.2,
                                  "timeout": 2.0}},
    })
    async with running(config) as (gateway, client):
        await wait_value(node_of(gateway, client)("pump1.AnomalyScore"), good, "a score")
        bridge = gateway.running.bridge
        assert bridge is not None
        await wait_until(lambda: bridge.stats.connected, WAIT_S, "the bridge to connect")
        edge, exporter = gateway.running.edge, gateway.running.exporter
        assert edge is not None
        assert exporter is not None
        await wait_until(lambda: edge.stats.online, WAIT_S, "the Sparkplug births")
        await wait_until(lambda: exporter.counts.failures >= 1, WAIT_S, "an INSERT to fail")
        web = gateway.running.web
        assert web is not None
        url = f"http://127.0.0.1:{web.port}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200
            assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            text = await response.text()

    served = families(text)
    assert {name: family.type for name, family in served.items()} == {
        name: kind for name, (kind, _) in FAMILIES.items()}
    for name, (kind, labels) in FAMILIES.items():
        samples = served[name].samples
        assert samples or name in MAY_BE_EMPTY, name
        for sample in samples:
            assert sample.name in {name + suffix for suffix in SUFFIXES[kind]}, sample
            assert set(sample.labels) == labels, sample
    # A few values, for their meaning (the end-to-end tests of each part check the rest).
    assert metric_value(text, "uvelka_device_connected", device="pump1") == 1
    assert metric_value(text, "uvelka_mqtt_connected") == 1
    assert metric_value(text, "uvelka_model_running", asset="pump1", kind="anomaly") == 1
    assert metric_value(text, "uvelka_inference_seconds_count", model="pump.onnx") >= 1
    assert metric_value(text, "uvelka_outbox_dropped_total") == 0
    assert metric_value(text, "uvelka_sparkplug_online") == 1
    assert metric_value(text, "uvelka_sparkplug_births_total") >= 1
    assert metric_value(text, "uvelka_export_up") == 0
    assert metric_value(text, "uvelka_export_insert_failures_total") >= 1
    assert metric_value(text, "uvelka_export_rows_sent_total") == 0
    assert metric_value(text, "uvelka_export_waiting") >= 1  # kept for when it comes back
