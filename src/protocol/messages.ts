/** The wire protocol's messages (docs/protocol.md). Field names are camelCase here, snake_case on the wire. */

export const MessageType = {
  WorkerReady: 0x01,
  DiscoverRoutes: 0x02,
  RouteRegistry: 0x03,
  Heartbeat: 0x04,
  Shutdown: 0x05,
  StartupError: 0x06,
  Hello: 0x07,
  TaskAssignment: 0x10,
  TaskResult: 0x11,
  CancelTask: 0x12,
} as const;

export type Pair = [name: string, value: string];

export interface RouteInfo {
  path: string;
  methods: string[];
}

export interface WorkerReady {
  type: "WorkerReady";
  workerId: string;
  pid: number;
  runtime: string;
  concurrency: number;
}

export interface DiscoverRoutes {
  type: "DiscoverRoutes";
}

export interface RouteRegistry {
  type: "RouteRegistry";
  routes: RouteInfo[];
}

export interface Heartbeat {
  type: "Heartbeat";
  workerId: string;
}

export interface Shutdown {
  type: "Shutdown";
  graceful: boolean;
}

export type StartupErrorKind =
  | "bad_app_path"
  | "module_not_found"
  | "import_error"
  | "attribute_not_found"
  | "not_an_app";

export interface StartupError {
  type: "StartupError";
  kind: StartupErrorKind | string;
  message: string;
  traceback: string;
}

/** The first frame on every connection: proves the worker was started by this orchestrator. */
export interface Hello {
  type: "Hello";
  workerId: string;
  secret: string;
}

export interface CancelTask {
  type: "CancelTask";
  taskId: number;
}

export interface TaskAssignment {
  type: "TaskAssignment";
  taskId: number;
  method: string;
  route: string;
  path: string;
  query: string;
  params: Pair[];
  headers: Pair[];
  /** The request's id (X-Request-Id), for logs and the handler's Request. */
  requestId: string;
  /** The client's address and port; empty and 0 unless the route reads the request. */
  clientHost: string;
  clientPort: number;
  body: Buffer;
}

/** Bit 0 of TaskResult.flags: the handler failed (the seed plan's `success: false`). */
export const HANDLER_FAILED = 0x01;

export interface TaskResult {
  type: "TaskResult";
  taskId: number;
  status: number;
  flags: number;
  headers: Pair[];
  body: Buffer;
}

export type Message =
  | WorkerReady
  | DiscoverRoutes
  | RouteRegistry
  | Heartbeat
  | Shutdown
  | StartupError
  | Hello
  | TaskAssignment
  | TaskResult
  | CancelTask;
