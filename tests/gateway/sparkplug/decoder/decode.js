// An independent Sparkplug B codec for the tests: Eclipse Tahu's JavaScript
// `sparkplug-payload`, pinned by package-lock.json (run `npm ci` here).
//
// stdin: one JSON document {"decode": [base64 payload, ...], "encode": [payload object, ...]}
// stdout: {"decoded": [payload object, ...], "encoded": [base64 payload, ...]}
// 64-bit integers (protobufjs Long) are written as decimal strings.
"use strict";

const sparkplug = require("sparkplug-payload").get("spBv1.0");

function plain(key, value) {
  if (value !== null && typeof value === "object" && "low" in value && "high" in value &&
      "unsigned" in value) {
    return value.toString();
  }
  return value;
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const decoded = (request.decode || []).map(
    (b64) => sparkplug.decodePayload(new Uint8Array(Buffer.from(b64, "base64"))));
  const encoded = (request.encode || []).map(
    (payload) => Buffer.from(sparkplug.encodePayload(payload)).toString("base64"));
  process.stdout.write(JSON.stringify({ decoded, encoded }, plain));
});
