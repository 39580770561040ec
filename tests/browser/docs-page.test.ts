/**
 * /docs in headless Chromium (Debian's, driven by playwright-core): the page lists every route, and
 * "Try it out" on /add with x=2, y=3 shows {"result": 5}. Every request the page makes stays on
 * the server's origin. Screenshots go to test-artifacts/ (git-ignored).
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { artifactPath, launchBrowser, type Browser, type Page } from "../support/browser.js";
import { FIXTURE_APP, FIXTURE_FLAGS } from "../support/openapi-fixture.js";
import { request, startServer } from "../support/server.js";

const CASES = [
  { name: "examples/myapp.py:app", app: "examples/myapp.py:app", flags: [] as string[], screenshot: "docs.png" },
  { name: "examples/myapp.ts:app", app: "examples/myapp.ts:app", flags: [] as string[], screenshot: "docs-ts.png" },
  // The fixture worker's RouteRegistry carries hand-written "openapi" operations: the orchestrator's
  // side of the feature, whatever the SDKs generate.
  { name: "fixture worker", app: FIXTURE_APP, flags: [...FIXTURE_FLAGS], screenshot: "docs-fixture.png" },
];

/** The expanded-or-not block of one operation, found by method and path (operationIds vary by SDK). */
function operation(page: Page, method: string, path: string) {
  return page.locator(`.opblock.opblock-${method}`).filter({ has: page.locator(`.opblock-summary-path[data-path="${path}"]`) });
}

/** Opens GET /add, clicks "Try it out", gives x=2 and y=3 (as parameters, else as the JSON body), executes; returns the response body shown. */
async function tryAdd(page: Page): Promise<string> {
  const op = operation(page, "get", "/add");
  await op.locator(".opblock-summary").click();
  await op.getByRole("button", { name: "Try it out" }).click();
  const x = op.locator('tr[data-param-name="x"] input');
  if ((await x.count()) > 0) {
    await x.fill("2");
    await op.locator('tr[data-param-name="y"] input').fill("3");
  } else {
    const body = op.locator("textarea.body-param__text");
    assert.equal(await body.count(), 1, "GET /add's operation has neither x and y parameters nor a JSON body: the SDK sent no usable \"openapi\" for it");
    await body.fill('{"x": 2, "y": 3}');
  }
  await op.getByRole("button", { name: "Execute" }).click();
  const shown = op.locator(".live-responses-table .response .response-col_description .microlight").first();
  await shown.waitFor({ timeout: 10_000 });
  return (await shown.textContent()) ?? "";
}

describe("the /docs page in headless Chromium", () => {
  let browser: Browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(() => browser?.close());

  for (const c of CASES) {
    it(`${c.name}: lists every route, and "Try it out" on /add gives 5`, async () => {
      const server = await startServer(c.app, ["--workers", "1", ...c.flags]);
      const page = await browser.newPage();
      try {
        const origin = new URL(server.url).origin;
        const elsewhere: string[] = [];
        const errors: string[] = [];
        page.on("request", (r) => {
          if (new URL(r.url()).origin !== origin) elsewhere.push(r.url());
        });
        page.on("pageerror", (e) => errors.push(e.message));
        page.on("console", (m) => m.type() === "error" && errors.push(m.text()));

        await page.goto(`${server.url}/docs`);
        await page.locator(".opblock").first().waitFor({ timeout: 15_000 });
        const doc = (await request(`${server.url}/openapi.json`)).json as { paths: Record<string, Record<string, unknown>> };
        let listed = 0;
        for (const [path, item] of Object.entries(doc.paths)) {
          for (const method of Object.keys(item)) {
            assert.equal(await operation(page, method, path).count(), 1, `${method.toUpperCase()} ${path} is listed`);
            listed++;
          }
        }
        assert.ok(listed >= 3, `${listed} operations listed`);

        let shown: string;
        try {
          shown = await tryAdd(page);
        } finally {
          await page.screenshot({ path: artifactPath(c.screenshot), fullPage: true });
        }
        assert.deepEqual(JSON.parse(shown), { result: 5 }, `the response body shown: ${shown}`);
        assert.deepEqual(elsewhere, [], "every request stays on the server's origin");
        assert.deepEqual(errors, []);
      } finally {
        await page.close();
        await server.stop();
      }
    });
  }
});
