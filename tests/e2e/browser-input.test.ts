/**
 * What browsers send and expect, through the real CLI and both SDKs: cookies read from the
 * request and set on the response (and forms).
 */
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { startServer, type RunningServer } from "../support/server.js";

const apps = [
  { language: "python", app: "tests/fixtures/browser_app:app" },
  { language: "typescript", app: "tests/fixtures/browser-app.ts:app" },
] as const;

for (const { language, app } of apps) {
  describe(`cookies and forms (${language})`, () => {
    let server: RunningServer;
    before(async () => {
      server = await startServer(app, ["--workers", "1"]);
    });
    after(async () => {
      await server.stop();
    });

    it("reads every Cookie header into request.cookies", async () => {
      const r = await fetch(`${server.url}/cookies`, { headers: [["cookie", 'a=1; b="x y"'], ["cookie", "c=3; a=9"]] });
      assert.equal(r.status, 200);
      const { cookies } = (await r.json()) as { cookies: Record<string, string> };
      assert.equal(cookies.a, "1", "the first of a repeated name wins");
      assert.equal(cookies.c, "3");
      assert.match(cookies.b!, /^"?x y"?$/);
    });

    it("sends each cookie set as its own Set-Cookie header, with its attributes", async () => {
      const r = await fetch(`${server.url}/cookies`);
      const set = r.headers.getSetCookie();
      assert.equal(set.length, 3, set.join(" | "));
      const [session, theme, old] = set as [string, string, string];
      assert.match(session, /^session=/);
      assert.match(session, /Max-Age=3600/i);
      assert.match(session, /HttpOnly/i);
      assert.match(session, /Path=\//i);
      assert.match(session, /SameSite=Lax/i);
      assert.match(theme, /^theme=dark;/);
      assert.match(theme, /SameSite=Strict/i);
      assert.match(theme, /Secure/i);
      assert.match(old, /^old=(""|);/);
      assert.match(old, /Max-Age=0/i);
    });

    it("binds urlencoded form fields by name, converted like query parameters", async () => {
      const body = new URLSearchParams([["name", "Ada L"], ["age", "36"], ["tags", "a"], ["tags", "b"]]);
      const r = await fetch(`${server.url}/form`, { method: "POST", body });
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { name: "Ada L", age: 36, tags: ["a", "b"] });
    });

    it("answers 422 naming a form field that does not convert", async () => {
      const r = await fetch(`${server.url}/form`, { method: "POST", body: new URLSearchParams({ name: "x", age: "old" }) });
      assert.equal(r.status, 422);
      const answer = (await r.json()) as { errors: { loc: string[] }[] };
      assert.deepEqual(answer.errors[0]!.loc.slice(0, 2), ["body", "age"]);
    });

    it("still reads JSON sent with a form content type (curl -d)", async () => {
      const r = await fetch(`${server.url}/form`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: '{"name": "J", "age": 5}',
      });
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { name: "J", age: 5, tags: [] });
    });

    it("binds a multipart file part to a file parameter, bytes intact", async () => {
      const bytes = randomBytes(300_000);
      const form = new FormData();
      form.append("title", "report ✓");
      form.append("doc", new Blob([bytes], { type: "application/pdf" }), "q3.pdf");
      const r = await fetch(`${server.url}/upload`, { method: "POST", body: form });
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), {
        title: "report ✓",
        filename: "q3.pdf",
        type: "application/pdf",
        size: bytes.length,
        sha256: createHash("sha256").update(bytes).digest("hex"),
      });
    });

    it("answers 422 when a file is missing, and 413 for a form of too many fields", async () => {
      const form = new FormData();
      form.append("title", "no file");
      const missing = await fetch(`${server.url}/upload`, { method: "POST", body: form });
      assert.equal(missing.status, 422);
      const many = new URLSearchParams();
      for (let i = 0; i < 1500; i++) many.append(`f${i}`, "1");
      const tooMany = await fetch(`${server.url}/form`, { method: "POST", body: many });
      assert.equal(tooMany.status, 413);
      assert.match(((await tooMany.json()) as { detail: string }).detail, /1000/);
    });
  });
}
