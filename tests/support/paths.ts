/** Paths the tests need, independent of the directory the runner starts in. */
import { fileURLToPath } from "node:url";

// Compiled to dist/tests/support/paths.js: the repository root is three levels up.
export const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
