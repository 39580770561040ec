#!/usr/bin/env python3
"""Micro-benchmark of the Python codec (neutrino/internal/worker/protocol.py): frames per
second encoded and decoded, for the two hot-path frames of a POST /add.

    python3 bench/codec_py.py [--seconds S] [--json]

Decoding calls decode_payload() on a memoryview of the payload, as the worker's connection does
with its receive buffer.
"""

import argparse
import json
import sys
import time
from pathlib import Path

# The SDK lives in python/src/neutrino (python/neutrino in older trees).
for _sdk in ("python/src", "python"):
    _dir = Path(__file__).resolve().parent.parent / _sdk
    if (_dir / "neutrino").is_dir():
        sys.path.insert(0, str(_dir))
        break

from neutrino.internal.worker import protocol as p  # noqa: E402

BODY = b'{"x":2,"y":3}'
RESULT = b'{"result": 5}'

FRAMES = {
    # What the orchestrator sends for `POST /add {"x":2,"y":3}` and what the worker answers.
    "TaskAssignment": (
        lambda i: p.encode_task_assignment(i, "POST", "/add", "/add", "", [], [], "0a1b2c3d4e5f6071", "", 0, BODY),
        lambda m: isinstance(m, p.TaskAssignment) and m.method == "POST" and bytes(m.body) == BODY,
    ),
    "TaskResult": (
        lambda i: p.encode_task_result(i, 200, 0, [], RESULT),
        lambda m: isinstance(m, p.TaskResult) and m.status == 200 and bytes(m.body) == RESULT,
    ),
}


def rate(fn, seconds):
    """Calls fn(i) in batches until `seconds` have passed; returns calls per second."""
    for i in range(2000):
        fn(i)
    batch, n = 2000, 0
    start = time.perf_counter()
    limit = start + seconds
    now = start
    while now < limit:
        for i in range(n, n + batch):
            fn(i)
        n += batch
        now = time.perf_counter()
    return n / (now - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--json", action="store_true")
    opts = ap.parse_args()
    rows = []
    for name, (encode, check) in FRAMES.items():
        frame = encode(7)
        view = memoryview(frame)
        type_ = frame[4]
        if not check(p.decode_payload(type_, view[5:])) or not check(p.decode_frame(frame)):
            sys.exit(f"{name} does not survive a round trip")
        payload = view[5:]
        rows.append({
            "codec": f"Python {sys.version.split()[0]}",
            "frame": name,
            "bytes": len(frame),
            "encode_per_s": rate(encode, opts.seconds),
            "decode_per_s": rate(lambda _i: p.decode_payload(type_, payload), opts.seconds),
        })
    for r in rows:
        if opts.json:
            print(json.dumps(r))
        else:
            print(f"{r['frame']:<15} {r['bytes']:>4} bytes  encode {r['encode_per_s']:>11,.0f}/s  decode {r['decode_per_s']:>11,.0f}/s")


if __name__ == "__main__":
    main()
