"use strict";
// An independent OPC UA client for tests/gateway/opcua/test_node_client.py (issue #14):
// node-opcua-client, installed with bench/subscriber/ (pinned in its package-lock).
//
// usage: node client.js SETTINGS.json
//   settings: {endpoint, policy ("Basic256Sha256", "Aes128_Sha256_RsaOaep",
//              "Aes256_Sha256_RsaPss"), user, password (user null: anonymous),
//              cert, key (PEM files), pkiDir (the client's own trust folder),
//              applicationUri, write: {nodeId, value} | null,
//              acknowledge: {conditionId, comment} | null}
// stdout, one JSON line: {connected, error, writeStatus, ack: {status, clientUserId,
//                         comment, acked}}
const fs = require("node:fs");
// Not re-exported by node-opcua-client: its own dependency, installed with it.
const { OPCUACertificateManager } = require("node-opcua-certificate-manager");
const {
    AttributeIds,
    DataType,
    MessageSecurityMode,
    OPCUAClient,
    SecurityPolicy,
    UserTokenType,
    constructEventFilter,
    ClientMonitoredItem,
    TimestampsToReturn,
} = require("node-opcua-client");

const settings = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const outcome = { connected: false, error: null, writeStatus: null, ack: null };

function nextEvent(events, predicate, timeoutMs) {
    return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no event")), timeoutMs);
        const check = () => {
            const found = events.find(predicate);
            if (found) {
                clearTimeout(timer);
                resolve(found);
            } else {
                setTimeout(check, 20);
            }
        };
        check();
    });
}

async function main() {
    const certificateManager = new OPCUACertificateManager({
        rootFolder: settings.pkiDir,
        automaticallyAcceptUnknownCertificate: true,
    });
    const client = OPCUAClient.create({
        applicationName: "uvelka-test-client",
        applicationUri: settings.applicationUri,
        securityMode: MessageSecurityMode.SignAndEncrypt,
        securityPolicy: SecurityPolicy[settings.policy],
        certificateFile: settings.cert,
        privateKeyFile: settings.key,
        clientCertificateManager: certificateManager,
        endpointMustExist: false,
        connectionStrategy: { maxRetry: 0, initialDelay: 100, maxDelay: 200 },
    });
    try {
        await client.connect(settings.endpoint);
        const identity = settings.user === null
            ? { type: UserTokenType.Anonymous }
            : { type: UserTokenType.UserName, userName: settings.user, password: settings.password };
        const session = await client.createSession(identity);
        outcome.connected = true;
        if (settings.write) {
            const status = await session.write({
                nodeId: settings.write.nodeId,
                attributeId: AttributeIds.Value,
                value: { value: { dataType: DataType.UInt16, value: settings.write.value } },
            });
            outcome.writeStatus = status.name;
        }
        if (settings.acknowledge) {
            outcome.ack = await acknowledge(session, settings.acknowledge);
        }
        await session.close();
    } catch (error) {
        outcome.error = String(error && error.message ? error.message : error);
    } finally {
        await client.disconnect();
    }
}

async function acknowledge(session, { conditionId, comment }) {
    const subscription = await session.createSubscription2({
        requestedPublishingInterval: 100, requestedMaxKeepAliveCount: 10,
        requestedLifetimeCount: 100, publishingEnabled: true,
    });
    const fields = ["EventId", "ConditionId", "ClientUserId", "Comment", "AckedState.Id"];
    const item = ClientMonitoredItem.create(
        subscription, { nodeId: "i=2253", attributeId: AttributeIds.EventNotifier },
        { queueSize: 100, filter: constructEventFilter(fields), discardOldest: true },
        TimestampsToReturn.Neither,
    );
    const events = [];
    item.on("changed", (values) => events.push(values.map((v) => v.value)));
    await new Promise((resolve) => item.once("initialized", resolve));
    await session.call({
        objectId: "i=2782", methodId: "i=3875",  // ConditionType.ConditionRefresh
        inputArguments: [{ dataType: DataType.UInt32, value: subscription.subscriptionId }],
    });
    const mine = (e) => e[1] && e[1].toString() === conditionId;
    const shown = await nextEvent(events, (e) => mine(e) && e[4] === false, 5000);
    const result = await session.call({
        objectId: conditionId, methodId: "i=9111",  // AcknowledgeableConditionType.Acknowledge
        inputArguments: [
            { dataType: DataType.ByteString, value: shown[0] },
            { dataType: DataType.LocalizedText, value: { text: comment } },
        ],
    });
    const status = result.statusCode.name;
    let acked = null;
    if (status === "Good") {
        acked = await nextEvent(events, (e) => mine(e) && e[4] === true, 5000);
    }
    await subscription.terminate();
    return {
        status,
        clientUserId: acked ? acked[2] : null,
        comment: acked && acked[3] ? acked[3].text : null,
        acked: acked !== null,
    };
}

main().then(() => {
    process.stdout.write(`${JSON.stringify(outcome)}\n`);
    process.exit(0);
});
