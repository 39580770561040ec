"""Micro-benchmark of the Python worker's per-request overhead.

    python3 bench/python_worker.py [--requests N]

1. In process: decode a TaskAssignment payload, bind, call the handler, encode the TaskResult.
   The handler's own cost (called directly) is reported beside it.
2. Through a real worker process over a Unix socket, one request at a time (the orchestrator
   never gives a Python worker more than one): the round trip seen by the client, and the
   worker's own CPU time per request (from /proc/<pid>/schedstat), which is the overhead the
   orchestrator pays per request. A bare echo process doing the same socket calls gives the
   floor that any Python worker would have. The worker is started as the orchestrator starts it:
   secret on stdin, Hello first, and NEUTRINO_HEARTBEAT_INTERVAL set (--heartbeat; 5 s is what
   the default --worker-timeout of 30 s gives), so the idle-heartbeat machinery is in the numbers.
"""

import argparse
import os
import secrets
import socket
import struct
import subprocess
import sys
import tempfile
import time
from functools import partial

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "python", "src")
sys.path.insert(0, HERE)

from neutrino.internal.worker.executor import build_route_table, execute  # noqa: E402
from neutrino.internal.worker.protocol import (  # noqa: E402
    HEARTBEAT,
    FrameDecoder,
    Hello,
    TaskResult,
    decode_payload,
    encode_discover_routes,
    encode_shutdown,
    encode_task_assignment,
    encode_task_result_head,
)

FIXTURE = os.path.join(os.path.dirname(HERE), "tests", "fixtures", "good_app.py")
BENCH_APP = FIXTURE + ":app"

CASES = [
    ("GET /add?x=2&y=3", "GET", "/add", "x=2&y=3", b""),
    ("POST /add {x,y}", "POST", "/add", "", b'{"x": 2, "y": 3}'),
    ("POST /process {data}", "POST", "/process", "", b'{"data": {"a": 1, "b": [1, 2, 3]}}'),
    ("GET /greet (defaults)", "GET", "/greet", "", b""),
]

# The same socket work as the worker, and nothing else: the floor for a Python worker.
ECHO_SERVER = r"""
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); s.connect(sys.argv[1])
reply = bytes.fromhex(sys.argv[2]); buf = bytearray(262144); view = memoryview(buf)
L = struct.Struct(">I")
while True:
    n = s.recv_into(view)
    if n == 0: break
    while n < 4 or n < 4 + L.unpack_from(buf, 0)[0]:
        k = s.recv_into(view[n:])
        if k == 0: sys.exit(0)
        n += k
    if buf[4] == 0x05: break
    s.sendall(reply)
"""


def _best_of(rounds: int, n: int, once) -> float:
    """us per call of the fastest round: the least disturbed by other processes."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            once()
        best = min(best, (time.perf_counter() - t0) / n * 1e6)
    return best


def _one_request(table, payload: memoryview) -> bytes:
    task = decode_payload(0x10, payload)
    status, flags, headers, out = execute(table, task)
    return encode_task_result_head(task.task_id, status, flags, headers, len(out)) + out


def in_process(n: int, rounds: int) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("good_app", FIXTURE)
    good_app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(good_app)
    table = build_route_table(good_app.app)
    per_round = max(n // rounds, 1)
    print(f"in process, best of {rounds} rounds of {per_round} requests"
          " (decode + bind + call + encode):")
    for label, method, route, query, body in CASES:
        frame = encode_task_assignment(1, method, route, route, query, [], [], "r-7", "", 0, body)
        args, kwargs = table[route].binder.bind(query, [], body)
        total = _best_of(rounds, per_round, partial(_one_request, table, memoryview(frame)[5:]))
        own = _best_of(rounds, per_round, partial(table[route].handler, *args, **kwargs))
        print(f"  {label:24} {total:6.2f} us total, handler itself {own:5.2f} us"
              f" -> overhead {total - own:5.2f} us")


def _cpu_seconds(pid: int) -> float:
    # schedstat's first field is the exact time on CPU in ns; /proc/<pid>/stat only has
    # clock-tick samples, which a process that sleeps between requests skews.
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except OSError:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _read_frame(sock: socket.socket, decoder: FrameDecoder):
    while True:
        data = sock.recv(262144)
        if not data:
            raise EOFError("worker closed the socket")
        messages = decoder.feed(data)
        if messages:
            return messages[0]


_LENGTH = struct.Struct(">I")


def _skip_heartbeats(conn: socket.socket, buf: bytearray, view: memoryview, got: int) -> None:
    """A worker idle for a heartbeat interval sent Heartbeats before the reply: drop them and
    receive until the reply is whole. Off the measured path but for the one request it hits."""
    while got >= 5 and buf[4] == HEARTBEAT and got >= 4 + _LENGTH.unpack_from(buf, 0)[0]:
        size = 4 + _LENGTH.unpack_from(buf, 0)[0]
        view[: got - size] = view[size:got]
        got -= size
        while got < 5 or got < 4 + _LENGTH.unpack_from(buf, 0)[0]:
            got += conn.recv_into(view[got:])


def _ping_pong(conn: socket.socket, frame: bytes, n: int, pid: int):
    """(round trip, worker CPU) in us per request for n sequential requests."""
    buf = bytearray(262144)
    view = memoryview(buf)
    length = _LENGTH
    cpu0 = _cpu_seconds(pid)
    t0 = time.perf_counter()
    for _ in range(n):
        conn.sendall(frame)
        got = conn.recv_into(view)
        while got < 5 or got < 4 + length.unpack_from(buf, 0)[0]:
            got += conn.recv_into(view[got:])
        if buf[4] == HEARTBEAT:
            _skip_heartbeats(conn, buf, view, got)
    wall = (time.perf_counter() - t0) / n * 1e6
    cpu = (_cpu_seconds(pid) - cpu0) / n * 1e6
    return wall, cpu


def _listen(path: str) -> socket.socket:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    return listener


def _start_worker(tmp: str, heartbeat: float):
    path = os.path.join(tmp, "worker.sock")
    listener = _listen(path)
    env = dict(os.environ, PYTHONPATH=HERE)
    env.pop("NEUTRINO_HEARTBEAT_INTERVAL", None)
    if heartbeat > 0:
        env["NEUTRINO_HEARTBEAT_INTERVAL"] = str(heartbeat)
    proc = subprocess.Popen(
        [sys.executable, "-m", "neutrino.internal.worker.main", path, "bench", BENCH_APP],
        env=env, stdin=subprocess.PIPE,
    )
    secret = secrets.token_hex(32)
    proc.stdin.write(f"{secret}\n".encode())  # as the orchestrator hands it over
    proc.stdin.close()
    conn, _ = listener.accept()
    listener.close()
    decoder = FrameDecoder()
    hello = _read_frame(conn, decoder)
    assert hello == Hello("bench", secret), hello
    _read_frame(conn, decoder)  # WorkerReady
    conn.sendall(encode_discover_routes())
    _read_frame(conn, decoder)  # RouteRegistry
    for _, method, route, query, body in CASES:
        conn.sendall(encode_task_assignment(7, method, route, route, query, [], [], "r-7", "", 0, body))
        reply = _read_frame(conn, decoder)
        assert isinstance(reply, TaskResult) and reply.status == 200, reply
    return proc, conn


def _start_echo(tmp: str):
    path = os.path.join(tmp, "echo.sock")
    listener = _listen(path)
    reply = encode_task_result_head(7, 200, 0, [], 13) + b'{"result": 5}'
    proc = subprocess.Popen([sys.executable, "-c", ECHO_SERVER, path, reply.hex()])
    conn, _ = listener.accept()
    listener.close()
    return proc, conn


def through_socket(n: int, rounds: int, heartbeat: float) -> None:
    """Cases and the echo floor interleaved in rounds, so that a noisy neighbour on a shared
    machine hits them alike; each is reported as its best and its median round."""
    per_round = max(n // rounds, 1)
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o700)
        worker, worker_conn = _start_worker(tmp, heartbeat)
        echo, echo_conn = _start_echo(tmp)
        runs = [
            (label, worker_conn, worker.pid,
             encode_task_assignment(7, method, route, route, query, [], [], "r-7", "", 0, body))
            for label, method, route, query, body in CASES
        ]
        runs.append(("bare echo (floor)", echo_conn, echo.pid,
                     encode_task_assignment(7, "GET", "/add", "/add", "x=2&y=3", [], [], "r-7", "", 0, b"")))
        results = {label: [] for label, _, _, _ in runs}
        for _, conn, pid, frame in runs:
            _ping_pong(conn, frame, per_round // 5 + 1, pid)  # warm up
        for _ in range(rounds):
            for label, conn, pid, frame in runs:
                results[label].append(_ping_pong(conn, frame, per_round, pid))
        for conn, proc in ((worker_conn, worker), (echo_conn, echo)):
            conn.sendall(encode_shutdown(True))
            proc.wait(10)
            conn.close()
    armed = f"heartbeat every {heartbeat:g} s when idle" if heartbeat > 0 else "no heartbeat"
    print(f"\nthrough a Unix socket ({armed}), {rounds} rounds of {per_round} sequential requests"
          " per case (best round / median round):")
    for label, samples in results.items():
        walls = sorted(w for w, _ in samples)
        cpus = sorted(c for _, c in samples)
        print(f"  {label:24} round trip {walls[0]:6.2f} / {walls[len(walls) // 2]:6.2f} us,"
              f"  worker CPU {cpus[0]:6.2f} / {cpus[len(cpus) // 2]:6.2f} us per request")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000, help="per case")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--heartbeat", type=float, default=5.0,
                        help="NEUTRINO_HEARTBEAT_INTERVAL for the worker, seconds; 0: unset")
    parser.add_argument("--socket-only", action="store_true", help="skip the in-process part")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs")
    if not args.socket_only:
        in_process(args.requests, args.rounds)
    through_socket(args.requests, args.rounds, args.heartbeat)


if __name__ == "__main__":
    main()
