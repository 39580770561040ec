/**
 * Starts the real CLI (`bin/neutrino.js`) as a child process on a free port and waits for its
 * "listening" log line; stops it by PID. Every end-to-end test goes through this.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { Agent, request as httpRequest } from "node:http";
import { join } from "node:path";
import { repoRoot } from "./paths.js";

export const cliPath = join(repoRoot, "bin", "neutrino.js");

export interface RunningServer {
  readonly proc: ChildProcess;
  readonly url: string;
  readonly port: number;
  /** Everything the server printed so far. */
  stdout(): string;
  stderr(): string;
  /** Parsed JSON log records printed on stdout. */
  logs(): Record<string, unknown>[];
  /** Sends a signal and resolves with the exit code (or signal name). */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
  exited: Promise<number | string>;
}

export interface StartOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly timeoutMs?: number;
  /** The CLI script to run instead of this checkout's (e.g. an installed package's bin/neutrino.js). */
  readonly cli?: string;
}

export function runCli(args: string[], options: StartOptions = {}): { proc: ChildProcess; out: () => string; err: () => string; exited: Promise<number | string> } {
  const proc = spawn(process.execPath, [options.cli ?? cliPath, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  proc.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  proc.stderr!.setEncoding("utf8").on("data", (d: string) => (err += d));
  const exited = new Promise<number | string>((resolve) =>
    proc.once("exit", (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return { proc, out: () => out, err: () => err, exited };
}

export async function startServer(app: string, flags: string[] = [], options: StartOptions = {}): Promise<RunningServer> {
  const run = runCli(["serve", app, "--port", "0", ...flags], options);
  const parseLogs = (): Record<string, unknown>[] =>
    run
      .out()
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  let exitCode: number | string | null = null;
  void run.exited.then((c) => (exitCode = c));
  for (;;) {
    const listening = parseLogs().find((r) => typeof r.url === "string");
    if (listening) {
      const port = listening.port as number;
      return {
        proc: run.proc,
        url: listening.url as string,
        port,
        stdout: run.out,
        stderr: run.err,
        logs: parseLogs,
        exited: run.exited,
        stop(signal: NodeJS.Signals = "SIGTERM") {
          if (exitCode === null) run.proc.kill(signal);
          return run.exited;
        },
      };
    }
    if (exitCode !== null) throw new Error(`server exited (${exitCode}) before listening:\n${run.out()}\n${run.err()}`);
    if (Date.now() > deadline) {
      run.proc.kill("SIGKILL");
      throw new Error(`server did not listen in time:\n${run.out()}\n${run.err()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** PIDs of the live child processes of `pid`, from /proc. */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the parenthesized command name: state, ppid, ...
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === pid && fields[0] !== "Z") out.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  json: any;
}

export async function request(url: string, init?: RequestInit): Promise<Reply> {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export const post = (url: string, body: string): Promise<Reply> => request(url, { method: "POST", body });

/**
 * GET through node:http on the given agent (a keep-alive agent holding one socket pins the
 * requests to one connection; a fresh non-keep-alive agent opens a new one, which under
 * `--fronts N` the primary hands to the next front).
 */
export function getOn(url: string, agent: Agent = new Agent({ keepAlive: false })): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    httpRequest(url, { agent }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode!, body }));
    })
      .on("error", reject)
      .end();
  });
}
