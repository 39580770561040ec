#!/usr/bin/env node
/*
 * The `neutrino` command. Run through npx or an npm script, its parent is npm's `sh -c`, which
 * dies on SIGTERM without passing it on: npm exits and the server would run on, orphaned. So when
 * npm started it and that parent goes, the server gets the SIGTERM it missed (drain, then exit),
 * unless a stop signal reached it already (Ctrl-C reaches the whole process group).
 */
if (process.env.npm_command !== undefined) {
  const parent = process.ppid;
  let stopSignalled = false;
  let counting = false;
  const watch = setInterval(() => {
    // Count stop signals only once the command handles them itself, keeping Node's default before.
    if (!counting && process.listenerCount("SIGTERM") > 0) {
      counting = true;
      for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => (stopSignalled = true));
    }
    if (process.ppid === parent) return;
    clearInterval(watch);
    if (!stopSignalled) process.kill(process.pid, "SIGTERM");
  }, 250);
  watch.unref();
}

// V8's young generation stays at two 4 MiB semi-spaces (young-generation.ts says why), unless the
// operator sets a semi-space flag (NODE_OPTIONS, node's argv).
if (!/semi[-_]space/.test(`${process.env.NODE_OPTIONS ?? ""} ${process.execArgv.join(" ")}`)) {
  const { capYoungGeneration } = await import("../dist/src/orchestrator/young-generation.js");
  capYoungGeneration();
}

await import("../dist/src/orchestrator/cli.js");
