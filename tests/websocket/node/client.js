// An independent WebSocket client for tests/websocket/test_clients.py: Node's
// `ws` package runs a plan of steps against a server and prints what it saw
// as one line of JSON. Usage: node client.js URL 'PLAN_JSON'
//   plan: {deflate: bool, protocols: [..], steps: [
//     {send: "text"|"binary", size: N, fragments: K}  -> waits for the echo
//     {ping: "payload"}                               -> waits for the pong
//     {text: "..."}                                   -> sends, waits for nothing
//     {close: CODE, reason: "..."}                    -> waits for the close
//     {wait_close: true}                              -> waits for the server's close
//   ]}
"use strict";
const WebSocket = require("ws");

const [url, planText] = process.argv.slice(2);
const plan = JSON.parse(planText);
const out = {echoes: [], pongs: [], close: null, extensions: null, protocol: null};

function finish(code) {
  console.log(JSON.stringify(out));
  process.exit(code);
}

const timer = setTimeout(() => { out.error = "timeout"; finish(2); }, plan.timeout || 60000);

function makePayload(kind, size) {
  if (kind === "binary") {
    const buf = Buffer.alloc(size);
    for (let i = 0; i < size; i++) buf[i] = (i * 31 + 7) & 255;
    return buf;
  }
  // Text of exactly `size` bytes of UTF-8, with 2-, 3- and 4-byte characters.
  const unit = "héllo wörld ✓ 中 😀 ";
  const text = unit.repeat(Math.floor(size / Buffer.byteLength(unit)));
  return text + "a".repeat(size - Buffer.byteLength(text));
}

function split(data, parts) {
  const chunks = [];
  const step = Math.ceil(data.length / parts) || 1;
  for (let i = 0; i < parts; i++) chunks.push(data.slice(i * step, (i + 1) * step));
  return chunks;
}

const ws = new WebSocket(url, plan.protocols || [], {
  perMessageDeflate: plan.deflate !== false,
  maxPayload: 64 * 1024 * 1024,
});
const waiting = [];   // resolvers for the next message
ws.on("message", (data, isBinary) => {
  const resolve = waiting.shift();
  if (resolve) resolve({data, isBinary});
});
let closed = null;
const closeWaiters = [];
ws.on("close", (code, reason) => {
  closed = {code, reason: reason.toString()};
  out.close = closed;
  closeWaiters.forEach((resolve) => resolve(closed));
});
ws.on("error", (err) => { out.error = String(err); });

function nextMessage() { return new Promise((resolve) => waiting.push(resolve)); }
function closedPromise() {
  return closed ? Promise.resolve(closed) : new Promise((resolve) => closeWaiters.push(resolve));
}

async function run() {
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });
  out.extensions = ws.extensions;
  out.protocol = ws.protocol;
  for (const step of plan.steps) {
    if (step.send) {
      const data = makePayload(step.send, step.size);
      const binary = step.send === "binary";
      const reply = nextMessage();
      const parts = split(data, step.fragments || 1);
      parts.forEach((part, i) => ws.send(part, {binary, fin: i === parts.length - 1}));
      const {data: got, isBinary} = await reply;
      const same = binary ? isBinary && Buffer.compare(got, data) === 0
                          : !isBinary && got.toString("utf8") === data;
      out.echoes.push({kind: step.send, size: step.size, ok: same});
    } else if (step.ping !== undefined) {
      const pong = new Promise((resolve) => ws.once("pong", resolve));
      ws.ping(Buffer.from(step.ping));
      out.pongs.push((await pong).toString());
    } else if (step.text !== undefined) {
      ws.send(step.text);
    } else if (step.close !== undefined) {
      ws.close(step.close, step.reason || "");
      await closedPromise();
    } else if (step.wait_close) {
      await closedPromise();
    }
  }
  if (!closed) {
    ws.close(1000, "bye");
    await closedPromise();
  }
  clearTimeout(timer);
  finish(0);
}

run().catch((err) => { out.error = String(err); finish(1); });
