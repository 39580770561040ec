import assert from "node:assert/strict";
import type { Stats } from "node:fs";
import type { IncomingMessage } from "node:http";
import { describe, it } from "node:test";
import { contentTypeFor, etagFor, lookupPath, notModified } from "../../src/orchestrator/http/static-files.js";

const req = (headers: Record<string, string>): IncomingMessage => ({ headers }) as unknown as IncomingMessage;

describe("static files: request paths", () => {
  it("decodes the segments after the prefix", () => {
    assert.deepEqual(lookupPath("/css/site%20main.css"), { kind: "file", segments: ["css", "site main.css"], directory: false });
    assert.deepEqual(lookupPath("/docs/"), { kind: "file", segments: ["docs"], directory: true });
    assert.deepEqual(lookupPath("/"), { kind: "file", segments: [], directory: true });
    assert.deepEqual(lookupPath(""), { kind: "file", segments: [], directory: false });
  });

  it("refuses dot segments, encoded slashes and backslashes, NUL, empty segments and bad escapes", () => {
    for (const rest of ["/..", "/../x", "/a/./b", "/%2e%2e/x", "/.%2E/x", "/..%2fx", "/a%2Fb", "/..%5cx", "/a\\b", "/a%00.css", "//x", "/%", "/%zz"]) {
      assert.equal(lookupPath(rest).kind, "bad", rest);
    }
  });

  it("hidden files are not found", () => {
    assert.equal(lookupPath("/.env").kind, "missing");
    assert.equal(lookupPath("/.git/config").kind, "missing");
    assert.equal(lookupPath("/%2Essh/id_rsa").kind, "missing");
  });
});

describe("static files: validators and types", () => {
  const stats = { size: 255, mtimeMs: Date.parse("2024-05-01T10:00:00.500Z") } as Stats;
  const etag = etagFor(stats);

  it("If-None-Match decides when present (weak comparison, lists, *)", () => {
    assert.equal(etag, `W/"ff-${Math.floor(stats.mtimeMs).toString(16)}"`);
    assert.ok(notModified(req({ "if-none-match": etag }), etag, stats.mtimeMs));
    assert.ok(notModified(req({ "if-none-match": etag.slice(2) }), etag, stats.mtimeMs));
    assert.ok(notModified(req({ "if-none-match": `"a", ${etag}` }), etag, stats.mtimeMs));
    assert.ok(notModified(req({ "if-none-match": "*" }), etag, stats.mtimeMs));
    assert.ok(!notModified(req({ "if-none-match": '"a"', "if-modified-since": "Wed, 01 May 2024 11:00:00 GMT" }), etag, stats.mtimeMs));
  });

  it("If-Modified-Since compares whole seconds", () => {
    assert.ok(notModified(req({ "if-modified-since": "Wed, 01 May 2024 10:00:00 GMT" }), etag, stats.mtimeMs));
    assert.ok(!notModified(req({ "if-modified-since": "Wed, 01 May 2024 09:59:59 GMT" }), etag, stats.mtimeMs));
    assert.ok(!notModified(req({ "if-modified-since": "yesterday" }), etag, stats.mtimeMs));
    assert.ok(!notModified(req({}), etag, stats.mtimeMs));
  });

  it("content types come from the file name", () => {
    assert.equal(contentTypeFor("a.html"), "text/html; charset=utf-8");
    assert.equal(contentTypeFor("dir/a.WOFF2"), "font/woff2");
    assert.equal(contentTypeFor("README"), "application/octet-stream");
  });
});
