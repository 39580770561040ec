/** The private directory (mode 0700) holding the worker sockets; removed when the server stops. */
import { mkdtempSync, rmSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export class SocketDir {
  readonly path: string;

  constructor() {
    // mkdtemp already creates 0700; chmod guards against an unusual umask or platform.
    this.path = mkdtempSync(join(tmpdir(), "neutrino-"));
    chmodSync(this.path, 0o700);
  }

  socketPath(workerId: string): string {
    return join(this.path, `${workerId}.sock`);
  }

  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}
