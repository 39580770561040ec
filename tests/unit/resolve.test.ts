/** APP resolution (which language serves it) and the runtime each language gets. */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { AppSpecError, parseAppSpec } from "../../src/shared/app-spec.js";
import { CONCURRENCY_ENV, concurrencyFrom } from "../../src/shared/concurrency.js";
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
  const resolve = (text: string) => resolveApp(parseAppSpec(text), cwd);

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

  it("falls back to Python when nothing matches, whose loader says what is missing", () => {
    assert.equal(resolve("nothing:app").language, "python");
    assert.equal(resolve("dir/nothing:app").language, "python");
  });
});

describe("worker runtimes", () => {
  const ts = { language: "node", app: parseAppSpec("examples/myapp.ts:app") } as const;
  const js = { language: "node", app: parseAppSpec("app.mjs:app") } as const;
  const py = { language: "python", app: parseAppSpec("myapp:app") } as const;

  it("starts Node workers with tsx for TypeScript only, and passes the concurrency", () => {
    const runtime = runtimeFor(ts, { workerConcurrency: 5 });
    assert.equal(runtime.name, "node");
    const tsCommand = runtime.command("/tmp/s.sock", "w0", ts.app);
    assert.equal(tsCommand.file, process.execPath);
    assert.deepEqual(tsCommand.args.slice(0, 1), ["--import"]);
    assert.match(tsCommand.args[1]!, /^file:\/\/.*tsx/);
    assert.match(tsCommand.args[2]!, /dist\/src\/node-worker\/main\.js$/);
    assert.deepEqual(tsCommand.args.slice(3), ["/tmp/s.sock", "w0", "examples/myapp.ts:app"]);
    assert.equal(tsCommand.env[CONCURRENCY_ENV], "5");
    const jsCommand = runtime.command("/tmp/s.sock", "w0", js.app);
    assert.match(jsCommand.args[0]!, /main\.js$/);
  });

  it("gives Node workers 64 requests at once by default", () => {
    assert.equal(runtimeFor(js, {}).command("/s", "w0", js.app).env[CONCURRENCY_ENV], "64");
    assert.equal(concurrencyFrom({}), 64);
    assert.equal(concurrencyFrom({ [CONCURRENCY_ENV]: "3" }), 3);
    assert.throws(() => concurrencyFrom({ [CONCURRENCY_ENV]: "0" }), RangeError);
  });

  it("passes the concurrency to Python workers too (used by apps with async routes)", () => {
    assert.equal(runtimeFor(py, { python: "/usr/bin/python3" }).command("/s", "w0", py.app).env[CONCURRENCY_ENV], "64");
    assert.equal(runtimeFor(py, { workerConcurrency: 4 }).command("/s", "w0", py.app).env[CONCURRENCY_ENV], "4");
  });
});
