/**
 * The HTTP server in process, against a fake dispatcher: X-Request-Id on every answer, headers
 * and the client's address only for the routes that read them, the sync mark on jobs.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { isUsableRequestId } from "../../src/orchestrator/http/request-id.js";
import type { Pair } from "../../src/protocol/messages.js";
import { startFront, stopFront, type Front } from "../support/front.js";

describe("HTTP front (in process)", () => {
  let front: Front;
  before(async () => {
    front = await startFront();
  });
  after(() => stopFront(front.http));

  it("generates an X-Request-Id, returns it and sends it to the worker", async () => {
    const res = await fetch(`${front.url}/plain`);
    const id = res.headers.get("x-request-id");
    assert.ok(id && isUsableRequestId(id), String(id));
    assert.equal(((await res.json()) as { requestId: string }).requestId, id);
    const again = await fetch(`${front.url}/plain`);
    assert.notEqual(again.headers.get("x-request-id"), id);
  });

  it("takes a usable X-Request-Id from the request, replaces an unusable one", async () => {
    const mine = "client-id_1.2:3/4+5=6~7";
    const res = await fetch(`${front.url}/plain`, { headers: { "x-request-id": mine } });
    assert.equal(res.headers.get("x-request-id"), mine);
    assert.equal(((await res.json()) as { requestId: string }).requestId, mine);
    for (const bad of ["has space", "x".repeat(129), "semi;colon"]) {
      const r = await fetch(`${front.url}/plain`, { headers: { "x-request-id": bad } });
      const id = r.headers.get("x-request-id")!;
      assert.notEqual(id, bad);
      assert.ok(isUsableRequestId(id));
      assert.equal(((await r.json()) as { requestId: string }).requestId, id);
    }
  });

  it("puts X-Request-Id on the orchestrator's own answers: 404, 405, 413, probes, metrics", async () => {
    const cases: [string, RequestInit, number][] = [
      ["/nope", {}, 404],
      ["/reads", { method: "POST", body: "{}" }, 405],
      ["/plain", { method: "POST", body: "x".repeat(2000) }, 413],
      ["/health", {}, 200],
      ["/ready", {}, 200],
      ["/metrics", {}, 200],
    ];
    for (const [path, init, status] of cases) {
      const res = await fetch(`${front.url}${path}`, { ...init, headers: { "x-request-id": `id-${status}` } });
      await res.arrayBuffer();
      assert.equal(res.status, status, path);
      assert.equal(res.headers.get("x-request-id"), `id-${status}`, path);
    }
  });

  it("keeps the orchestrator's X-Request-Id over one the worker set", async () => {
    front.dispatcher.answer = { headers: [["X-Request-Id", "from-the-worker"]] };
    const res = await fetch(`${front.url}/answer`, { headers: { "x-request-id": "from-the-client" } });
    await res.arrayBuffer();
    assert.equal(res.headers.get("x-request-id"), "from-the-client");
  });

  it("sends headers and the client's address only to routes that read the request", async () => {
    const plain = (await (await fetch(`${front.url}/plain`, { headers: { "X-Custom": "1" } })).json()) as { headers: Pair[]; client: [string, number] };
    assert.deepEqual(plain.headers, []);
    assert.deepEqual(plain.client, ["", 0]);
    const reads = (await (await fetch(`${front.url}/reads`, { headers: { "X-Custom": "Yes" } })).json()) as { headers: Pair[]; client: [string, number] };
    assert.ok(reads.headers.some(([n, v]) => n === "x-custom" && v === "Yes"), JSON.stringify(reads.headers));
    assert.ok(reads.headers.some(([n]) => n === "host"));
    for (const [name] of reads.headers) assert.equal(name, name.toLowerCase());
    assert.equal(reads.client[0], "127.0.0.1");
    assert.ok(reads.client[1] > 0);
  });

  it("marks the jobs of sync routes, and only those", async () => {
    await (await fetch(`${front.url}/sync`)).arrayBuffer();
    await (await fetch(`${front.url}/plain`)).arrayBuffer();
    const [sync, plain] = front.dispatcher.jobs.slice(-2);
    assert.equal(sync!.sync, true);
    assert.equal(plain!.sync, false);
  });
});
