/**
 * Command-line niceties through the real CLI: a malformed APP answered in one line, --env-file,
 * --app-dir and --factory, for both runtimes. The apps live in temporary folders; the Node one
 * imports the SDK by its file URL, as it has no node_modules of its own.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import { repoRoot } from "../support/paths.js";
import { request, runCli, startServer } from "../support/server.js";

const SDK_URL = pathToFileURL(join(repoRoot, "dist", "src", "sdk", "index.js")).href;

/** The same app in each language: /env?name=X answers the variable X as the worker sees it. */
const APPS = {
  python: {
    file: "envapp.py",
    source: `import os
from neutrino import App

app = App()

@app.route("/env")
def env(name: str):
    return {"value": os.environ.get(name)}

def create_app():
    made = App()

    @made.route("/made")
    def made_route():
        return {"made": "by the factory"}

    return made
`,
  },
  typescript: {
    file: "envapp.mjs",
    source: `import { App } from ${JSON.stringify(SDK_URL)};

export const app = new App();
app.route("/env", ({ name }) => ({ value: process.env[name] ?? null }));

export function create_app() {
  const made = new App();
  made.route("/made", () => ({ made: "by the factory" }));
  return made;
}
`,
  },
} as const;

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), "neutrino-cli-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe("a malformed APP", () => {
  for (const [args, env, expected] of [
    [["serve", "myapp"], {}, 'neutrino: "myapp" is not module:attribute or file:attribute: try "myapp:app"'],
    [["serve", "src/main.py"], {}, 'neutrino: "src/main.py" is not module:attribute or file:attribute: try "src/main.py:app"'],
    [["serve", "myapp:"], {}, 'neutrino: "myapp:" is not module:attribute or file:attribute: try "myapp:app"'],
    [["serve", "myapp:my-app"], {}, 'neutrino: "my-app" in "myapp:my-app" is not a valid attribute name: try "myapp:app"'],
    [["serve"], { NEUTRINO_APP: "myapp" }, 'neutrino: NEUTRINO_APP: "myapp" is not module:attribute or file:attribute: try "myapp:app"'],
    [["routes", "myapp"], {}, 'neutrino: "myapp" is not module:attribute or file:attribute: try "myapp:app"'],
  ] as const) {
    it(`${[...args].join(" ")}${env.NEUTRINO_APP ? ` (NEUTRINO_APP=${env.NEUTRINO_APP})` : ""}: one line saying what to write, exit code 2, no --help`, async () => {
      const run = runCli([...args], { env });
      assert.equal(await run.exited, 2);
      assert.equal(run.err(), `${expected}\n`);
      assert.equal(run.out(), "");
    });
  }

  it("an APP both a Python and a Node file match: one line naming both, exit code 2", async () => {
    const dir = scratch();
    writeFileSync(join(dir, "both.py"), "");
    writeFileSync(join(dir, "both.ts"), "");
    const run = runCli(["serve", "both:app"], { cwd: dir });
    assert.equal(await run.exited, 2);
    assert.equal(run.err(), "neutrino: both matches both both.py and both.ts: name the file, e.g. both.ts:app or both.py:app\n");
  });
});

for (const [language, { file, source }] of Object.entries(APPS)) {
  describe(`--env-file and --app-dir (${language})`, () => {
    let dir: string;
    after(() => rmSync(dir, { recursive: true, force: true }));
    before(() => {
      dir = mkdtempSync(join(tmpdir(), "neutrino-cli-"));
      mkdirSync(join(dir, "backend"));
      writeFileSync(join(dir, "backend", file), source);
      writeFileSync(
        join(dir, ".env"),
        [
          "# the app's settings",
          "GREETING=hello from .env",
          'QUOTED="two words"',
          "export EXPORTED=yes",
          "ALREADY_SET=from the file",
          "NEUTRINO_WORKERS=3",
          "NEUTRINO_HEALTH_PATH=/alive",
          "NEUTRINO_READY_PATH=/ready-from-file",
          "",
        ].join("\n"),
      );
    });

    it("the file's variables reach the handlers and set NEUTRINO_* options; the environment and flags win", async () => {
      const server = await startServer(`${file}:app`, ["--app-dir", "backend", "--env-file", ".env", "--ready-path", "/ready-from-flag"], {
        cwd: dir,
        env: { ALREADY_SET: "from the environment" },
      });
      try {
        const value = async (name: string): Promise<unknown> => (await request(`${server.url}/env?name=${name}`)).json.value;
        assert.equal(await value("GREETING"), "hello from .env");
        assert.equal(await value("QUOTED"), "two words");
        assert.equal(await value("EXPORTED"), "yes");
        assert.equal(await value("ALREADY_SET"), "from the environment");
        assert.match(server.stdout(), /listening on \S+ with 3 workers/, "NEUTRINO_WORKERS from the file");
        assert.equal((await request(`${server.url}/alive`)).status, 200, "NEUTRINO_HEALTH_PATH from the file");
        assert.equal((await request(`${server.url}/ready-from-flag`)).status, 200, "the flag wins over the file");
        assert.equal((await request(`${server.url}/ready-from-file`)).status, 404);
      } finally {
        await server.stop();
      }
      assert.equal(await server.stop(), 0);
    });

    it("NEUTRINO_ENV_FILE names the file too; a missing file stops the server with an error naming it", async () => {
      const server = await startServer(`${file}:app`, ["--app-dir", "backend", "--workers", "1"], { cwd: dir, env: { NEUTRINO_ENV_FILE: ".env" } });
      try {
        assert.equal((await request(`${server.url}/env?name=GREETING`)).json.value, "hello from .env");
      } finally {
        await server.stop();
      }
      const run = runCli(["serve", `${file}:app`, "--app-dir", "backend"], { cwd: dir, env: { NEUTRINO_ENV_FILE: "missing.env" } });
      assert.equal(await run.exited, 2);
      assert.equal(run.err(), "neutrino: NEUTRINO_ENV_FILE: cannot read missing.env: ENOENT\n");
      // Node itself looks at --env-file wherever it is on its command line and refuses a missing
      // file before the CLI runs (nodejs/node#54232): the server does not start either way.
      const flag = runCli(["serve", `${file}:app`, "--app-dir", "backend", "--env-file", "missing.env"], { cwd: dir });
      assert.notEqual(await flag.exited, 0);
      assert.match(flag.err(), /missing\.env/);
      assert.doesNotMatch(flag.out(), /listening/);
    });

    it("env-file in neutrino.toml is read before the other options; a missing one names the key", async () => {
      const project = mkdtempSync(join(tmpdir(), "neutrino-cli-toml-"));
      try {
        writeFileSync(join(project, "neutrino.toml"), `env-file = "${join(dir, ".env")}"\napp-dir = "${join(dir, "backend")}"\n`);
        const server = await startServer("envapp:app", ["--workers", "1"], { cwd: project });
        try {
          assert.equal((await request(`${server.url}/env?name=QUOTED`)).json.value, "two words");
          assert.equal((await request(`${server.url}/alive`)).status, 200, "NEUTRINO_HEALTH_PATH from the env file");
        } finally {
          await server.stop();
        }
        writeFileSync(join(project, "neutrino.toml"), 'env-file = "gone.env"\n');
        const run = runCli(["serve", "envapp:app"], { cwd: project });
        assert.equal(await run.exited, 2);
        assert.equal(run.err(), "neutrino: neutrino.toml: env-file: cannot read gone.env: ENOENT\n");
      } finally {
        rmSync(project, { recursive: true, force: true });
      }
    });

    it("--app-dir: APP's module is found in that folder; a folder that does not exist is a usage error", async () => {
      const server = await startServer("envapp:app", ["--app-dir", join(dir, "backend"), "--workers", "1"], { cwd: dir });
      try {
        assert.deepEqual((await request(`${server.url}/env?name=HOME`)).json, { value: process.env.HOME ?? null });
      } finally {
        await server.stop();
      }
      const run = runCli(["serve", "envapp:app", "--app-dir", "nowhere"], { cwd: dir });
      assert.equal(await run.exited, 2);
      assert.match(run.err(), /--app-dir <dir>.*directory nowhere does not exist/);
    });

    it("--factory: APP names a function whose result is served", async () => {
      const server = await startServer(`${file}:create_app`, ["--app-dir", "backend", "--workers", "1", "--factory"], { cwd: dir });
      try {
        assert.deepEqual((await request(`${server.url}/made`)).json, { made: "by the factory" });
      } finally {
        await server.stop();
      }
    });

    it("--factory on an app that is not a function fails start-up saying so", async () => {
      const run = runCli(["serve", `${file}:app`, "--app-dir", "backend", "--workers", "1", "--factory"], { cwd: dir });
      assert.equal(await run.exited, 1);
      assert.match(run.err(), /not a function: --factory needs APP to name a function that returns the app/);
    });
  });
}
