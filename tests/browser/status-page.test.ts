/**
 * The status page in headless Chromium, under load: the numbers it shows move, each worker row is
 * a real worker, and the charts draw. Saves a screenshot to test-artifacts/status-page.png.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { artifactPath, launchBrowser, type Page } from "../support/browser.js";
import { count2xx, formatTally, runLoad } from "../support/load.js";
import { childPids, startServer, type RunningServer } from "../support/server.js";

interface Shown {
  updates: number;
  total: number;
  rps: number;
  p50: number;
  workers: { id: string; pid: number; state: string; rss: number; served: number }[];
  /** Pixels of the requests-per-second chart painted in the bar colour. */
  barPixels: number;
}

/** What the page displays now, from the elements' data-value attributes. */
function readPage(page: Page): Promise<Shown> {
  return page.evaluate(() => {
    const value = (id: string): number => Number(document.getElementById(id)!.dataset.value || "0");
    const rows = [...document.querySelectorAll<HTMLTableRowElement>("#workers tr")];
    const field = (row: HTMLTableRowElement, name: string): number =>
      Number(row.querySelector<HTMLElement>(`[data-field="${name}"]`)!.dataset.value);
    const canvas = document.getElementById("chart-rps") as HTMLCanvasElement;
    const accent = getComputedStyle(document.documentElement).getPropertyValue("--accent").trim();
    const rgb = [1, 3, 5].map((i) => parseInt(accent.slice(i, i + 2), 16));
    const pixels = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
    let barPixels = 0;
    for (let i = 0; i < pixels.length; i += 4) {
      if (pixels[i] === rgb[0] && pixels[i + 1] === rgb[1] && pixels[i + 2] === rgb[2] && pixels[i + 3] === 255) barPixels++;
    }
    return {
      updates: Number(document.body.dataset.updates ?? "0"),
      total: value("requests-total"),
      rps: value("rps"),
      p50: value("p50"),
      workers: rows.map((row) => ({
        id: row.dataset.workerId!,
        pid: field(row, "pid"),
        state: row.querySelector<HTMLElement>('[data-field="state"]')!.dataset.value!,
        rss: field(row, "rss"),
        served: field(row, "served"),
      })),
      barPixels,
    };
  });
}

/** Resolves once the page has drawn another status.json after `shown`. */
async function nextUpdate(page: Page, shown: Shown): Promise<Shown> {
  await page.waitForFunction((n) => Number(document.body.dataset.updates ?? "0") > n, shown.updates, { timeout: 5_000 });
  return readPage(page);
}

describe("status page in a browser", () => {
  it("shows live numbers that move under load, each real worker, and the charts", async (t) => {
    const browser = await launchBrowser();
    let server: RunningServer | undefined;
    try {
      server = await startServer("tests/fixtures/pyapp.py:app", ["--workers", "2", "--status-page"]);
      const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
      const problems: string[] = [];
      page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
      page.on("console", (msg) => msg.type() === "error" && problems.push(`console error: ${msg.text()}`));

      await page.goto(`${server.url}/_neutrino/`);
      await page.waitForFunction(() => Number(document.body.dataset.updates ?? "0") >= 1, undefined, { timeout: 5_000 });
      const before = await readPage(page);
      assert.equal(before.total, 0, "the page's own polling is not counted");
      assert.equal(before.rps, 0);
      assert.equal(before.barPixels, 0, "no bars before any request");

      // Steady load for ~3.5 s: quick /add calls, and now and then a /sleep that keeps a worker busy.
      const load = runLoad({
        baseUrl: server.url,
        clients: 3,
        requests: 20_000,
        durationMs: 3_500,
        target: (i) => ({ path: i % 10 === 0 ? "/sleep?seconds=0.05" : `/add?x=${i}&y=1` }),
      });
      // req/s counts complete seconds: it turns positive within about two seconds of load.
      await page.waitForFunction(() => Number(document.getElementById("rps")!.dataset.value) > 0, undefined, { timeout: 5_000 });
      const during = await readPage(page);
      const later = await nextUpdate(page, during);

      assert.ok(during.total > before.total, `requests served moved: ${before.total} → ${during.total}`);
      assert.ok(later.total > during.total, `and keep moving under load: ${during.total} → ${later.total}`);
      assert.ok(during.rps > before.rps, `req/s moved: ${before.rps} → ${during.rps}`);
      assert.ok(later.p50 > 0, "a latency percentile is shown");
      assert.ok(later.barPixels > 0, "the requests-per-second chart draws bars");

      const pids = childPids(server.proc.pid!);
      assert.deepEqual(later.workers.map((w) => w.id), ["w0", "w1"]);
      for (const w of later.workers) {
        assert.ok(pids.includes(w.pid), `${w.id}: pid ${w.pid} is a worker of the server (${pids.join(", ")})`);
        assert.ok(w.rss > 1_000_000, `${w.id}: RSS ${w.rss}`);
        assert.ok(["idle", "busy"].includes(w.state), `${w.id}: ${w.state}`);
      }
      const served = (s: Shown): number => s.workers.reduce((n, w) => n + w.served, 0);
      assert.ok(served(later) > served(before), "the workers' served counts moved");

      const screenshot = artifactPath("status-page.png");
      await page.screenshot({ path: screenshot, fullPage: true });
      t.diagnostic(`screenshot: ${screenshot}`);

      const tally = await load;
      assert.equal(count2xx(tally), tally.sent, formatTally("load", tally));
      assert.deepEqual(problems, []);
    } finally {
      await browser.close();
      await server?.stop();
    }
  });
});
