// Byte-order helper: read a tag's registers live and show them decoded every way.
import { el, formatValue, getJson, notify, postJson, t, table } from "./common.js";

const app = document.getElementById("app");
const WORDS = { int16: 1, uint16: 1, int32: 2, uint32: 2, float32: 2, int64: 4, uint64: 4, float64: 4 };

async function start() {
  const { devices } = await getJson("/api/devices");
  const options = [];
  for (const device of devices) {
    for (const tag of device.tags || []) {
      if (tag.table === "holding" || tag.table === "input") {
        options.push(el("option", { value: JSON.stringify({ device: device.name, tag }) },
          `${device.name}.${tag.name} (${tag.table} ${tag.address}, ${tag.type} ${tag.order || "ABCD"})`));
      }
    }
  }
  const chooser = el("select", { id: "tag" }, el("option", { value: "" }, t("choose a tag")), ...options);
  const device = el("input", { id: "device", name: "device", list: "device-names" });
  const tableInput = el("select", { id: "table" }, el("option", { value: "holding" }, "holding"),
    el("option", { value: "input" }, "input"));
  const address = el("input", { id: "address", type: "number", min: 0, max: 65535, value: 0 });
  const count = el("input", { id: "count", type: "number", min: 1, max: 16, value: 4 });
  const result = el("div", { id: "decodings" });
  chooser.addEventListener("change", () => {
    if (!chooser.value) return;
    const chosen = JSON.parse(chooser.value);
    device.value = chosen.device;
    tableInput.value = chosen.tag.table;
    address.value = chosen.tag.address;
    count.value = Math.max(WORDS[chosen.tag.type] || 4, chosen.tag.type === "string" ? Math.ceil((chosen.tag.length || 8) / 2) : 4);
    result.dataset.configured = `${chosen.tag.type} ${chosen.tag.order || "ABCD"}`;
  });
  const read = async (event) => {
    event.preventDefault();
    try {
      const answer = await postJson("/api/byte-order", { device: device.value, table: tableInput.value,
        address: Number(address.value), count: Number(count.value) });
      show(result, answer);
      notify("", "ok");
    } catch (error) {
      notify(error.message);
    }
  };
  app.replaceChildren(
    el("form", { id: "read-form", class: "inline", on: { submit: read } },
      el("label", {}, `${t("Tag")} `, chooser),
      el("label", {}, `${t("Device")} `, device), el("datalist", { id: "device-names" }, ...devices.map((d) => el("option", { value: d.name }))),
      el("label", {}, `${t("Table")} `, tableInput), el("label", {}, `${t("Address")} `, address),
      el("label", {}, `${t("Registers")} `, count), el("button", { type: "submit", id: "read" }, t("Read live"))),
    result);
}

function show(result, answer) {
  const words = answer.words.map((w) => `0x${w.toString(16).padStart(4, "0")}`).join(" ");
  const orders = [...new Set(answer.decodings.map((d) => d.order))];
  const types = [...new Set(answer.decodings.map((d) => d.type))];
  const configured = result.dataset.configured || "";
  const rows = types.map((type) => el("tr", {}, el("th", {}, type), ...orders.map((order) => {
    const found = answer.decodings.find((d) => d.type === type && d.order === order);
    const mark = `${type} ${order}` === configured ? "configured" : "";
    return el("td", { class: mark, dataset: { type, order } }, found ? found.text ?? formatValue(found.value) : "");
  })));
  result.replaceChildren(el("p", {}, t("Registers read: {words}", { words })), table([t("Type"), ...orders], rows));
}

start().catch((error) => notify(error.message));
