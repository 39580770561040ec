/** Options from NEUTRINO_* variables and from neutrino.toml / pyproject.toml, through the real CLI. */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, describe, it } from "node:test";
import { repoRoot } from "../support/paths.js";
import { request, runCli, startServer, type RunningServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";

const APP = join(repoRoot, "tests", "fixtures", "pyapp.py") + ":app";

/** The `workers` field of the "listening" log record. */
function listeningWorkers(server: RunningServer): unknown {
  return server.logs().find((r) => typeof r.url === "string")?.workers;
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
});
