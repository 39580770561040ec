/** Where the installed package lives, so the orchestrator finds the SDKs it ships (python/, protocol/). */
import { fileURLToPath } from "node:url";

// This file compiles to dist/src/shared/package-root.js: the package root is three levels up.
export const packageRoot = fileURLToPath(new URL("../../../", import.meta.url));
