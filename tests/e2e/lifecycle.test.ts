/** The CLI, start-up failures and graceful shutdown, through the real `neutrino` command. */
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:net";
import { describe, it } from "node:test";
import { testApps } from "../support/apps.js";
import { repoRoot } from "../support/paths.js";
import { freePort } from "../support/ports.js";
import { childPids, isAlive, request, runCli, startServer } from "../support/server.js";
import { waitForLoad } from "../support/status.js";

const packageVersion = (JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }).version;
const PY_APP = "tests/fixtures/pyapp:app";
const EXAMPLES = ["examples/myapp.py:app", "examples/myapp.ts:app"];

// Each of these runs its own processes: they run at once, which keeps the suite fast on two cores.
describe("command line", { concurrency: true }, () => {
  it("--version prints the package's name and version", async () => {
    const run = runCli(["--version"]);
    assert.equal(await run.exited, 0);
    assert.equal(run.out(), `neutrino-server ${packageVersion}\n`);
  });

  it("serve --help lists the options with their defaults", async () => {
    const run = runCli(["serve", "--help"]);
    assert.equal(await run.exited, 0);
    for (const flag of ["--workers", "--port", "--host", "--python", "--worker-concurrency", "--max-queue"]) {
      assert.match(run.out(), new RegExp(flag));
    }
    assert.match(run.out(), /default: \$WEB_CONCURRENCY, else 4/);
    assert.match(run.out(), /default: 64; a WSGI app: 1/);
    assert.match(run.out(), /default: \$PORT, else 8000/);
    assert.match(run.out(), /default: 127\.0\.0\.1, or 0\.0\.0\.0 when \$PORT gives the port/);
  });

  for (const example of EXAMPLES) {
    it(`routes prints the route table without serving (${example})`, async () => {
      const run = runCli(["routes", example]);
      assert.equal(await run.exited, 0, run.err());
      assert.equal(
        run.out(),
        `neutrino-server ${packageVersion}: routes of ${example}\nMETHODS    PATH\nGET, POST  /add\nPOST       /process\n`,
      );
    });
  }

  it("asks to name the file when APP matches both a Python and a TypeScript app", async () => {
    const run = runCli(["routes", "examples/myapp:app"]);
    assert.notEqual(await run.exited, 0);
    assert.match(run.err(), /examples\/myapp matches both examples\/myapp\.py and examples\/myapp\.ts: name the file/);
  });

  it("imports dotted packages from the current directory", async () => {
    const run = runCli(["routes", "tests.fixtures.pyapp:app"]);
    assert.equal(await run.exited, 0, run.err());
    assert.match(run.out(), /GET, POST\s+\/add/);
  });
});

describe("start-up failures: a clear message, a non-zero exit, the port never bound", { concurrency: true }, () => {
  const cases: { name: string; app: string; message: RegExp; traceback?: RegExp }[] = [
    { name: "a bad APP string", app: "myapp", message: /module:attribute/ },
    // Python
    { name: "a missing module", app: "tests.fixtures.nosuchmodule:app", message: /nosuchmodule/ },
    { name: "a missing attribute", app: "tests.fixtures.pyapp:nope", message: /nope/ },
    { name: "an attribute that is not an App", app: "tests.fixtures.not_an_app:helper", message: /not a neutrino App/i },
    {
      name: "an app that raises while importing",
      app: "tests.fixtures.raises_on_import:app",
      message: /ZeroDivisionError/,
      traceback: /Traceback[\s\S]*raises_on_import\.py/,
    },
    // TypeScript
    { name: "a missing export", app: "tests/fixtures/tsapp.ts:nope", message: /no export "nope"/ },
    { name: "an export that is not an App", app: "tests/fixtures/not_an_app.ts:helper", message: /not a neutrino App/i },
    {
      name: "a TypeScript app that throws while importing",
      app: "tests/fixtures/raises_on_import.ts:app",
      message: /RangeError: the app refuses to load/,
      traceback: /raises_on_import\.ts:4/,
    },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const port = await freePort();
      const run = runCli(["serve", c.app, "--port", String(port), "--workers", "2"]);
      const code = await run.exited;
      assert.notEqual(code, 0);
      assert.match(run.err(), c.message);
      if (c.traceback) assert.match(run.err(), c.traceback);
      assert.doesNotMatch(run.out(), /listening/);
      assert.equal(await canConnect(port), false, "nothing listens on the port");
    });
  }

  it("a --python that does not exist", async () => {
    const run = runCli(["serve", PY_APP, "--python", "/nonexistent/python3", "--port", "0"]);
    assert.notEqual(await run.exited, 0);
    assert.match(run.err(), /\/nonexistent\/python3.*not found/);
  });

  it("routes reports a broken app the same way", async () => {
    const run = runCli(["routes", "tests.fixtures.raises_on_import:app"]);
    assert.equal(await run.exited, 1);
    assert.match(run.err(), /ZeroDivisionError/);
  });
});

describe("graceful shutdown", () => {
  for (const [{ language, app }, signal] of testApps.flatMap((a) => [[a, "SIGTERM"], [a, "SIGINT"]] as const)) {
    it(`${signal} (${language}): in-flight requests finish, workers and the socket directory go, exit 0`, async () => {
      const server = await startServer(app, ["--workers", "2", "--status-page"]);
      const listening = server.logs().find((r) => r.url)!;
      const socketDir = listening.socketDir as string;
      assert.equal(statSync(socketDir).mode & 0o777, 0o700, "the socket directory is private");
      const workers = childPids(server.proc.pid!);
      assert.equal(workers.length, 2);

      const inflight = [request(`${server.url}/sleep?seconds=1.2`), request(`${server.url}/sleep?seconds=1.2`)];
      await waitForLoad(server, 2);
      const code = server.stop(signal);
      for (const r of await Promise.all(inflight)) assert.equal(r.status, 200);
      assert.equal(await code, 0);
      assert.equal(await canConnect(server.port), false);
      for (const pid of workers) assert.equal(isAlive(pid), false, `worker ${pid} is gone`);
      assert.equal(existsSync(socketDir), false, "the socket directory is removed");
    });
  }

  it("the pool starts in parallel and the banner lists every route and the address", async () => {
    const server = await startServer("examples/myapp.py:app", ["--workers", "3"]);
    try {
      const out = server.stdout();
      assert.match(out, /route GET, POST\s+\/add/);
      assert.match(out, /route POST\s+\/process/);
      assert.match(out, new RegExp(`listening on http://127\\.0\\.0\\.1:${server.port} with 3 workers`));
      assert.equal(childPids(server.proc.pid!).length, 3);
    } finally {
      await server.stop();
    }
    assert.equal(await server.stop(), 0);
  });
});

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}
