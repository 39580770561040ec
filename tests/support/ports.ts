/** Ports for tests that must name one before a server binds it. */
import { createServer } from "node:net";

/**
 * A free port below the kernel's ephemeral range (32768 and up by default), where the servers other
 * test files start at the same time with `--port 0` never land: a port the kernel hands out and
 * takes back could be theirs a moment later (a "nothing listens on the port" check saw one once in CI).
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once("error", () => resolve(false));
      probe.listen(port, "127.0.0.1", () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
}
