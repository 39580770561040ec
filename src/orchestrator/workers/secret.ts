/** The per-run secret a worker must present in its Hello (docs/protocol.md, "Connection"). */
import { randomBytes } from "node:crypto";

export function createRunSecret(): string {
  return randomBytes(32).toString("hex");
}
