/** Which routes count as blocking their worker's event loop, from the workers' Heartbeat figures. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BLOCKING_MS, BlockingRoutes } from "../../src/orchestrator/workers/blocking-routes.js";

function tracker(): { routes: BlockingRoutes; changes: [string, boolean][] } {
  const changes: [string, boolean][] = [];
  return { routes: new BlockingRoutes((route, blocking) => void changes.push([route, blocking])), changes };
}

describe("BlockingRoutes", () => {
  it("marks a route whose handlers hold the loop BLOCKING_MS or more per task, once, and leaves quick routes alone", () => {
    const { routes, changes } = tracker();
    routes.report({ "/slow": [2, 2 * 50], "/add": [40, 3] });
    routes.report({ "/slow": [1, 49] });
    assert.deepEqual(changes, [["/slow", true]]);
    assert.equal(routes.isBlocking("/slow"), true);
    assert.equal(routes.isBlocking("/add"), false);
  });

  it("a route near the threshold does not flap; one that turned quick is released", () => {
    const { routes, changes } = tracker();
    routes.report({ "/r": [1, BLOCKING_MS] });
    routes.report({ "/r": [1, BLOCKING_MS - 2] }); // under the mark, above half of it: still blocking
    assert.deepEqual(changes, [["/r", true]]);
    routes.report({ "/r": [50, 0] }); // fifty quick tasks in one report weigh as fifty
    assert.deepEqual(changes, [["/r", true], ["/r", false]]);
    assert.equal(routes.isBlocking("/r"), false);
  });

  it("ignores an entry without tasks", () => {
    const { routes, changes } = tracker();
    routes.report({ "/r": [0, 0] });
    routes.report({});
    assert.deepEqual(changes, []);
  });
});
