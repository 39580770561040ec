"""The CPU work shared by every Python app of the benchmark: one pure-Python loop.

The harness hands every server the same iteration counts through the environment, so /cpu costs
about 2 ms and /slow about 50 ms of CPU in every Python peer, Neutrino included.
``python3 bench/apps/work.py --calibrate SECONDS`` prints the iterations that take SECONDS of CPU
here; ``--time N`` prints the CPU milliseconds that N iterations take (median of 11).
"""

import os
import sys
import time

# Fixed defaults (about 2 ms and 50 ms on the machine of docs/benchmarks.md) keep the work the same
# from run to run; `npm run bench -- --calibrate` re-fits them to the machine at hand.
CPU_ITERS = int(os.environ.get("BENCH_CPU_ITERS", "25000"))
SLOW_ITERS = int(os.environ.get("BENCH_SLOW_ITERS", "625000"))


def burn(n: int) -> int:
    """Pure-Python CPU work; the result is returned to the client so nothing can be skipped."""
    acc = 0
    for i in range(n):
        acc = (acc * 31 + i) % 1000003
    return acc


def cpu_seconds(n: int) -> float:
    """Median CPU time of burn(n) over 11 runs, after one to warm up."""
    burn(n)
    samples = []
    for _ in range(11):
        start = time.process_time()
        burn(n)
        samples.append(time.process_time() - start)
    return sorted(samples)[len(samples) // 2]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--calibrate":
        print(max(1, round(float(sys.argv[2]) / cpu_seconds(100000) * 100000)))
    elif len(sys.argv) == 3 and sys.argv[1] == "--time":
        print(f"{cpu_seconds(int(sys.argv[2])) * 1000:.2f}")
    else:
        sys.exit("usage: work.py --calibrate SECONDS | --time ITERATIONS")
