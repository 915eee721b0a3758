"""Server CPU per data-change notification: stock asyncua vs the gateway's publish path.

    python bench/opcua_notify.py                    # both modes, 15,000 tags, 15,000 changes/s
    python bench/opcua_notify.py --mode lean --seconds 20 --profile /tmp/lean.prof
    python bench/opcua_notify.py --mode lean --security both   # None next to SignAndEncrypt
    py-spy record -o lean.svg -- python bench/opcua_notify.py --mode lean

A server with --tags Double variables (devices of 100 tags) gets one subscriber in
another process, monitoring every variable (publishing interval 100 ms, default queue):
asyncua's client at its protocol layer, counting notifications per response. The server
changes --rate values per second, in ten batches per second, each tag changing once per
`tags / rate` seconds:

- stock: a plain asyncua server; each change is `await server.write_attribute_value`,
  the fast path asyncua documents (node.write_value is slower still);
- lean:  gateway.opcua.OpcuaServer; each batch is one `publish(samples)` call.

`--security encrypt` (or `both`, after None) serves the lean server with
Basic256Sha256:SignAndEncrypt only (issue #14): the subscriber's certificate is made and
trusted under a temporary data_dir, and it logs in anonymously (anonymous = true), so
the figure is the channel's signing and encryption, not the login.

After a warm-up, the server process's CPU time over the window is divided by the
notifications the subscriber received in that window. That figure includes everything
the server does for a notification: building the DataValue, storing it, queueing it,
encoding the Publish response and writing it to the socket. If the server cannot keep
up, the achieved rate is lower than asked: the per-notification figure stays valid.
The CPU time spent in the publishing calls themselves (building, storing, queueing and
encoding each value; the garbage collections that fall in them too) is also given per
change: the store path alone, without the publish cycle.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import multiprocessing
import multiprocessing.connection
import pstats
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from asyncua import Client, Server, ua
from asyncua.crypto import security_policies

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import opcua_common as common  # noqa: E402

from gateway.core.quality import Quality  # noqa: E402
from gateway.core.sample import Sample  # noqa: E402
from gateway.opcua import OpcuaServer  # noqa: E402

TAGS_PER_DEVICE = 100
BATCHES_PER_S = 10
PUBLISHING_MS = 100.0
REPORT_TIMEOUT_S = 5.0
# Monitored items per CreateMonitoredItems, or fewer if the server advertises fewer.
ITEMS_PER_CALL = 1000
CLIENT_URI = "urn:uvelka:bench:subscriber"


def keys(tags: int) -> list[str]:
    return [f"d{i // TAGS_PER_DEVICE}.t{i % TAGS_PER_DEVICE}" for i in range(tags)]


# -- subscriber (child process) -------------------------------------------------------


class _Counter:
    """Counts notifications per PublishResponse, without asyncua's per-event tasks.

    asyncua's Subscription turns each notification into a task calling the handler,
    which costs the subscriber more than the server; at the protocol layer
    (UaClient.create_subscription) it decodes each response once and counts.
    """

    def __init__(self) -> None:
        self.count = 0
        self.arrived = asyncio.Event()

    def __call__(self, result: ua.PublishResult) -> None:
        for data in result.NotificationMessage.NotificationData:
            if isinstance(data, ua.DataChangeNotification):
                self.count += len(data.MonitoredItems)
        self.arrived.set()


async def _subscribe(
    url: str,
    ns: int,
    tags: int,
    conn: multiprocessing.connection.Connection,
    pki: Path | None,
) -> None:
    counter = _Counter()
    connected = common.client(url)
    if pki is not None:
        connected.application_uri = CLIENT_URI
        cert, key = pki / "client.der", pki / "client-key.pem"
        await connected.set_security(
            security_policies.SecurityPolicyBasic256Sha256, str(cert), str(key)
        )
    async with connected:
        subscription = await common.subscribe(connected, PUBLISHING_MS, 10_000, 100, counter)
        nodes = [ua.NodeId(key, ns) for key in keys(tags)]
        per_call = await common.items_per_call(connected, ITEMS_PER_CALL)
        for run in common.in_calls(tags, per_call):
            requests = common.item_requests(nodes[run.start : run.stop], run.start, queue_size=0)
            results = await common.create_items(connected, subscription, requests)
            assert all(r.StatusCode.is_good() for r in results)
        while counter.count < tags:  # every item's initial value
            counter.arrived.clear()
            await counter.arrived.wait()
        conn.send(("ready", time.monotonic(), counter.count, time.process_time()))
        # A report every 0.25 s, the parent's window reads the latest, until it says stop.
        while not conn.poll():
            await asyncio.sleep(0.25)
            conn.send(("count", time.monotonic(), counter.count, time.process_time()))
        await connected.uaclient.delete_subscriptions([subscription])


def subscriber(
    url: str, ns: int, tags: int, conn: multiprocessing.connection.Connection, pki: Path | None
) -> None:
    asyncio.run(_subscribe(url, ns, tags, conn, pki))


# -- servers --------------------------------------------------------------------------


Publisher = Callable[[int, int, float], Awaitable[None]]  # (first tag, count, value)


@dataclass
class Running:
    url: str
    ns: int
    publish: Publisher
    stop: Callable[[], Awaitable[None]]
    pki: Path | None = None  # where the subscriber finds its certificate, when secure


async def start_lean(tags: int, data_dir: Path | None = None) -> Running:
    """The gateway's server; with a `data_dir`, Basic256Sha256:SignAndEncrypt only, and a
    trusted client certificate for the subscriber made there."""
    devices = [f"d{d}" for d in range(tags // TAGS_PER_DEVICE)]
    config = common.server_config(devices, TAGS_PER_DEVICE)
    pki = None
    if data_dir is not None:
        config = common.server_config(
            devices, TAGS_PER_DEVICE, security=["Basic256Sha256:SignAndEncrypt"]
        )
        config = config.model_copy(
            update={"gateway": config.gateway.model_copy(update={"data_dir": data_dir})}
        )
        pki = await _client_certificate(data_dir)
    server = OpcuaServer(config, common.refuse_write)
    started = time.perf_counter()
    await server.__aenter__()
    print(f"  lean: started with {tags} tags in {time.perf_counter() - started:.1f} s")
    names = keys(tags)
    # Samples are the runtime's work, not the server's: built once, outside the window.
    at = datetime.now(UTC)
    samples = {
        value: [Sample(key, value, Quality.GOOD, at) for key in names] for value in (0.0, 1.0)
    }

    async def publish(start: int, count: int, value: float) -> None:
        server.publish(samples[value][start : start + count])

    async def stop() -> None:
        await server.__aexit__(None, None, None)

    return Running(server.endpoint_url, server.namespace_index, publish, stop, pki)


async def _client_certificate(data_dir: Path) -> Path:
    """The subscriber's certificate and key in data_dir/client, trusted by the server."""
    folder = data_dir / "client"
    maker = Client("opc.tcp://127.0.0.1:0")
    maker.application_uri = CLIENT_URI
    cert, _ = await maker.setup_self_signed_certificate(
        folder / "client-key.pem", folder / "client.der"
    )
    trusted = data_dir / "pki" / "trusted" / "certs"
    trusted.mkdir(parents=True, exist_ok=True)
    (trusted / "bench-client.der").write_bytes(cert.read_bytes())
    return folder


async def start_stock(tags: int) -> Running:
    server = Server()
    await server.init()
    server.set_endpoint(common.ENDPOINT)
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace(common.NAMESPACE)
    started = time.perf_counter()
    nodeids = []
    for d in range(tags // TAGS_PER_DEVICE):
        folder = await server.nodes.objects.add_folder(ua.NodeId(f"d{d}", ns), f"d{d}")
        for t in range(TAGS_PER_DEVICE):
            var = await folder.add_variable(ua.NodeId(f"d{d}.t{t}", ns), f"t{t}", 0.0)
            nodeids.append(var.nodeid)
    print(f"  stock: built {tags} variables in {time.perf_counter() - started:.1f} s")
    await server.start()
    assert server.bserver is not None
    url = f"opc.tcp://127.0.0.1:{server.bserver.port}/bench"

    async def publish(start: int, count: int, value: float) -> None:
        now = datetime.now(UTC)
        for nodeid in nodeids[start : start + count]:
            await server.write_attribute_value(
                nodeid,
                ua.DataValue(
                    ua.Variant(value, ua.VariantType.Double),
                    SourceTimestamp=now,  # type: ignore[arg-type]
                    ServerTimestamp=now,  # type: ignore[arg-type]
                ),
            )

    async def stop() -> None:
        await server.stop()

    return Running(url, ns, publish, stop)


# -- measurement ----------------------------------------------------------------------


def latest(conn: multiprocessing.connection.Connection) -> tuple[float, int, float]:
    """The subscriber's most recent report: (its monotonic time, count, its CPU time)."""
    report = None
    while conn.poll():
        report = conn.recv()
    if report is None:
        if not conn.poll(REPORT_TIMEOUT_S):
            raise RuntimeError(
                "the subscriber stopped reporting (disconnected? a server too busy to answer "
                "its requests in time makes asyncua's client give up): try a lower --rate"
            )
        report = conn.recv()
    _, at, count, cpu = report
    return at, count, cpu


class GcClock:
    """Time the process spends in the cyclic garbage collector, per generation."""

    def __init__(self) -> None:
        self.seconds = [0.0, 0.0, 0.0]
        self.runs = [0, 0, 0]
        self._started = 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds[info["generation"]] += time.perf_counter() - self._started
            self.runs[info["generation"]] += 1

    def snapshot(self) -> tuple[list[float], list[int]]:
        return list(self.seconds), list(self.runs)


@dataclass
class Window:
    wall_s: float
    published: int
    notifications: int
    server_cpu_s: float
    publish_cpu_s: float
    client_s: float
    client_cpu_s: float
    gc_s: list[float]
    gc_runs: list[int]

    def report(self) -> None:
        print(f"  changes published:      {self.published / self.wall_s:8.0f} /s")
        print(f"  notifications received: {self.notifications / self.client_s:8.0f} /s")
        server_share = 100 * self.server_cpu_s / self.wall_s
        print(f"  server CPU:             {server_share:8.1f} % of one core")
        print(f"  subscriber CPU:         {100 * self.client_cpu_s / self.client_s:8.1f} %")
        if self.notifications:
            per = 1e6 * self.server_cpu_s / self.notifications
            print(f"  server CPU/notification:{per:8.1f} µs")
        if self.published:
            per = 1e6 * self.publish_cpu_s / self.published
            print(f"  publishing calls' CPU:  {per:8.1f} µs per change")
        collections = ", ".join(
            f"gen{g}: {runs} runs {1e3 * s:.0f} ms"
            for g, (runs, s) in enumerate(zip(self.gc_runs, self.gc_s, strict=True))
        )
        print(f"  garbage collector:      {collections}")


async def measure(
    mode: str,
    tags: int,
    rate: int,
    seconds: float,
    profile: Path | None,
    freeze: bool,
    secure_dir: Path | None = None,
) -> None:
    security = "Basic256Sha256:SignAndEncrypt" if secure_dir is not None else "None"
    print(f"{mode} ({security}): {tags} tags, asking {rate} changes/s for {seconds:.0f} s")
    running = await (start_lean(tags, secure_dir) if mode == "lean" else start_stock(tags))
    if freeze:
        # What the application can do once everything is built: the address space is
        # long-lived, and full collections would otherwise traverse all of it.
        gc.collect()
        gc.freeze()
        print(f"  gc.freeze(): {gc.get_freeze_count()} objects out of the collector's sight")
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(
        target=subscriber, args=(running.url, running.ns, tags, child, running.pki), daemon=True
    )
    process.start()
    child.close()  # the subscriber's end: its exit then shows as EOF here
    loop = asyncio.get_running_loop()
    per_batch = rate // BATCHES_PER_S
    batches_per_cycle = tags // per_batch
    published = 0
    publish_cpu_s = 0.0
    stop = asyncio.Event()

    async def publisher() -> None:
        nonlocal published, publish_cpu_s
        period = 1.0 / BATCHES_PER_S
        deadline = time.monotonic()
        index = 0
        while not stop.is_set():
            # Each full pass over the tags flips every value, starting with 1.0 (the stock
            # variables start at 0.0): every sample is a change.
            value = float((index // batches_per_cycle + 1) % 2)
            started = time.process_time()
            await running.publish(index % batches_per_cycle * per_batch, per_batch, value)
            publish_cpu_s += time.process_time() - started
            published += per_batch
            index += 1
            deadline += period
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))

    task: asyncio.Task[None] | None = None
    try:
        ready = await loop.run_in_executor(None, parent.recv)
        assert ready[0] == "ready", ready
        task = asyncio.create_task(publisher())
        await asyncio.sleep(3.0)  # warm-up: queues and connection at steady state

        profiler = cProfile.Profile() if profile else None
        gc_clock = GcClock()
        at0, count0, client_cpu0 = latest(parent)
        gc_s0, gc_runs0 = gc_clock.snapshot()
        cpu0, wall0, published0 = time.process_time(), time.monotonic(), published
        publish_cpu0 = publish_cpu_s
        if profiler:
            profiler.enable()
        await asyncio.sleep(seconds)
        if profiler:
            profiler.disable()
        cpu1, wall1, published1 = time.process_time(), time.monotonic(), published
        publish_cpu1 = publish_cpu_s
        gc_s1, gc_runs1 = gc_clock.snapshot()
        at1, count1, client_cpu1 = latest(parent)
    finally:
        stop.set()
        if task is not None:
            await task
        if process.is_alive():
            parent.send("stop")
            await loop.run_in_executor(None, process.join, 10)
        await running.stop()

    Window(
        wall_s=wall1 - wall0,
        published=published1 - published0,
        notifications=count1 - count0,
        server_cpu_s=cpu1 - cpu0,
        publish_cpu_s=publish_cpu1 - publish_cpu0,
        client_s=at1 - at0,
        client_cpu_s=client_cpu1 - client_cpu0,
        gc_s=[b - a for a, b in zip(gc_s0, gc_s1, strict=True)],
        gc_runs=[b - a for a, b in zip(gc_runs0, gc_runs1, strict=True)],
    ).report()
    if profiler and profile:
        profiler.dump_stats(profile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["lean", "stock", "both"], default="both")
    parser.add_argument("--tags", type=int, default=15_000)
    parser.add_argument("--rate", type=int, default=15_000, help="changes per second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--profile", type=Path, help="cProfile the window into this file")
    parser.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() once the server is built"
    )
    parser.add_argument(
        "--security",
        choices=["none", "encrypt", "both"],
        default="none",
        help="the lean server's channel: None, Basic256Sha256:SignAndEncrypt, or both in turn",
    )
    args = parser.parse_args()
    per_batch = args.rate // BATCHES_PER_S
    if args.tags % TAGS_PER_DEVICE or args.rate % BATCHES_PER_S or args.tags % per_batch:
        parser.error(
            f"--tags must be a multiple of {TAGS_PER_DEVICE} and of rate/{BATCHES_PER_S}, "
            f"--rate a multiple of {BATCHES_PER_S}"
        )
    modes = ["stock", "lean"] if args.mode == "both" else [args.mode]
    secure = {"none": [False], "encrypt": [True], "both": [False, True]}[args.security]
    with tempfile.TemporaryDirectory(prefix="opcua-notify-") as work:
        for mode in modes:
            for encrypted in secure if mode == "lean" else [False]:
                secure_dir = Path(work) / "data" if encrypted else None
                asyncio.run(
                    measure(
                        mode,
                        args.tags,
                        args.rate,
                        args.seconds,
                        args.profile,
                        args.gc_freeze,
                        secure_dir,
                    )
                )
                gc.unfreeze()


if __name__ == "__main__":
    main()
