/**
 * Fault injection under bounded load on loopback: workers killed, handlers that exit, spin, raise,
 * leak or hog memory, bad clients, signals. Each scenario prints what happened to every request and
 * asserts that none went unanswered, that no process was orphaned, and how many 2xx it allows.
 * docs/reliability.md lists the scenarios and guarantees.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { describe, it } from "node:test";
import { ONE_REQUEST_PER_WORKER, testApps } from "../support/apps.js";
import { count2xx, countStatus, emptyTally, formatTally, runLoad, type Tally, type Target } from "../support/load.js";
import { childPids, isAlive, request, startServer, type RunningServer } from "../support/server.js";
import { liveStatus, waitForLoad } from "../support/status.js";
import { waitFor } from "../support/wait.js";

const ADD: Target = { path: "/add?x=2&y=3" };

/** Runs `body` against a fresh server, then stops it and checks that every process it had is gone. */
async function scenario(
  name: string,
  app: string,
  flags: string[],
  body: (server: RunningServer, seen: Set<number>) => Promise<Tally>,
  stopSignal: NodeJS.Signals = "SIGTERM",
): Promise<{ tally: Tally; server: RunningServer }> {
  // Each worker holds one request, as a Python worker always does, so the counts mean the same
  // in both languages (a Node worker that dies holding 64 requests loses 64).
  const server = await startServer(app, [...flags, ...ONE_REQUEST_PER_WORKER]);
  const seen = new Set<number>();
  const sample = () => childPids(server.proc.pid!).forEach((p) => seen.add(p));
  sample();
  const sampler = setInterval(sample, 50);
  let tally: Tally;
  try {
    tally = await body(server, seen);
  } finally {
    clearInterval(sampler);
    sample();
    await server.stop(stopSignal);
  }
  console.log(formatTally(name, tally));
  if (process.env.FAULTS_DEBUG) console.log(server.stdout());
  assert.equal(tally.unanswered, 0, `unanswered requests: ${tally.errors.join("; ")}`);
  const orphans = [...seen].filter(isAlive);
  assert.deepEqual(orphans, [], "no worker outlives the server");
  return { tally, server };
}

/** Fast requests from 4 clients while `inject` runs; the 2xx count must equal the fast requests sent. */
async function loadWhile(server: RunningServer, inject: (tally: Tally) => Promise<void>, requests = 400): Promise<Tally> {
  const tally = emptyTally();
  const load = runLoad({ baseUrl: server.url, clients: 4, requests, durationMs: 20_000, target: () => ADD, tally });
  await inject(tally);
  await load;
  return tally;
}

for (const { language, app } of testApps) {
  describe(`faults (${language})`, () => {
    it("workers SIGKILLed under load: only the requests they held fail (502)", async () => {
      let kills = 0;
      const { tally } = await scenario("sigkill", app, ["--workers", "2"], (server) =>
        loadWhile(server, async (tally) => {
          for (let i = 0; i < 3; i++) {
            // Each kill lands under load, on a whole pool: more requests answered since the last one.
            const answered = count2xx(tally);
            await waitFor(() => count2xx(tally) >= answered + 30 && childPids(server.proc.pid!).length === 2);
            const victim = childPids(server.proc.pid!)[0];
            if (victim) {
              process.kill(victim, "SIGKILL");
              kills++;
            }
          }
        }),
      );
      assert.ok(countStatus(tally, 502) <= kills, "each kill loses at most the one request it was running");
      assert.equal(count2xx(tally) + countStatus(tally, 502), tally.sent);
    });

    it("handlers that exit the worker: 502 for them, every other request 2xx", async () => {
      const { tally } = await scenario("handler exits", app, ["--workers", "2"], (server) =>
        runLoad({ baseUrl: server.url, clients: 4, requests: 300, durationMs: 20_000, target: (i) => (i % 50 === 7 ? { path: "/exit" } : ADD) }),
      );
      assert.equal(countStatus(tally, 502), 6);
      assert.equal(count2xx(tally), tally.sent - 6);
    });

    it("handlers that raise or return unserializable values: 500 for them, the workers keep serving", async () => {
      const { tally } = await scenario("handler raises", app, ["--workers", "2"], (server) =>
        runLoad({
          baseUrl: server.url,
          clients: 4,
          requests: 300,
          durationMs: 20_000,
          target: (i) => (i % 10 === 3 ? { path: "/boom" } : i % 10 === 6 ? { path: "/unserializable" } : ADD),
        }),
      );
      assert.equal(countStatus(tally, 500), 60);
      assert.equal(count2xx(tally), 240);
    });

    it("handlers that loop forever, with --timeout: 504 for them, the worker replaced, the rest 2xx", async () => {
      const { tally, server } = await scenario("infinite loop, --timeout", app, ["--workers", "2", "--timeout", "1"], (server) =>
        runLoad({ baseUrl: server.url, clients: 3, requests: 200, durationMs: 20_000, target: (i) => (i === 10 ? { path: "/spin" } : ADD) }),
      );
      assert.equal(countStatus(tally, 504), 1);
      assert.equal(count2xx(tally), tally.sent - 1);
      assert.match(server.stdout(), /timed out on worker w\d+ \(pid \d+\): replacing the worker/);
    });

    it("a hung worker is found by --worker-timeout: 504, logged with its route and request id, replaced", async () => {
      const { tally, server } = await scenario("hung worker, --worker-timeout", app, ["--workers", "2", "--worker-timeout", "0.6"], (server) =>
        runLoad({ baseUrl: server.url, clients: 2, requests: 120, durationMs: 20_000, target: (i) => (i === 20 ? { path: "/spin" } : ADD) }),
      );
      assert.equal(countStatus(tally, 504), 1);
      assert.equal(count2xx(tally), tally.sent - 1);
      // A Node worker's heartbeats stop only when its event loop is held: the log says so.
      const silence = language === "typescript" ? "event loop blocked for \\d+\\.\\d s \\(no heartbeat; " : "silent for \\d+\\.\\d s \\(";
      assert.match(
        server.stdout(),
        new RegExp(`${silence}worker timeout 0\\.6 s\\) while handling GET /spin \\[request [A-Za-z0-9._~:/+=-]+, running \\d+\\.\\d s\\]`),
      );
    });

    it("a leaking worker is recycled past --max-worker-memory without failing a request", async () => {
      const LIMIT = 250 * 1024 * 1024; // --max-worker-memory 250 (MiB, as the watchdog counts)
      const { tally, server } = await scenario("leak, --max-worker-memory", app, ["--workers", "2", "--max-worker-memory", "250", "--status-page"], async (server) => {
        const tally = emptyTally();
        // 40 MB kept per /leak request: a worker passes 250 MB after a few of them (an idle Node
        // worker with tsx and zod loaded takes about 130 MB, a Python one about 15 MB).
        for (let round = 0; round < 5; round++) {
          await runLoad({ baseUrl: server.url, clients: 2, requests: 6, durationMs: 10_000, target: () => ({ path: "/leak?mb=40" }), tally });
          await runLoad({ baseUrl: server.url, clients: 2, requests: 40, durationMs: 10_000, target: () => ADD, tally });
          // The next round starts once the watchdog has recycled every worker over the limit.
          await waitFor(async () => (await liveStatus(server)).workers.every((w) => w.state === "exited" || w.rss_bytes <= LIMIT));
        }
        return tally;
      });
      assert.equal(count2xx(tally), tally.sent, "a recycle fails no request");
      assert.match(server.stdout(), /recycling worker w\d+ \(pid \d+\): memory \d+ MB over the limit of 250 MB/);
    });

    it("a handler allocating without bound is killed at twice --max-worker-memory: 502 for it, the rest 2xx", async () => {
      const { tally, server } = await scenario("unbounded allocation", app, ["--workers", "2", "--max-worker-memory", "250"], (server) =>
        runLoad({ baseUrl: server.url, clients: 2, requests: 200, durationMs: 20_000, target: (i) => (i === 5 ? { path: "/hog" } : ADD) }),
      );
      assert.equal(countStatus(tally, 502), 1);
      assert.equal(count2xx(tally), tally.sent - 1);
      assert.match(server.stdout(), /twice the limit: killing it/);
    });

    it("--max-requests recycles workers with the replacement ready first: every request 2xx", async () => {
      const { tally, server } = await scenario("--max-requests", app, ["--workers", "2", "--max-requests", "50", "--max-requests-jitter", "10"], (server) =>
        runLoad({ baseUrl: server.url, clients: 4, requests: 400, durationMs: 20_000, target: () => ADD }),
      );
      assert.equal(count2xx(tally), tally.sent);
      assert.match(server.stdout(), /recycling worker w\d+ \(pid \d+\): served \d+ requests/);
    });

    it("bad clients (malformed HTTP, oversized bodies, slowloris) get 400/413/408 while others are served", async () => {
      const { tally } = await scenario("bad clients", app, ["--workers", "2", "--max-body-size", "1000", "--header-timeout", "1"], async (server) => {
        const tally = emptyTally();
        const raw = async (payload: string, drip = false): Promise<void> => {
          tally.sent++;
          const status = await rawRequest(server.port, payload, drip);
          if (status === null) tally.unanswered++;
          else tally.byStatus.set(status, (tally.byStatus.get(status) ?? 0) + 1);
        };
        const bad = [
          raw("GARBAGE\r\n\r\n"),
          raw("GET /add HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
          raw("GET / HTTP/9.9\r\n\r\n"),
          raw("GET /add?x=1&y=1 HTTP/1.1\r\nHost: x\r\n", true), // headers never finish
          raw(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n${"x".repeat(5000)}`),
        ];
        await runLoad({ baseUrl: server.url, clients: 3, requests: 150, durationMs: 20_000, target: () => ADD, tally });
        await Promise.all(bad);
        return tally;
      });
      assert.equal(countStatus(tally, 400), 3);
      assert.equal(countStatus(tally, 408), 1);
      assert.equal(countStatus(tally, 413), 1);
      assert.equal(count2xx(tally), 150);
    });

    it("SIGTERM under load: requests in flight finish 2xx, later ones are refused, none cut off", async () => {
      const { tally } = await scenario(
        "SIGTERM under load",
        app,
        ["--workers", "2"],
        async (server) => {
          const tally = emptyTally();
          const load = runLoad({ baseUrl: server.url, clients: 4, requests: 100_000, durationMs: 1_500, keepAlive: false, target: () => ({ path: "/sleep?seconds=0.05" }), tally });
          await waitFor(() => count2xx(tally) >= 10);
          server.proc.kill("SIGTERM");
          await load;
          return tally;
        },
      );
      assert.ok(count2xx(tally) > 0);
      assert.equal(count2xx(tally) + tally.refused, tally.sent, "every request that reached the server got 2xx");
    });

    it("SIGHUP under load: a rolling restart with no failed request, and new worker processes", async () => {
      let before: number[] = [];
      let after: number[] = [];
      const { tally, server } = await scenario("SIGHUP under load", app, ["--workers", "2"], (server) =>
        loadWhile(
          server,
          async () => {
            before = childPids(server.proc.pid!);
            server.proc.kill("SIGHUP");
            await waitFor(() => /reloaded: 2 new workers serving/.test(server.stdout()));
            // The old workers exit once their last request is answered.
            await waitFor(() => childPids(server.proc.pid!).every((p) => !before.includes(p)));
            after = childPids(server.proc.pid!);
          },
          600,
        ),
      );
      assert.equal(count2xx(tally), tally.sent);
      assert.equal(after.length, 2);
      assert.deepEqual(after.filter((p) => before.includes(p)), [], "every worker was replaced");
      assert.match(server.stdout(), /reloading/);
    });

    it("--queue-timeout answers 503 with Retry-After to a request that waited too long", async () => {
      const { tally } = await scenario("queue timeout", app, ["--workers", "1", "--queue-timeout", "0.3", "--status-page"], async (server) => {
        const tally = emptyTally();
        const slow = runLoad({ baseUrl: server.url, clients: 1, requests: 1, durationMs: 5_000, target: () => ({ path: "/sleep?seconds=1" }), tally });
        await waitForLoad(server, 1);
        await runLoad({ baseUrl: server.url, clients: 1, requests: 1, durationMs: 5_000, target: () => ADD, tally });
        await slow;
        return tally;
      });
      assert.equal(countStatus(tally, 503), 1);
      assert.equal(count2xx(tally), 1);
    });

    it("SIGTTIN and SIGTTOU add and remove a worker under load", async () => {
      const { tally } = await scenario("SIGTTIN/SIGTTOU", app, ["--workers", "2"], (server) =>
        loadWhile(server, async () => {
          server.proc.kill("SIGTTIN");
          await waitFor(() => childPids(server.proc.pid!).length === 3);
          // One signal at a time: two of a kind sent at once merge into one (POSIX does not queue them).
          server.proc.kill("SIGTTOU");
          await waitFor(() => childPids(server.proc.pid!).length === 2);
          server.proc.kill("SIGTTOU");
          await waitFor(() => childPids(server.proc.pid!).length === 1);
        }),
      );
      assert.equal(count2xx(tally), tally.sent);
    });
  });
}

describe("faults in an async worker (typescript)", () => {
  it("--timeout cancels the late request only: 504 for it, the worker and its other requests go on", async () => {
    const server = await startServer("tests/fixtures/tsapp.ts:app", ["--workers", "1", "--timeout", "0.5"]);
    try {
      const pid = (await request(`${server.url}/pid`)).json.pid;
      const late = request(`${server.url}/wait?seconds=3`);
      const onTime = request(`${server.url}/wait?seconds=0.2`);
      assert.equal((await onTime).status, 200);
      const r = await late;
      assert.equal(r.status, 504);
      assert.equal((await request(`${server.url}/pid`)).json.pid, pid, "the worker was not replaced");
      assert.match(server.stdout(), /timed out on worker w0: cancelled/);
    } finally {
      await server.stop();
    }
  });
});

/** Sends raw bytes (optionally one byte every 100 ms); resolves with the response status or null. */
function rawRequest(port: number, payload: string, drip: boolean): Promise<number | null> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    let data = "";
    let timer: NodeJS.Timeout | undefined;
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => (data += d));
    socket.on("error", () => {});
    socket.on("close", () => {
      clearInterval(timer);
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      resolve(m ? Number(m[1]) : null);
    });
    socket.on("connect", () => {
      if (!drip) {
        socket.write(payload);
        return;
      }
      let i = 0;
      timer = setInterval(() => {
        if (i < payload.length && !socket.destroyed) socket.write(payload[i++]!);
      }, 100);
    });
    setTimeout(() => socket.destroy(), 10_000);
  });
}
