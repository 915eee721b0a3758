"""What bench/opcua_notify.py and bench/opcua_limits.py share: the gateway's OPC UA
server on Double tags that nothing polls, and an asyncua client that subscribes and
creates monitored items as the server allows.

Import it after putting the project root on sys.path (it imports the gateway).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from asyncua import Client, ua

from gateway.config.model import GatewayConfig

NAMESPACE = "urn:uvelka:bench"
ENDPOINT = "opc.tcp://127.0.0.1:0/bench"

_PER_CALL_NODE = ua.NodeId(
    ua.ObjectIds.Server_ServerCapabilities_OperationLimits_MaxMonitoredItemsPerCall
)
# asyncua's client reads the server's state every `watchdog_intervall` seconds (default 1)
# and gives a healthy link up when that read takes longer. A server answers one
# connection's requests in order, so the read waits behind the client's own
# CreateMonitoredItems; a full collection of the server's unfrozen address space landing
# in that call (15,000 tags, stock or lean: 0.65-0.77 s at load average 2, 1.2 s when
# busier) made most runs of opcua_notify.py end in "client is disconnected" on the loaded
# machine. The benches want a link that lasts through a slow call, not a liveness probe.
WATCHDOG_S = 60.0
REQUEST_TIMEOUT_S = 120.0


def server_config(devices: Sequence[str], tags_per_device: int, **opcua: Any) -> GatewayConfig:
    """A gateway serving `devices` x `tags_per_device` Double tags ("<device>.t<n>") on
    ENDPOINT in NAMESPACE, with further [opcua] keys `opcua`; nothing polls them."""
    tags = [
        {"name": f"t{t}", "table": "input", "address": 4 * t, "type": "float64"}
        for t in range(tags_per_device)
    ]
    return GatewayConfig.model_validate(
        {
            # The bench's clients connect anonymously without security unless `opcua`
            # says otherwise (issue #14).
            "opcua": {"endpoint": ENDPOINT, "namespace": NAMESPACE, "security": ["None"],
                      "anonymous": True, **opcua},
            "devices": [
                {"name": name, "url": "modbus-tcp://127.0.0.1:502", "tags": tags}
                for name in devices
            ],
        }
    )


async def refuse_write(key: str, value: object) -> None:
    """The server's write handler: no bench writes."""
    raise NotImplementedError


def client(url: str) -> Client:
    """An asyncua client to `url` that keeps its link through slow calls (WATCHDOG_S)."""
    return Client(url, timeout=REQUEST_TIMEOUT_S, watchdog_intervall=WATCHDOG_S)


async def items_per_call(connected: Client, wanted: int) -> int:
    """How many monitored items to create per call: `wanted`, or fewer if the server's
    advertised MaxMonitoredItemsPerCall is lower (0 advertises no limit), as a client
    that reads the server's OperationLimits splits its calls."""
    limit = int(await connected.get_node(_PER_CALL_NODE).read_value())
    return min(wanted, limit) if limit else wanted


async def subscribe(
    connected: Client, publishing_ms: float, lifetime: int, keep_alive: int, on_publish: Any
) -> int:
    """A subscription whose PublishResults go to `on_publish` (asyncua's protocol layer,
    without its task per notification); its id."""
    created = await connected.uaclient.create_subscription(
        ua.CreateSubscriptionParameters(
            RequestedPublishingInterval=publishing_ms,
            RequestedLifetimeCount=lifetime,
            RequestedMaxKeepAliveCount=keep_alive,
            PublishingEnabled=True,
        ),
        on_publish,
    )
    return int(created.SubscriptionId)


def item_requests(
    nodes: Sequence[ua.NodeId], first_handle: int, queue_size: int
) -> list[ua.MonitoredItemCreateRequest]:
    """Reporting items on the Value of `nodes` (sampling interval 0: every change), client
    handles counting from `first_handle`."""
    return [
        ua.MonitoredItemCreateRequest(
            ItemToMonitor=ua.ReadValueId(NodeId=node, AttributeId=ua.AttributeIds.Value),
            MonitoringMode=ua.MonitoringMode.Reporting,
            RequestedParameters=ua.MonitoringParameters(
                ClientHandle=handle, SamplingInterval=0.0, QueueSize=queue_size
            ),
        )
        for handle, node in enumerate(nodes, start=first_handle)
    ]


def in_calls(count: int, per_call: int) -> Iterator[range]:
    """The indices 0..count-1 in runs of at most `per_call`, one run per call."""
    for start in range(0, count, per_call):
        yield range(start, min(count, start + per_call))


async def create_items(
    connected: Client, subscription_id: int, requests: list[ua.MonitoredItemCreateRequest]
) -> list[ua.MonitoredItemCreateResult]:
    """One CreateMonitoredItems call (source and server timestamps)."""
    results: list[ua.MonitoredItemCreateResult] = await connected.uaclient.create_monitored_items(
        ua.CreateMonitoredItemsParameters(
            SubscriptionId=subscription_id,
            ItemsToCreate=requests,
            TimestampsToReturn=ua.TimestampsToReturn.Both,
        )
    )
    return results
