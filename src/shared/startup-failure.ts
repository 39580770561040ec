/**
 * The app could not be loaded, or a worker could not start: the server cannot run. Raised by the
 * Node worker's loader (and sent as StartupError) and by the orchestrator when a worker fails.
 */
import type { StartupError, StartupErrorKind } from "../protocol/messages.js";

export class StartupFailure extends Error {
  override name = "StartupFailure";
  constructor(
    /** A StartupErrorKind from a worker, or the orchestrator's own: spawn, socket, timeout, exited. */
    readonly kind: StartupErrorKind | string,
    message: string,
    readonly traceback = "",
    /** The signal that killed the process before it was ready, if one did (kind "exited"). */
    readonly signal: string | null = null,
  ) {
    super(message);
  }

  static fromMessage(m: StartupError): StartupFailure {
    return new StartupFailure(m.kind, m.message, m.traceback);
  }
}
