/**
 * The orchestrator's own stdout and stderr can fail under it: a log reader that exits leaves a
 * pipe without a reader (EPIPE). Losing the log must not stop the server: errors on either stream
 * are absorbed, and the first is reported once on the other stream, in case that one still works.
 */
export function tolerateLostStdio(): void {
  const streams = [
    ["stdout", process.stdout],
    ["stderr", process.stderr],
  ] as const;
  for (const [name, stream] of streams) {
    let reported = false;
    stream.on("error", (err: NodeJS.ErrnoException) => {
      if (reported) return;
      reported = true;
      const other = stream === process.stdout ? process.stderr : process.stdout;
      if (!other.destroyed && other.writable) {
        other.write(`neutrino: cannot write to ${name} (${err.code ?? err.message}); what is written there is lost, serving goes on\n`);
      }
    });
  }
}
