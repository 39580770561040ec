/** APP resolution (which language serves it) and the runtime each language gets. */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AppSpecError, parseAppSpec } from "../../src/shared/app-spec.js";
import { CONCURRENCY_ENV, concurrencyFrom } from "../../src/shared/concurrency.js";
import { FACTORY_ENV } from "../../src/shared/interface.js";
import { StartupFailure } from "../../src/shared/startup-failure.js";
import { appDirectory, choosePython } from "../../src/orchestrator/runtimes/interpreter.js";
import { resolveApp } from "../../src/orchestrator/runtimes/resolve.js";
import { runtimeFor } from "../../src/orchestrator/runtimes/select.js";

describe("APP resolution", () => {
  let cwd: string;
  before(() => {
    cwd = mkdtempSync(join(tmpdir(), "neutrino-resolve-"));
    for (const file of ["both.py", "both.ts", "py_only.py", "js_only.mjs", "pkg/__init__.py", "pkg.ts", "order.js", "order.ts", "sub/ts_only.ts", "a/b.ts"]) {
      mkdirSync(dirname(join(cwd, file)), { recursive: true });
      writeFileSync(join(cwd, file), "");
    }
  });
  after(() => rmSync(cwd, { recursive: true, force: true }));
  const resolve = (text: string, appDir?: string) => resolveApp(parseAppSpec(text), appDir, cwd);

  it("an extension decides, whether or not the file exists", () => {
    assert.deepEqual(resolve("both.ts:app"), { language: "node", app: parseAppSpec("both.ts:app") });
    assert.equal(resolve("both.py:app").language, "python");
    for (const ext of ["mts", "cts", "js", "mjs", "cjs"]) assert.equal(resolve(`missing.${ext}:app`).language, "node");
  });

  it("finds the Node file beside a name without extension and names it for the worker", () => {
    assert.deepEqual(resolve("sub/ts_only:app"), {
      language: "node",
      app: { text: "sub/ts_only.ts:app", module: "sub/ts_only.ts", attribute: "app" },
    });
    assert.equal(resolve("js_only:app").app.text, "js_only.mjs:app");
    assert.equal(resolve("order:app").app.text, "order.ts:app", ".ts before .js");
  });

  it("leaves Python's names as they are", () => {
    assert.deepEqual(resolve("py_only:app"), { language: "python", app: parseAppSpec("py_only:app") });
  });

  it("treats a dotted name as a Python module, even beside a Node file", () => {
    assert.equal(resolve("a.b:app").language, "python");
  });

  it("asks to name the file when both a Python and a Node app match", () => {
    assert.throws(
      () => resolve("both:app"),
      (e: unknown) =>
        e instanceof AppSpecError && e.message === "both matches both both.py and both.ts: name the file, e.g. both.ts:app or both.py:app",
    );
    assert.throws(() => resolve("pkg:app"), /matches both pkg\/__init__\.py and pkg\.ts/, "a package counts as Python");
  });

  it("--app-dir: files are looked for there and named for the worker from the current directory", () => {
    assert.deepEqual(resolve("ts_only:app", "sub"), { language: "node", app: parseAppSpec("sub/ts_only.ts:app") });
    assert.equal(resolve("b.ts:app", "a").app.text, "a/b.ts:app");
    assert.equal(resolve("main.py:app", "a").app.text, "a/main.py:app");
    assert.equal(resolve("x/main:app", "a").app.text, "a/x/main:app");
    assert.equal(resolve("/srv/main.py:app", "a").app.text, "/srv/main.py:app", "an absolute path stays as it is");
    assert.deepEqual(resolve("main:app", "a"), { language: "python", app: parseAppSpec("main:app") }, "a module name is imported from the folder");
  });

  it("falls back to Python when nothing matches, whose loader says what is missing", () => {
    assert.equal(resolve("nothing:app").language, "python");
    assert.equal(resolve("dir/nothing:app").language, "python");
  });
});

describe("worker runtimes", () => {
  const ts = { language: "node", app: parseAppSpec("examples/myapp.ts:app") } as const;
  const js = { language: "node", app: parseAppSpec("app.mjs:app") } as const;
  const py = { language: "python", app: parseAppSpec("myapp:app") } as const;

  it("starts Node workers on the worker's main file, which loads tsx itself, and passes the concurrency", () => {
    const runtime = runtimeFor(ts, { workerConcurrency: 5 });
    assert.equal(runtime.name, "node");
    const tsCommand = runtime.command("/tmp/s.sock", "w0", ts.app);
    assert.equal(tsCommand.file, process.execPath);
    assert.match(tsCommand.args[0]!, /dist\/src\/node-worker\/main\.js$/);
    assert.deepEqual(tsCommand.args.slice(1), ["/tmp/s.sock", "w0", "examples/myapp.ts:app"]);
    assert.equal(tsCommand.env[CONCURRENCY_ENV], "5");
    const jsCommand = runtime.command("/tmp/s.sock", "w0", js.app);
    assert.deepEqual(jsCommand.args.slice(1), ["/tmp/s.sock", "w0", "app.mjs:app"]);
  });

  it("gives Node workers 64 requests at once by default", () => {
    assert.equal(runtimeFor(js, {}).command("/s", "w0", js.app).env[CONCURRENCY_ENV], "64");
    assert.equal(concurrencyFrom({}), 64);
    assert.equal(concurrencyFrom({ [CONCURRENCY_ENV]: "3" }), 3);
    assert.throws(() => concurrencyFrom({ [CONCURRENCY_ENV]: "0" }), RangeError);
  });

  it("passes the concurrency to Python workers only when given: unset, the worker picks its app kind's default", () => {
    process.env[CONCURRENCY_ENV] = "9"; // inherited from the orchestrator's environment, not given
    try {
      assert.equal(runtimeFor(py, { python: "/usr/bin/python3" }).command("/s", "w0", py.app).env[CONCURRENCY_ENV], undefined);
    } finally {
      delete process.env[CONCURRENCY_ENV];
    }
    assert.equal(runtimeFor(py, { python: "/usr/bin/python3", workerConcurrency: 4 }).command("/s", "w0", py.app).env[CONCURRENCY_ENV], "4");
  });
});

describe("the Python interpreter", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "neutrino-interpreter-"));
    for (const venv of ["app/.venv", "cwd/venv", "notexec/.venv"]) {
      mkdirSync(join(dir, venv, "bin"), { recursive: true });
      writeFileSync(join(dir, venv, "bin", "python"), "#!/bin/sh\n");
      chmodSync(join(dir, venv, "bin", "python"), venv.startsWith("notexec") ? 0o644 : 0o755);
    }
    mkdirSync(join(dir, "empty"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("--python, else VIRTUAL_ENV, else .venv or venv in the app's folder, then the current one, else python3", () => {
    const cwd = join(dir, "cwd");
    assert.deepEqual(choosePython("/opt/py", join(dir, "app"), { VIRTUAL_ENV: "/v" }, cwd), { path: "/opt/py", why: "--python" });
    assert.equal(choosePython(undefined, join(dir, "app"), { VIRTUAL_ENV: "/v" }, cwd).path, "/v/bin/python");
    const project = choosePython(undefined, join(dir, "app"), {}, cwd);
    assert.equal(project.path, join(dir, "app", ".venv", "bin", "python"));
    assert.match(project.why, /the project's virtualenv .*app\/\.venv/);
    assert.equal(choosePython(undefined, join(dir, "empty"), {}, cwd).path, join(cwd, "venv", "bin", "python"));
    const none = choosePython(undefined, join(dir, "notexec"), {}, join(dir, "empty"));
    assert.equal(none.path, "python3", "a python that is not executable is not used");
    assert.match(none.why, /no \.venv or venv in .*notexec or .*empty/);
  });

  it("the app's folder is that of its file, else --app-dir, else the current directory", () => {
    assert.equal(appDirectory(parseAppSpec("src/main.py:app"), undefined, "/p"), "/p/src");
    assert.equal(appDirectory(parseAppSpec("main.py:app"), "back", "/p"), "/p/back");
    assert.equal(appDirectory(parseAppSpec("pkg.main:app"), "back", "/p"), "/p/back");
    assert.equal(appDirectory(parseAppSpec("pkg.main:app"), undefined, "/p"), "/p");
  });

  it("a module that cannot be imported gets a hint naming the interpreter and --python", () => {
    const py = { language: "python", app: parseAppSpec("myapp:app") } as const;
    const runtime = runtimeFor(py, { python: "/opt/py" });
    const missingDependency = new StartupFailure("import_error", "importing 'myapp' failed: ModuleNotFoundError: No module named 'fastapi'");
    assert.match(runtime.startupHint!(missingDependency)!, /^hint: the workers run \/opt\/py \(--python\), .*--python PATH/);
    assert.match(runtime.startupHint!(new StartupFailure("module_not_found", "module 'myapp' not found"))!, /\/opt\/py.*--app-dir DIR.*--python PATH/);
    assert.equal(runtime.startupHint!(new StartupFailure("import_error", "importing 'myapp' failed: ZeroDivisionError")), null);
  });

  it("--factory reaches both runtimes' workers as NEUTRINO_FACTORY=1, and only then", () => {
    const py = { language: "python", app: parseAppSpec("myapp:create_app") } as const;
    const js = { language: "node", app: parseAppSpec("app.mjs:create") } as const;
    for (const app of [py, js]) {
      assert.equal(runtimeFor(app, { factory: true }).command("/s", "w0", app.app).env[FACTORY_ENV], "1");
      assert.equal(runtimeFor(app, {}).command("/s", "w0", app.app).env[FACTORY_ENV], undefined);
    }
  });
});
