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

/*
 * Keep V8's young generation at its initial size. By default it doubles under load, to 16 MiB a
 * semi-space, which is most of the front's memory beyond node:http's and buys nothing here: what
 * a request allocates dies within the request. `--max-semi-space-size` would cap it too, but only
 * when given at V8's start (setFlagsFromString is too late for it; the growth factor is read at
 * every growth). A semi-space flag of the operator's (NODE_OPTIONS, node's argv) wins.
 */
const v8Flags = `${process.env.NODE_OPTIONS ?? ""} ${process.execArgv.join(" ")}`;
if (!/semi[-_]space/.test(v8Flags)) {
  const { setFlagsFromString } = await import("node:v8");
  setFlagsFromString("--semi-space-growth-factor=1");
}

await import("../dist/src/orchestrator/cli.js");
