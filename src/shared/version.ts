/** The package's name and version, read once from package.json: the version lives there only. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "./package-root.js";

const pkg = JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { name: string; version: string };

export const packageName: string = pkg.name;
export const version: string = pkg.version;
/** What --version, `neutrino routes` and the start-up banner print, e.g. "neutrino-server 0.1.0". */
export const nameAndVersion = `${packageName} ${version}`;
