/** A worker runtime knows how to start a worker process for one kind of app (Python, Node, ...). */
import type { AppSpec } from "../../shared/app-spec.js";

export interface WorkerCommand {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
}

export interface WorkerRuntime {
  /** Matches WorkerReady.runtime. */
  readonly name: string;
  /** A human description for the banner, e.g. "python3 (3.11)". */
  readonly description: string;
  command(socketPath: string, workerId: string, app: AppSpec): WorkerCommand;
  /** One line that tells the user what to try after this start-up failure, where the runtime knows one. */
  startupHint?(failure: Error): string | null;
}
