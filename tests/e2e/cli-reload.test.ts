/**
 * --reload-dir, --reload-include and --reload-exclude through the real CLI, for both runtimes. A
 * change that must not reload is made first, then one that must: the watcher reports changes in
 * the order they happen (each one in a debug log line), so once the second has reloaded the app,
 * the first would have been seen if it counted.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, it } from "node:test";
import { repoRoot } from "../support/paths.js";
import { request, startServer, type RunningServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";

const SDK_URL = pathToFileURL(join(repoRoot, "dist", "src", "sdk", "index.js")).href;

const APPS = {
  python: {
    file: "app.py",
    source: (version: number) => `from neutrino import App\n\napp = App()\n\n@app.route("/version")\ndef version():\n    return {"version": ${version}}\n`,
  },
  typescript: {
    file: "app.mjs",
    source: (version: number) => `import { App } from ${JSON.stringify(SDK_URL)};\n\nexport const app = new App();\napp.route("/version", () => ({ version: ${version} }));\n`,
  },
} as const;

for (const [language, { file, source }] of Object.entries(APPS)) {
  describe(`--reload with folders and globs (${language})`, () => {
    let dir: string;
    let server: RunningServer | undefined;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), "neutrino-reload-"));
      mkdirSync(join(dir, "src", "generated"), { recursive: true });
      mkdirSync(join(dir, "templates"));
      writeFileSync(join(dir, "src", file), source(1));
    });
    afterEach(async () => {
      if (server) assert.equal(await server.stop(), 0);
      server = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    const version = async (): Promise<number> => (await request(`${server!.url}/version`)).json.version;
    /** Every change the watcher reported (debug log lines), and the reloads it started. */
    const seen = (): string[] => server!.logs().flatMap((r) => (typeof r.path === "string" && typeof r.event === "string" ? [r.path] : []));
    const reloads = (): number => (server!.stdout().match(/reloaded: \d+ new workers serving/g) ?? []).length;

    it("--reload-dir: a change in that folder reloads; one outside it is not even watched", async () => {
      server = await startServer(`src/${file}:app`, ["--workers", "1", "--reload", "--reload-dir", "src", "--log-level", "debug"], { cwd: dir });
      await waitFor(() => /watching .*src for changes/.test(server!.stdout()), 10_000, "the watching line");
      assert.equal(await version(), 1);
      writeFileSync(join(dir, "outside.py"), "x = 1\n");
      writeFileSync(join(dir, "src", file), source(2));
      await waitFor(() => reloads() >= 1, 60_000, () => `a reload (log: ${server!.stdout().slice(-3000)})`);
      assert.equal(await version(), 2);
      assert.ok(!seen().some((p) => p.endsWith("outside.py")), `outside.py is not watched (${seen().join(", ")})`);
    });

    it("--reload-exclude ignores a matching change; --reload-include makes a non-source file count", async () => {
      server = await startServer(
        `src/${file}:app`,
        ["--workers", "1", "--reload", "--reload-exclude", "src/generated/**", "--reload-exclude", "*.tmp.py", "--reload-include", "*.html", "--log-level", "debug"],
        { cwd: dir },
      );
      await waitFor(() => /watching .* for changes/.test(server!.stdout()), 10_000, "the watching line");
      writeFileSync(join(dir, "src", "generated", "schema.py"), "x = 1\n");
      writeFileSync(join(dir, "src", "scratch.tmp.py"), "x = 1\n");
      writeFileSync(join(dir, "src", file), source(2));
      await waitFor(() => reloads() >= 1, 60_000, () => `a reload (log: ${server!.stdout().slice(-3000)})`);
      assert.equal(await version(), 2);
      const excluded = seen().filter((p) => p.includes("generated") || p.endsWith("scratch.tmp.py"));
      assert.deepEqual(excluded, [], "excluded changes are never seen");

      // An editor's save can be two events a moment apart, so count reloads from here on.
      const before = reloads();
      writeFileSync(join(dir, "templates", "page.html"), "<p>hi</p>");
      await waitFor(() => /page\.html changed: reloading/.test(server!.stdout()) && reloads() > before, 60_000, "a reload for the template");
    });
  });
}
