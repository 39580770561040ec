/** The option table (src/orchestrator/options.ts): the CLI, the environment, the file and the docs all follow it. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { Command } from "commander";
import { CONFIGURATION_DOC, optionsTable, withOptionsTable } from "../../scripts/docs-options.js";
import { applyConfig, envName } from "../../src/orchestrator/config.js";
import { commanderOptions, longName, SERVE_OPTIONS, type OptionSpec } from "../../src/orchestrator/options.js";
import { runCli } from "../support/server.js";

const entries = Object.entries(SERVE_OPTIONS as Record<string, OptionSpec<unknown>>);

function serveCommand(): Command {
  const command = new Command("serve").exitOverride();
  for (const [key, spec] of entries) for (const option of commanderOptions(key, spec)) command.addOption(option);
  return command;
}

describe("option table", () => {
  it("docs/configuration.md holds the current options table (npm run docs:options rewrites it)", () => {
    const doc = readFileSync(CONFIGURATION_DOC, "utf8");
    assert.equal(doc, withOptionsTable(doc), "docs/configuration.md is out of date: run npm run docs:options");
  });

  it("the docs table has a row per option, naming its flag, variable and file key", () => {
    const table = optionsTable();
    for (const [, spec] of entries) {
      const name = longName(spec);
      const line = table.split("\n").find((l) => l.includes(`\`${spec.flags}\``));
      assert.ok(line, `no row for ${spec.flags}`);
      assert.ok(line.includes(`\`${envName(name)}\``), `${spec.flags}: no ${envName(name)}`);
      assert.ok(spec.notInFile || line.includes(`\`${name}\``), `${spec.flags}: no file key`);
    }
  });

  it("an entry whose key is not commander's attribute name is refused", () => {
    assert.throws(() => commanderOptions("maxqueue", SERVE_OPTIONS.maxQueue), /must be declared as "maxQueue"/);
  });

  it("each option's default, flag, variable and file key reach the same setting, checked by the same parser", () => {
    const parsed = (args: string[], env: NodeJS.ProcessEnv = {}, file?: Record<string, unknown>) => {
      const command = serveCommand();
      command.parse(args, { from: "user" });
      applyConfig(command, { env, file: file && { label: "neutrino.toml", values: file }, skip: ["config"] });
      return command.opts();
    };
    assert.equal(parsed([]).workers, 4);
    assert.equal(parsed(["--workers", "3"]).workers, 3);
    assert.equal(parsed([], { NEUTRINO_WORKERS: "5" }).workers, 5);
    assert.equal(parsed([], {}, { workers: 6 }).workers, 6);
    assert.equal(parsed([], { NEUTRINO_PREFETCH: "false" }).prefetch, false);
    assert.equal(parsed([], { NEUTRINO_NO_PREFETCH: "true" }).prefetch, false);
    assert.equal(parsed(["--no-docs"]).docs, false);
    assert.equal(parsed([]).docs, true);
    assert.deepEqual(parsed([], {}, { "cors-origin": ["https://a.example", "https://b.example"] }).corsOrigin, [
      "https://a.example",
      "https://b.example",
    ]);
    assert.equal(parsed([], { NEUTRINO_COMPRESS: "off" }).compress, false);
    assert.throws(() => parsed([], { NEUTRINO_MAX_QUEUE: "-1" }), /NEUTRINO_MAX_QUEUE: must be a whole number/);
    assert.throws(() => parsed([], {}, { config: "x.toml" }), /unknown key "config"/);
  });

  it("neutrino serve --help lists every option of the table", async () => {
    const run = runCli(["serve", "--help"]);
    assert.equal(await run.exited, 0, run.err());
    for (const [, spec] of entries) {
      assert.ok(run.out().includes(spec.flags), `--help lacks ${spec.flags}`);
      if (spec.negate) assert.ok(run.out().includes(`--no-${longName(spec)}`), `--help lacks --no-${longName(spec)}`);
    }
  });
});
