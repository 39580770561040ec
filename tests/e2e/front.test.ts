/**
 * What the orchestrator does in front of the workers — X-Request-Id, CORS (--cors-origin) and
 * compression (--compress) — through the real CLI and real workers, for both test apps; and the
 * options from the environment and the config file.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { brotliDecompressSync, gunzipSync } from "node:zlib";
import { testApps } from "../support/apps.js";
import { repoRoot } from "../support/paths.js";
import { request, runCli, startServer, type RunningServer } from "../support/server.js";
import { waitForLoad } from "../support/status.js";
import { waitFor } from "../support/wait.js";

const ORIGIN = "https://app.example";
const USABLE_ID = /^[A-Za-z0-9._~:/+=-]{1,128}$/;

interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as sent: not decompressed. */
  body: Buffer;
}

/** A request with node:http, which leaves the body as the server encoded it (fetch decodes it). */
function raw(url: string, headers: Record<string, string> = {}, method = "GET"): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on("error", reject);
    req.end();
  });
}

for (const { language, app } of testApps) {
  describe(`orchestrator front (${language})`, () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(app, ["--workers", "1", "--access-log", "--cors-origin", ORIGIN, "--compress"]);
    });
    after(async () => {
      await server.stop();
    });

    it("X-Request-Id: generated, or taken from the request when usable; the same in the access log", async () => {
      const generated = await request(`${server.url}/add?x=1&y=2`);
      const id = generated.headers.get("x-request-id")!;
      assert.match(id, USABLE_ID);
      const mine = await request(`${server.url}/add?x=2&y=2`, { headers: { "x-request-id": `mine-${language}` } });
      assert.equal(mine.headers.get("x-request-id"), `mine-${language}`);
      const bad = await request(`${server.url}/add?x=3&y=2`, { headers: { "x-request-id": "not usable!" } });
      const replaced = bad.headers.get("x-request-id")!;
      assert.match(replaced, USABLE_ID);
      assert.notEqual(replaced, id);
      await waitFor(() => server.logs().filter((r) => r.log === "access").length >= 3);
      const logged = server.logs().filter((r) => r.log === "access").map((r) => r.requestId);
      for (const expected of [id, `mine-${language}`, replaced]) assert.ok(logged.includes(expected), `${expected} in ${logged}`);
    });

    it("X-Request-Id on errors from the worker and from the orchestrator, and on probes", async () => {
      const cases: [string, RequestInit, number][] = [
        ["/boom", {}, 500],
        ["/add", { method: "POST", body: '{"x": 1}' }, 422],
        ["/nope", {}, 404],
        ["/process", {}, 405],
        ["/health", {}, 200],
      ];
      for (const [path, init, status] of cases) {
        const r = await request(`${server.url}${path}`, { ...init, headers: { "x-request-id": `e-${status}` } });
        assert.equal(r.status, status, path);
        assert.equal(r.headers.get("x-request-id"), `e-${status}`, path);
      }
    });

    it("CORS: the orchestrator answers the preflight with the route's methods", async () => {
      const r = await raw(`${server.url}/process`, { origin: ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "content-type" }, "OPTIONS");
      assert.equal(r.status, 204);
      assert.equal(r.headers["access-control-allow-origin"], ORIGIN);
      assert.equal(r.headers["access-control-allow-methods"], "POST");
      assert.equal(r.headers["access-control-allow-headers"], "content-type");
      assert.ok(r.headers["access-control-max-age"]);
    });

    it("CORS: an allowed origin gets Allow-Origin on the worker's answer; another origin gets none", async () => {
      const ok = await request(`${server.url}/process`, { method: "POST", body: '{"data": {}}', headers: { origin: ORIGIN } });
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get("access-control-allow-origin"), ORIGIN);
      assert.match(ok.headers.get("vary")!, /Origin/);
      const other = await request(`${server.url}/process`, { method: "POST", body: '{"data": {}}', headers: { origin: "https://evil.example" } });
      assert.equal(other.status, 200);
      assert.equal(other.headers.get("access-control-allow-origin"), null);
      const preflight = await raw(`${server.url}/process`, { origin: "https://evil.example", "access-control-request-method": "POST" }, "OPTIONS");
      assert.equal(preflight.headers["access-control-allow-origin"], undefined);
    });

    it("compression: gzip and br round trip a large JSON answer; a small one is sent as it is", async () => {
      const plain = await raw(`${server.url}/items?n=300`);
      assert.equal(plain.headers["content-encoding"], undefined);
      assert.ok(plain.body.length > 1024);
      const gz = await raw(`${server.url}/items?n=300`, { "accept-encoding": "gzip" });
      assert.equal(gz.headers["content-encoding"], "gzip");
      assert.match(String(gz.headers["vary"]), /Accept-Encoding/);
      assert.ok(gz.body.length < plain.body.length / 3, `${gz.body.length} bytes`);
      assert.deepEqual(gunzipSync(gz.body), plain.body);
      const br = await raw(`${server.url}/items?n=300`, { "accept-encoding": "gzip;q=0.5, br;q=1" });
      assert.equal(br.headers["content-encoding"], "br");
      assert.deepEqual(brotliDecompressSync(br.body), plain.body);
      const small = await raw(`${server.url}/add?x=1&y=2`, { "accept-encoding": "gzip, br" });
      assert.equal(small.headers["content-encoding"], undefined);
      assert.equal(JSON.parse(small.body.toString()).result, 3);
      // fetch decodes it transparently.
      const decoded = await request(`${server.url}/items?n=300`, { headers: { "accept-encoding": "br" } });
      assert.equal(decoded.json.items.length, 300);
    });
  });
}

describe("sync routes of a Python app with async routes (\"sync\": true)", () => {
  let server: RunningServer;
  before(async () => {
    // Two workers that each hold many requests (the app has async routes), with one sync slot each.
    server = await startServer("tests/fixtures/model_app.py:app", ["--workers", "2", "--status-page"]);
  });
  after(async () => {
    await server.stop();
  });

  it("a sync request waits for a free sync slot in the orchestrator, not in a worker behind another sync one", async () => {
    type Slept = { pid: number; most_at_once: number };
    // A long sync request on one worker, a short one on the other.
    let longDone = false;
    const long = request(`${server.url}/sync-sleep?seconds=3`).then((r) => ((longDone = true), r));
    await waitForLoad(server, 1);
    const short = request(`${server.url}/sync-sleep?seconds=1.2`);
    await waitForLoad(server, 2);
    // Both workers have free slots, but not a free sync slot: this one waits in the orchestrator
    // until the short one is done, then runs on that worker, instead of queuing inside the first
    // behind the long one.
    const thirdReply = request(`${server.url}/sync-sleep?seconds=0.1`);
    await waitForLoad(server, 2, 1);
    const third = await thirdReply;
    assert.equal(longDone, false, "the third was answered before the long one");
    const [l, s, t] = [(await long).json as Slept, (await short).json as Slept, third.json as Slept];
    assert.notEqual(l.pid, s.pid);
    assert.equal(t.pid, s.pid, "the third ran where the sync slot freed first");
    for (const r of [l, s, t]) assert.equal(r.most_at_once, 1);
  });
});

describe("front options from the environment and the config file", () => {
  const APP = join(repoRoot, "tests", "fixtures", "pyapp.py") + ":app";
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "neutrino-front-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("NEUTRINO_CORS_ORIGIN (comma-separated) and NEUTRINO_COMPRESS=true", async () => {
    const server = await startServer(APP, ["--workers", "1"], {
      cwd: dir,
      env: { NEUTRINO_CORS_ORIGIN: "https://a.example, https://b.example", NEUTRINO_COMPRESS: "true" },
    });
    try {
      for (const origin of ["https://a.example", "https://b.example"]) {
        const r = await raw(`${server.url}/items?n=100`, { origin, "accept-encoding": "gzip" });
        assert.equal(r.headers["access-control-allow-origin"], origin);
        assert.equal(r.headers["content-encoding"], "gzip");
      }
    } finally {
      await server.stop();
    }
  });

  it("cors-origin (a list) and compress (a size) in neutrino.toml", async () => {
    writeFileSync(join(dir, "neutrino.toml"), 'cors-origin = ["https://a.example"]\ncors-credentials = true\ncompress = 100000\n');
    try {
      const server = await startServer(APP, ["--workers", "1"], { cwd: dir });
      try {
        const r = await raw(`${server.url}/items?n=100`, { origin: "https://a.example", "accept-encoding": "gzip" });
        assert.equal(r.headers["access-control-allow-origin"], "https://a.example");
        assert.equal(r.headers["access-control-allow-credentials"], "true");
        assert.equal(r.headers["content-encoding"], undefined, "below 100000 bytes");
      } finally {
        await server.stop();
      }
    } finally {
      rmSync(join(dir, "neutrino.toml"), { force: true });
    }
  });

  it("bad values stop the server with exit 2 naming the option, from a flag, the environment or the file", async () => {
    const cases: [string[], NodeJS.ProcessEnv, number, RegExp][] = [
      [["--cors-origin", "app.example"], {}, 2, /--cors-origin.*not an origin/],
      [["--compress", "lots"], {}, 2, /--compress.*size in bytes/],
      [["--cors-origin", "*", "--cors-credentials"], {}, 2, /--cors-credentials cannot be used with --cors-origin '\*'/],
      [["--cors-credentials"], {}, 2, /--cors-credentials needs --cors-origin/],
      [[], { NEUTRINO_COMPRESS: "maybe" }, 2, /NEUTRINO_COMPRESS: must be a size in bytes/],
      [[], { NEUTRINO_CORS_ORIGIN: "https://a.example,nope" }, 2, /NEUTRINO_CORS_ORIGIN: "nope" is not an origin/],
    ];
    for (const [flags, env, code, message] of cases) {
      const run = runCli(["serve", APP, "--port", "0", ...flags], { cwd: dir, env });
      assert.equal(await run.exited, code, flags.join(" ") || JSON.stringify(env));
      assert.match(run.err(), message);
    }
  });
});
