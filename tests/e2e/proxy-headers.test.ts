/**
 * Proxy headers through the real CLI, in both runtimes: X-Forwarded-For/-Proto/-Host and RFC 7239
 * `Forwarded` from a trusted peer set the client's address (what the handler gets and what the
 * access log shows), the scheme and the host; from an untrusted peer they are ignored. And
 * --root-path reaches the workers.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { request, runCli, startServer, type RunningServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";

const apps = [
  { runtime: "python", app: "tests/fixtures/edge_app.py:app" },
  { runtime: "typescript", app: "tests/fixtures/edge_app.ts:app" },
] as const;

const who = async (server: RunningServer, headers: Record<string, string> = {}): Promise<any> => {
  const r = await request(`${server.url}/who`, { headers });
  assert.equal(r.status, 200, r.text);
  return r.json;
};

/** The access log record of the request that sent this user agent. */
async function accessRecord(server: RunningServer, userAgent: string): Promise<Record<string, unknown>> {
  const find = (): Record<string, unknown> | undefined => server.logs().find((r) => r.log === "access" && r.userAgent === userAgent);
  await waitFor(() => find() !== undefined, 10_000, `the access record of ${userAgent}`);
  return find()!;
}

for (const { runtime, app } of apps) {
  describe(`proxy headers (${runtime})`, () => {
    /** Trusts 127.0.0.1, the default, so the test client is a trusted proxy. */
    let trusting: RunningServer;
    /** Trusts only 10.0.0.0/8: the test client is not a proxy it knows. */
    let wary: RunningServer;

    before(async () => {
      [trusting, wary] = await Promise.all([
        startServer(app, ["--workers", "1", "--access-log", "--root-path", "/api/"]),
        startServer(app, ["--workers", "1", "--access-log", "--forwarded-allow-ips", "10.0.0.0/8, 192.168.1.1"]),
      ]);
    });

    after(async () => {
      await Promise.all([trusting?.stop(), wary?.stop()]);
    });

    it("without forwarding headers the connection is the client, over http, and the root path reaches the worker", async () => {
      const seen = await who(trusting);
      assert.equal(seen.client[0], "127.0.0.1");
      assert.ok(seen.client[1] > 0);
      assert.equal(seen.scheme, "http");
      assert.equal(seen.host, `127.0.0.1:${trusting.port}`);
      assert.equal(seen.root_path, "/api");
    });

    it("X-Forwarded-For/-Proto/-Host from a trusted peer: the client, scheme and host the handler and the access log see", async () => {
      const seen = await who(trusting, {
        "x-forwarded-for": "203.0.113.9",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "shop.example",
        "user-agent": `xff-${runtime}`,
      });
      assert.deepEqual(seen.client, ["203.0.113.9", 0]);
      assert.equal(seen.scheme, "https");
      assert.equal(seen.host, "shop.example");
      const record = await accessRecord(trusting, `xff-${runtime}`);
      assert.equal(record.client, "203.0.113.9");
    });

    it("a chain is walked back while its hops are trusted: the first untrusted address is the client", async () => {
      const seen = await who(trusting, { "x-forwarded-for": "198.51.100.1, 10.0.0.5" });
      assert.deepEqual(seen.client, ["10.0.0.5", 0]);
    });

    it("RFC 7239 Forwarded: for (with its port), proto and host", async () => {
      const seen = await who(trusting, { forwarded: 'for="[2001:db8::7]:4711";proto=https;host=api.example' });
      assert.deepEqual(seen.client, ["2001:db8::7", 4711]);
      assert.equal(seen.scheme, "https");
      assert.equal(seen.host, "api.example");
    });

    it("a forwarded host that is not a host name is ignored", async () => {
      const seen = await who(trusting, { "x-forwarded-host": "evil.example/path?x", "x-forwarded-proto": "gopher" });
      assert.equal(seen.host, `127.0.0.1:${trusting.port}`);
      assert.equal(seen.scheme, "http");
    });

    it("from a peer not in --forwarded-allow-ips every forwarding header is ignored, and the scheme is the connection's", async () => {
      const seen = await who(wary, {
        "x-forwarded-for": "203.0.113.9",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "shop.example",
        forwarded: "for=203.0.113.10;proto=https",
        "user-agent": `untrusted-${runtime}`,
      });
      assert.equal(seen.client[0], "127.0.0.1");
      assert.ok(seen.client[1] > 0);
      assert.equal(seen.scheme, "http");
      assert.equal(seen.host, `127.0.0.1:${wary.port}`);
      assert.equal(seen.root_path, null, "no --root-path: NEUTRINO_ROOT_PATH is not set");
      const record = await accessRecord(wary, `untrusted-${runtime}`);
      assert.equal(record.client, "127.0.0.1");
    });
  });
}

describe("proxy trust settings (python)", () => {
  const app = apps[0].app;

  it("--forwarded-allow-ips '*' trusts every hop (the leftmost address is the client); --no-proxy-headers trusts none", async () => {
    const [all, none] = await Promise.all([
      startServer(app, ["--workers", "1", "--forwarded-allow-ips", "*"]),
      startServer(app, ["--workers", "1", "--no-proxy-headers"]),
    ]);
    try {
      assert.deepEqual((await who(all, { "x-forwarded-for": "198.51.100.1, 10.0.0.5" })).client, ["198.51.100.1", 0]);
      const seen = await who(none, { "x-forwarded-for": "198.51.100.1", "x-forwarded-proto": "https" });
      assert.equal(seen.client[0], "127.0.0.1");
      assert.equal(seen.scheme, "http");
    } finally {
      await Promise.all([all.stop(), none.stop()]);
    }
  });

  it("FORWARDED_ALLOW_IPS, as in uvicorn, when the option is not given; a bad list is a usage error", async () => {
    const server = await startServer(app, ["--workers", "1"], { env: { FORWARDED_ALLOW_IPS: "10.1.2.3" } });
    try {
      assert.equal((await who(server, { "x-forwarded-for": "203.0.113.9" })).client[0], "127.0.0.1");
    } finally {
      await server.stop();
    }
    const bad = runCli(["serve", app, "--port", "0"], { env: { FORWARDED_ALLOW_IPS: "10.0.0.0/8,not-an-ip" } });
    assert.equal(await bad.exited, 2);
    assert.match(bad.err(), /FORWARDED_ALLOW_IPS: invalid IP address: not-an-ip/);
  });
});
