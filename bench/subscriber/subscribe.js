"use strict";
// Subscribes to every benchmark tag with node-opcua and reports what arrives, for
// bench/poll.py. node-opcua rather than asyncua's client: the latter drops its session
// at around 10k monitored items, and a client in another runtime keeps the measurement
// honest about the wire.
//
// usage: node subscribe.js SETTINGS.json
//   settings: {endpoint, namespaceUri, nodes: ["d000.t0000", ...], publishingIntervalMs,
//              queueSize, samplingIntervalMs, batchSize, latencySamplesPerTick,
//              setupTimeoutMs}
// stdin, one JSON command a line:
//   {"cmd": "go"}                               connect, subscribe to every node
//   {"cmd": "read", "id": 1, "nodes": [...]}    read values once (string NodeIds in ns)
//   {"cmd": "quit"}                             close the session and exit (so does EOF)
// stdout, one JSON event a line, times `t` in ms since the Unix epoch:
//   ready, session, monitored {ok, failed, firstError, revisedPublishingIntervalMs},
//   all_good (every node has delivered a Good value), tick (each second: dt ms since the
//   last tick on the monotonic clock, n notifications,
//   bad of them not Good, goodNodes seen Good so far, lat: a uniform sample of
//   latencies in ms), read {id, values: [{value, status, t: SourceTimestamp}]},
//   error {message}, closed.

const fs = require("node:fs");
const readline = require("node:readline");
const { performance } = require("node:perf_hooks");
const {
    AttributeIds,
    ClientMonitoredItemGroup,
    DataType,
    MessageSecurityMode,
    OPCUAClient,
    SecurityPolicy,
    TimestampsToReturn,
} = require("node-opcua-client");

const settings = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const nodeCount = settings.nodes.length;

function emit(event) {
    process.stdout.write(`${JSON.stringify(event)}\n`);
}

// Wall-clock milliseconds with sub-millisecond resolution, comparable with the server's
// SourceTimestamp: the monotonic performance.now() plus its offset from Date.now(), taken
// at an edge of Date.now() (to a few microseconds) and taken again at every tick. Anchored
// once at start (performance.timeOrigin), it drifted from the wall clock whenever the host
// stepped or slewed its clock: latencies of -47 to -195 ms were read on 2026-12-08.
let wallOffsetMs = wallOffset();

function wallOffset() {
    const edge = Date.now();
    let now = edge;
    while (now === edge) {
        now = Date.now();
    }
    return now - performance.now();
}

function nowMs() {
    return wallOffsetMs + performance.now();
}

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

const state = {
    client: null,
    session: null,
    subscription: null,
    ns: -1,
    goodSeen: new Uint8Array(nodeCount),
    goodNodes: 0,
    allGoodReported: false,
    tickCount: 0,
    tickBad: 0,
    tickSeen: 0,
    tickSamples: [],
    lastTickMono: performance.now(),
    closing: false,
};

function onValue(index, dataValue) {
    const receivedMs = nowMs();
    state.tickCount += 1;
    if (!dataValue.statusCode.isGood()) {
        state.tickBad += 1;
        return;
    }
    if (state.goodSeen[index] === 0) {
        state.goodSeen[index] = 1;
        state.goodNodes += 1;
        if (state.goodNodes === nodeCount && !state.allGoodReported) {
            state.allGoodReported = true;
            emit({ type: "all_good", t: receivedMs });
        }
    }
    const source = dataValue.sourceTimestamp;
    if (!source) {
        return;
    }
    const latency = receivedMs - (source.getTime() + (dataValue.sourcePicoseconds || 0) / 1e9);
    // Reservoir sampling (Algorithm R): a uniform sample of this tick's latencies.
    state.tickSeen += 1;
    const cap = settings.latencySamplesPerTick;
    if (state.tickSamples.length < cap) {
        state.tickSamples.push(latency);
    } else {
        const slot = Math.floor(Math.random() * state.tickSeen);
        if (slot < cap) {
            state.tickSamples[slot] = latency;
        }
    }
}

function tick() {
    const mono = performance.now();
    wallOffsetMs = wallOffset();
    const t = nowMs();
    emit({
        type: "tick",
        t,
        dt: mono - state.lastTickMono,
        n: state.tickCount,
        bad: state.tickBad,
        goodNodes: state.goodNodes,
        lat: state.tickSamples.map((x) => Math.round(x * 1000) / 1000),
    });
    state.lastTickMono = mono;
    state.tickCount = 0;
    state.tickBad = 0;
    state.tickSeen = 0;
    state.tickSamples = [];
}

function monitorBatch(indices) {
    const items = indices.map((i) => ({
        nodeId: `ns=${state.ns};s=${settings.nodes[i]}`,
        attributeId: AttributeIds.Value,
    }));
    const parameters = {
        samplingInterval: settings.samplingIntervalMs,
        queueSize: settings.queueSize,
        discardOldest: true,
    };
    return new Promise((resolve, reject) => {
        const group = ClientMonitoredItemGroup.create(
            state.subscription, items, parameters, TimestampsToReturn.Both);
        group.on("changed", (_item, dataValue, k) => onValue(indices[k], dataValue));
        group.once("initialized", () => resolve(group));
        group.once("terminated", (err) => reject(err || new Error("monitored item group terminated")));
    });
}

async function connect() {
    const client = OPCUAClient.create({
        applicationName: "uvelka-bench",
        endpointMustExist: false,
        securityMode: MessageSecurityMode.None,
        securityPolicy: SecurityPolicy.None,
        keepSessionAlive: true,
        requestedSessionTimeout: 120000,
        // Retries are ours (bounded by the deadline), not the library's backoff.
        connectionStrategy: { maxRetry: 0, initialDelay: 50, maxDelay: 100 },
    });
    state.client = client;
    // Before "ready": the first run creates a client certificate, which must not be
    // counted in the gateway's start-up time.
    await client.initializeCM();
    emit({ type: "ready", t: nowMs() });
    await goSignal;
    const deadline = nowMs() + settings.setupTimeoutMs;
    let lastError = null;
    while (nowMs() < deadline && !state.closing) {
        try {
            await client.connect(settings.endpoint);
            const session = await client.createSession();
            emit({ type: "session", t: nowMs() });
            return session;
        } catch (err) {
            lastError = err;
            await client.disconnect().catch(() => undefined);
            await sleep(50);
        }
    }
    throw new Error(`no session before the deadline: ${lastError && lastError.message}`);
}

async function subscribeAll(deadline) {
    const namespaces = await state.session.readNamespaceArray();
    state.ns = namespaces.indexOf(settings.namespaceUri);
    if (state.ns < 0) {
        throw new Error(`namespace ${settings.namespaceUri} not in ${JSON.stringify(namespaces)}`);
    }
    state.subscription = await state.session.createSubscription2({
        requestedPublishingInterval: settings.publishingIntervalMs,
        // Keep-alives about every 2 s whatever the interval; lifetime 3x that.
        requestedMaxKeepAliveCount: Math.max(3, Math.ceil(2000 / settings.publishingIntervalMs)),
        requestedLifetimeCount: Math.max(10, Math.ceil(6000 / settings.publishingIntervalMs)),
        maxNotificationsPerPublish: 0,
        publishingEnabled: true,
        priority: 1,
    });
    setInterval(tick, 1000);
    let pending = Array.from({ length: nodeCount }, (_, i) => i);
    // Nodes the server does not know yet (address space still filling) are retried.
    while (pending.length > 0) {
        const failed = [];
        let firstError = null;
        for (let start = 0; start < pending.length; start += settings.batchSize) {
            const batch = pending.slice(start, start + settings.batchSize);
            const group = await monitorBatch(batch);
            group.monitoredItems.forEach((item, k) => {
                if (!item.statusCode.isGood()) {
                    failed.push(batch[k]);
                    firstError = firstError || `${settings.nodes[batch[k]]}: ${item.statusCode.name}`;
                }
            });
        }
        emit({
            type: "monitored",
            t: nowMs(),
            ok: pending.length - failed.length,
            failed: failed.length,
            firstError,
            revisedPublishingIntervalMs: state.subscription.publishingInterval,
        });
        pending = failed;
        if (pending.length > 0) {
            if (nowMs() > deadline) {
                throw new Error(`${pending.length} nodes still not monitorable: ${firstError}`);
            }
            await sleep(250);
        }
    }
}

function plain(variant) {
    if (!variant) {
        return null;
    }
    // node-opcua keeps 64-bit integers as [high, low] 32-bit words; counters fit a double.
    if (variant.dataType === DataType.UInt64 || variant.dataType === DataType.Int64) {
        const [high, low] = variant.value;
        return high * 4294967296 + low;
    }
    return variant.value;
}

async function read(command) {
    // In calls of batchSize nodes: the gateway refuses a Read of more than its
    // [opcua] max_nodes_per_call (2000 by default) with BadTooManyOperations.
    const dataValues = [];
    for (let start = 0; start < command.nodes.length; start += settings.batchSize) {
        dataValues.push(...await state.session.read(
            command.nodes.slice(start, start + settings.batchSize).map((name) => ({
                nodeId: `ns=${state.ns};s=${name}`,
                attributeId: AttributeIds.Value,
            }))));
    }
    emit({
        type: "read",
        id: command.id,
        values: dataValues.map((dv) => ({
            value: plain(dv.value),
            status: dv.statusCode.name,
            t: dv.sourceTimestamp ? dv.sourceTimestamp.getTime() : null,
        })),
    });
}

async function close() {
    if (state.closing) {
        return;
    }
    state.closing = true;
    try {
        if (state.subscription) {
            await state.subscription.terminate();
        }
        if (state.session) {
            await state.session.close();
        }
        if (state.client) {
            await state.client.disconnect();
        }
    } finally {
        emit({ type: "closed", t: nowMs() });
        process.exit(0);
    }
}

let releaseGo;
const goSignal = new Promise((resolve) => {
    releaseGo = resolve;
});

const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
    const command = JSON.parse(line);
    if (command.cmd === "go") {
        releaseGo();
    } else if (command.cmd === "read") {
        read(command).catch((err) => emit({ type: "error", message: `read: ${err.message}` }));
    } else if (command.cmd === "quit") {
        close();
    }
});
// The parent went away (or closed our stdin on purpose): leave.
lines.on("close", () => close());

async function main() {
    state.session = await connect();
    await subscribeAll(nowMs() + settings.setupTimeoutMs);
}

main().catch((err) => {
    emit({ type: "error", message: err.stack || String(err) });
    close();
});
