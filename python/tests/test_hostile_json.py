"""Hostile JSON through the worker's decode -> convert -> call -> encode path, sync and async.

Whatever the body, the answer is a response (400 for what is not JSON or nests too deeply, 422
for what does not fit the handler, 500 for a result JSON cannot carry), never an exception out
of the executor, which would end the worker. Each case runs a few frames down, as in a worker.
"""

import asyncio
import dataclasses
import io
import json
import unittest
from contextlib import redirect_stderr
from typing import Any, List, Optional

from neutrino import App
from neutrino.internal.worker.executor import build_route_table, execute, execute_async
from neutrino.internal.worker.jsondata import MAX_DEPTH, decode_json, nesting_exceeds
from neutrino.internal.worker.protocol import TaskAssignment


@dataclasses.dataclass
class Tree:
    value: int
    children: List["Tree"] = dataclasses.field(default_factory=list)


def make_app(use_async: bool) -> App:
    app = App()

    def route(path: str):
        def register(fn):
            if use_async:
                async def wrapper(**kwargs):
                    return fn(**kwargs)
                wrapper.__signature__ = __import__("inspect").signature(fn)
                wrapper.__annotations__ = fn.__annotations__
                wrapper.__name__ = fn.__name__
                return app.route(path, methods=["POST"])(wrapper)
            return app.route(path, methods=["POST"])(fn)
        return register

    @route("/int")
    def take_int(n: int):
        return {"n": n}

    @route("/float")
    def take_float(n: float):
        return {"n": n}

    @route("/any")
    def echo(n: Any):
        return {"n": n}

    @route("/list")
    def take_list(n: List[Any]):
        return {"count": len(n)}

    @route("/nested")
    def nested(n: List[List[List[int]]]):
        return {"n": n}

    @route("/tree")
    def tree(n: Tree):
        return {"value": n.value}

    @route("/optional")
    def optional(n: Optional[dict] = None):
        return {"n": n}

    @route("/return")
    def give_back(kind: str):
        if kind == "set":
            return {"s": {1, 2}}
        if kind == "object":
            return object()
        if kind == "nan":
            return {"x": float("nan")}
        if kind == "circular":
            loop: list = []
            loop.append(loop)
            return loop
        if kind == "deep":
            value: Any = 0
            for _ in range(100_000):  # built without recursion; no encoder can walk it
                value = [value]
            return value
        if kind == "huge-int":
            return 10 ** 100_000  # more digits than int's str() allows on 3.11
        return {"kind": kind}

    return app


def deep(depth: int, open_: str = "[", close: str = "]", inner: str = "1") -> bytes:
    return (open_ * depth + inner + close * depth).encode()


def deep_object(depth: int) -> bytes:
    return ('{"a": ' * depth + "1" + "}" * depth).encode()


class HostileBodyTest(unittest.TestCase):
    use_async = False

    @classmethod
    def setUpClass(cls) -> None:
        cls.table = build_route_table(make_app(cls.use_async))

    def run_task(self, route: str, body: bytes = b"", query: str = "", frames: int = 60):
        task = TaskAssignment(1, "POST", route, route, query, [], [], "r-1", "", 0, body)

        def below(frames: int):  # the worker's own frames sit above the executor
            if frames:
                return below(frames - 1)
            if self.use_async:
                return asyncio.run(execute_async(self.table, task))
            return execute(self.table, task)

        with redirect_stderr(io.StringIO()):
            status, _flags, _headers, data = below(frames)
        return status, data

    def assert_still_serving(self) -> None:
        status, data = self.run_task("/int", b'{"n": 7}')
        self.assertEqual((status, json.loads(data)), (200, {"n": 7}))

    def test_deep_nesting_is_400_or_422_at_every_depth(self) -> None:
        depths = list(range(1, 40)) + list(range(MAX_DEPTH - 3, MAX_DEPTH + 4)) + list(
            range(975, 1005)) + [2_000, 10_000, 100_000]
        for route in ("/int", "/float", "/any", "/list", "/nested", "/tree", "/optional"):
            for depth in depths:
                for body, levels in ((b'{"n": ' + deep(depth) + b"}", depth + 1),
                                     (b'{"n": ' + deep_object(depth) + b"}", depth + 1),
                                     (deep(depth), depth)):
                    with self.subTest(route=route, depth=levels, body=body[:12]):
                        status, data = self.run_task(route, body)
                        self.assertIn(status, (200, 400, 422), data[:200])
                        if levels > MAX_DEPTH:
                            self.assertEqual(status, 400)
                            self.assertIn(b"deeper than", data)
        self.assert_still_serving()

    def test_no_depth_escapes_the_executor_wherever_it_runs(self) -> None:
        # Near the interpreter's recursion limit, decoding passed and showing the bad value in
        # the 422 raised RecursionError out of the executor, which ended the worker.
        for frames in range(0, 80, 4):
            for depth in range(900, 1010):
                with self.subTest(frames=frames, depth=depth):
                    status, data = self.run_task("/int", b'{"n": ' + deep(depth) + b"}", frames=frames)
                    self.assertEqual(status, 400, data[:200])
        self.assert_still_serving()

    def test_brackets_inside_strings_do_not_count(self) -> None:
        status, data = self.run_task("/any", json.dumps({"n": "[" * 10_000}).encode())
        self.assertEqual((status, json.loads(data)), (200, {"n": "[" * 10_000}))
        escaped = json.dumps({"n": '\\"[' * 1_000}).encode()
        self.assertEqual(self.run_task("/any", escaped)[0], 200)

    def test_huge_integers(self) -> None:
        digits = "9" * 100_000
        status, data = self.run_task("/int", f'{{"n": {digits}}}'.encode())
        self.assertEqual(status, 400, data[:200])
        status, data = self.run_task("/int", query="n=" + digits)
        self.assertEqual(status, 422, data[:200])
        status, data = self.run_task("/int", json.dumps({"n": digits}).encode())
        self.assertEqual(status, 422, data[:200])
        status, data = self.run_task("/float", query="n=" + digits)
        self.assertEqual(status, 422, data[:200])
        self.assert_still_serving()

    def test_nan_and_infinity_are_not_json(self) -> None:
        for word in ("NaN", "Infinity", "-Infinity"):
            with self.subTest(word=word):
                status, data = self.run_task("/float", f'{{"n": {word}}}'.encode())
                self.assertEqual(status, 400)
                self.assertIn(word.lstrip("-").encode(), data)
        self.assertEqual(self.run_task("/float", b'{"n": 1e999}')[0], 422)

    def test_invalid_utf8(self) -> None:
        for body in (b'{"n": "\xff"}', b"\xfe\xff", b'{"n": 1}\xc3'):
            with self.subTest(body=body):
                status, data = self.run_task("/int", body)
                self.assertEqual(status, 400)
                self.assertIn(b"UTF-8", data)

    def test_duplicate_keys_take_the_last(self) -> None:
        status, data = self.run_task("/int", b'{"n": 1, "n": 2}')
        self.assertEqual((status, json.loads(data)), (200, {"n": 2}))

    def test_huge_arrays_and_strings(self) -> None:
        status, data = self.run_task("/list", json.dumps({"n": list(range(1_000_000))}).encode())
        self.assertEqual((status, json.loads(data)), (200, {"count": 1_000_000}))
        text = "x" * 5_000_000
        status, data = self.run_task("/any", json.dumps({"n": text}).encode())
        self.assertEqual(status, 200)
        self.assertEqual(len(json.loads(data)["n"]), 5_000_000)
        status, data = self.run_task("/int", json.dumps({"n": text}).encode())
        self.assertEqual(status, 422)
        self.assertLess(len(data), 1_000)  # the value is not echoed whole

    def test_unserializable_results_are_500(self) -> None:
        for kind in ("set", "object", "nan", "circular", "deep", "huge-int"):
            with self.subTest(kind=kind):
                status, data = self.run_task("/return", json.dumps({"kind": kind}).encode())
                self.assertEqual(status, 500, data[:200])
                self.assertIn(b"not JSON-serializable", data)
        self.assert_still_serving()

    def test_garbage(self) -> None:
        for body in (b"{", b"[" * 50 + b"x", b'{"n": }', b"\x00", b'"\\ud800"', b"{" * 200_000):
            with self.subTest(body=body[:20]):
                self.assertIn(self.run_task("/any", body)[0], (200, 400, 422))
        self.assert_still_serving()


class HostileBodyAsyncTest(HostileBodyTest):
    use_async = True


class NestingScanTest(unittest.TestCase):
    def test_counts_arrays_and_objects_outside_strings(self) -> None:
        self.assertFalse(nesting_exceeds(b"[" * 5 + b"]" * 5, 5))
        self.assertTrue(nesting_exceeds(b"[" * 6 + b"]" * 6, 5))
        self.assertTrue(nesting_exceeds(b'{"a":' * 6 + b"1" + b"}" * 6, 5))
        self.assertTrue(nesting_exceeds(b"[[[[[" + b"[], " * 10 + b"[[]]]]]]]", 5))
        self.assertFalse(nesting_exceeds(b'["[[[[[[[[[["]', 5))
        self.assertFalse(nesting_exceeds(b'["\\"[[[[[[[[[["]', 5))  # an escaped quote
        self.assertTrue(nesting_exceeds(b'["\\\\", [[[[[[]]]]]]]', 5))  # an escaped backslash
        self.assertFalse(nesting_exceeds(b'["\\n[[[[[[", "]]]]]"]', 5))
        self.assertFalse(nesting_exceeds(b"[[]]" * 1000, 5))  # many, but shallow

    def test_decode_json_bounds_depth(self) -> None:
        self.assertEqual(decode_json(deep(MAX_DEPTH - 1)), json.loads(deep(MAX_DEPTH - 1)))
        with self.assertRaises(ValueError):
            decode_json(deep(MAX_DEPTH + 1))


if __name__ == "__main__":
    unittest.main()
