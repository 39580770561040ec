/**
 * `/openapi.json` and the interactive docs page `/docs`, answered by the orchestrator on a router
 * miss (an app route on the same path wins). The page is Swagger UI from the swagger-ui-dist
 * package, served from node_modules under `/docs/`: nothing comes from a CDN, so it works offline,
 * and its Content-Security-Policy keeps it (and "Try it out") on the same origin.
 */
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { BuiltIn, BuiltInRequest } from "../http/built-ins.js";
import { ANY_METHOD, type RouteInfo } from "../../protocol/messages.js";
import { sendError } from "../http/errors.js";
import { sendPath } from "../http/file-response.js";
import { contentTypeFor } from "../http/static-files.js";
import { buildOpenApiDocument, type OpenApiInfo } from "./document.js";

export const OPENAPI_PATH = "/openapi.json";
export const DOCS_PATH = "/docs";

/** The folder of the swagger-ui-dist package. */
const swaggerUiDir = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));

/** The files of swagger-ui-dist the page uses (and their source maps, for the browser's devtools). */
const ASSETS = new Set([
  "swagger-ui-bundle.js",
  "swagger-ui-bundle.js.map",
  "swagger-ui.css",
  "swagger-ui.css.map",
  "favicon-16x16.png",
  "favicon-32x32.png",
]);

/** swagger-ui-dist's files change only with its version. */
const ASSET_CACHE = "public, max-age=86400";

/**
 * Scripts and styles from this origin only (Swagger UI sets style attributes, hence
 * 'unsafe-inline' for styles alone); requests, "Try it out" included, go to this origin only.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'self'",
  "base-uri 'self'",
  "form-action 'self'",
].join("; ");

/** Loads Swagger UI on the page. Relative URLs throughout, so the page also works behind a path prefix. */
const INIT_SCRIPT = Buffer.from(`window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  displayRequestDuration: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
`);

const escapeHtml = (text: string): string =>
  text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

function page(title: string): Buffer {
  return Buffer.from(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} – API docs</title>
<link rel="stylesheet" href="docs/swagger-ui.css">
<link rel="icon" type="image/png" href="docs/favicon-32x32.png" sizes="32x32">
<link rel="icon" type="image/png" href="docs/favicon-16x16.png" sizes="16x16">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/swagger-ui-bundle.js"></script>
<script src="docs/init.js"></script>
</body>
</html>
`);
}

interface Payload {
  readonly body: Buffer;
  readonly etag: string;
}

function payload(body: Buffer): Payload {
  return { body, etag: `"${createHash("sha1").update(body).digest("base64url")}"` };
}

/** A built-in route (src/orchestrator/http/built-ins.ts). */
export class ApiDocs implements BuiltIn {
  private document: Payload = payload(Buffer.from("{}"));
  /**
   * Whether the app has routes of its own to describe. An ASGI, WSGI or fetch app has none: each
   * of its routes takes every method (`["*"]`) and the app routes the request itself, so its /docs
   * and /openapi.json are its own (FastAPI's), its 404, or its catch-all's (a single-page app's),
   * never an empty document here.
   */
  private described = false;
  private readonly page: Payload;
  private readonly init = payload(INIT_SCRIPT);

  constructor(
    private readonly info: OpenApiInfo,
    private readonly warn: (message: string) => void = () => {},
  ) {
    this.page = payload(page(info.title));
  }

  /** Rebuilds the document from the app's routes (at start-up and on each reload). */
  update(routes: readonly RouteInfo[]): void {
    this.described = routes.some((route) => !route.methods.includes(ANY_METHOD));
    // A foreign app's 2,000 templates would make a document nobody is served.
    if (this.described) this.document = payload(Buffer.from(JSON.stringify(buildOpenApiDocument(routes, this.info, this.warn))));
  }

  /** Whether it serves anything: the app describes its routes. */
  get serving(): boolean {
    return this.described;
  }

  get paths(): readonly string[] {
    return this.described ? [OPENAPI_PATH, DOCS_PATH] : [];
  }

  /** `/openapi.json`, `/docs` and the page's assets. */
  matches(path: string): boolean {
    if (!this.described) return false;
    if (path === OPENAPI_PATH || path === DOCS_PATH) return true;
    if (!path.startsWith(`${DOCS_PATH}/`)) return false;
    const asset = path.slice(DOCS_PATH.length + 1);
    return asset === "" || asset === "init.js" || ASSETS.has(asset);
  }

  answer({ req, res, method, path }: BuiltInRequest): void {
    const asset = path.startsWith(`${DOCS_PATH}/`) ? path.slice(DOCS_PATH.length + 1) : null;
    if (path === OPENAPI_PATH) reply(req, res, method, this.document, "application/json");
    else if (asset === null) reply(req, res, method, this.page, "text/html; charset=utf-8", { "content-security-policy": CSP });
    else if (asset === "") sendError(res, 301, `the docs are at ${DOCS_PATH}`, { location: `../docs` });
    else if (asset === "init.js") reply(req, res, method, this.init, "text/javascript; charset=utf-8");
    else {
      sendPath(req, res, join(swaggerUiDir, asset), contentTypeFor(asset), ASSET_CACHE).catch((err: Error) =>
        sendError(res, 500, `cannot serve ${path}: ${err.message}`),
      );
    }
  }
}

function reply(req: IncomingMessage, res: ServerResponse, method: string, { body, etag }: Payload, type: string, extra: Record<string, string> = {}): void {
  const headers = { etag, "cache-control": "no-cache", ...extra };
  const ifNoneMatch = req.headers["if-none-match"];
  if (ifNoneMatch !== undefined && ifNoneMatch.split(",").some((t) => t.trim().replace(/^W\//, "") === etag)) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, "content-type": type, "content-length": body.length, "x-content-type-options": "nosniff" });
  res.end(method === "HEAD" ? undefined : body);
}
