/**
 * The package as a consumer gets it: `npm pack`, installed from the tarball into a scratch project,
 * serving a Python and a TypeScript app through its own `neutrino` command; and the Python SDK built
 * as a wheel from the shipped copy and installed into a fresh virtualenv.
 */
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { brokenLinks } from "../support/links.js";
import { repoRoot } from "../support/paths.js";
import { childPids, isAlive, request, startServer } from "../support/server.js";
import { waitFor } from "../support/wait.js";

const run = promisify(execFile);
const { name, version } = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { name: string; version: string };

describe("the npm package and the Python distribution", () => {
  let scratch: string;
  let tarball: string;
  let shipped: string[];
  let installed: string;
  let cli: string;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), "neutrino-package-"));
    // --ignore-scripts: pack the dist/ this test runs from rather than rebuilding it.
    const { stdout } = await run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", scratch], { cwd: repoRoot });
    const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
    tarball = join(scratch, packed!.filename);
    shipped = packed!.files.map((f) => f.path);
    writeFileSync(join(scratch, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }));
    // The dependencies come from npm's cache when it has them, else from the registry.
    await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", tarball], { cwd: scratch });
    installed = join(scratch, "node_modules", name);
    cli = join(installed, "bin", "neutrino.js");
  });

  after(() => rmSync(scratch, { recursive: true, force: true }));

  it(`is named ${name} and ships what a consumer needs, and nothing else`, () => {
    assert.equal(name, "neutrino-server");
    for (const needed of [
      "LICENSE",
      "README.md",
      "bin/neutrino.js",
      "dist/src/orchestrator/cli.js",
      "dist/src/sdk/index.d.ts",
      "protocol/vectors.json",
      "python/pyproject.toml",
      "python/src/neutrino/__init__.py",
      "python/src/neutrino/py.typed",
      "docs/deploy.md",
    ]) {
      assert.ok(shipped.includes(needed), `${needed} is in the tarball`);
    }
    assert.match(readFileSync(join(installed, "LICENSE"), "utf8"), /^MIT License/);
    assert.equal((JSON.parse(readFileSync(join(installed, "package.json"), "utf8")) as { license: string }).license, "MIT");
    const unwanted = shipped.filter((f) => /\.map$|^tests\/|^python\/tests\/|^bench\/|^src\/|\.pyc$/.test(f));
    assert.deepEqual(unwanted, [], "no source maps, TypeScript sources, tests or benchmarks");
    const typescript = shipped.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"));
    assert.deepEqual(typescript, ["examples/hono.ts", "examples/myapp.ts", "examples/streaming.ts"], "the only .ts shipped are the examples");
  });

  it("links only to what it ships, save the repository's benchmark and deployment files", () => {
    // The docs cite the benchmark harness and its runs (bench/) and the Dockerfiles and manifests
    // (deploy/, .dockerignore) of the repository; a consumer does not need those in node_modules.
    const repositoryOnly = /^[^:]+: (\.\.\/)?(bench\/|deploy\/|\.dockerignore)[^ ]* \(no such file\)$/;
    const broken = shipped
      .filter((f) => f.endsWith(".md"))
      .flatMap((document) => brokenLinks(join(installed, document), installed))
      .filter((link) => !repositoryOnly.test(link));
    assert.deepEqual(broken, []);
  });

  it("serves the Python example; SIGTERM to the installed command stops the server and its workers and frees the port", async () => {
    writeFileSync(join(scratch, "myapp.py"), readFileSync(join(repoRoot, "examples", "myapp.py")));
    const server = await startServer("myapp.py:app", ["--workers", "2"], { cwd: scratch, cli });
    const workers = childPids(server.proc.pid!);
    try {
      assert.match(server.stdout(), new RegExp(`"msg":"neutrino-server ${version.replace(/\./g, "\\.")}: loading myapp\\.py:app`));
      assert.equal(workers.length, 2);
      const reply = await request(`${server.url}/add?x=1&y=2`);
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.json, { result: 3 });
    } finally {
      await server.stop("SIGTERM");
    }
    assert.equal(await server.stop("SIGTERM"), 0);
    await waitFor(() => workers.every((pid) => !isAlive(pid)));
    assert.equal(await canConnect(server.port), false, "the port is released");
  });

  it("serves a TypeScript app that imports from neutrino-server", async () => {
    writeFileSync(
      join(scratch, "hello.ts"),
      'import { App } from "neutrino-server";\n\nexport const app = new App();\n\n' +
        'app.route("/hello", ({ name }: { name?: string }) => ({ hello: name ?? "world" }));\n',
    );
    const server = await startServer("hello.ts:app", ["--workers", "1"], { cwd: scratch, cli });
    try {
      const reply = await request(`${server.url}/hello?name=neutrino`);
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.json, { hello: "neutrino" });
    } finally {
      await server.stop();
    }
    assert.equal(await server.stop(), 0);
  });

  it("SIGTERM to `npx neutrino serve` drains and stops the server and its workers, and frees the port", async () => {
    writeFileSync(join(scratch, "myapp.py"), readFileSync(join(repoRoot, "examples", "myapp.py")));
    const npx = spawn("npx", ["--offline", "neutrino", "serve", "myapp.py:app", "--workers", "2", "--port", "0"], {
      cwd: scratch,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    npx.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    npx.stderr.setEncoding("utf8").on("data", (d: string) => (out += d));
    const npxExited = new Promise((resolve) => npx.once("exit", resolve));
    const records = (): Record<string, unknown>[] =>
      out.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
    let server: number | undefined;
    try {
      await waitFor(() => records().some((r) => typeof r.url === "string"), 30_000);
      const listening = records().find((r) => typeof r.url === "string")!;
      server = listening.pid as number;
      const workers = childPids(server);
      assert.equal(workers.length, 2, "the server runs its workers");
      assert.notEqual(server, npx.pid, "npx runs the server as a process of its own");

      npx.kill("SIGTERM");
      await npxExited;
      await waitFor(() => !isAlive(server!) && workers.every((pid) => !isAlive(pid)), 15_000);
      assert.match(out, /received SIGTERM: finishing/, "the server drained rather than being killed");
      assert.equal(await canConnect(listening.port as number), false, "the port is released");
    } finally {
      if (server !== undefined && isAlive(server)) process.kill(server, "SIGKILL");
      npx.kill("SIGKILL");
    }
  });

  it("npx neutrino runs the installed command", async () => {
    const { stdout } = await run("npx", ["--offline", "neutrino", "--version"], { cwd: scratch });
    assert.equal(stdout, `neutrino-server ${version}\n`);
  });

  it("the Python SDK builds as a wheel from the shipped copy and installs into a fresh virtualenv", async () => {
    const venv = join(scratch, "venv");
    const wheels = join(scratch, "wheels");
    await run("python3", ["-m", "venv", venv]);
    const python = join(venv, "bin", "python");
    // The build backend (setuptools) is fetched as pip's build isolation does; the install is offline.
    await run(python, ["-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", wheels, join(installed, "python")]);
    const [wheel] = readdirSync(wheels);
    assert.equal(wheel, `neutrino_server-${version}-py3-none-any.whl`);
    await run(python, ["-m", "pip", "install", "--no-index", "--quiet", join(wheels, wheel!)]);
    const { stdout } = await run(
      python,
      [
        "-c",
        "import importlib.metadata as m, pathlib, neutrino\n" +
          "from neutrino import App\n" +
          "print(m.version('neutrino-server'), neutrino.__version__, (pathlib.Path(neutrino.__file__).parent / 'py.typed').is_file())",
      ],
      { cwd: scratch, env: { ...process.env, PYTHONPATH: "" } },
    );
    assert.equal(stdout, `${version} ${version} True\n`);
  });
});

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => (s.destroy(), resolve(true)));
    s.once("error", () => resolve(false));
  });
}
