/**
 * Writes the options table of docs/configuration.md from the option table (src/orchestrator/options.ts), between
 * `<!-- options:start -->` and `<!-- options:end -->`. `npm run docs:options` runs it; a unit test
 * fails while the doc is out of date.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { envName } from "../src/orchestrator/config.js";
import { APP_ARGUMENT, longName, SERVE_OPTIONS, type OptionSpec } from "../src/orchestrator/options.js";
import { packageRoot } from "../src/shared/package-root.js";

export const CONFIGURATION_DOC = join(packageRoot, "docs", "configuration.md");
const START = "<!-- options:start -->";
const END = "<!-- options:end -->";

const code = (text: string): string => `\`${text}\``;
const cell = (text: string): string => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** An option without a `<value>` or `[value]` is on/off. */
const isSwitch = (spec: OptionSpec<unknown>): boolean => !/[<[]/.test(spec.flags);

function defaultText(spec: OptionSpec<unknown>): string {
  if (spec.defaultText !== undefined) return spec.defaultText;
  if (typeof spec.default === "boolean") return spec.default ? "on" : "off";
  return String(spec.default);
}

function row(spec: OptionSpec<unknown>): string[] {
  const name = longName(spec);
  const flag = spec.negate ? `${code(spec.flags)} / ${code(`--no-${name}`)}` : code(spec.flags);
  const hint = isSwitch(spec)
    ? " (`true`/`false`)"
    : spec.list
      ? " (comma-separated)"
      : spec.flags.includes("[")
        ? " (a value, or `true`/`false`)"
        : "";
  const fileKey = spec.notInFile ? "—" : code(name) + (spec.list ? " (a list)" : "");
  return [spec.doc ?? spec.help, flag, code(envName(name)) + hint, fileKey, defaultText(spec)];
}

/** The markdown table of every `serve` option, APP first. */
export function optionsTable(): string {
  const rows = [
    [APP_ARGUMENT.doc, "`APP` (argument)", code(envName("app")), code("app"), "required"],
    ...Object.values(SERVE_OPTIONS as Record<string, OptionSpec<unknown>>).map(row),
  ];
  const lines = [["option", "flag", "env var", "file key", "default"], ["---", "---", "---", "---", "---"], ...rows];
  return lines.map((cells) => `| ${cells.map(cell).join(" | ")} |`).join("\n");
}

/** `doc` with the text between the markers replaced by the current table. */
export function withOptionsTable(doc: string): string {
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  if (start < 0 || end < start) throw new Error(`the doc has no ${START} … ${END} markers`);
  return `${doc.slice(0, start + START.length)}\n${optionsTable()}\n${doc.slice(end)}`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const before = readFileSync(CONFIGURATION_DOC, "utf8");
  const after = withOptionsTable(before);
  if (after !== before) writeFileSync(CONFIGURATION_DOC, after);
  process.stdout.write(`docs/configuration.md: options table ${after === before ? "already up to date" : "updated"}\n`);
}
