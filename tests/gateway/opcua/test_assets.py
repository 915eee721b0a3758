"""Assets in the address space and their model outputs, as a real client sees them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from asyncua import Client, Node, ua

from analytics.features import WindowSpec
from analytics.manifest import Manifest, Recipe, TrainingData
from gateway.config.model import AssetConfig, GatewayConfig
from gateway.core.quality import Quality
from gateway.core.score import Score
from gateway.opcua import OpcuaServer
from gateway.opcua.nodesets import TYPES_NAMESPACE
from gateway.opcua.units import UnitCatalogue
from tests.fixtures.opcua import RecordingWriteHandler, Watch, device, make_config

WatchFactory = Callable[..., Awaitable[Watch]]

WINDOW_END = datetime(2024, 5, 17, 8, 30, 12, 345000, tzinfo=UTC)
SCORED_AT = WINDOW_END + timedelta(milliseconds=40)
PERCENT_10 = ua.DataChangeFilter(
    Trigger=ua.DataChangeTrigger.StatusValue,
    DeadbandType=ua.DeadbandType.Percent,
    DeadbandValue=10.0,
)

TAGS = [
    {"name": "vibration", "table": "input", "address": 0, "type": "float32", "unit": "mm/s"},
    {"name": "temperature", "table": "input", "address": 2, "type": "float32", "unit": "degC"},
]
# pump1 is an asset named like its device, as it usually is; fan1 and motor1 have one
# model kind each.
ASSETS = {
    "pump1": AssetConfig(
        name="pump1",
        anomaly="pump1_anomaly.onnx",
        rul="pump1_rul.onnx",
        inputs={"vibration": "pump1.vibration", "temperature": "pump1.temperature"},
        interval=0.5,
    ),
    "fan1": AssetConfig(name="fan1", anomaly="fan1.onnx", inputs={"vibration": "pump1.vibration"}),
    "motor1": AssetConfig(
        name="motor1", rul="motor1.onnx", inputs={"vibration": "pump1.vibration"}
    ),
}


def manifest(kind: str) -> Manifest:
    """A valid manifest of each kind, as the loaded model's would be."""
    common = {
        "name": f"pump-{kind}",
        "inputs": ("vibration", "temperature"),
        "window": WindowSpec(length=60, step=10),
        "data": TrainingData(sha256="0" * 64, source="simulator, seed 7"),
        "seed": 7,
        "recipe": Recipe(name="test", params={}),
    }
    if kind == "anomaly":
        return Manifest(kind="anomaly", score_range=(0.0, 10.0), threshold=3.0, **common)
    return Manifest(kind="rul", score_range=(0.0, 125.0), output_unit="h", **common)


KINDS = {
    "pump1": {"anomaly": manifest("anomaly"), "rul": manifest("rul")},
    "fan1": {"anomaly": manifest("anomaly")},
    "motor1": {"rul": manifest("rul")},
}


def score(
    kind: str,
    value: float | None,
    anomaly: bool | None = None,
    quality: Quality = Quality.GOOD,
    asset: str = "pump1",
) -> Score:
    return Score(
        asset=asset,
        kind=kind,
        value=value,
        anomaly=anomaly,
        quality=quality,
        window_end=WINDOW_END,
        scored_at=SCORED_AT,
        model_version="3f2c9a1e",
    )


@pytest.fixture
def opcua_config() -> GatewayConfig:
    return make_config([device("pump1", TAGS)])


@pytest.fixture
async def assets(opcua_server: OpcuaServer) -> OpcuaServer:
    """The server with every asset of ASSETS added, as the gateway does after loading models."""
    for name, asset in ASSETS.items():
        await opcua_server.add_asset(asset, KINDS[name])
    return opcua_server


@pytest.fixture
async def types_ns(opcua_client: Client) -> int:
    return await opcua_client.get_namespace_index(TYPES_NAMESPACE)


@pytest.fixture
def output(opcua_client: Client, opcua_server: OpcuaServer) -> Callable[[str, str], Node]:
    """The client-side Node of an asset's variable, by NodeId "<asset>.<name>"."""

    def make(asset: str, name: str) -> Node:
        return opcua_client.get_node(ua.NodeId(f"{asset}.{name}", opcua_server.namespace_index))

    return make


async def browse(client: Client, server: OpcuaServer, *names: str) -> Node:
    ns = server.namespace_index
    return await client.nodes.objects.get_child([f"{ns}:{name}" for name in names])


async def type_node(client: Client, types_ns: int, name: str) -> ua.NodeId:
    node = await client.nodes.base_object_type.get_child(f"{types_ns}:{name}")
    return node.nodeid


async def child_names(node: Node) -> set[str]:
    return {(await child.read_browse_name()).to_string() for child in await node.get_children()}


async def test_assets_are_typed_objects_in_the_assets_folder(
    assets: OpcuaServer, opcua_client: Client, types_ns: int
) -> None:
    asset_type = await type_node(opcua_client, types_ns, "AssetHealthType")
    folder = await browse(opcua_client, assets, "plant", "Assets")
    assert folder.nodeid == ua.NodeId("Assets", assets.namespace_index)
    assert await folder.read_type_definition() == ua.NodeId(ua.ObjectIds.FolderType)
    assert await child_names(folder) == {f"{assets.namespace_index}:{name}" for name in ASSETS}
    for name in ASSETS:
        obj = await browse(opcua_client, assets, "plant", "Assets", name)
        assert obj.nodeid == ua.NodeId(f"Assets.{name}", assets.namespace_index)
        assert await obj.read_type_definition() == asset_type


@pytest.mark.parametrize(
    ("name", "data_type", "typedef"),
    [
        ("AnomalyScore", ua.ObjectIds.Double, ua.ObjectIds.BaseAnalogType),
        ("Anomaly", ua.ObjectIds.Boolean, ua.ObjectIds.BaseDataVariableType),
        ("AnomalyThreshold", ua.ObjectIds.Double, ua.ObjectIds.BaseDataVariableType),
        ("RemainingUsefulLife", ua.ObjectIds.Double, "RemainingLifeType"),
        ("RemainingUsefulLifeLow", ua.ObjectIds.Double, ua.ObjectIds.BaseDataVariableType),
        ("RemainingUsefulLifeHigh", ua.ObjectIds.Double, ua.ObjectIds.BaseDataVariableType),
        ("ModelVersion", ua.ObjectIds.String, ua.ObjectIds.BaseDataVariableType),
        ("LastScored", ua.ObjectIds.DateTime, ua.ObjectIds.BaseDataVariableType),
        ("ModelStatus", ua.ObjectIds.String, ua.ObjectIds.BaseDataVariableType),
        ("LastMaintenance", ua.ObjectIds.DateTime, ua.ObjectIds.BaseDataVariableType),
    ],
)
async def test_asset_variables_by_browse_path(
    assets: OpcuaServer,
    opcua_client: Client,
    types_ns: int,
    name: str,
    data_type: int,
    typedef: int | str,
) -> None:
    pump = await browse(opcua_client, assets, "plant", "Assets", "pump1")
    # The children carry the BrowseNames of the type's declarations (Part 3 §6.3.3).
    node = await pump.get_child(f"{types_ns}:{name}")
    assert node.nodeid == ua.NodeId(f"pump1.{name}", assets.namespace_index)
    assert await node.read_data_type() == ua.NodeId(data_type)
    if isinstance(typedef, str):
        life = opcua_client.get_node(ua.ObjectIds.AnalogUnitType)
        expected = (await life.get_child(f"{types_ns}:{typedef}")).nodeid
    else:
        expected = ua.NodeId(typedef)
    assert await node.read_type_definition() == expected
    level = await node.read_attribute(ua.AttributeIds.AccessLevel)
    assert level.Value.Value == ua.AccessLevelType.CurrentRead
    value = await node.read_data_value(raise_on_bad_status=False)
    assert value.StatusCode.value == ua.StatusCodes.BadWaitingForInitialData
    assert value.Value.Value is None


async def test_sampling_interval_is_the_asset_interval(
    assets: OpcuaServer, output: Callable[[str, str], Node]
) -> None:
    interval = await output("pump1", "AnomalyScore").read_attribute(
        ua.AttributeIds.MinimumSamplingInterval
    )
    assert interval.Value.Value == 500.0


async def test_anomaly_score_has_no_range_it_would_leave(
    assets: OpcuaServer, output: Callable[[str, str], Node]
) -> None:
    # Issue #11: the manifest's score_range (0..10 here) is no bound of the score; a faulty
    # asset's runs far above it. AnomalyThreshold is the score's scale instead.
    with pytest.raises(ua.UaError):
        await output("pump1", "AnomalyScore").get_child("0:EURange")


async def test_remaining_useful_life_has_unit_start_and_limit(
    assets: OpcuaServer, types_ns: int, output: Callable[[str, str], Node]
) -> None:
    rul = output("pump1", "RemainingUsefulLife")
    units = await rul.get_child("0:EngineeringUnits")
    assert units.nodeid == ua.NodeId(
        "pump1.RemainingUsefulLife.EngineeringUnits", assets.namespace_index
    )
    assert await units.read_value() == UnitCatalogue().eu_information("h")
    start = await rul.get_child(f"{types_ns}:StartValue")
    limit = await rul.get_child(f"{types_ns}:LimitValue")
    assert await start.read_value() == 125.0
    assert await limit.read_value() == 0.0


async def test_an_asset_has_only_the_variables_of_its_model_kinds(
    assets: OpcuaServer, opcua_client: Client, types_ns: int
) -> None:
    common = {"ModelVersion", "LastScored", "ModelStatus", "LastMaintenance"}
    rul = {"RemainingUsefulLife", "RemainingUsefulLifeLow", "RemainingUsefulLifeHigh"}
    expected = {
        "pump1": common | {"AnomalyScore", "Anomaly", "AnomalyThreshold"} | rul,
        "fan1": common | {"AnomalyScore", "Anomaly", "AnomalyThreshold"},
        "motor1": common | rul,
    }
    for name, variables in expected.items():
        obj = await browse(opcua_client, assets, "plant", "Assets", name)
        assert await child_names(obj) == {f"{types_ns}:{v}" for v in variables}, name
    absent = opcua_client.get_node(ua.NodeId("fan1.RemainingUsefulLife", assets.namespace_index))
    read = await absent.read_data_value(raise_on_bad_status=False)
    assert read.StatusCode.value == ua.StatusCodes.BadNodeIdUnknown


async def test_anomaly_score_reaches_a_subscriber(
    assets: OpcuaServer, output: Callable[[str, str], Node], watch: WatchFactory
) -> None:
    nodes = [output("pump1", name) for name in ("AnomalyScore", "Anomaly", "LastScored")]
    subscribed = await watch(nodes)
    before = datetime.now(UTC)
    assets.publish_scores([score("anomaly", 4.5, anomaly=True)])

    value = await subscribed.next_change(nodes[0])
    assert value.Value == ua.Variant(4.5, ua.VariantType.Double)
    assert value.StatusCode.is_good()
    assert value.SourceTimestamp == WINDOW_END
    assert value.ServerTimestamp is not None
    assert before - timedelta(seconds=1) <= value.ServerTimestamp <= datetime.now(UTC)
    decision = await subscribed.next_change(nodes[1])
    assert decision.Value == ua.Variant(True, ua.VariantType.Boolean)
    assert decision.SourceTimestamp == WINDOW_END
    last = await subscribed.next_change(nodes[2])
    assert last.Value.VariantType == ua.VariantType.DateTime
    assert last.Value.Value == SCORED_AT
    assert last.StatusCode.is_good()


async def test_remaining_useful_life_reaches_a_subscriber(
    assets: OpcuaServer, output: Callable[[str, str], Node], watch: WatchFactory
) -> None:
    rul = output("motor1", "RemainingUsefulLife")
    subscribed = await watch([rul])
    assets.publish_scores([score("rul", 87.5, asset="motor1")])
    value = await subscribed.next_change(rul)
    assert value.Value == ua.Variant(87.5, ua.VariantType.Double)
    assert value.SourceTimestamp == WINDOW_END
    # The other model kind of another asset is untouched.
    other = await output("pump1", "RemainingUsefulLife").read_data_value(raise_on_bad_status=False)
    assert other.StatusCode.value == ua.StatusCodes.BadWaitingForInitialData


async def test_last_usable_inputs_make_an_uncertain_score_with_its_value(
    assets: OpcuaServer, output: Callable[[str, str], Node], watch: WatchFactory
) -> None:
    nodes = [output("pump1", "AnomalyScore"), output("pump1", "Anomaly")]
    subscribed = await watch(nodes)
    assets.publish_scores([score("anomaly", 2.0, anomaly=False, quality=Quality.LAST_USABLE)])
    for node, expected in zip(nodes, (2.0, False), strict=True):
        value = await subscribed.next_change(node)
        assert value.StatusCode.value == ua.StatusCodes.UncertainLastUsableValue
        assert value.Value.Value == expected
        assert value.SourceTimestamp == WINDOW_END


@pytest.mark.parametrize(
    ("quality", "code"),
    [
        (Quality.COMM_ERROR, ua.StatusCodes.BadCommunicationError),
        (Quality.DEVICE_ERROR, ua.StatusCodes.BadDeviceFailure),
        (Quality.CONFIG_ERROR, ua.StatusCodes.BadConfigurationError),
    ],
)
async def test_bad_inputs_make_a_bad_score_without_a_value(
    assets: OpcuaServer,
    output: Callable[[str, str], Node],
    watch: WatchFactory,
    quality: Quality,
    code: int,
) -> None:
    names = ("AnomalyScore", "Anomaly", "RemainingUsefulLife", "LastScored")
    nodes = {name: output("pump1", name) for name in names}
    assets.publish_scores([score("anomaly", 4.5, anomaly=True), score("rul", 60.0)])
    subscribed = await watch(list(nodes.values()))  # consumes the Good values
    assets.publish_scores(
        [score("anomaly", None, quality=quality), score("rul", None, quality=quality)]
    )
    for name in ("AnomalyScore", "Anomaly", "RemainingUsefulLife"):
        value = await subscribed.next_change(nodes[name])
        assert value.StatusCode.value == code, name
        assert value.Value is None or value.Value.Value is None, name
        assert value.SourceTimestamp == WINDOW_END, name
    # The models did run: LastScored stays Good.
    last = await nodes["LastScored"].read_data_value()
    assert last.StatusCode.is_good()
    assert last.Value.Value == SCORED_AT


async def test_a_percent_deadband_on_the_anomaly_score_reports_every_change(
    assets: OpcuaServer, output: Callable[[str, str], Node], watch: WatchFactory
) -> None:
    node = output("pump1", "AnomalyScore")  # no EURange: no span to take 10 % of
    assets.publish_scores([score("anomaly", 4.0, anomaly=True)])
    subscribed = await watch([node], data_filter=PERCENT_10)
    assets.publish_scores([score("anomaly", 4.1, anomaly=True)])
    assert (await subscribed.next_change(node)).Value.Value == 4.1


async def test_the_anomaly_threshold_is_the_running_models_and_follows_a_swap(
    assets: OpcuaServer, output: Callable[[str, str], Node], watch: WatchFactory
) -> None:
    threshold = output("pump1", "AnomalyThreshold")
    subscribed = await watch([threshold])
    assets.publish_model("pump1", "anomaly", "v1", "ok: v1", 3.0)
    first = await subscribed.next_change(threshold)
    assert first.Value == ua.Variant(3.0, ua.VariantType.Double)
    assert first.StatusCode.is_good()
    assets.publish_model("pump1", "anomaly", "v2", "ok: v2", 0.45)  # hot swap
    assert (await subscribed.next_change(threshold)).Value.Value == 0.45
    # A refused file keeps the running model, and its threshold.
    assets.publish_model("pump1", "anomaly", "v2", "rejected: bad.onnx: no manifest", 0.45)
    assert (await threshold.read_value()) == 0.45


async def test_without_a_model_the_threshold_is_bad_like_the_outputs(
    assets: OpcuaServer, output: Callable[[str, str], Node]
) -> None:
    assets.publish_model("fan1", "anomaly", None, "rejected: fan.onnx: no manifest", None)
    for name in ("AnomalyScore", "Anomaly", "AnomalyThreshold"):
        value = await output("fan1", name).read_data_value(raise_on_bad_status=False)
        assert value.StatusCode.value == ua.StatusCodes.BadConfigurationError, name
        assert value.Value.Value is None, name
    assets.publish_model("fan1", "anomaly", "v1", "ok: v1", 2.5)  # a good file dropped in
    assert await output("fan1", "AnomalyThreshold").read_value() == 2.5
    score_value = await output("fan1", "AnomalyScore").read_data_value(raise_on_bad_status=False)
    assert score_value.StatusCode.value == ua.StatusCodes.BadWaitingForInitialData


async def test_publish_model_shows_each_kind_version_and_status(
    assets: OpcuaServer, output: Callable[[str, str], Node], watch: WatchFactory
) -> None:
    version, status = output("pump1", "ModelVersion"), output("pump1", "ModelStatus")
    subscribed = await watch([version, status])
    assets.publish_model("pump1", "anomaly", "3f2c9a1e", "ok: 3f2c9a1e", 3.0)
    assert (await subscribed.next_change(version)).Value.Value == "anomaly: 3f2c9a1e"
    first = await subscribed.next_change(status)
    assert first.Value == ua.Variant("anomaly: ok: 3f2c9a1e", ua.VariantType.String)
    assert first.StatusCode.is_good()

    assets.publish_model("pump1", "rul", "77b0c2d4", "ok: 77b0c2d4", None)
    assets.publish_model("pump1", "rul", "77b0c2d4", "rejected: bad.onnx: not a loadable model",
                         None)
    assert (await subscribed.next_change(version)).Value.Value == (
        "anomaly: 3f2c9a1e; rul: 77b0c2d4"
    )
    await subscribed.next_change(status)  # the rul model loaded
    assert (await subscribed.next_change(status)).Value.Value == (
        "anomaly: ok: 3f2c9a1e; rul: rejected: bad.onnx: not a loadable model"
    )


async def test_device_status_objects_are_typed(
    assets: OpcuaServer, opcua_client: Client, types_ns: int
) -> None:
    status_type = await type_node(opcua_client, types_ns, "DeviceStatusType")
    status = await browse(opcua_client, assets, "plant", "Devices", "pump1", "Status")
    assert status.nodeid == ua.NodeId("pump1.Status", assets.namespace_index)
    assert await status.read_type_definition() == status_type
    names = ("Connected", "LastError", "PollCount", "ErrorCount", "RoundTripTime", "Overruns")
    assert await child_names(status) == {f"{types_ns}:{name}" for name in names}
    round_trip = await status.get_child(f"{types_ns}:RoundTripTime")
    assert round_trip.nodeid == ua.NodeId("pump1.Status.RoundTripTime", assets.namespace_index)
    assert await round_trip.read_type_definition() == ua.NodeId(ua.ObjectIds.AnalogUnitType)
    units = await round_trip.get_child("0:EngineeringUnits")
    assert await units.read_value() == UnitCatalogue().eu_information("ms")


async def test_remove_asset_tells_subscribers_and_the_asset_can_come_back(
    assets: OpcuaServer,
    opcua_client: Client,
    output: Callable[[str, str], Node],
    watch: WatchFactory,
) -> None:
    fan_score, pump_score = output("fan1", "AnomalyScore"), output("pump1", "AnomalyScore")
    subscribed = await watch([fan_score, pump_score])

    await assets.remove_asset("fan1")

    gone = await subscribed.next_change(fan_score)
    assert gone.StatusCode.value == ua.StatusCodes.BadNodeIdUnknown
    folder = await browse(opcua_client, assets, "plant", "Assets")
    ns = assets.namespace_index
    assert await child_names(folder) == {f"{ns}:pump1", f"{ns}:motor1"}
    assets.publish_scores(
        [score("anomaly", 1.0, False, asset="fan1"), score("anomaly", 1.5, False, asset="pump1")]
    )
    assert (await subscribed.next_change(pump_score)).Value.Value == 1.5
    assert subscribed.status_changes == []

    await assets.add_asset(ASSETS["fan1"], KINDS["fan1"])
    assets.publish_scores([score("anomaly", 2.5, False, asset="fan1")])
    assert await fan_score.read_value() == 2.5


async def test_scores_of_an_unknown_asset_are_logged_once(
    assets: OpcuaServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gateway.opcua"):
        for _ in range(3):
            assets.publish_scores([score("anomaly", 1.0, False, asset="boiler")])
            assets.publish_model("boiler", "anomaly", "v1", "ok: v1", 3.0)
    assert [record.getMessage() for record in caplog.records] == [
        "publish for 'boiler', which is not in the address space: ignored"
    ]


async def test_a_score_of_a_kind_the_asset_lacks_is_a_bug(assets: OpcuaServer) -> None:
    with pytest.raises(ValueError, match="rul score for asset 'fan1'"):
        assets.publish_scores([score("rul", 10.0, asset="fan1")])
    with pytest.raises(ValueError, match="'fan1' has no rul model"):
        assets.publish_model("fan1", "rul", "v1", "ok: v1", None)


async def test_a_usable_score_without_a_value_is_a_bug(assets: OpcuaServer) -> None:
    with pytest.raises(TypeError, match="Double value must be a float"):
        assets.publish_scores([score("anomaly", None, anomaly=False)])
    with pytest.raises(TypeError, match="Boolean value must be a bool"):
        assets.publish_scores([score("anomaly", 1.0, anomaly=None)])


async def test_adding_assets_wrongly_is_refused(assets: OpcuaServer) -> None:
    with pytest.raises(ValueError, match="already in the address space"):
        await assets.add_asset(ASSETS["pump1"], KINDS["pump1"])
    other = AssetConfig(name="other", anomaly="x.onnx", inputs={"vibration": "pump1.vibration"})
    with pytest.raises(ValueError, match="needs at least one model"):
        await assets.add_asset(other, {})
    with pytest.raises(ValueError, match="unknown model kind 'forecast'"):
        await assets.add_asset(other, {"forecast": manifest("anomaly")})


async def test_an_asset_clashing_with_a_tag_is_refused() -> None:
    # gateway.config refuses this configuration; the server does not rely on it.
    tags = [{"name": "Anomaly", "table": "coil", "address": 0, "type": "bool"}]
    config = make_config([device("pump1", tags)])
    async with OpcuaServer(config, RecordingWriteHandler()) as server:
        with pytest.raises(ValueError, match=r"s=pump1\.Anomaly already exists: asset 'pump1'"):
            await server.add_asset(ASSETS["pump1"], KINDS["pump1"])
        # Nothing of it was left behind: the asset can be added under another name.
        renamed = ASSETS["pump1"].model_copy(update={"name": "pump1_health"})
        await server.add_asset(renamed, KINDS["pump1"])


async def test_clients_cannot_write_model_outputs(
    assets: OpcuaServer, output: Callable[[str, str], Node]
) -> None:
    with pytest.raises(ua.UaStatusCodeError) as refused:
        await output("pump1", "AnomalyScore").write_value(
            ua.DataValue(ua.Variant(0.0, ua.VariantType.Double))
        )
    assert refused.value.code == ua.StatusCodes.BadNotWritable


async def test_the_rul_interval_reaches_a_subscriber_with_the_value_s_quality(
    assets: OpcuaServer, output: Callable[[str, str], Node], watch: WatchFactory
) -> None:
    names = ("RemainingUsefulLife", "RemainingUsefulLifeLow", "RemainingUsefulLifeHigh")
    nodes = [output("motor1", name) for name in names]
    subscribed = await watch(nodes)
    interval = replace(score("rul", 55.0, asset="motor1"), interval=(40.0, 70.0))
    assets.publish_scores([interval])
    for node, expected in zip(nodes, (55.0, 40.0, 70.0), strict=True):
        value = await subscribed.next_change(node)
        assert value.Value == ua.Variant(expected, ua.VariantType.Double)
        assert value.StatusCode.is_good()
        assert value.SourceTimestamp == WINDOW_END
    uncertain = replace(interval, quality=Quality.LAST_USABLE)
    assets.publish_scores([uncertain])
    for node, expected in zip(nodes, (55.0, 40.0, 70.0), strict=True):
        value = await subscribed.next_change(node)
        assert value.StatusCode.value == ua.StatusCodes.UncertainLastUsableValue
        assert value.Value.Value == expected
    assets.publish_scores([score("rul", None, quality=Quality.COMM_ERROR, asset="motor1")])
    for node in nodes:
        value = await subscribed.next_change(node)
        assert value.StatusCode.value == ua.StatusCodes.BadCommunicationError
        assert value.Value is None or value.Value.Value is None


async def test_a_rul_model_without_an_interval_makes_none_up(
    assets: OpcuaServer, output: Callable[[str, str], Node], watch: WatchFactory
) -> None:
    # A model file trained before issue #13: its value is shown, Low and High are Bad.
    nodes = [output("motor1", name) for name in ("RemainingUsefulLife",
                                                  "RemainingUsefulLifeLow",
                                                  "RemainingUsefulLifeHigh")]
    subscribed = await watch(nodes)
    assets.publish_scores([score("rul", 87.5, asset="motor1")])
    assert (await subscribed.next_change(nodes[0])).Value.Value == 87.5
    for node in nodes[1:]:
        value = await subscribed.next_change(node)
        assert value.StatusCode.value == ua.StatusCodes.BadConfigurationError
        assert value.Value is None or value.Value.Value is None
