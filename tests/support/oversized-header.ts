/**
 * The check every kind of app shares for a response header the worker protocol cannot carry
 * (over 65,535 bytes): the fixture's /huge-header answers with one of 70,000 bytes, buffered, or
 * streamed with `?stream=true`.
 */
import assert from "node:assert/strict";
import { exchange } from "./raw-http.js";
import { request, type RunningServer } from "./server.js";
import { waitFor } from "./wait.js";

/** Both answers are the 500 saying so, without the header; the log names it; `next` is served after. */
export async function assertHugeHeaderRefused(server: RunningServer, next: string): Promise<void> {
  for (const target of ["/huge-header", "/huge-header?stream=true"]) {
    const [response] = await exchange(server.port, `GET ${target} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    assert.equal(response!.status, 500, `${target}: ${JSON.stringify(response)}`);
    assert.equal(JSON.parse(response!.body).detail, "a response header is too large to send (over 65,535 bytes)");
    assert.equal(response!.headers["x-huge"], undefined);
  }
  await waitFor(() => /x-huge.{0,4} of 70000 bytes/i.test(server.stderr()), 10_000, "the header named in the log");
  assert.equal((await request(`${server.url}${next}`)).status, 200, "the worker serves on");
}
