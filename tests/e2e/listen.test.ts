/**
 * Where the server listens, through the real CLI: a Unix socket (its mode, a stale file replaced,
 * a live one or a plain file left alone, removed at exit), several --bind addresses serving one
 * app, and a listening socket inherited as a file descriptor (socket activation).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { get, type RequestOptions } from "node:http";
import { createServer, type AddressInfo, type Server as NetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { cliPath, runCli } from "../support/server.js";
import { repoRoot } from "../support/paths.js";
import { waitFor } from "../support/wait.js";

const APP = "tests/fixtures/edge_app.py:app";

/** GET over HTTP/1.1, on a TCP port or a Unix socket. */
function getJson(options: RequestOptions): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    get({ ...options, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode!, json: JSON.parse(text) }));
    }).on("error", reject);
  });
}

type Run = ReturnType<typeof runCli>;

/** The `listening` record of a run: every URL it listens on. */
async function listening(run: Run): Promise<{ urls: string[]; port?: number }> {
  let record: { urls: string[]; port?: number } | undefined;
  await waitFor(
    async () => {
      if (run.proc.exitCode !== null) throw new Error(`server exited:\n${run.err()}`);
      const line = run.out().split("\n").find((l) => l.includes('"urls"'));
      if (line) record = JSON.parse(line);
      return record !== undefined;
    },
    30_000,
    () => `the listening record:\n${run.out()}\n${run.err()}`,
  );
  return record!;
}

async function stop(run: Run): Promise<number | string> {
  if (run.proc.exitCode === null && run.proc.signalCode === null) run.proc.kill("SIGTERM");
  return run.exited;
}

/** A socket file that no server answers on, as a server killed with SIGKILL leaves behind. */
async function staleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ["-e", "require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))", path]);
  await new Promise((resolve) => child.once("exit", resolve));
  assert.ok(statSync(path).isSocket());
}

describe("listening on a Unix socket", () => {
  let dir: string;
  before(() => (dir = mkdtempSync(join(tmpdir(), "neutrino-uds-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("--uds serves on the socket with --uds-mode, replaces a stale socket file, and removes it at exit", async () => {
    const path = join(dir, "app.sock");
    await staleSocket(path);
    const run = runCli(["serve", APP, "--workers", "1", "--uds", path, "--uds-mode", "660", "--backlog", "16"]);
    try {
      const { urls } = await listening(run);
      assert.deepEqual(urls, [`unix:${path}`]);
      assert.equal(statSync(path).mode & 0o777, 0o660);
      const r = await getJson({ socketPath: path, path: "/who", headers: { host: "app.local" } });
      assert.equal(r.status, 200);
      assert.equal(r.json.host, "app.local");
      assert.equal(r.json.scheme, "http");
      // Only a local process can connect to the socket: it is trusted as a proxy (as in gunicorn).
      const proxied = await getJson({ socketPath: path, path: "/who", headers: { "x-forwarded-for": "203.0.113.5", "x-forwarded-proto": "https" } });
      assert.deepEqual(proxied.json.client, ["203.0.113.5", 0]);
      assert.equal(proxied.json.scheme, "https");
    } finally {
      await stop(run);
    }
    assert.equal(await stop(run), 0);
    assert.equal(existsSync(path), false, "the socket file is still there");
  });

  it("a socket another server answers on is not taken over, and a file that is not a socket is not removed", async () => {
    const live = join(dir, "live.sock");
    const other = createServer();
    await new Promise<void>((resolve) => other.listen(live, resolve));
    try {
      const run = runCli(["serve", APP, "--workers", "1", "--uds", live]);
      assert.equal(await run.exited, 1);
      assert.match(run.err(), /live\.sock is in use by another server/);
    } finally {
      other.close();
    }
    const plain = join(dir, "plain.txt");
    writeFileSync(plain, "keep me");
    const run = runCli(["serve", APP, "--workers", "1", "--uds", plain]);
    assert.equal(await run.exited, 1);
    assert.match(run.err(), /the file exists and is not a socket/);
    assert.equal(readFileSync(plain, "utf8"), "keep me");
  });

  it("--bind several times: an IPv4 address, an IPv6 one in brackets and a Unix socket serve the same app", async () => {
    const path = join(dir, "bind.sock");
    const run = runCli(["serve", APP, "--workers", "1", "--bind", "127.0.0.1:0", "--bind", "[::1]:0", "--bind", `unix:${path}`]);
    try {
      const { urls, port } = await listening(run);
      assert.equal(urls.length, 3);
      assert.equal(urls[0], `http://127.0.0.1:${port}`);
      const v6 = /^http:\/\/\[::1\]:(\d+)$/.exec(urls[1]!);
      assert.ok(v6, urls[1]);
      assert.equal(urls[2], `unix:${path}`);
      const tcp = await getJson({ host: "127.0.0.1", port, path: "/who" });
      const ipv6 = await getJson({ host: "::1", port: Number(v6[1]), path: "/who" });
      const unix = await getJson({ socketPath: path, path: "/plain" });
      assert.deepEqual([tcp.status, ipv6.status, unix.status], [200, 200, 200]);
      assert.equal(ipv6.json.client[0], "::1");
    } finally {
      await stop(run);
    }
    assert.equal(await stop(run), 0);
    assert.equal(existsSync(path), false);
  });

  it("a --bind that is not an address is a usage error saying what to write", async () => {
    // Exit code as for any bad flag value (commander's).
    const run = runCli(["serve", APP, "--bind", "::1:8000"]);
    assert.notEqual(await run.exited, 0);
    assert.match(run.err(), /write an IPv6 address in brackets, e\.g\. \[::1\]:8000/);
    const fd = runCli(["serve", APP, "--fd", "1"]);
    assert.notEqual(await fd.exited, 0);
    assert.match(fd.err(), /a file descriptor is a whole number, 3 or more/);
    const mode = runCli(["serve", APP, "--uds-mode", "660"]);
    assert.equal(await mode.exited, 2);
    assert.match(mode.err(), /--uds-mode needs --uds \(or a --bind unix:PATH\)/);
  });
});

describe("socket activation", () => {
  it("--fd 3 serves on a listening socket the parent opened and passed down", async () => {
    const parent: NetServer = createServer();
    await new Promise<void>((resolve) => parent.listen(0, "127.0.0.1", resolve));
    const { port } = parent.address() as AddressInfo;
    const fd = (parent as unknown as { _handle: { fd: number } })._handle.fd;
    const child = spawn(process.execPath, [cliPath, "serve", APP, "--workers", "1", "--fd", "3"], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe", fd],
    });
    // The child has its own copy of the socket: the parent stops listening, as systemd would not accept either.
    parent.close();
    let out = "";
    let err = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      await waitFor(() => out.includes('"urls"') || child.exitCode !== null, 30_000, () => `listening:\n${out}\n${err}`);
      const record = JSON.parse(out.split("\n").find((l) => l.includes('"urls"'))!);
      assert.equal(record.url, `http://127.0.0.1:${port}`);
      const r = await getJson({ host: "127.0.0.1", port, path: "/plain" });
      assert.equal(r.status, 200);
      assert.deepEqual(r.json, { ok: true });
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
    assert.equal(await exited, 0);
  });
});
