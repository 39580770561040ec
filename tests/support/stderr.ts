/** Captures what the code under test prints on stderr (failing handlers print their stack). */
import { after, before } from "node:test";

/** Within the current suite (or file), keeps stderr quiet and returns what was printed so far. */
export function captureStderr(): () => string {
  const write = process.stderr.write;
  let printed = "";
  before(() => {
    process.stderr.write = ((chunk: string) => ((printed += chunk), true)) as typeof process.stderr.write;
  });
  after(() => {
    process.stderr.write = write;
  });
  return () => printed;
}
