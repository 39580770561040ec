import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { methodsLabel, methodsOf, Router, toRouterPath } from "../../src/orchestrator/http/router.js";

const router = new Router([
  { path: "/add", methods: ["GET", "POST"] },
  { path: "/process", methods: ["POST"] },
  { path: "/users/{user_id}", methods: ["GET", "DELETE"] },
  { path: "/users/me", methods: ["GET"] },
]);

describe("router", () => {
  it("finds a route for each allowed method and ignores the query string", () => {
    for (const method of ["GET", "POST"]) {
      const m = router.find(method, "/add?x=2&y=3");
      assert.equal(m?.kind, "route");
      assert.equal(m.kind === "route" && m.workerMethod, method);
      assert.equal(m.route.path, "/add");
    }
  });

  it("answers an unknown path with null (404)", () => {
    assert.equal(router.find("GET", "/nope"), null);
    assert.equal(router.find("GET", "/ad"), null);
    assert.equal(router.find("GET", "/add/extra"), null);
  });

  it("reports a wrong method with the allowed ones (405)", () => {
    const m = router.find("GET", "/process");
    assert.deepEqual(m && { kind: m.kind, allow: m.kind === "method_not_allowed" && m.allow }, {
      kind: "method_not_allowed",
      allow: "POST",
    });
    const put = router.find("PUT", "/add");
    assert.equal(put?.kind === "method_not_allowed" && put.allow, "GET, POST, HEAD");
  });

  it("runs HEAD as GET on routes that allow GET", () => {
    const m = router.find("HEAD", "/add");
    assert.equal(m?.kind === "route" && m.workerMethod, "GET");
    assert.equal(router.find("HEAD", "/process")?.kind, "method_not_allowed");
  });

  it("matches path parameters, decoded, and prefers static segments", () => {
    const m = router.find("GET", "/users/%C3%A9t%C3%A9?full=1");
    assert.equal(m?.kind, "route");
    assert.deepEqual(m.kind === "route" && { ...m.params }, { user_id: "été" });
    assert.equal(router.find("GET", "/users/me")?.route.path, "/users/me");
  });

  it("translates {name} placeholders to find-my-way's syntax", () => {
    assert.equal(toRouterPath("/a/{b}/c/{d_2}"), "/a/:b/c/:d_2");
  });

  it("a route of every method (a foreign app's) takes each one as sent, HEAD as HEAD, and never answers 405", () => {
    const any = { path: "/*", methods: ["*"] };
    const foreign = new Router([{ path: "/items/{id}", methods: ["*"] }, any]);
    for (const method of ["GET", "HEAD", "POST", "PURGE", "PROPFIND", "QUERY", "TRACE", "M-SEARCH"]) {
      const m = foreign.find(method, "/items/7");
      assert.equal(m?.kind, "route", method);
      assert.equal(m.kind === "route" && m.workerMethod, method);
      assert.equal(foreign.find(method, "/other/path")?.kind, "route", `${method} on the catch-all`);
    }
    assert.ok(!methodsOf(any).includes("CONNECT"), "Node never hands CONNECT over as a request");
    assert.ok(methodsOf(any).includes("PURGE"));
    assert.match(foreign.allowed("/items/7") ?? "", /\bPROPFIND\b/);
    assert.equal(methodsLabel(any), "ANY");
    assert.equal(methodsLabel({ path: "/add", methods: ["GET", "POST"] }), "GET, POST");
  });
});
