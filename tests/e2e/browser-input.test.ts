/**
 * What browsers send and expect, through the real CLI and both SDKs: cookies read from the
 * request and set on the response (and forms).
 */
import assert from "node:assert/strict";
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
  });
}
