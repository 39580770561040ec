/**
 * `--static` under attack, through the real CLI: a directory inside the root swapped for a symlink
 * to outside while requests are served, and a symlink inside the root to a hidden file.
 * docs/reliability.md lists these guarantees.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, it } from "node:test";
import { request, startServer } from "../support/server.js";

const APP = "tests/fixtures/pyapp:app";

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), "neutrino-static-test-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Swaps `dir` (a directory) with a symlink to `target` and back, as fast as it can, until killed:
 * a separate process, so that the swaps race the server's opens.
 */
const SWAPPER = `
const fs = require("node:fs");
const [dir, stash, target] = process.argv.slice(1);
for (;;) {
  fs.renameSync(dir, stash);
  fs.symlinkSync(target, dir);
  fs.unlinkSync(dir);
  fs.renameSync(stash, dir);
}
`;

it("a directory swapped for a symlink to outside during requests: no response serves a byte from outside", async () => {
  const tmp = scratch();
  const root = join(tmp, "site");
  const outside = join(tmp, "outside");
  mkdirSync(join(root, "d"), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(root, "d", "page.txt"), "inside");
  writeFileSync(join(outside, "page.txt"), "SECRET");
  const server = await startServer(APP, ["--workers", "1", "--static", `/s=${root}`]);
  const swapper = spawn(process.execPath, ["-e", SWAPPER, join(root, "d"), join(tmp, "stash"), outside], { stdio: "ignore" });
  try {
    const tally = new Map<string, number>();
    const fetchOne = async (): Promise<void> => {
      const reply = await request(`${server.url}/s/d/page.txt`);
      const key = `${reply.status} ${reply.status === 200 ? reply.text : ""}`;
      tally.set(key, (tally.get(key) ?? 0) + 1);
    };
    // 3,000 requests, 8 at a time.
    for (let round = 0; round < 375; round++) await Promise.all(Array.from({ length: 8 }, fetchOne));
    const summary = [...tally].map(([k, n]) => `${k}: ${n}`).join(", ");
    assert.equal(tally.get("200 SECRET") ?? 0, 0, `served from outside the root (${summary})`);
    assert.ok((tally.get("200 inside") ?? 0) > 0, `the file inside was served at times (${summary})`);
  } finally {
    swapper.kill("SIGKILL");
    await server.stop();
  }
});

it("a symlink inside the root to a hidden file is refused (404)", async () => {
  const tmp = scratch();
  const root = join(tmp, "site");
  mkdirSync(root);
  writeFileSync(join(root, ".env"), "PASSWORD=hunter2");
  writeFileSync(join(root, "visible.txt"), "hello");
  symlinkSync(join(root, ".env"), join(root, "config.txt"));
  mkdirSync(join(root, ".git"));
  writeFileSync(join(root, ".git", "config"), "[core]");
  symlinkSync(join(root, ".git"), join(root, "repo"));
  const server = await startServer(APP, ["--workers", "1", "--static", `/s=${root}`]);
  try {
    assert.equal((await request(`${server.url}/s/visible.txt`)).text, "hello");
    const env = await request(`${server.url}/s/config.txt`);
    assert.equal(env.status, 404);
    assert.ok(!env.text.includes("hunter2"));
    assert.equal((await request(`${server.url}/s/repo/config`)).status, 404, "a symlink to a hidden directory is refused too");
  } finally {
    await server.stop();
  }
});
