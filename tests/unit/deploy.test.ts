/**
 * The deployment files in deploy/ agree with the CLI: probe paths, port, bind address, and a
 * termination grace period longer than the drain. The CLI's defaults are read from its own
 * `serve --help`, so changing a default there without updating the manifests fails here.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { repoRoot } from "../support/paths.js";

type Doc = Record<string, any>;

/**
 * `--option` defaults, as `neutrino serve --help` prints them ("(default: 8000)", "(default: \"/ready\")");
 * "(default: $PORT, else 8000)" is 8000, the default where a platform's variable is not set, and
 * "(default: 127.0.0.1, or 0.0.0.0 when …)" its first value.
 */
function cliDefaults(): Map<string, string> {
  const help = execFileSync(process.execPath, [join(repoRoot, "bin", "neutrino.js"), "serve", "--help"], { encoding: "utf8" });
  const defaults = new Map<string, string>();
  // An option's help may wrap over several lines (a wrapped line may begin with another option's
  // name, indented deeper): split on the lines that start an option, two spaces in.
  for (const entry of help.split(/\n(?= {2}(?:-\w, )?--)/)) {
    const name = /^\s+(?:-\w, )?(--[\w-]+)/.exec(entry)?.[1];
    const text = /\(default: (.*)\)\s*$/.exec(entry.replace(/\s+/g, " "))?.[1];
    const value = text?.replace(/^\$\w+, else /, "").split(",")[0]!.replace(/^"|"$/g, "");
    if (name && value !== undefined) defaults.set(name, value);
  }
  return defaults;
}

/** The value of `--name` (or `--name=value`) in an argument list, else the CLI's default. */
function option(argv: string[], name: string, defaults: Map<string, string>): string {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === name) return argv[i + 1]!;
    if (argv[i]!.startsWith(`${name}=`)) return argv[i]!.slice(name.length + 1);
  }
  const value = defaults.get(name);
  assert.ok(value !== undefined, `the CLI has no default for ${name}`);
  return value;
}

/** The JSON-array CMD of a Dockerfile. */
function dockerCmd(file: string): string[] {
  const text = readFileSync(join(repoRoot, "deploy", file), "utf8");
  const lines = text.split("\n").filter((line) => /^CMD\s/.test(line));
  assert.equal(lines.length, 1, `${file} has one CMD`);
  const cmd: unknown = JSON.parse(lines[0]!.replace(/^CMD\s+/, ""));
  assert.ok(Array.isArray(cmd), `${file}: CMD is in exec form (a JSON array), so node is PID 1 and gets SIGTERM`);
  return cmd as string[];
}

describe("deployment files", () => {
  let defaults: Map<string, string>;
  let docs: Doc[];
  const kind = (name: string) => {
    const found = docs.filter((doc) => doc.kind === name);
    assert.equal(found.length, 1, `one ${name} in deploy/kubernetes`);
    return found[0]!;
  };

  before(() => {
    defaults = cliDefaults();
    const dir = join(repoRoot, "deploy", "kubernetes");
    docs = readdirSync(dir)
      .filter((file) => /\.ya?ml$/.test(file))
      .flatMap((file) =>
        parseAllDocuments(readFileSync(join(dir, file), "utf8")).map((doc) => {
          assert.deepEqual(doc.errors, [], `${file} parses`);
          return doc.toJS() as Doc;
        }),
      )
      .filter((doc) => doc);
  });

  it("reads the CLI's defaults", () => {
    assert.equal(defaults.get("--port"), "8000");
    assert.equal(defaults.get("--workers"), "4", "not --fronts' wrapped help, which names --workers");
    assert.equal(defaults.get("--host"), "127.0.0.1");
    assert.equal(defaults.get("--graceful-timeout"), "30");
    assert.equal(defaults.get("--health-path"), "/health");
    assert.equal(defaults.get("--ready-path"), "/ready");
  });

  describe("Kubernetes", () => {
    const container = () => {
      const containers = kind("Deployment").spec.template.spec.containers as Doc[];
      assert.equal(containers.length, 1);
      return containers[0]!;
    };
    const argv = () => [...((container().command as string[]) ?? []), ...((container().args as string[]) ?? [])];
    /** The container port, and its name, that the command makes the server listen on. */
    const port = () => {
      const listening = Number(option(argv(), "--port", defaults));
      const declared = (container().ports as Doc[]).find((p) => p.containerPort === listening);
      assert.ok(declared, `the container declares the port the server listens on (${listening})`);
      return { number: listening, name: declared.name as string | undefined };
    };
    const isOurPort = (value: unknown) => value === port().number || (port().name !== undefined && value === port().name);

    it("runs the server itself, bound to every interface", () => {
      assert.deepEqual(argv().slice(0, 3), ["node", "bin/neutrino.js", "serve"], "node directly: npx does not forward SIGTERM");
      assert.equal(option(argv(), "--host", defaults), "0.0.0.0");
    });

    it("probes liveness on the health path and readiness on the ready path, on the server's port", () => {
      const { livenessProbe, readinessProbe, startupProbe } = container();
      assert.equal(livenessProbe.httpGet.path, option(argv(), "--health-path", defaults));
      assert.equal(livenessProbe.httpGet.path, "/health");
      assert.equal(readinessProbe.httpGet.path, option(argv(), "--ready-path", defaults));
      assert.equal(readinessProbe.httpGet.path, "/ready");
      for (const probe of [livenessProbe, readinessProbe, startupProbe].filter(Boolean)) {
        assert.ok(isOurPort(probe.httpGet.port), `probe port ${probe.httpGet.port} is the server's`);
      }
      if (startupProbe) assert.equal(startupProbe.httpGet.path, livenessProbe.httpGet.path);
    });

    it("drains: a preStop hook and a grace period longer than it plus --graceful-timeout", () => {
      const preStop = container().lifecycle?.preStop as Doc | undefined;
      assert.ok(preStop, "a preStop hook");
      const command = preStop.exec?.command as string[] | undefined;
      const preStopSeconds = preStop.sleep?.seconds ?? (command?.[0] === "sleep" ? Number(command[1]) : 0);
      const graceful = Number(option(argv(), "--graceful-timeout", defaults));
      const grace = kind("Deployment").spec.template.spec.terminationGracePeriodSeconds as number;
      assert.ok(grace > graceful, `terminationGracePeriodSeconds ${grace} > --graceful-timeout ${graceful}`);
      assert.ok(grace > graceful + preStopSeconds, `terminationGracePeriodSeconds ${grace} > preStop ${preStopSeconds} s + ${graceful} s`);
    });

    it("a Service sends to the server's port, selecting the Deployment's pods", () => {
      const service = kind("Service");
      const deployment = kind("Deployment");
      assert.ok(isOurPort(service.spec.ports[0].targetPort), `targetPort ${service.spec.ports[0].targetPort}`);
      const labels = deployment.spec.template.metadata.labels as Record<string, string>;
      for (const [key, value] of Object.entries(service.spec.selector as Record<string, string>)) assert.equal(labels[key], value);
    });

    it("an HPA scales the Deployment on CPU", () => {
      const hpa = kind("HorizontalPodAutoscaler");
      assert.equal(hpa.apiVersion, "autoscaling/v2");
      assert.deepEqual(
        { kind: hpa.spec.scaleTargetRef.kind, name: hpa.spec.scaleTargetRef.name },
        { kind: "Deployment", name: kind("Deployment").metadata.name },
      );
      assert.ok((hpa.spec.metrics as Doc[]).some((m) => m.resource?.name === "cpu"));
      assert.ok(container().resources?.requests?.cpu, "CPU utilization needs a CPU request");
    });
  });

  describe("Dockerfiles", () => {
    for (const [file, app] of [
      ["python.Dockerfile", ".py:app"],
      ["typescript.Dockerfile", ".ts:app"],
    ] as const) {
      it(`${file} runs node directly on 0.0.0.0, on the manifests' port`, () => {
        const cmd = dockerCmd(file);
        assert.deepEqual(cmd.slice(0, 3), ["node", "bin/neutrino.js", "serve"]);
        assert.ok(cmd[3]!.endsWith(app), `${file} serves a ${app} app`);
        assert.equal(option(cmd, "--host", defaults), "0.0.0.0");
        const deployment = docs.find((doc) => doc.kind === "Deployment")!;
        const container = deployment.spec.template.spec.containers[0] as Doc;
        const manifestPort = option([...container.command, ...container.args], "--port", defaults);
        assert.equal(option(cmd, "--port", defaults), manifestPort);
        const text = readFileSync(join(repoRoot, "deploy", file), "utf8");
        assert.match(text, new RegExp(`^EXPOSE ${manifestPort}$`, "m"));
        assert.match(text, /^USER (?!root\b)\S+/m, "runs as a non-root user");
      });
    }
  });
});
