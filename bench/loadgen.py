#!/usr/bin/env python3
"""Load generator of the mixed workloads (standard library, asyncio).

    python3 bench/loadgen.py --port P --users N --think-ms T --seconds S [--share 0.05]

N simulated users loop: pause (exponentially distributed, mean T ms), then send one request --
GET /slow with probability SHARE, else GET /add?x=2&y=3 -- and wait for its answer. Each user
keeps its connection alive while the server allows; when the server closes it (gunicorn's sync
workers close after every response) the user connects again when it next sends, after its pause.
Latency runs from the moment the user sends (connect included when it needs a new connection)
to the last byte of the response, and is recorded per class. Prints one line:
``BENCH_JSON {...}`` with, per class, requests, errors and latency percentiles in microseconds.

Why not wrk here: wrk's delay() pauses on an open connection, and right after connecting when
the server closed the previous one, so a sync worker blocks on that idle connection for the
whole pause; and two wrk processes (one per class) cannot hold the mix at 5% once latency feeds
back into a closed loop. One process that draws each request's class keeps the mix exact.
"""

import argparse
import asyncio
import json
import math
import random
import time

TIMEOUT_S = 5.0


class Stats:
    def __init__(self):
        self.latencies = []  # seconds, completed requests with a 2xx status
        self.status_errors = 0  # completed, not 2xx
        self.socket_errors = 0  # connect/read/write failures and protocol errors
        self.timeouts = 0

    def summary(self):
        lat = sorted(self.latencies)

        def pct(p):
            if not lat:
                return 0
            return round(lat[min(len(lat) - 1, max(0, math.ceil(p / 100 * len(lat)) - 1))] * 1e6)

        return {
            "requests": len(lat) + self.status_errors,
            "status": self.status_errors, "socket": self.socket_errors, "timeout": self.timeouts,
            "p50_us": pct(50), "p90_us": pct(90), "p99_us": pct(99), "max_us": pct(100),
            "mean_us": round(sum(lat) / len(lat) * 1e6, 1) if lat else 0,
        }


async def read_response(reader):
    """Reads one HTTP/1.1 response; returns (status, keep_alive)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    version, status = lines[0].split(" ", 2)[:2]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip().lower()
    keep_alive = version == "HTTP/1.1" and headers.get("connection") != "close"
    if "content-length" in headers:
        await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding") == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.read()
        keep_alive = False
    return int(status), keep_alive


async def user(host, port, requests, think_s, share, deadline, stats, rng):
    reader = writer = None
    try:
        while True:
            await asyncio.sleep(rng.expovariate(1 / think_s) if think_s > 0 else 0)
            if time.monotonic() >= deadline:
                return
            cls = "slow" if rng.random() < share else "fast"
            s = stats[cls]
            start = time.monotonic()
            try:
                if writer is None:
                    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), TIMEOUT_S)
                writer.write(requests[cls])
                status, keep_alive = await asyncio.wait_for(read_response(reader), TIMEOUT_S)
            except asyncio.TimeoutError:
                s.timeouts += 1
                keep_alive = False
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                s.socket_errors += 1
                keep_alive = False
            else:
                # Only answers completed within the measured window count, as in wrk.
                if time.monotonic() <= deadline:
                    if 200 <= status < 300:
                        s.latencies.append(time.monotonic() - start)
                    else:
                        s.status_errors += 1
            if not keep_alive and writer is not None:
                writer.close()
                reader = writer = None
    finally:
        if writer is not None:
            writer.close()


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--users", type=int, default=16)
    ap.add_argument("--think-ms", type=float, default=75.0)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--share", type=float, default=0.05, help="share of requests that go to the slow path")
    ap.add_argument("--fast-path", default="/add?x=2&y=3")
    ap.add_argument("--slow-path", default="/slow")
    opts = ap.parse_args()

    host_header = f"{opts.host}:{opts.port}"
    requests = {
        cls: f"GET {path} HTTP/1.1\r\nHost: {host_header}\r\n\r\n".encode()
        for cls, path in (("fast", opts.fast_path), ("slow", opts.slow_path))
    }
    stats = {"fast": Stats(), "slow": Stats()}
    start = time.monotonic()
    deadline = start + opts.seconds
    seed = random.Random()
    tasks = [
        asyncio.create_task(user(opts.host, opts.port, requests, opts.think_ms / 1000, opts.share, deadline, stats,
                                 random.Random(seed.random())))
        for _ in range(opts.users)
    ]
    # Users still waiting for an answer at the deadline are not waited for (wrk does the same).
    await asyncio.wait(tasks, timeout=opts.seconds + 0.05)
    elapsed = time.monotonic() - start
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    out = {"duration_us": round(min(elapsed, opts.seconds) * 1e6)}
    out.update({cls: s.summary() for cls, s in stats.items()})
    print("BENCH_JSON " + json.dumps(out), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
