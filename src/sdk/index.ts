/** The TypeScript/JavaScript SDK: `import { App, Request, Response, HTTPException } from "neutrino-server"`. */
export { App, DEFAULT_METHODS, Route, RouteError } from "./app.js";
export type {
  Arguments,
  Handler,
  Middleware,
  RouteOptions,
  SchemaRouteOptions,
  StreamBodyRouteOptions,
  WebSocketHandler,
  WebSocketOptions,
} from "./app.js";
export { Request } from "./request.js";
export type { BodyStream, RequestInit } from "./request.js";
export { HTTPException, Response } from "./response.js";
export type { HeadersInit, ResponseInit } from "./response.js";
export { ServerSentEvent, StreamingResponse } from "./streaming.js";
export type { ServerSentEventInit, StreamBody } from "./streaming.js";
export { WebSocket, WebSocketDisconnect } from "./websocket.js";
export type { StandardSchemaV1 } from "./standard-schema.js";
export type { InjectOptions, InjectResponse } from "./inject.js";
