import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { contentTypeFor, lookupPath } from "../../src/orchestrator/http/static-files.js";

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

describe("static files: types", () => {
  it("content types come from the file name", () => {
    assert.equal(contentTypeFor("a.html"), "text/html; charset=utf-8");
    assert.equal(contentTypeFor("dir/a.WOFF2"), "font/woff2");
    assert.equal(contentTypeFor("README"), "application/octet-stream");
  });
});
