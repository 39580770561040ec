/**
 * The Python interpreter, through the real CLI: a project's .venv (made by `python -m venv
 * --without-pip`, which is quick) is used when neither --python nor VIRTUAL_ENV says otherwise,
 * the start-up log says which interpreter and why, and a module that cannot be imported gets a
 * hint naming the interpreter and --python.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { request, runCli, startServer } from "../support/server.js";

const APP = `import sys
from neutrino import App

app = App()

@app.route("/python")
def python():
    return {"executable": sys.executable, "prefix": sys.prefix}
`;

const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** No virtualenv of the test run's own may leak into the server's choice. */
const NO_ACTIVE_VENV = { VIRTUAL_ENV: undefined };

describe("a project's virtualenv", () => {
  let dir: string;
  let venv: string;
  before(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "neutrino-venv-")));
    mkdirSync(join(dir, "project"));
    writeFileSync(join(dir, "project", "app.py"), APP);
    venv = join(dir, "project", ".venv");
    execFileSync("python3", ["-m", "venv", "--without-pip", venv]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("is chosen from the app's folder, and from the current directory; the log says which and why", async () => {
    for (const [cwd, app] of [
      [join(dir, "project"), "app:app"],
      [dir, "project/app.py:app"],
    ] as const) {
      const server = await startServer(app, ["--workers", "1"], { cwd, env: NO_ACTIVE_VENV });
      try {
        const python = join(venv, "bin", "python");
        assert.match(server.stdout(), new RegExp(escape(`loading ${app} with ${python} (the project's virtualenv ${venv})`)));
        const reply = await request(`${server.url}/python`);
        assert.equal(reply.json.executable, python, `${app} from ${cwd}`);
        assert.equal(reply.json.prefix, venv);
      } finally {
        await server.stop();
      }
      assert.equal(await server.stop(), 0);
    }
  });

  it("--python and VIRTUAL_ENV win over it", async () => {
    const system = execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim();
    const server = await startServer("app:app", ["--workers", "1", "--python", system], { cwd: join(dir, "project"), env: NO_ACTIVE_VENV });
    try {
      assert.match(server.stdout(), /\(--python\)/);
      assert.equal((await request(`${server.url}/python`)).json.executable, system);
    } finally {
      await server.stop();
    }
    const other = join(dir, "other-venv");
    execFileSync("python3", ["-m", "venv", "--without-pip", other]);
    const active = await startServer("app:app", ["--workers", "1"], { cwd: join(dir, "project"), env: { VIRTUAL_ENV: other } });
    try {
      assert.match(active.stdout(), /\(the active virtualenv \(VIRTUAL_ENV\)\)/);
      assert.equal((await request(`${active.url}/python`)).json.prefix, other);
    } finally {
      await active.stop();
    }
  });
});

describe("a module that cannot be imported", () => {
  let dir: string;
  before(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), "neutrino-venv-hint-")));
    writeFileSync(join(dir, "needs_dep.py"), "import neutrino_test_not_installed_anywhere\nfrom neutrino import App\napp = App()\n");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a missing dependency: the error is followed by a hint naming the interpreter and --python", async () => {
    const run = runCli(["serve", "needs_dep:app", "--port", "0", "--workers", "1"], { cwd: dir, env: NO_ACTIVE_VENV });
    assert.equal(await run.exited, 1);
    const err = run.err();
    assert.match(err, /neutrino: cannot serve needs_dep:app: .*ModuleNotFoundError: No module named 'neutrino_test_not_installed_anywhere'/);
    assert.match(
      err,
      /\nhint: the workers run python3 \(python3 from PATH: no --python, no VIRTUAL_ENV, no \.venv or venv in \S+\), which cannot import that module; .*--python PATH/,
    );
  });

  it("APP's own module missing: the hint names the interpreter, --app-dir and --python", async () => {
    const run = runCli(["serve", "no_such_module:app", "--port", "0", "--workers", "1", "--python", "python3"], { cwd: dir, env: NO_ACTIVE_VENV });
    assert.equal(await run.exited, 1);
    assert.match(run.err(), /module 'no_such_module' not found/);
    assert.match(run.err(), /\nhint: the workers run python3 \(--python\); .*--app-dir DIR.*--python PATH/);
  });

  it("`neutrino routes` gives the same hint", async () => {
    const run = runCli(["routes", "needs_dep:app"], { cwd: dir, env: NO_ACTIVE_VENV });
    assert.equal(await run.exited, 1);
    assert.match(run.err(), /\nhint: the workers run python3 .*--python PATH/);
  });
});
