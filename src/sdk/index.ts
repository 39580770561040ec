/** The TypeScript/JavaScript SDK: `import { App } from "neutrino"`. */
export { App, DEFAULT_METHODS, Route } from "./app.js";
export type { Arguments, Handler, RouteOptions, SchemaRouteOptions } from "./app.js";
export type { StandardSchemaV1 } from "./standard-schema.js";
