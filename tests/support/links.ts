/**
 * Checks the relative links of Markdown files: each target file exists, and each #anchor names a
 * heading of its target the way GitHub renders it (github-slugger is GitHub's own algorithm).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import GithubSlugger from "github-slugger";

/** Markdown without its fenced code blocks, which hold neither links nor headings. */
const withoutFences = (markdown: string): string => markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, "");

/** The anchors GitHub gives a Markdown file: one per heading (repeats get -1, -2, ...), plus HTML ids. */
export function anchorsOf(markdown: string): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  for (const [, heading] of withoutFences(markdown).matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    // GitHub slugs the heading's rendered text: link targets are not part of it.
    anchors.add(slugger.slug(heading!.replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")));
  }
  for (const [, id] of markdown.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) anchors.add(id!);
  return anchors;
}

/** Every `[text](target)` link target in the prose of a Markdown file. */
export function linksOf(markdown: string): string[] {
  const prose = withoutFences(markdown).replace(/`[^`\n]*`/g, "``"); // inline code holds no links
  return [...prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
}

/** The broken relative links of `file` ("file: target (why)"); an empty list when all resolve. */
export function brokenLinks(file: string, root: string): string[] {
  const broken: string[] = [];
  const markdown = readFileSync(file, "utf8");
  for (const target of linksOf(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto: are not checked here
    const [path, anchor] = target.split("#", 2) as [string, string | undefined];
    const resolved = path === "" ? file : join(dirname(file), decodeURIComponent(path));
    const where = `${relative(root, file)}: ${target}`;
    if (!existsSync(resolved)) {
      broken.push(`${where} (no such file)`);
      continue;
    }
    if (anchor === undefined || statSync(resolved).isDirectory()) continue;
    if (!resolved.endsWith(".md")) {
      broken.push(`${where} (an anchor into a file that is not Markdown)`);
      continue;
    }
    if (!anchorsOf(readFileSync(resolved, "utf8")).has(decodeURIComponent(anchor))) {
      broken.push(`${where} (no heading #${anchor})`);
    }
  }
  return broken;
}
