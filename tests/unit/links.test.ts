/** The relative links and #anchors of README.md and docs/*.md resolve (anchors computed as GitHub does). */
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { anchorsOf, brokenLinks } from "../support/links.js";
import { repoRoot } from "../support/paths.js";

const documents = ["README.md", ...readdirSync(join(repoRoot, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];

describe("documentation links", () => {
  for (const document of documents) {
    it(`every relative link of ${document} resolves`, () => {
      assert.deepEqual(brokenLinks(join(repoRoot, document), repoRoot), []);
    });
  }
});

describe("the link checker", () => {
  it("slugs headings as GitHub does, numbering repeats and ignoring code blocks", () => {
    const anchors = anchorsOf("# Quick start\n## `neutrino serve` — options\n## Quick start\n```\n# not a heading\n```\n");
    assert.deepEqual([...anchors], ["quick-start", "neutrino-serve--options", "quick-start-1"]);
  });

  it("reports a missing file and a missing anchor, and skips links in code and absolute URLs", () => {
    const dir = mkdtempSync(join(tmpdir(), "links-"));
    try {
      writeFileSync(join(dir, "other.md"), "# Here\n");
      writeFileSync(
        join(dir, "doc.md"),
        "# Top\n[ok](other.md#here) [self](#top) [gone](missing.md) [nowhere](other.md#there) [web](https://example.com/x.md)\n" +
          "`[code](missing-too.md)`\n```\n[fenced](missing-three.md)\n```\n",
      );
      assert.deepEqual(brokenLinks(join(dir, "doc.md"), dir), [
        "doc.md: missing.md (no such file)",
        "doc.md: other.md#there (no heading #there)",
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
