/**
 * The protocol-speaking fixture worker (tests/fixtures/openapi_worker.mjs), served as if it were a
 * Python interpreter, so a test controls the RouteRegistry exactly ("openapi" entries included).
 */
import { join } from "node:path";
import { repoRoot } from "./paths.js";

export const FIXTURE_APP = "openapi_fixture:app";
export const FIXTURE_FLAGS = ["--workers", "1", "--python", join(repoRoot, "tests", "fixtures", "openapi_worker.mjs")] as const;
