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
