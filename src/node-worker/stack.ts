/** Stack traces as the operator wants them: the user's frames, not the worker's or Node's. */
import { join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { packageRoot } from "../shared/package-root.js";

/** The worker's own files, compiled and (through source maps, under tsx) as sources. */
const workerDirs = [fileURLToPath(new URL(".", import.meta.url)), join(packageRoot, "src", "node-worker") + sep];

function isOurs(line: string): boolean {
  return /^\s+at .*\bnode:internal\//.test(line) || workerDirs.some((dir) => line.includes(dir));
}

/** `err.stack` without the frames of Node's internals and of this worker. */
export function userStack(stack: string): string {
  return stack
    .split("\n")
    .filter((line) => !isOurs(line))
    .join("\n");
}

/** Name, message and stack of whatever was thrown, without trusting it (getters may throw too). */
export function describeThrown(thrown: unknown): { name: string; message: string; stack: string } {
  try {
    if (thrown instanceof Error) {
      const name = String(thrown.name);
      const message = String(thrown.message);
      return { name, message, stack: thrown.stack ? userStack(thrown.stack) : `${name}: ${message}` };
    }
    const text = `a non-Error value was thrown: ${typeof thrown === "string" ? JSON.stringify(thrown) : String(thrown)}`;
    return { name: "NonError", message: text, stack: text };
  } catch {
    return { name: "Error", message: "<the thrown value could not be printed>", stack: "<the thrown value could not be printed>" };
  }
}
