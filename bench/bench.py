#!/usr/bin/env python3
"""Neutrino's benchmark harness: runs Neutrino and its peers in turn on loopback, loads each with
wrk, and writes a markdown report. Started by bench/run.sh (`npm run bench`), which installs wrk
and the peers first; see bench/README.md for what every column means.

Standard library only. Every server runs in a process group of its own, started here and stopped
here (SIGTERM to its front process, then SIGKILL to the group); nothing outlives the run.
"""

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
VENV_BIN = BENCH / ".venv" / "bin"
TMP = BENCH / ".tmp"
WRK_DIR = BENCH / "wrk"
RESULTS = BENCH / "results"
DOCS = ROOT / "docs" / "benchmarks.md"
NEUTRINO_ROOT = ROOT  # --neutrino-root: measure the (built) Neutrino of another checkout
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

FAST_PATH = "/add?x=2&y=3"
SLOW_SHARE = 0.05  # mixed workloads: share of requests that go to /slow
CPU_TARGET_S, SLOW_TARGET_S = 0.002, 0.050
DOCS_BEGIN, DOCS_END = "<!-- bench:begin -->", "<!-- bench:end -->"


# ------------------------------------------------------------------------------ /proc helpers


def proc_stat(pid):
    """(ppid, pgrp, utime+stime ticks, starttime) of a process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2 :].split()
    # fields[0] is field 3 of proc(5): state, ppid, pgrp, ..., utime (14), stime (15), starttime (22)
    return int(fields[1]), int(fields[2]), int(fields[11]) + int(fields[12]), int(fields[19])


def all_procs():
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st:
                out[int(name)] = st
    return out


def process_tree(root):
    """{pid: (ppid, pgrp, ticks, starttime)} of root and all its descendants."""
    procs = all_procs()
    if root not in procs:
        return {}
    children = {}
    for pid, st in procs.items():
        children.setdefault(st[0], []).append(pid)
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        tree[pid] = procs[pid]
        todo.extend(children.get(pid, ()))
    return tree


def machine_busy():
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK, steal / CLK_TCK


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20
    except OSError:
        return None


def settled_tree(root, workers, timeout=15.0):
    """The server's process tree once at least `workers` processes run under it, the same ones
    half a second apart, none of whose memory moved by 1 MiB meanwhile. A server may answer before
    then (a worker still loading, Neutrino's route-discovery process still exiting): an idle RSS
    read would count a process half started or on its way out. After `timeout`, the tree as it is."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        tree = process_tree(root)
        kids = sorted(pid for pid in tree if pid != root and not is_helper(pid))
        sizes = [rss_mib(pid) or 0.0 for pid in kids]
        if len(kids) >= workers and last is not None and last[0] == kids and all(
                abs(a - b) < 1.0 for a, b in zip(last[1], sizes)):
            return tree
        if time.monotonic() > deadline:
            return tree
        last = (kids, sizes)
        time.sleep(0.5)


def is_helper(pid):
    """multiprocessing's resource tracker (uvicorn --workers starts one): a child, not a worker."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"multiprocessing.resource_tracker" in f.read()
    except OSError:
        return False


def pin_process(pid, cpus):
    """Every thread of `pid` onto `cpus` (an affinity set is per thread; threads started later
    inherit their creator's)."""
    try:
        tids = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        return
    for tid in tids:
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:
            pass  # the thread ended meanwhile


def machine_info():
    cpuinfo = Path("/proc/cpuinfo").read_text()

    def first(key):
        m = re.search(rf"^{key}\s*:\s*(.*)$", cpuinfo, re.M)
        return m.group(1).strip() if m else "?"

    logical = len(re.findall(r"^processor\s*:", cpuinfo, re.M))
    cores = {(p, c) for p, c in re.findall(r"^physical id\s*:\s*(\d+).*?^core id\s*:\s*(\d+)", cpuinfo, re.M | re.S)}
    mem = re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text())
    flags = first("flags").split()
    return {
        "cpu": first("model name"),
        "family_model": f"family {first('cpu family')}, model {first('model')}, stepping {first('stepping')}",
        "logical_cpus": logical,
        "cores": len(cores) or logical,
        "virtualised": "hypervisor" in flags,
        "mem_gib": round(int(mem.group(1)) / 2**20, 1) if mem else None,
        "kernel": platform.release(),
        "hostname": socket.gethostname(),
    }


# ------------------------------------------------------------------------- process handling

LIVE = {}  # pid -> Popen of every process group started here and not yet stopped


def spawn(cmd, log_path, env=None, cpus=None):
    log = open(log_path, "wb")
    p = subprocess.Popen(
        [str(c) for c in cmd], cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True,
        preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
    )
    log.close()
    LIVE[p.pid] = p
    return p


def group_members(pgid):
    return [pid for pid, st in all_procs().items() if st[1] == pgid]


def stop(p, seen=None, grace=10.0):
    """SIGTERM the front process; after `grace` s SIGKILL its whole group and any descendant seen
    under load that left the group (by pid, checked against its start time)."""
    try:
        os.kill(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and (p.poll() is None or group_members(p.pid)):
        time.sleep(0.1)
    if p.poll() is None or group_members(p.pid):
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid, start in (seen or {}).items():
        st = proc_stat(pid)
        if st and st[3] == start and pid != os.getpid():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass
    LIVE.pop(p.pid, None)


def stop_everything():
    for p in list(LIVE.values()):
        stop(p, grace=3.0)


def wait_reading_cpu(p):
    """Waits for a child to exit and returns its CPU seconds (utime+stime from /proc/<pid>/stat,
    read while it is a zombie, before it is reaped)."""
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
    st = proc_stat(p.pid)
    p.wait()
    LIVE.pop(p.pid, None)
    return st[2] / CLK_TCK if st else float("nan")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, timeout=5.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


# ----------------------------------------------------------------------------------- servers


class Server:
    def __init__(self, name, describe, command, per_w=True, workers=None, default=True, streams=False):
        self.name = name
        self.streams = streams  # its app answers GET /stream (the `stream` workload)
        self.describe = describe
        self.command = command  # (w, port) -> argv
        self.per_w = per_w  # False: one process whatever W (the row says W = 1)
        self.workers = workers or (lambda w: w)  # worker processes to wait for
        self.default = default  # False: a variant, measured only when --only names it


def node():
    return shutil.which("node") or "node"


#: Threads per worker for the threaded WSGI rows: the same on both sides.
WSGI_THREADS = "4"

SERVERS = [
    Server(
        "neutrino", "Neutrino: node orchestrator + W Python workers (`bench/apps/neutrino_app.py`)",
        lambda w, port: [node(), NEUTRINO_ROOT / "bin" / "neutrino.js", "serve", "bench/apps/neutrino_app.py:app",
                         "--workers", w, "--port", port, "--python", VENV_BIN / "python"],
        streams=True,
    ),
    Server(
        "neutrino-noprefetch", "variant of `neutrino` with `--no-prefetch`: a request waits in the orchestrator until a "
        "worker is free (only with `--only neutrino-noprefetch`)",
        lambda w, port: [node(), NEUTRINO_ROOT / "bin" / "neutrino.js", "serve", "bench/apps/neutrino_app.py:app",
                         "--workers", w, "--port", port, "--python", VENV_BIN / "python", "--no-prefetch"],
        default=False,
    ),
    *[Server(
        f"neutrino-fronts{n}", f"variant of `neutrino` with `--fronts {n}`: {n} node fronts sharing the port, each "
        f"supervising W/{n} Python workers (only with `--only neutrino-fronts{n}`)",
        lambda w, port, n=n: [node(), NEUTRINO_ROOT / "bin" / "neutrino.js", "serve", "bench/apps/neutrino_app.py:app",
                              "--workers", w, "--port", port, "--python", VENV_BIN / "python", "--fronts", n],
        workers=lambda w, n=n: w + n,  # the fronts, then the workers under them
        default=False,
    ) for n in (2, 4, 8)],
    Server(
        "neutrino-ts", "Neutrino: node orchestrator + W Node workers, each holding up to 64 requests (`bench/apps/neutrino_app.ts`)",
        lambda w, port: [node(), NEUTRINO_ROOT / "bin" / "neutrino.js", "serve", "bench/apps/neutrino_app.ts:app",
                         "--workers", w, "--port", port],
        streams=True,
    ),
    Server(
        "neutrino-ts-c1", "variant of `neutrino-ts` with `--worker-concurrency 1`: one request at a time per worker, "
        "the others wait in the orchestrator's queue (only with `--only neutrino-ts-c1`)",
        lambda w, port: [node(), NEUTRINO_ROOT / "bin" / "neutrino.js", "serve", "bench/apps/neutrino_app.ts:app",
                         "--workers", w, "--port", port, "--worker-concurrency", "1"],
        default=False,
    ),
    Server(
        "neutrino-asgi", "Neutrino serving the peers' FastAPI app unchanged (`fastapi_app.py`): W Python workers, "
        "each an asyncio loop holding up to 64 requests",
        lambda w, port: [node(), NEUTRINO_ROOT / "bin" / "neutrino.js", "serve", "bench/apps/fastapi_app.py:app",
                         "--workers", w, "--port", port, "--python", VENV_BIN / "python"],
        streams=True,
    ),
    Server(
        "neutrino-asgi-fronts2", "variant of `neutrino-asgi` with `--fronts 2` (two fronts, W/2 workers each; "
        "only with `--only neutrino-asgi-fronts2`)",
        lambda w, port: [node(), NEUTRINO_ROOT / "bin" / "neutrino.js", "serve", "bench/apps/fastapi_app.py:app",
                         "--workers", w, "--port", port, "--python", VENV_BIN / "python", "--fronts", "2"],
        workers=lambda w: w + 2,
        default=False,
    ),
    Server(
        "neutrino-wsgi", "Neutrino serving the peers' Flask app unchanged (`flask_app.py`): W Python workers, "
        "one request at a time each",
        lambda w, port: [node(), NEUTRINO_ROOT / "bin" / "neutrino.js", "serve", "bench/apps/flask_app.py:app",
                         "--workers", w, "--port", port, "--python", VENV_BIN / "python"],
    ),
    Server(
        "neutrino-wsgi-threads", f"variant of `neutrino-wsgi` with `--worker-concurrency {WSGI_THREADS}`: each worker "
        f"runs the Flask app on {WSGI_THREADS} threads (only with `--only`, beside `gunicorn-gthread`)",
        lambda w, port: [node(), NEUTRINO_ROOT / "bin" / "neutrino.js", "serve", "bench/apps/flask_app.py:app",
                         "--workers", w, "--port", port, "--python", VENV_BIN / "python",
                         "--worker-concurrency", WSGI_THREADS],
        default=False,
    ),
    Server(
        "gunicorn-sync", "gunicorn, sync workers, Flask (`flask_app.py`)",
        lambda w, port: [VENV_BIN / "gunicorn", "--workers", w, "--bind", f"127.0.0.1:{port}", "flask_app:app"],
    ),
    Server(
        "gunicorn-gthread", f"gunicorn, gthread workers of {WSGI_THREADS} threads, Flask (`flask_app.py`) "
        "(only with `--only`, beside `neutrino-wsgi-threads`)",
        lambda w, port: [VENV_BIN / "gunicorn", "--workers", w, "--worker-class", "gthread", "--threads", WSGI_THREADS,
                         "--bind", f"127.0.0.1:{port}", "flask_app:app"],
        default=False,
    ),
    Server(
        "uvicorn", "uvicorn --workers W (uvloop, httptools), FastAPI (`fastapi_app.py`)",
        lambda w, port: [VENV_BIN / "uvicorn", "fastapi_app:app", "--workers", w, "--host", "127.0.0.1",
                         "--port", port, "--no-access-log"],
        streams=True,
    ),
    Server(
        "gunicorn-uvicorn", "gunicorn with uvicorn.workers.UvicornWorker, FastAPI (`fastapi_app.py`)",
        lambda w, port: [VENV_BIN / "gunicorn", "--workers", w, "--worker-class", "uvicorn.workers.UvicornWorker",
                         "--bind", f"127.0.0.1:{port}", "fastapi_app:app"],
    ),
    Server(
        "granian", "Granian, ASGI interface, FastAPI (`fastapi_app.py`)",
        lambda w, port: [VENV_BIN / "granian", "--interface", "asgi", "--workers", w, "--host", "127.0.0.1",
                         "--port", port, "--no-ws", "fastapi_app:app"],
        streams=True,
    ),
    Server(
        "granian-wsgi", "Granian, WSGI interface, Flask (`flask_app.py`)",
        lambda w, port: [VENV_BIN / "granian", "--interface", "wsgi", "--workers", w, "--host", "127.0.0.1",
                         "--port", port, "--no-ws", "flask_app:app"],
    ),
    Server(
        "fastify", "Fastify, one process, JSON schemas on every route (`fastify_server.mjs`)",
        lambda w, port: [node(), "bench/apps/fastify_server.mjs", "--port", port],
        per_w=False, workers=lambda w: 0,
    ),
    Server(
        "node-http", "ceiling: one node:http process answering inline in JS (`node_server.mjs`)",
        lambda w, port: [node(), "bench/apps/node_server.mjs", "--port", port],
        per_w=False, workers=lambda w: 0,
    ),
    Server(
        "node-cluster", "ceiling: node:cluster with W workers answering inline in JS (`node_server.mjs`)",
        lambda w, port: [node(), "bench/apps/node_server.mjs", "--port", port, "--workers", w],
    ),
]
SERVER_NAMES = [s.name for s in SERVERS]


class ServerFailed(Exception):
    pass


def check_answers(port):
    """The apps must be equivalent: every route answers 200 with the expected JSON."""
    for method, path, body in (("GET", FAST_PATH, None), ("POST", "/add", b'{"x":2,"y":3}'), ("GET", "/cpu", None), ("GET", "/slow", None)):
        status, data = request(port, method, path, body, timeout=10)
        try:
            result = json.loads(data)["result"]
        except (ValueError, KeyError, TypeError):
            result = None
        ok = status == 200 and (result == 5 if path.startswith("/add") else isinstance(result, int))
        if not ok:
            raise ServerFailed(f"{method} {path} answered {status} {data[:200]!r}")


def start_server(server, w, port, env, log_path):
    p = spawn(server.command(w, port), log_path, env)
    deadline = time.monotonic() + 90
    while True:
        if p.poll() is not None:
            LIVE.pop(p.pid, None)
            raise ServerFailed(f"exited with status {p.returncode} before answering (log: {log_path.relative_to(ROOT)})")
        try:
            if request(port, "GET", FAST_PATH, timeout=2)[0] == 200:
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(p)
            raise ServerFailed(f"did not answer within 90 s (log: {log_path.relative_to(ROOT)})")
        time.sleep(0.2)
    try:
        check_answers(port)
        # Every worker process up and settled before the idle RSS is read.
        settled_tree(p.pid, server.workers(w), timeout=max(1.0, deadline - time.monotonic()))
    except (OSError, ServerFailed) as err:
        stop(p)
        raise ServerFailed(str(err)) from None
    return p


def pin_server(server, root, tree, opts):
    """--pin: Neutrino's front speaks HTTP for its workers, so it shares the load generator's CPU;
    every other process (Neutrino's workers, each peer's master and workers) gets the other CPUs."""
    for pid in tree:
        front = pid == root and server.name.startswith("neutrino")
        pin_process(pid, opts.front_cpus if front else opts.app_cpus)


# --------------------------------------------------------------------------------- workloads


class Workload:
    def __init__(self, name, title, kind, path=None, script="get.lua", users=0, think_ms=0):
        self.name, self.title, self.kind = name, title, kind
        self.path, self.script = path, script  # simple: wrk's URL path and Lua script
        # mixed (bench/loadgen.py): `users` each pause an exponentially distributed time of mean
        # `think_ms` before every request, so they offer at most users / think_ms requests per ms.
        self.users, self.think_ms = users, think_ms


WORKLOADS = [
    Workload("post-add", "Trivial: POST /add with a JSON body", "simple", "/add", "post_add.lua"),
    Workload("get-add", "Trivial: GET /add?x=2&y=3", "simple", FAST_PATH),
    Workload("cpu", "CPU-bound: GET /cpu (about 2 ms of CPU per request)", "simple", "/cpu"),
    Workload("mixed-saturated", "Mixed, saturated: 95% GET /add?x=2&y=3, 5% GET /slow (50 ms of CPU); 64 users pausing "
             "60 ms on average offer up to 1,070 req/s, whose /slow share alone is 2.7 cores of work", "mixed", users=64, think_ms=60),
    Workload("mixed-paced", "Mixed, paced: 95% GET /add?x=2&y=3, 5% GET /slow (50 ms of CPU); 16 users pausing 75 ms "
             "on average offer up to 213 req/s, whose /slow share is 0.53 cores of work", "mixed", users=16, think_ms=75),
]
WORKLOADS.append(Workload("stream", "Streaming: GET /stream, 100 MiB in 64 KiB chunks, downloaded 3 times in a row by one client "
                           "(only the servers whose app streams)", "stream"))
WORKLOAD_NAMES = [w.name for w in WORKLOADS]
STREAM_MIB, STREAM_COUNT = 100, 3


def run_load(workload, port, seconds, opts, front_pid, tag, warmup=False):
    """Runs the workload's load generator for `seconds` (a stream: a number of downloads); returns
    its parsed results by request class, its CPU seconds, and the front process's peak RSS meanwhile."""
    out = TMP / f"{tag}.out"
    if workload.kind == "stream":
        env = None
        count = 1 if warmup or opts.quick else STREAM_COUNT
        argv = [sys.executable, BENCH / "streamgen.py", "--port", port, "--mb", 10 if warmup else STREAM_MIB, "--count", count]
    elif workload.kind == "simple":
        env = dict(os.environ, LUA_PATH=f"{WRK_DIR}/?.lua;;")
        argv = ["wrk", f"-t{opts.wrk_threads}", f"-c{opts.connections}", f"-d{seconds}s", "--timeout", "5s",
                "-s", WRK_DIR / workload.script, f"http://127.0.0.1:{port}{workload.path}"]
    else:
        env = None
        argv = [sys.executable, BENCH / "loadgen.py", "--port", port, "--users", workload.users,
                "--think-ms", workload.think_ms, "--seconds", seconds, "--share", SLOW_SHARE,
                "--fast-path", FAST_PATH, "--slow-path", "/slow"]
    gen = spawn(argv, out, env, cpus=opts.front_cpus)
    peak_rss = 0.0
    # Not gen.poll(): it would reap the generator before its CPU time is read. waitid can peek.
    while not os.waitid(os.P_PID, gen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
        peak_rss = max(peak_rss, rss_mib(front_pid) or 0.0)
        time.sleep(0.25)
    cpu = wait_reading_cpu(gen)
    text = out.read_text(errors="replace")
    m = re.search(r"^BENCH_JSON (\{.*\})$", text, re.M)
    if gen.returncode != 0 or not m:
        raise RuntimeError(f"load generator failed ({out.relative_to(ROOT)}):\n{text[-2000:]}")
    result = json.loads(m.group(1))
    if workload.kind == "simple":  # wrk: fold its error kinds into status / socket / timeout
        result = {"duration_us": result["duration_us"], "all": dict(
            result, socket=result["connect"] + result["read"] + result["write"])}
    return result, cpu, peak_rss


def measure(server, w, workload, port, p, opts, idle_rss):
    tag = f"{server.name}-w{w}-{workload.name}"
    if opts.warmup > 0:
        run_load(workload, port, opts.warmup, opts, p.pid, tag + "-warmup", warmup=True)
    before, t0, busy0 = process_tree(p.pid), time.monotonic(), machine_busy()
    result, gen_cpu, peak_rss = run_load(workload, port, opts.duration, opts, p.pid, tag)
    after, wall, busy1 = process_tree(p.pid), time.monotonic() - t0, machine_busy()
    front = (after.get(p.pid, (0, 0, 0))[2] - before.get(p.pid, (0, 0, 0))[2]) / CLK_TCK
    workers = sum(st[2] - (before[pid][2] if pid in before and before[pid][3] == st[3] else 0)
                  for pid, st in after.items() if pid != p.pid) / CLK_TCK
    classes = {k: v for k, v in result.items() if k != "duration_us"}
    requests = sum(r["requests"] for r in classes.values())
    duration = result["duration_us"] / 1e6
    errors = {k: sum(r[k] for r in classes.values()) for k in ("status", "socket", "timeout")}
    row = {
        "server": server.name, "w": w if server.per_w else 1, "workload": workload.name,
        "requests": requests, "rps": requests / duration if duration else 0.0,
        "errors": sum(errors.values()), "error_detail": errors,
        "front_cpu_s": front, "workers_cpu_s": workers, "gen_cpu_s": gen_cpu, "wall_s": wall,
        # everything else the machine did meanwhile (this harness, other programs, the hypervisor's steal)
        "other_cpu_s": max(0.0, busy1[0] - busy0[0] - front - workers - gen_cpu), "steal_s": busy1[1] - busy0[1],
        "front_rss_mib": peak_rss, "idle_worker_rss_mib": idle_rss,
        "procs_after": len(after), "load": result,
    }
    if workload.kind == "stream":
        r = result["stream"]
        row.update(ttfb_p50=r["ttfb_p50_us"], ttfb_max=r["ttfb_max_us"], mib_per_s=r["mib_per_s_p50"])
    elif workload.kind == "mixed":
        f, s = result["fast"], result["slow"]
        row["slow_share"] = s["requests"] / requests if requests else 0.0
        row.update(fast_p50=f["p50_us"], fast_p99=f["p99_us"], slow_p50=s["p50_us"], slow_p99=s["p99_us"])
        row["fast_rps"], row["slow_rps"] = f["requests"] / duration, s["requests"] / duration
    else:
        r = result["all"]
        row.update(p50=r["p50_us"], p99=r["p99_us"])
    return row


# ----------------------------------------------------------------------------------- reports


def ms(us):
    return f"{us / 1000:.1f}" if us >= 1000 else f"{us / 1000:.2f}"


def per_req(cpu_s, n):
    return f"{cpu_s / n * 1e6:,.0f}" if n else "–"


def fmt_rss(values):
    if not values:
        return "–"
    if len(set(round(v) for v in values)) == 1:
        return f"{len(values)} × {values[0]:.0f}"
    return ", ".join(f"{v:.0f}" for v in values)


DISTURBED_CORES = 0.25


def disturbed(row):
    """Other work took a quarter of a core or more during the row: its numbers are suspect."""
    return row["other_cpu_s"] / row["wall_s"] >= DISTURBED_CORES


def row_cells(row, kind):
    n = row["requests"]
    cells = [f"`{row['server']}`", str(row["w"]), f"{row['mib_per_s']:,.0f}" if kind == "stream" else f"{row['rps']:,.0f}"]
    if kind == "stream":
        cells += [ms(row["ttfb_p50"]), ms(row["ttfb_max"])]
    elif kind == "mixed":
        cells += [f"{row['slow_share'] * 100:.1f}", ms(row["fast_p50"]), ms(row["fast_p99"]), ms(row["slow_p50"]), ms(row["slow_p99"])]
    else:
        cells += [ms(row["p50"]), ms(row["p99"])]
    cells += [
        str(row["errors"]),
        per_req(row["front_cpu_s"], n), per_req(row["workers_cpu_s"], n),
        f"{(row['front_cpu_s'] + row['workers_cpu_s']) / row['wall_s']:.2f}",
        per_req(row["gen_cpu_s"], n), f"{row['gen_cpu_s'] / row['wall_s']:.2f}",
        f"{row['other_cpu_s'] / row['wall_s']:.2f}" + (" ⚠" if disturbed(row) else ""),
        f"{row['front_rss_mib']:.0f}", fmt_rss(row["idle_worker_rss_mib"]),
    ]
    return cells


HEAD_SIMPLE = ["server", "W", "req/s", "p50 ms", "p99 ms"]
HEAD_STREAM = ["server", "W", "MiB/s", "TTFB p50 ms", "TTFB max ms"]
HEAD_MIXED = ["server", "W", "req/s", "slow %", "fast p50 ms", "fast p99 ms", "slow p50 ms", "slow p99 ms"]
HEAD_TAIL = ["errors", "front CPU µs/req", "workers CPU µs/req", "server cores", "load-gen CPU µs/req",
             "load-gen cores", "other cores", "front RSS MiB (load)", "worker RSS MiB (idle)"]


def table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" if i == 0 else "--:" for i in range(len(head))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def render_results(rows, codec, failures, ctx):
    out = []
    for wl in WORKLOADS:
        wl_rows = [r for r in rows if r["workload"] == wl.name]
        if not wl_rows:
            continue
        head = {"mixed": HEAD_MIXED, "stream": HEAD_STREAM}.get(wl.kind, HEAD_SIMPLE) + HEAD_TAIL
        out += [f"### {wl.title}", "", table(head, [row_cells(r, wl.kind) for r in wl_rows]), ""]
        notes = [f"`{r['server']}` W={r['w']}: " + ", ".join(f"{k} {v}" for k, v in r["error_detail"].items() if v)
                 for r in wl_rows if r["errors"]]
        if notes:
            out += ["Errors: " + "; ".join(notes) + ".", ""]
    if any(disturbed(r) for r in rows):
        out += [f"⚠: something else used {DISTURBED_CORES} cores or more of the machine during that row "
                "(other programs, or the hypervisor's steal); rerun it before drawing conclusions.", ""]
    if codec:
        out += ["### Codec micro-benchmark (frames per second, one core)", "",
                table(["codec", "frame", "bytes", "encode frames/s", "decode frames/s"],
                      [[c["codec"], c["frame"], str(c["bytes"]), f"{c['encode_per_s']:,.0f}", f"{c['decode_per_s']:,.0f}"] for c in codec]),
                ""]
    if failures:
        out += ["### Not measured", ""] + [f"- `{name}`: {why}" for name, why in failures] + [""]
    return "\n".join(out)


def render_context(ctx):
    m = ctx["machine"]
    virt = ", virtualised" if m["virtualised"] else ""
    lines = [
        f"- **Machine**: {m['cpu']} ({m['family_model']}), {m['cores']} cores / {m['logical_cpus']} logical CPUs{virt}, "
        f"{m['mem_gib']} GiB RAM, Linux {m['kernel']}, host `{m['hostname']}`",
        f"- **Run**: {ctx['started']} UTC, `{ctx['command']}`, took {ctx['elapsed_s'] / 60:.1f} min; "
        f"{ctx['duration']} s measured after {ctx['warmup']} s of warm-up per row; "
        f"trivial and CPU loads: wrk, {ctx.get('wrk_threads', 1)} thread(s), {ctx['connections']} connections; mixed loads: `bench/loadgen.py`",
        f"- **Software**: {ctx['versions']}",
        f"- **CPU work**: /cpu = {ctx['iters']['py_cpu']:,} and /slow = {ctx['iters']['py_slow']:,} iterations of the "
        f"Python loop in `bench/apps/work.py` ({ctx['iters']['py_cpu_ms']:.2f} ms of CPU per /cpu when the run started); "
        f"the JS servers (Neutrino's TypeScript app, Fastify, the Node ceilings) {ctx['iters']['js_cpu']:,} and "
        f"{ctx['iters']['js_slow']:,} of the same loop in JS, `bench/apps/work.mjs` "
        f"({ctx['iters']['js_cpu_ms']:.2f} ms)",
        "- **Servers**: " + "; ".join(f"`{s.name}` = {s.describe}" for s in SERVERS if s.name in ctx["servers"]),
    ]
    if ctx.get("pin"):
        front, app = ctx["pin"]
        lines.append(f"- **Pinned** (`--pin`): the load generator and Neutrino's front on CPU {front[0]}; every other "
                     f"server process (Neutrino's workers, the peers' processes) on CPU {', '.join(map(str, app))}")
    return "\n".join(lines)


def write_docs(report_body, context, result_file):
    section = "\n".join([
        DOCS_BEGIN,
        f"## Latest results ({result_file.stem})",
        "",
        "Written by `npm run bench`; the same tables are in "
        f"[`bench/results/{result_file.name}`](../bench/results/{result_file.name}).",
        "",
        context,
        "",
        report_body.rstrip(),
        DOCS_END,
    ])
    text = DOCS.read_text() if DOCS.exists() else "# Benchmarks\n\nSee [bench/README.md](../bench/README.md) for how to run them.\n\n"
    if DOCS_BEGIN in text and DOCS_END in text:
        start, end = text.index(DOCS_BEGIN), text.index(DOCS_END) + len(DOCS_END)
        text = text[:start] + section + text[end:]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    DOCS.write_text(text)


# ---------------------------------------------------------------------------------------- main


def neutrino_revision():
    """The measured Neutrino's commit, and whether its source differs from it."""
    def git(*args):
        return subprocess.run(["git", "-C", NEUTRINO_ROOT, *args], capture_output=True, text=True).stdout.strip()
    rev = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "src", "python", "bin")
    shown = NEUTRINO_ROOT.relative_to(ROOT) if NEUTRINO_ROOT.is_relative_to(ROOT) else NEUTRINO_ROOT
    where = "" if NEUTRINO_ROOT == ROOT else f" in `{shown}`"
    return f"{rev}{' + uncommitted changes' if dirty else ''}{where}"


def versions():
    py = VENV_BIN / "python"
    code = ("import importlib.metadata as m, sys; print(sys.version.split()[0]); "
            "[print(n, m.version(n)) for n in ('gunicorn','Flask','uvicorn','fastapi','granian','uvloop','httptools')]")
    out = subprocess.run([py, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout.split("\n")
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0].split(" [")[0]
    node_v = subprocess.run([node(), "--version"], capture_output=True, text=True).stdout.strip()
    pkgs = ", ".join(line for line in out[1:] if line)
    try:
        pkgs += ", fastify " + json.loads((TMP / "node_modules" / "fastify" / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        pass
    return f"Neutrino {neutrino_revision()}; Node {node_v}, Python {out[0]}, {wrk}; {pkgs}"


DEFAULT_ITERS = {"py_cpu": 25000, "py_slow": 625000, "js_cpu": 450000, "js_slow": 11250000}


def work_iterations(recalibrate):
    """Iterations of the CPU loop for /cpu and /slow: fixed (the defaults of bench/apps), or with
    --calibrate fitted to this machine; plus what they cost right now, in CPU ms, for the report."""
    py = [VENV_BIN / "python", BENCH / "apps" / "work.py"]
    js = [node(), BENCH / "apps" / "node_server.mjs"]

    def run(argv):
        return subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=True).stdout.strip()

    iters = dict(DEFAULT_ITERS)
    if recalibrate:
        ratio = SLOW_TARGET_S / CPU_TARGET_S
        iters["py_cpu"], iters["js_cpu"] = int(run(py + ["--calibrate", CPU_TARGET_S])), int(run(js + ["--calibrate", CPU_TARGET_S]))
        iters["py_slow"], iters["js_slow"] = round(iters["py_cpu"] * ratio), round(iters["js_cpu"] * ratio)
    iters["py_cpu_ms"] = float(run(py + ["--time", iters["py_cpu"]]))
    iters["js_cpu_ms"] = float(run(js + ["--time", iters["js_cpu"]]))
    return iters


def run_codecs(seconds):
    out = []
    for cmd in ([node(), BENCH / "codec.mjs", "--json", "--seconds", seconds],
                [VENV_BIN / "python", BENCH / "codec_py.py", "--json", "--seconds", seconds]):
        r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, cwd=ROOT)
        if r.returncode != 0:
            print(f"  codec benchmark {cmd[1]} failed:\n{r.stderr[-2000:]}", file=sys.stderr)
            continue
        out += [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    return out


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="npm run bench --", description="Benchmark Neutrino against its peers (see bench/README.md).")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 s per row after 1 s of warm-up, W=2 only, short codec runs")
    ap.add_argument("--only", default="", help=f"comma list of servers ({', '.join(SERVER_NAMES)}), workloads ({', '.join(WORKLOAD_NAMES)}) and/or 'codec'")
    ap.add_argument("--workers", default=None, help="comma list of W (default 2,4; --quick: 2)")
    ap.add_argument("--duration", type=int, default=None, help="seconds measured per row (default 8; --quick: 2)")
    ap.add_argument("--warmup", type=int, default=None, help="seconds of warm-up before each row (default 2; --quick: 1)")
    ap.add_argument("--calibrate", action="store_true",
                    help="fit the /cpu and /slow loops to about 2 ms and 50 ms on this machine (default: fixed counts)")
    ap.add_argument("--retries", type=int, default=None,
                    help="measure a row again, up to this many times, while other work took a quarter core or more "
                         "of the machine during it; the least disturbed try is kept (default 2; --quick: 0)")
    ap.add_argument("--connections", type=int, default=32, help="wrk connections for saturating loads (default 32)")
    ap.add_argument("--wrk-threads", type=int, default=1,
                    help="wrk threads for saturating loads (default 1; more only where the machine has cores to spare, e.g. W=16)")
    ap.add_argument("--docs", dest="docs", action="store_true", default=None, help="update docs/benchmarks.md (default: only for a full run)")
    ap.add_argument("--no-docs", dest="docs", action="store_false")
    ap.add_argument("--no-build", action="store_true", help="(read by bench/run.sh) do not run `npm run build` first")
    ap.add_argument("--pin", action="store_true",
                    help="the load generator and Neutrino's front on the first CPU, every other server process on "
                         "the rest: the workers' cost at equal W when the front has a core of its own (W < CPUs)")
    ap.add_argument("--neutrino-root", type=Path, default=None,
                    help="measure the Neutrino of another (built) checkout, e.g. a baseline; default: this one")
    opts = ap.parse_args(argv)
    only = [x for x in opts.only.split(",") if x]
    unknown = [x for x in only if x not in SERVER_NAMES + WORKLOAD_NAMES + ["codec"]]
    if unknown:
        ap.error(f"--only: unknown name(s) {', '.join(unknown)}")
    defaults = [s.name for s in SERVERS if s.default]
    opts.servers = [s for s in SERVER_NAMES if s in only] or (defaults if not only or set(only) & set(WORKLOAD_NAMES) else [])
    opts.workloads = [w for w in WORKLOAD_NAMES if w in only] or (WORKLOAD_NAMES if opts.servers else [])
    opts.codec = not only or "codec" in only
    opts.ws = [int(x) for x in (opts.workers or ("2" if opts.quick else "2,4")).split(",")]
    opts.duration = opts.duration or (2 if opts.quick else 8)
    opts.retries = opts.retries if opts.retries is not None else (0 if opts.quick else 2)
    opts.warmup = opts.warmup if opts.warmup is not None else (1 if opts.quick else 2)
    if opts.docs is None:
        opts.docs = not opts.quick and not only and opts.workers is None and opts.duration >= 5
    opts.front_cpus = opts.app_cpus = None
    if opts.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            ap.error("--pin needs at least 2 CPUs")
        opts.front_cpus, opts.app_cpus = {cpus[0]}, set(cpus[1:])
        opts.docs = False
    return opts


def main(argv):
    global NEUTRINO_ROOT
    opts = parse_args(argv)
    if opts.neutrino_root:
        NEUTRINO_ROOT = opts.neutrino_root.resolve()
        if not (NEUTRINO_ROOT / "dist" / "src" / "orchestrator" / "cli.js").exists():
            sys.exit(f"bench: {NEUTRINO_ROOT} has no dist/src/orchestrator/cli.js: run `npm install && npm run build` there first")
    started = datetime.datetime.now(datetime.timezone.utc)
    t_start = time.monotonic()
    TMP.mkdir(exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    logs = TMP / "logs"
    logs.mkdir(exist_ok=True)
    iters = work_iterations(opts.calibrate)
    env = dict(os.environ, PYTHONPATH=str(BENCH / "apps"), BENCH_CPU_ITERS=str(iters["py_cpu"]),
               BENCH_SLOW_ITERS=str(iters["py_slow"]), BENCH_JS_CPU_ITERS=str(iters["js_cpu"]),
               BENCH_JS_SLOW_ITERS=str(iters["js_slow"]))
    env.pop("VIRTUAL_ENV", None)
    print(f"/cpu: {iters['py_cpu']:,} iterations of the Python loop ({iters['py_cpu_ms']:.2f} ms of CPU now), "
          f"{iters['js_cpu']:,} of the JS loop ({iters['js_cpu_ms']:.2f} ms); /slow: 25 times that")

    plan = [(s, w) for s in SERVERS if s.name in opts.servers for w in (opts.ws if s.per_w else [1])]
    total = sum(1 for s, _ in plan for wl in WORKLOADS if wl.name in opts.workloads and (wl.kind != "stream" or s.streams))
    rows, failures, done = [], [], 0
    for server, w in plan:
        port = free_port()
        label = f"{server.name} W={w}"
        try:
            p = start_server(server, w, port, env, logs / f"{server.name}-w{w}.log")
        except ServerFailed as err:
            print(f"  {label}: FAILED to start: {err}", file=sys.stderr)
            failures.append((label, str(err)))
            done += sum(1 for wl in WORKLOADS if wl.name in opts.workloads and (wl.kind != "stream" or server.streams))
            continue
        tree = process_tree(p.pid)
        if opts.pin:
            pin_server(server, p.pid, tree, opts)
        seen = {pid: st[3] for pid, st in tree.items()}
        idle_rss = [rss_mib(pid) or 0.0 for pid in sorted(tree) if pid != p.pid and not is_helper(pid)]
        print(f"{label}: up on port {port}, {len(tree) - 1} child process(es), front {rss_mib(p.pid):.0f} MiB")
        try:
            for wl in WORKLOADS:
                if wl.name not in opts.workloads or (wl.kind == "stream" and not server.streams):
                    continue
                done += 1
                if p.poll() is not None:
                    failures.append((f"{label} {wl.name}", f"server exited with status {p.returncode}"))
                    continue
                try:
                    row = measure(server, w, wl, port, p, opts, idle_rss)
                    for _ in range(opts.retries):  # other work shared the machine: measure again
                        if not disturbed(row):
                            break
                        print(f"  [{done}/{total}] {wl.name}: other work took {row['other_cpu_s'] / row['wall_s']:.2f} "
                              "cores meanwhile; measuring again", flush=True)
                        time.sleep(3)
                        again = measure(server, w, wl, port, p, opts, idle_rss)
                        row = min(row, again, key=lambda r: r["other_cpu_s"] / r["wall_s"])
                except RuntimeError as err:
                    print(f"  [{done}/{total}] {wl.name}: FAILED: {err}", file=sys.stderr)
                    failures.append((f"{label} {wl.name}", str(err).splitlines()[0]))
                    continue
                seen.update({pid: st[3] for pid, st in process_tree(p.pid).items()})
                rows.append(row)
                if wl.kind == "stream":
                    print(f"  [{done}/{total}] {wl.name}: {row['mib_per_s']:,.0f} MiB/s, TTFB p50 {ms(row['ttfb_p50'])} ms, "
                          f"{row['errors']} errors, front RSS peak {row['front_rss_mib']:.0f} MiB", flush=True)
                    continue
                lat = (f"fast p50 {ms(row['fast_p50'])} p99 {ms(row['fast_p99'])} ms, slow p50 {ms(row['slow_p50'])} "
                       f"p99 {ms(row['slow_p99'])} ms, slow {row['slow_share'] * 100:.1f}%"
                       if wl.kind == "mixed" else f"p50 {ms(row['p50'])} p99 {ms(row['p99'])} ms")
                print(f"  [{done}/{total}] {wl.name}: {row['rps']:,.0f} req/s, {lat}, {row['errors']} errors, "
                      f"server {(row['front_cpu_s'] + row['workers_cpu_s']) / row['wall_s']:.2f} cores, "
                      f"load-gen {row['gen_cpu_s'] / row['wall_s']:.2f} cores", flush=True)
        finally:
            stop(p, seen)

    codec = []
    if opts.codec:
        print("codec micro-benchmarks ...", flush=True)
        codec = run_codecs(0.5 if opts.quick else 2)

    ctx = {
        "machine": machine_info(), "started": started.strftime("%Y-%m-%d %H:%M"),
        "command": "npm run bench" + ("" if not argv else " -- " + " ".join(argv)),
        "elapsed_s": time.monotonic() - t_start, "duration": opts.duration, "warmup": opts.warmup,
        "connections": opts.connections,
        "wrk_threads": opts.wrk_threads,
        "versions": versions(), "iters": iters, "servers": opts.servers,
        "pin": opts.pin and (sorted(opts.front_cpus), sorted(opts.app_cpus)),
    }
    body = render_results(rows, codec, failures, ctx)
    context = render_context(ctx)
    stamp = started.strftime("%Y%m%dT%H%M%SZ") + ("-quick" if opts.quick else "")
    result_file = RESULTS / f"{stamp}.md"
    result_file.write_text(f"# Neutrino benchmark {stamp}\n\n{context}\n\nColumns: see bench/README.md.\n\n{body}")
    (TMP / f"{stamp}.json").write_text(json.dumps({"context": ctx, "rows": rows, "codec": codec, "failures": failures}, indent=1))
    if opts.docs:
        write_docs(body, context, result_file)
    print(f"\nwrote {result_file.relative_to(ROOT)}" + (" and docs/benchmarks.md" if opts.docs else "")
          + f" in {ctx['elapsed_s'] / 60:.1f} min")
    return 1 if failures else 0


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        print("bench: interrupted; stopping what it started", file=sys.stderr)
        sys.exit(130)
    finally:
        stop_everything()
