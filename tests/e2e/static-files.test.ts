/**
 * `--static PREFIX=DIR`: files served by the orchestrator, through the real CLI, for both test apps
 * (the app is never asked). Traversal attempts go out as raw request targets (fetch would
 * normalize `..` away before sending).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { brotliCompressSync, brotliDecompressSync, gunzipSync, gzipSync } from "node:zlib";
import { testApps } from "../support/apps.js";
import { repoRoot } from "../support/paths.js";
import { request, runCli, startServer, type RunningServer } from "../support/server.js";

const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg==", "base64");
const SECRET = "TOP-SECRET-outside-the-folder";
const BIG_SIZE = 5 * 1024 * 1024 + 123;
const DIGITS = "0123456789abcdefghij";
const BUNDLE = `console.log(${JSON.stringify("x".repeat(2000))});\n`;

/** A folder tree in a temporary directory: public/ is served; secret.txt and outside/ are not. */
function makeTree(): string {
  const dir = mkdtempSync(join(tmpdir(), "neutrino-static-"));
  const pub = join(dir, "public");
  mkdirSync(join(pub, "sub"), { recursive: true });
  mkdirSync(join(pub, "noindex"));
  mkdirSync(join(dir, "outside"));
  writeFileSync(join(dir, "secret.txt"), SECRET);
  writeFileSync(join(dir, "outside", "secret.txt"), SECRET);
  writeFileSync(join(pub, "index.html"), "<!doctype html><title>home</title>");
  writeFileSync(join(pub, "style.css"), "body { color: red }\n");
  writeFileSync(join(pub, "app.js"), "console.log('hi');\n");
  writeFileSync(join(pub, "data.json"), '{"a": 1}\n');
  writeFileSync(join(pub, "image.png"), PNG);
  writeFileSync(join(pub, "logo.svg"), '<svg xmlns="http://www.w3.org/2000/svg"/>\n');
  writeFileSync(join(pub, "notes.unknownext"), "?");
  writeFileSync(join(pub, ".env"), SECRET);
  writeFileSync(join(pub, "sub", "index.html"), "<p>sub</p>");
  writeFileSync(join(pub, "big.bin"), Buffer.alloc(BIG_SIZE, 7));
  writeFileSync(join(pub, "digits.txt"), DIGITS);
  // Precompressed siblings: bundle.js has both, only-gz.css a gzip one; hidden.js's sibling is a symlink out.
  writeFileSync(join(pub, "bundle.js"), BUNDLE);
  writeFileSync(join(pub, "bundle.js.br"), brotliCompressSync(BUNDLE));
  writeFileSync(join(pub, "bundle.js.gz"), gzipSync(BUNDLE));
  writeFileSync(join(pub, "only-gz.css"), "p { margin: 0 }\n");
  writeFileSync(join(pub, "only-gz.css.gz"), gzipSync("p { margin: 0 }\n"));
  writeFileSync(join(pub, "hidden.js"), "plain();\n");
  writeFileSync(join(dir, "outside", "hidden.js.gz"), gzipSync(SECRET));
  symlinkSync(join(dir, "outside", "hidden.js.gz"), join(pub, "hidden.js.gz"));
  symlinkSync(join(dir, "secret.txt"), join(pub, "escape.txt"));
  symlinkSync("../outside", join(pub, "outdir"));
  symlinkSync("style.css", join(pub, "inside.css"));
  symlinkSync("sub", join(pub, "subdir-link"));
  return dir;
}

interface RawReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Sends `path` exactly as written (no normalization), so `..` reaches the server; the body undecoded. */
function raw(url: string, path: string, method = "GET", headers: Record<string, string> = {}): Promise<RawReply> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: hostname, port, path, method, headers }, (res) => {
      let body = "";
      res.setEncoding("latin1").on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

for (const { language, app } of testApps) {
  describe(`static files (${language})`, () => {
    let dir: string;
    let server: RunningServer;
    before(async () => {
      dir = makeTree();
      // The folder is relative to the current directory; a second mount hides an app route.
      server = await startServer(join(repoRoot, app), ["--workers", "1", "--static", "/assets=./public", "--static", "/process=public/sub"], { cwd: dir });
    });
    after(async () => {
      await server?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("serves each file with its content type, nosniff and its exact bytes", async () => {
      const cases: [string, string][] = [
        ["index.html", "text/html; charset=utf-8"],
        ["style.css", "text/css; charset=utf-8"],
        ["app.js", "text/javascript; charset=utf-8"],
        ["data.json", "application/json; charset=utf-8"],
        ["image.png", "image/png"],
        ["logo.svg", "image/svg+xml"],
        ["notes.unknownext", "application/octet-stream"],
      ];
      for (const [name, type] of cases) {
        const res = await fetch(`${server.url}/assets/${name}`);
        const body = Buffer.from(await res.arrayBuffer());
        assert.equal(res.status, 200, name);
        assert.equal(res.headers.get("content-type"), type, name);
        assert.equal(res.headers.get("x-content-type-options"), "nosniff");
        if (name === "image.png") assert.deepEqual(body, PNG);
        assert.equal(res.headers.get("content-length"), String(body.length));
      }
    });

    it("streams a large file whole", async () => {
      const res = await fetch(`${server.url}/assets/big.bin`);
      const body = Buffer.from(await res.arrayBuffer());
      assert.equal(res.status, 200);
      assert.equal(body.length, BIG_SIZE);
      const expected = createHash("sha256").update(Buffer.alloc(BIG_SIZE, 7)).digest("hex");
      assert.equal(createHash("sha256").update(body).digest("hex"), expected);
    });

    it("ETag and Last-Modified: 304 for a current copy, 200 once the file changes", async () => {
      const first = await fetch(`${server.url}/assets/style.css`);
      await first.arrayBuffer();
      const etag = first.headers.get("etag")!;
      const lastModified = first.headers.get("last-modified")!;
      assert.match(etag, /^W\/"[0-9a-f]+-[0-9a-f]+"$/);
      assert.ok(lastModified);
      const cached = await request(`${server.url}/assets/style.css`, { headers: { "if-none-match": etag } });
      assert.equal(cached.status, 304);
      assert.equal(cached.text, "");
      assert.equal(cached.headers.get("etag"), etag);
      assert.equal((await request(`${server.url}/assets/style.css`, { headers: { "if-none-match": `"other", ${etag}` } })).status, 304);
      assert.equal((await request(`${server.url}/assets/style.css`, { headers: { "if-modified-since": lastModified } })).status, 304);
      assert.equal((await request(`${server.url}/assets/style.css`, { headers: { "if-none-match": '"stale"' } })).status, 200);

      writeFileSync(join(dir, "public", "style.css"), "body { color: blue }\n");
      const later = new Date(Date.now() + 5_000);
      utimesSync(join(dir, "public", "style.css"), later, later);
      const changed = await request(`${server.url}/assets/style.css`, { headers: { "if-none-match": etag, "if-modified-since": lastModified } });
      assert.equal(changed.status, 200);
      assert.equal(changed.text, "body { color: blue }\n");
      assert.notEqual(changed.headers.get("etag"), etag);
    });

    it("byte ranges: 206 with Content-Range for one range, 416 for one outside the file, the whole file for a stale If-Range", async () => {
      const url = `${server.url}/assets/digits.txt`;
      const whole = await request(url);
      assert.equal(whole.headers.get("accept-ranges"), "bytes");
      const part = await request(url, { headers: { range: "bytes=2-5" } });
      assert.equal(part.status, 206);
      assert.equal(part.text, "2345");
      assert.equal(part.headers.get("content-range"), `bytes 2-5/${DIGITS.length}`);
      assert.equal(part.headers.get("content-length"), "4");
      const suffix = await request(url, { headers: { range: "bytes=-3" } });
      assert.equal(suffix.status, 206);
      assert.equal(suffix.text, "hij");
      const open = await request(url, { headers: { range: "bytes=18-" } });
      assert.equal(open.text, "ij");
      const outside = await request(url, { headers: { range: "bytes=100-200" } });
      assert.equal(outside.status, 416);
      assert.equal(outside.headers.get("content-range"), `bytes */${DIGITS.length}`);
      assert.equal(outside.json.error, "Range Not Satisfiable");
      const matching = await request(url, { headers: { range: "bytes=0-1", "if-range": whole.headers.get("etag")! } });
      assert.equal(matching.status, 206);
      assert.equal(matching.text, "01");
      const stale = await request(url, { headers: { range: "bytes=0-1", "if-range": '"old"' } });
      assert.equal(stale.status, 200);
      assert.equal(stale.text, DIGITS);
      const big = await request(`${server.url}/assets/big.bin`, { headers: { range: `bytes=${BIG_SIZE - 10}-` } });
      assert.equal(big.status, 206);
      assert.equal(big.headers.get("content-range"), `bytes ${BIG_SIZE - 10}-${BIG_SIZE - 1}/${BIG_SIZE}`);
    });

    it("Cache-Control is public, max-age=0 by default; If-Match that fails is a 412", async () => {
      const res = await request(`${server.url}/assets/digits.txt`);
      assert.equal(res.headers.get("cache-control"), "public, max-age=0");
      const failed = await request(`${server.url}/assets/digits.txt`, { headers: { "if-match": '"other"' } });
      assert.equal(failed.status, 412);
      assert.equal(failed.json.error, "Precondition Failed");
    });

    it("a precompressed sibling is served when the client accepts its coding, with Content-Encoding and Vary", async () => {
      const br = await raw(server.url, "/assets/bundle.js", "GET", { "accept-encoding": "gzip, br" });
      assert.equal(br.status, 200);
      assert.equal(br.headers["content-encoding"], "br");
      assert.equal(br.headers["content-type"], "text/javascript; charset=utf-8");
      assert.equal(br.headers.vary, "Accept-Encoding");
      assert.equal(brotliDecompressSync(Buffer.from(br.body, "latin1")).toString(), BUNDLE);
      const gz = await raw(server.url, "/assets/bundle.js", "GET", { "accept-encoding": "gzip" });
      assert.equal(gz.headers["content-encoding"], "gzip");
      assert.equal(gunzipSync(Buffer.from(gz.body, "latin1")).toString(), BUNDLE);
      assert.notEqual(gz.headers.etag, br.headers.etag, "each coding has its own validator");
      const plain = await raw(server.url, "/assets/bundle.js", "GET", { "accept-encoding": "identity" });
      assert.equal(plain.headers["content-encoding"], undefined);
      assert.equal(plain.headers.vary, "Accept-Encoding");
      assert.equal(plain.body, BUNDLE);
      const onlyGz = await raw(server.url, "/assets/only-gz.css", "GET", { "accept-encoding": "br, gzip;q=0.5" });
      assert.equal(onlyGz.headers["content-encoding"], "gzip");
      assert.equal(gunzipSync(Buffer.from(onlyGz.body, "latin1")).toString(), "p { margin: 0 }\n");
      const none = await raw(server.url, "/assets/style.css", "GET", { "accept-encoding": "gzip, br" });
      assert.equal(none.headers["content-encoding"], undefined);
      assert.equal(none.headers.vary, undefined);
      const escaped = await raw(server.url, "/assets/hidden.js", "GET", { "accept-encoding": "gzip" });
      assert.equal(escaped.headers["content-encoding"], undefined, "a sibling that is a symlink out of the folder is ignored");
      assert.equal(escaped.body, "plain();\n");
    });

    it("HEAD sends the headers alone; other methods get 405 with Allow", async () => {
      const head = await raw(server.url, "/assets/data.json", "HEAD");
      assert.equal(head.status, 200);
      assert.equal(head.headers["content-length"], "9");
      assert.equal(head.headers["content-type"], "application/json; charset=utf-8");
      assert.equal(head.body, "");
      const post = await request(`${server.url}/assets/data.json`, { method: "POST", body: "{}" });
      assert.equal(post.status, 405);
      assert.equal(post.headers.get("allow"), "GET, HEAD");
      assert.equal(post.json.error, "Method Not Allowed");
    });

    it("a directory redirects to its slash form, which serves its index.html; missing and hidden files are JSON 404s", async () => {
      const redirect = await raw(server.url, "/assets/sub?x=1");
      assert.equal(redirect.status, 301);
      assert.equal(redirect.headers.location, "/assets/sub/?x=1");
      assert.equal((await request(`${server.url}/assets/sub/`)).text, "<p>sub</p>");
      assert.equal((await request(`${server.url}/assets/`)).text, "<!doctype html><title>home</title>");
      assert.equal((await raw(server.url, "/assets")).headers.location, "/assets/");
      for (const path of ["/assets/nope.css", "/assets/noindex/", "/assets/style.css/", "/assets/.env", "/assets/%2eenv"]) {
        const res = await request(`${server.url}${path}`);
        assert.equal(res.status, 404, path);
        assert.deepEqual(res.json, { error: "Not Found", detail: `no file for ${path}` });
      }
    });

    it("no path traversal, in raw or percent-encoded form: 400 or 404, never the file", async () => {
      const attempts = [
        "/assets/../secret.txt",
        "/assets/sub/../../secret.txt",
        "/assets/..%2fsecret.txt",
        "/assets/..%2f..%2fetc/passwd",
        "/assets/%2e%2e/secret.txt",
        "/assets/%2E%2E%2Fsecret.txt",
        "/assets/.%2e/secret.txt",
        "/assets/..%5csecret.txt",
        "/assets/%5c..%5csecret.txt",
        "/assets/..\\secret.txt",
        "/assets/style.css%00.png",
        "/assets//etc/passwd",
        "/assets/%252e%252e/secret.txt",
        "/assets/%",
      ];
      for (const path of attempts) {
        const res = await raw(server.url, path);
        assert.ok(res.status === 400 || res.status === 404, `${path}: ${res.status}`);
        assert.ok(!res.body.includes(SECRET) && !res.body.includes("root:"), `${path} leaked a file`);
      }
      const encoded = await raw(server.url, "/assets/..%2fsecret.txt");
      assert.equal(encoded.status, 400);
      assert.equal(JSON.parse(encoded.body).error, "Bad Request");
    });

    it("a symlink out of the folder is a 404; one inside it works", async () => {
      for (const path of ["/assets/escape.txt", "/assets/outdir/secret.txt", "/assets/outdir/"]) {
        const res = await raw(server.url, path);
        assert.equal(res.status, 404, path);
        assert.ok(!res.body.includes(SECRET));
      }
      const inside = await request(`${server.url}/assets/inside.css`);
      assert.equal(inside.status, 200);
      assert.equal(inside.headers.get("content-type"), "text/css; charset=utf-8");
      assert.equal((await request(`${server.url}/assets/subdir-link/index.html`)).text, "<p>sub</p>");
    });

    it("a static prefix wins over an app route under it, with a warning at start-up; other routes still reach the app", async () => {
      assert.equal((await request(`${server.url}/process/index.html`)).text, "<p>sub</p>");
      assert.equal((await request(`${server.url}/process`, { method: "POST", body: '{"data": {}}' })).status, 405);
      assert.match(server.stdout(), /static files at \/process hide \/process/);
      assert.deepEqual((await request(`${server.url}/add?x=2&y=3`)).json, { result: 5 });
    });
  });
}

describe("static files: configuration and start-up errors", () => {
  const APP = join(repoRoot, testApps[0].app);
  let dir: string;
  before(() => {
    dir = makeTree();
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a missing folder stops the server at start-up with a clear error", async () => {
    const run = runCli(["serve", APP, "--port", "0", "--static", "/assets=./missing"], { cwd: dir });
    assert.notEqual(await run.exited, 0);
    assert.match(run.err(), /--static.*directory \.\/missing does not exist/);
    assert.doesNotMatch(run.out(), /listening/);
  });

  it("a file instead of a folder, a bad prefix and a repeated prefix are refused", async () => {
    for (const [value, message] of [
      ["/assets=public/style.css", /is not a directory/],
      ["assets=public", /not a usable URL prefix/],
      ["/=public", /not a usable URL prefix/],
      ["/a/../b=public", /not a usable URL prefix/],
      ["public", /must be PREFIX=DIR/],
    ] as const) {
      const run = runCli(["serve", APP, "--port", "0", "--static", value], { cwd: dir });
      assert.notEqual(await run.exited, 0, value);
      assert.match(run.err(), message, value);
    }
    const twice = runCli(["serve", APP, "--port", "0", "--static", "/a=public", "--static", "/a/=public/sub"], { cwd: dir });
    assert.notEqual(await twice.exited, 0);
    assert.match(twice.err(), /the prefix \/a is given twice/);
  });

  it("NEUTRINO_STATIC takes a comma-separated list; a missing folder there exits 2 naming the variable", async () => {
    const server = await startServer(APP, ["--workers", "1"], { cwd: dir, env: { NEUTRINO_STATIC: "/a=./public, /b=public/sub" } });
    try {
      assert.equal((await request(`${server.url}/a/data.json`)).text, '{"a": 1}\n');
      assert.equal((await request(`${server.url}/b/index.html`)).text, "<p>sub</p>");
    } finally {
      await server.stop();
    }
    const run = runCli(["serve", APP, "--port", "0"], { cwd: dir, env: { NEUTRINO_STATIC: "/a=./public,/b=./gone" } });
    assert.equal(await run.exited, 2);
    assert.match(run.err(), /^neutrino: NEUTRINO_STATIC: directory \.\/gone does not exist/);
  });

  it("--static-cache-control sets the Cache-Control of every file, 304s included", async () => {
    const immutable = "public, max-age=31536000, immutable";
    const server = await startServer(APP, ["--workers", "1", "--static", "/a=public", "--static-cache-control", immutable], { cwd: dir });
    try {
      const res = await request(`${server.url}/a/style.css`);
      assert.equal(res.headers.get("cache-control"), immutable);
      const cached = await request(`${server.url}/a/style.css`, { headers: { "if-none-match": res.headers.get("etag")! } });
      assert.equal(cached.status, 304);
      assert.equal(cached.headers.get("cache-control"), immutable);
    } finally {
      await server.stop();
    }
  });

  it("static = [...] in neutrino.toml", async () => {
    writeFileSync(join(dir, "neutrino.toml"), 'static = ["/a=./public", "/b=public/sub"]\n');
    try {
      const server = await startServer(APP, ["--workers", "1"], { cwd: dir });
      try {
        assert.equal((await request(`${server.url}/a/app.js`)).text, "console.log('hi');\n");
        assert.equal((await request(`${server.url}/b/`)).text, "<p>sub</p>");
      } finally {
        await server.stop();
      }
    } finally {
      rmSync(join(dir, "neutrino.toml"));
    }
  });
});
