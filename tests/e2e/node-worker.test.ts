/** The Node worker process, driven over a Unix socket the way the orchestrator drives it. */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { encodeDiscoverRoutes, encodeShutdown, encodeTaskAssignment, encodeWorkerReady } from "../../src/protocol/codec.js";
import { FrameDecoder } from "../../src/protocol/frame-decoder.js";
import { HANDLER_FAILED, type Message, type TaskResult } from "../../src/protocol/messages.js";
import { repoRoot } from "../support/paths.js";

const workerMain = join(repoRoot, "dist", "src", "node-worker", "main.js");
const APP = "tests/fixtures/worker_app.mjs:app";

/** One worker process and the orchestrator's end of its socket. */
class WorkerUnderTest {
  private readonly messages: Message[] = [];
  private waiting: (() => void) | null = null;
  private ended = false;
  private err = "";
  readonly exited: Promise<number | string>;

  private constructor(
    readonly proc: ChildProcess,
    private readonly socket: Socket,
  ) {
    const decoder = new FrameDecoder();
    socket.on("data", (chunk: Buffer) => {
      this.messages.push(...decoder.push(chunk));
      this.waiting?.();
    });
    socket.on("close", () => {
      this.ended = true;
      this.waiting?.();
    });
    proc.stderr!.setEncoding("utf8").on("data", (d: string) => (this.err += d));
    this.exited = new Promise((resolve) => proc.once("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  }

  static async start(app: string, options: { env?: NodeJS.ProcessEnv } = {}): Promise<WorkerUnderTest> {
    const dir = mkdtempSync(join(tmpdir(), "neutrino-test-"));
    const path = join(dir, "w0.sock");
    const server = createServer();
    const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    const proc = spawn(process.execPath, [workerMain, path, "w0", app], {
      cwd: repoRoot,
      env: { ...process.env, ...options.env },
      stdio: ["pipe", "ignore", "pipe"],
    });
    proc.stdin!.end("s3cret\n");
    const socket = await accepted;
    server.close();
    rmSync(dir, { recursive: true, force: true });
    const worker = new WorkerUnderTest(proc, socket);
    // The first frame is always the Hello, with the secret from stdin and before the app loads.
    assert.deepEqual(await worker.next(), { type: "Hello", workerId: "w0", secret: "s3cret" });
    return worker;
  }

  send(frame: Buffer): void {
    this.socket.write(frame);
  }

  /**
   * The next message other than a Heartbeat, or null once the worker closed the socket. A
   * heartbeat comes on its own clock, so on a slow machine it can fall between any two others.
   */
  async next(): Promise<Message | null> {
    for (;;) {
      while (this.messages.length === 0 && !this.ended) await new Promise<void>((resolve) => (this.waiting = resolve));
      const m = this.messages.shift() ?? null;
      if (m?.type !== "Heartbeat") return m;
    }
  }

  async ready(): Promise<void> {
    assert.equal((await this.next())?.type, "WorkerReady");
  }

  task(taskId: number, method: string, route: string, query = "", body = ""): void {
    this.send(encodeTaskAssignment(taskId, method, route, route, query, [], [], String(taskId), "", 0, Buffer.from(body)));
  }

  async result(): Promise<TaskResult> {
    const m = await this.next();
    assert.equal(m?.type, "TaskResult");
    return m as TaskResult;
  }

  close(): void {
    this.socket.end();
  }

  stderr(): string {
    return this.err;
  }
}

const json = (r: TaskResult): any => JSON.parse(r.body.toString());

describe("Node worker: the protocol", { concurrency: true }, () => {
  it("announces itself with its runtime and concurrency, then lists its routes", async () => {
    const w = await WorkerUnderTest.start(APP, { env: { NEUTRINO_WORKER_CONCURRENCY: "8" } });
    assert.deepEqual(await w.next(), { type: "WorkerReady", workerId: "w0", pid: w.proc.pid, runtime: "node", concurrency: 8 });
    w.send(encodeDiscoverRoutes());
    const registry = await w.next();
    assert.equal(registry?.type, "RouteRegistry");
    assert.deepEqual(registry.type === "RouteRegistry" && registry.routes.map((r) => r.path), ["/hello", "/wait", "/gate", "/open", "/boom"]);
    assert.deepEqual(registry.type === "RouteRegistry" && registry.routes[0]!.methods, ["GET", "POST"]);
    w.close();
    assert.equal(await w.exited, 0, "end of file: the orchestrator is gone, the worker exits 0");
  });

  it("concurrency defaults to 64", async () => {
    const w = await WorkerUnderTest.start(APP, { env: { NEUTRINO_WORKER_CONCURRENCY: "" } });
    const ready = await w.next();
    assert.equal(ready?.type === "WorkerReady" && ready.concurrency, 64);
    w.close();
    await w.exited;
  });

  it("holds many tasks at once and answers each when it is done, in any order", async () => {
    const w = await WorkerUnderTest.start(APP);
    await w.ready();
    w.task(1, "GET", "/gate");
    w.task(2, "GET", "/open");
    const first = await w.result();
    assert.deepEqual([first.taskId, first.status, json(first)], [2, 200, { opening: true }]);
    const second = await w.result();
    assert.deepEqual([second.taskId, second.status, json(second)], [1, 200, { gate: "opened" }]);
    w.close();
    assert.equal(await w.exited, 0);
  });

  it("a handler that throws: 500 with the failure flag, its text only in the log; the worker goes on", async () => {
    const w = await WorkerUnderTest.start(APP);
    await w.ready();
    try {
      w.task(7, "GET", "/boom");
      const r = await w.result();
      assert.equal(r.status, 500);
      assert.equal(r.flags & HANDLER_FAILED, HANDLER_FAILED);
      assert.equal(json(r).exception, undefined);
      assert.equal(json(r).detail, "the handler failed; the server log has the details");
      w.task(8, "GET", "/hello");
      assert.deepEqual(json(await w.result()), { hello: "world" });
      assert.match(w.stderr(), /handler "\/boom" failed on GET \/boom \(request \S+\)\n.*TypeError[\s\S]*worker_app\.mjs/);
    } finally {
      w.close(); // a failed assertion must not leave the worker holding the test file open
    }
    await w.exited;
  });

  it("answers 404 and 405 itself for a route or method it does not have", async () => {
    const w = await WorkerUnderTest.start(APP);
    await w.ready();
    w.task(1, "GET", "/missing");
    assert.equal((await w.result()).status, 404);
    w.task(2, "DELETE", "/hello");
    const r = await w.result();
    assert.equal(r.status, 405);
    assert.deepEqual(r.headers, [["allow", "GET, POST"]]);
    w.close();
    await w.exited;
  });

  it("graceful Shutdown: the tasks in flight finish, then the worker exits 0", async () => {
    const w = await WorkerUnderTest.start(APP);
    await w.ready();
    w.task(1, "GET", "/wait", "ms=200");
    w.send(encodeShutdown(true));
    const r = await w.result();
    assert.deepEqual([r.taskId, json(r)], [1, { waited: 200 }]);
    assert.equal(await w.next(), null);
    assert.equal(await w.exited, 0);
  });

  it("immediate Shutdown: exits 0 without waiting", async () => {
    const w = await WorkerUnderTest.start(APP);
    await w.ready();
    w.task(1, "GET", "/gate");
    w.send(encodeShutdown(false));
    assert.equal(await w.next(), null);
    assert.equal(await w.exited, 0);
  });

  it("ignores SIGINT: Ctrl-C reaches the whole process group, and the orchestrator drains workers itself", async () => {
    const w = await WorkerUnderTest.start(APP);
    await w.ready();
    w.proc.kill("SIGINT");
    w.task(1, "GET", "/hello");
    assert.deepEqual(json(await w.result()), { hello: "world" });
    w.close();
    assert.equal(await w.exited, 0);
  });

  it("exits 2 on a protocol error: a malformed frame, a message in the wrong direction, a duplicate task id", async () => {
    const wrong = [
      Buffer.from("00000001ee", "hex"),
      encodeWorkerReady("w0", 1, "node", 1),
      Buffer.concat([
        encodeTaskAssignment(1, "GET", "/gate", "/gate", "", [], [], "1", "", 0, Buffer.alloc(0)),
        encodeTaskAssignment(1, "GET", "/gate", "/gate", "", [], [], "1", "", 0, Buffer.alloc(0)),
      ]),
    ];
    for (const frame of wrong) {
      const w = await WorkerUnderTest.start(APP);
      await w.ready();
      w.send(frame);
      assert.equal(await w.exited, 2);
      assert.match(w.stderr(), /protocol error/);
    }
  });
});

describe("Node worker: loading the app", { concurrency: true }, () => {
  const failures: { app: string; kind: string; message: RegExp }[] = [
    { app: "worker_app.mjs", kind: "bad_app_path", message: /module:attribute/ },
    { app: "tests/fixtures/nosuch.mjs:app", kind: "module_not_found", message: /nosuch\.mjs/ },
    { app: "tests/fixtures/nosuch:app", kind: "module_not_found", message: /nosuch\{\.ts,\.mts,\.js,\.mjs\}/ },
    { app: "tests/fixtures/worker_app.mjs:nope", kind: "attribute_not_found", message: /no export "nope"/ },
    { app: "tests/fixtures/worker_app.mjs:notAnApp", kind: "not_an_app", message: /is an object, not a neutrino App/ },
    { app: "tests/fixtures/raises_on_import.ts:app", kind: "import_error", message: /RangeError: the app refuses to load/ },
  ];
  for (const f of failures) {
    it(`${f.kind}: ${f.app}`, async () => {
      const w = await WorkerUnderTest.start(f.app);
      const m = await w.next();
      assert.equal(m?.type, "StartupError");
      assert.equal(m.type === "StartupError" && m.kind, f.kind);
      assert.match(m.type === "StartupError" ? m.message : "", f.message);
      if (f.kind === "import_error" && m.type === "StartupError") {
        assert.match(m.traceback, /raises_on_import\.ts:\d+/);
        assert.doesNotMatch(m.traceback, /node:internal|node-worker/, "only the app's own frames");
      }
      assert.equal(await w.exited, 1);
    });
  }

  it("finds the file from a path without its extension", async () => {
    const w = await WorkerUnderTest.start("tests/fixtures/worker_app:app");
    await w.ready();
    w.close();
    assert.equal(await w.exited, 0);
  });
});
