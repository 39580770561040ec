// Micro-benchmark of the TypeScript codec (dist/src/protocol): frames per second encoded and
// decoded, for the two hot-path frames of a POST /add. Run `npm run build` first.
//   node bench/codec.mjs [--seconds S] [--json]
// Encoding calls the encoders the orchestrator uses; decoding goes through a FrameDecoder, as
// the orchestrator reads the workers' sockets (one whole frame per push).
import { parseArgs } from "node:util";
import { encodeTaskAssignment, encodeTaskResult } from "../dist/src/protocol/codec.js";
import { FrameDecoder } from "../dist/src/protocol/frame-decoder.js";

const { values: opts } = parseArgs({
  options: { seconds: { type: "string", default: "2" }, json: { type: "boolean", default: false } },
});
const seconds = Number(opts.seconds);

// What the orchestrator sends for `POST /add {"x":2,"y":3}` and what the worker answers.
const body = Buffer.from('{"x":2,"y":3}');
const result = Buffer.from('{"result": 5}');
const frames = {
  TaskAssignment: {
    encode: (i) => encodeTaskAssignment(i, "POST", "/add", "/add", "", [], [], "0a1b2c3d4e5f6071", "", 0, body),
    check: (m) => m.type === "TaskAssignment" && m.method === "POST" && m.path === "/add" && m.body.equals(body),
  },
  TaskResult: {
    encode: (i) => encodeTaskResult(i, 200, 0, [], result),
    check: (m) => m.type === "TaskResult" && m.status === 200 && m.body.equals(result),
  },
};

/** Calls fn(i) in batches until `seconds` have passed; returns calls per second. */
function rate(fn) {
  for (let i = 0; i < 20000; i++) fn(i); // warm the JIT
  const batch = 10000;
  let n = 0;
  const start = process.hrtime.bigint();
  const limit = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < limit) {
    for (let i = 0; i < batch; i++) fn(n + i);
    n += batch;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

const rows = [];
for (const [name, f] of Object.entries(frames)) {
  const frame = f.encode(7);
  const decoder = new FrameDecoder();
  const [decoded] = decoder.push(frame);
  if (!f.check(decoded)) throw new Error(`${name} does not survive a round trip`);
  let sink = 0;
  const encodePerS = rate((i) => {
    sink += f.encode(i).length;
  });
  const decodePerS = rate(() => {
    sink += decoder.push(frame).length;
  });
  if (sink === 0) throw new Error("unreachable");
  rows.push({ codec: "TypeScript", frame: name, bytes: frame.length, encode_per_s: encodePerS, decode_per_s: decodePerS });
}

if (opts.json) {
  for (const r of rows) console.log(JSON.stringify(r));
} else {
  console.log(`TypeScript codec, Node ${process.version}, ${seconds} s per measurement`);
  for (const r of rows) {
    console.log(`${r.frame.padEnd(15)} ${String(r.bytes).padStart(4)} bytes  encode ${Math.round(r.encode_per_s).toLocaleString("en").padStart(11)}/s  decode ${Math.round(r.decode_per_s).toLocaleString("en").padStart(11)}/s`);
  }
}
