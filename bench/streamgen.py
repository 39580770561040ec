#!/usr/bin/env python3
"""The `stream` workload's client (bench/bench.py): downloads a streamed response `--count` times
in a row on fresh connections and reports, per download, the time to the first body byte and the
throughput of the whole body. Standard library only; prints one `BENCH_JSON {...}` line.
"""

import argparse
import json
import socket
import statistics
import time


def download(port, path):
    """(ttfb_us, seconds, body bytes) of one GET; raises on anything but a 200."""
    t0 = time.perf_counter()
    sock = socket.create_connection(("127.0.0.1", port))
    try:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        buf = bytearray()
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("connection closed in the head")
            buf += data
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            status_line = head.split(b"\r\n")[0]
            raise RuntimeError(f"answered {status_line!r}")
        received = len(rest)
        while received == 0:
            data = sock.recv(1 << 20)
            if not data:
                break
            received += len(data)
        ttfb = time.perf_counter() - t0
        # Connection: close: the body (chunked or not) ends with the connection. The chunk framing
        # is counted with the body: a few bytes per 64 KiB.
        view = bytearray(1 << 20)
        while True:
            n = sock.recv_into(view)
            if n == 0:
                break
            received += n
        return ttfb * 1e6, time.perf_counter() - t0, received
    finally:
        sock.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--count", type=int, default=3)
    opts = ap.parse_args()
    path = f"/stream?mb={opts.mb}"
    t0 = time.perf_counter()
    runs, errors = [], 0
    for _ in range(opts.count):
        try:
            runs.append(download(opts.port, path))
        except (OSError, RuntimeError) as err:
            print(f"download failed: {err}")
            errors += 1
    duration = time.perf_counter() - t0
    short = sum(1 for _, _, n in runs if n < opts.mb * 2**20)
    result = {
        "duration_us": duration * 1e6,
        "stream": {
            "requests": len(runs), "status": short, "socket": errors, "timeout": 0,
            "bytes": sum(n for _, _, n in runs),
            "ttfb_p50_us": statistics.median(t for t, _, _ in runs) if runs else 0,
            "ttfb_max_us": max((t for t, _, _ in runs), default=0),
            "mib_per_s_p50": statistics.median(n / 2**20 / s for _, s, n in runs) if runs else 0,
        },
    }
    print("BENCH_JSON " + json.dumps(result))


if __name__ == "__main__":
    main()
