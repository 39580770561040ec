/** Which changed paths --reload counts: source files, --reload-include and --reload-exclude globs, the folders never watched. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { reloadDirs, reloadFilter } from "../../src/orchestrator/reload.js";

describe("--reload's filter", () => {
  const cwd = "/proj";

  it("watches the current directory, else the --reload-dir folders", () => {
    assert.deepEqual(reloadDirs([], cwd), ["/proj"]);
    assert.deepEqual(reloadDirs(["src", "/lib"], cwd), ["/proj/src", "/lib"]);
  });

  it("counts source files, never those under node_modules, .git, virtualenvs, caches or dist", () => {
    const { ignored } = reloadFilter({}, cwd);
    for (const file of ["/proj/app.py", "/proj/src/app.ts", "/proj/settings.toml", "/proj/data.json"]) assert.equal(ignored(file, true), false, file);
    for (const file of ["/proj/README.md", "/proj/page.html"]) assert.equal(ignored(file, true), true, file);
    for (const path of ["/proj/node_modules", "/proj/.venv/lib/x.py", "/proj/venv", "/proj/src/__pycache__/a.py", "/proj/dist/a.js", "/proj/.git"]) {
      assert.equal(ignored(path, undefined), true, path);
    }
    assert.equal(ignored("/proj", undefined), false, "the watched folder itself");
    assert.equal(ignored("/proj/src", false), false);
  });

  it("the folders never watched are judged below the watched folder, not by where it lives", () => {
    assert.equal(reloadFilter({}, "/home/me/dist/proj").ignored("/home/me/dist/proj/app.py", true), false);
  });

  it("a glob with a slash matches the path relative to its watched folder; one without, the name", () => {
    const { ignored } = reloadFilter({ dirs: ["src", "templates"], include: ["*.html", "assets/**/*.css"], exclude: ["generated/**", "*.tmp.py", "migrations"] }, cwd);
    assert.equal(ignored("/proj/templates/page.html", true), false);
    assert.equal(ignored("/proj/templates/deep/er/page.html", true), false);
    assert.equal(ignored("/proj/src/assets/a/b.css", true), false);
    assert.equal(ignored("/proj/src/b.css", true), true, "assets/**/*.css is relative to the watched folder");
    assert.equal(ignored("/proj/src/generated/schema.py", true), true);
    assert.equal(ignored("/proj/src/scratch.tmp.py", true), true);
    assert.equal(ignored("/proj/src/migrations", false), true, "a folder matched by name is not descended into");
    assert.equal(ignored("/proj/src/app.py", true), false);
  });
});
