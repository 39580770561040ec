/** Options from NEUTRINO_* variables and from neutrino.toml / pyproject.toml, through the real CLI. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { repoRoot } from "../support/paths.js";
import { freePort } from "../support/ports.js";
import { request, runCli, startServer, type RunningServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";

const APP = join(repoRoot, "tests", "fixtures", "pyapp.py") + ":app";

/** The `workers` field of the "listening" log record. */
function listeningWorkers(server: RunningServer): unknown {
  return server.logs().find((r) => typeof r.url === "string")?.workers;
}

/** `neutrino serve APP` without --port, as a platform runs it; resolves with the "listening" log record. */
async function serveUntilListening(env: NodeJS.ProcessEnv, flags: string[], cwd: string) {
  const run = runCli(["serve", APP, ...flags], { cwd, env });
  await waitFor(() => /"url":/.test(run.out()) || run.proc.exitCode !== null, 30_000, "the listening log line");
  const records = run.out().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { run, records, listening: records.find((r) => typeof r.url === "string") };
}

describe("configuration from the environment and a config file", () => {
  let dir: string;
  let server: RunningServer | undefined;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "neutrino-config-"));
  });
  afterEach(async () => {
    await server?.stop();
    server = undefined;
    rmSync(join(dir, "neutrino.toml"), { force: true });
    rmSync(join(dir, "pyproject.toml"), { force: true });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("NEUTRINO_WORKERS sets the number of workers", async () => {
    server = await startServer(APP, [], { cwd: dir, env: { NEUTRINO_WORKERS: "3" } });
    assert.equal(listeningWorkers(server), 3);
  });

  it("neutrino.toml sets the number of workers", async () => {
    writeFileSync(join(dir, "neutrino.toml"), "workers = 3\n");
    server = await startServer(APP, [], { cwd: dir });
    assert.equal(listeningWorkers(server), 3);
  });

  it("[tool.neutrino] in pyproject.toml is read when there is no neutrino.toml; max_queue spelling works", async () => {
    writeFileSync(join(dir, "pyproject.toml"), '[project]\nname = "x"\n\n[tool.neutrino]\nworkers = 2\nmax_queue = 10\n');
    server = await startServer(APP, [], { cwd: dir });
    assert.equal(listeningWorkers(server), 2);
  });

  it("a flag beats the environment, which beats the file", async () => {
    writeFileSync(join(dir, "neutrino.toml"), "workers = 1\n");
    server = await startServer(APP, [], { cwd: dir, env: { NEUTRINO_WORKERS: "2" } });
    assert.equal(listeningWorkers(server), 2, "env over file");
    await server.stop();
    server = await startServer(APP, ["--workers", "3"], { cwd: dir, env: { NEUTRINO_WORKERS: "2" } });
    assert.equal(listeningWorkers(server), 3, "flag over env");
  });

  it("APP and the port may come from the file", async () => {
    writeFileSync(join(dir, "neutrino.toml"), `app = ${JSON.stringify(APP)}\nport = 0\nworkers = 1\n`);
    const run = runCli(["serve"], { cwd: dir });
    try {
      await waitFor(() => /"url":/.test(run.out()), 30_000, "the listening log line");
      assert.match(run.out(), /"workers":1/, run.err());
    } finally {
      run.proc.kill("SIGTERM");
      await run.exited;
    }
  });

  it("on/off options take true/false from the environment and the file", async () => {
    server = await startServer(APP, [], { cwd: dir, env: { NEUTRINO_RELOAD: "true" } });
    const reloading = server;
    await waitFor(() => /watching .* for changes/.test(reloading.stdout()));
    await server.stop();
    writeFileSync(join(dir, "neutrino.toml"), "reload = false\n");
    server = await startServer(APP, [], { cwd: dir });
    assert.equal(await server.stop(), 0);
    assert.doesNotMatch(server.stdout(), /watching/);
    const bad = runCli(["serve", APP, "--port", "0"], { cwd: dir, env: { NEUTRINO_RELOAD: "maybe" } });
    assert.equal(await bad.exited, 2);
    assert.match(bad.err(), /NEUTRINO_RELOAD: must be true or false/);
  });

  it("the --no- form of an on/off option is a variable and a key too: NEUTRINO_NO_DOCS=true turns the docs off", async () => {
    server = await startServer(APP, ["--workers", "1"], { cwd: dir, env: { NEUTRINO_NO_DOCS: "true" } });
    assert.equal((await request(`${server.url}/openapi.json`)).status, 404);
    await server.stop();
    writeFileSync(join(dir, "neutrino.toml"), "no-docs = false\n");
    server = await startServer(APP, ["--workers", "1"], { cwd: dir });
    assert.equal((await request(`${server.url}/openapi.json`)).status, 200);
  });

  it("a bad environment value exits 2 naming the variable", async () => {
    const run = runCli(["serve", APP, "--port", "0"], { cwd: dir, env: { NEUTRINO_WORKERS: "0" } });
    assert.equal(await run.exited, 2);
    assert.match(run.err(), /^neutrino: NEUTRINO_WORKERS: must be a whole number from 1 to 1024/);
  });

  it("an unknown key and a bad value in the file exit 2 naming the key", async () => {
    writeFileSync(join(dir, "neutrino.toml"), "wrokers = 2\n");
    let run = runCli(["serve", APP, "--port", "0"], { cwd: dir });
    assert.equal(await run.exited, 2);
    assert.match(run.err(), /^neutrino: neutrino\.toml: unknown key "wrokers"/);

    writeFileSync(join(dir, "neutrino.toml"), 'workers = "many"\n');
    run = runCli(["serve", APP, "--port", "0"], { cwd: dir });
    assert.equal(await run.exited, 2);
    assert.match(run.err(), /^neutrino: neutrino\.toml: workers: must be a whole number/);
  });

  it("--config names another file", async () => {
    const other = join(dir, "other.toml");
    writeFileSync(other, "workers = 2\n");
    try {
      server = await startServer(APP, ["--config", other], { cwd: dir });
      assert.equal(listeningWorkers(server), 2);
    } finally {
      rmSync(other, { force: true });
    }
  });

  it("WEB_CONCURRENCY, as gunicorn and uvicorn read it, sets the workers; a flag, NEUTRINO_WORKERS or the file wins", async () => {
    server = await startServer(APP, [], { cwd: dir, env: { WEB_CONCURRENCY: "3" } });
    assert.equal(listeningWorkers(server), 3);
    assert.ok(server.logs().some((r) => /WEB_CONCURRENCY=3 for --workers/.test(String(r.msg))), "the log says why");
    await server.stop();
    server = await startServer(APP, [], { cwd: dir, env: { WEB_CONCURRENCY: "3", NEUTRINO_WORKERS: "2" } });
    assert.equal(listeningWorkers(server), 2, "NEUTRINO_WORKERS over WEB_CONCURRENCY");
    await server.stop();
    writeFileSync(join(dir, "neutrino.toml"), "workers = 1\n");
    server = await startServer(APP, [], { cwd: dir, env: { WEB_CONCURRENCY: "3" } });
    assert.equal(listeningWorkers(server), 1, "the file over WEB_CONCURRENCY");
    assert.ok(!server.logs().some((r) => /WEB_CONCURRENCY/.test(String(r.msg))), "an unused variable is not named");
    await server.stop();
    server = undefined;
    rmSync(join(dir, "neutrino.toml"));
    const bad = runCli(["serve", APP, "--port", "0"], { cwd: dir, env: { WEB_CONCURRENCY: "lots" } });
    assert.equal(await bad.exited, 2);
    assert.match(bad.err(), /^neutrino: WEB_CONCURRENCY: must be a whole number from 1 to 1024/);
  });

  it("PORT, as gunicorn reads it, is the port and makes the default host 0.0.0.0; --host and NEUTRINO_PORT win", async () => {
    const port = await freePort();
    let { run, listening, records } = await serveUntilListening({ PORT: String(port) }, ["--workers", "1"], dir);
    try {
      assert.equal(listening?.url, `http://0.0.0.0:${port}`, run.out() + run.err());
      assert.ok(records.some((r) => /PORT=\d+ for --port, --host 0\.0\.0\.0 with PORT/.test(String(r.msg))), "the log says why");
      assert.deepEqual((await request(`http://127.0.0.1:${port}/add?x=1&y=2`)).json, { result: 3 });
    } finally {
      run.proc.kill("SIGTERM");
      await run.exited;
    }
    ({ run, listening } = await serveUntilListening({ PORT: String(port) }, ["--workers", "1", "--host", "127.0.0.1"], dir));
    try {
      assert.equal(listening?.url, `http://127.0.0.1:${port}`, "--host keeps its address, PORT still the port");
    } finally {
      run.proc.kill("SIGTERM");
      await run.exited;
    }
    ({ run, listening } = await serveUntilListening({ PORT: String(port), NEUTRINO_PORT: "0" }, ["--workers", "1"], dir));
    try {
      assert.match(String(listening?.url), /^http:\/\/127\.0\.0\.1:\d+$/, "NEUTRINO_PORT over PORT, and the host stays");
      assert.notEqual(listening?.port, port);
    } finally {
      run.proc.kill("SIGTERM");
      await run.exited;
    }
    const bad = runCli(["serve", APP], { cwd: dir, env: { PORT: "http" } });
    assert.equal(await bad.exited, 2);
    assert.match(bad.err(), /^neutrino: PORT: must be a whole number from 0 to 65535/);
  });
});
