"""Binding query strings, path parameters and JSON bodies to handler parameters."""

import sys
import typing
import unittest
from typing import Any, Dict, List, Optional
from unittest import mock

from neutrino.internal.worker.binding import ArgumentBinder, InvalidArguments, InvalidBody


def bind(handler, query="", body=b"", params=()):
    args, kwargs = ArgumentBinder(handler).bind(query, list(params), body)
    return handler(*args, **kwargs)


def errors(handler, query="", body=b"", params=()):
    with unittest.TestCase().assertRaises(InvalidArguments) as caught:
        ArgumentBinder(handler).bind(query, list(params), body)
    return caught.exception


def echo_int(x: int):
    return x


def echo_float(x: float):
    return x


def echo_bool(x: bool):
    return x


def echo_str(x: str):
    return x


def echo_plain(x):
    return x


class Custom:
    pass


class QueryConversionTest(unittest.TestCase):
    def test_int(self):
        self.assertEqual(bind(echo_int, "x=2"), 2)
        self.assertEqual(bind(echo_int, "x=-12"), -12)
        self.assertEqual(bind(echo_int, "x=%2B7"), 7)
        for bad in ("abc", "2.5", "", "1_000", "%202", "%D9%A3"):
            with self.subTest(bad=bad):
                self.assertEqual(errors(echo_int, "x=" + bad).errors[0]["type"], "int_parsing")

    def test_float(self):
        self.assertEqual(bind(echo_float, "x=2.5"), 2.5)
        self.assertEqual(bind(echo_float, "x=-1e3"), -1000.0)
        value = bind(echo_float, "x=3")
        self.assertEqual((value, type(value)), (3.0, float))
        for bad in ("abc", "nan", "inf", "1e999", ""):
            with self.subTest(bad=bad):
                errors(echo_float, "x=" + bad)

    def test_bool(self):
        for text in ("true", "TRUE", "1", "yes", "On"):
            self.assertIs(bind(echo_bool, "x=" + text), True)
        for text in ("false", "False", "0", "no", "OFF"):
            self.assertIs(bind(echo_bool, "x=" + text), False)
        for bad in ("2", "maybe", ""):
            with self.subTest(bad=bad):
                errors(echo_bool, "x=" + bad)

    def test_str_and_unannotated_are_as_sent(self):
        self.assertEqual(bind(echo_str, "x=2"), "2")
        self.assertEqual(bind(echo_plain, "x=2"), "2")
        self.assertEqual(bind(echo_str, "x=a+b%26c"), "a b&c")
        self.assertEqual(bind(echo_str, "x="), "")
        self.assertEqual(bind(echo_str, "x"), "")  # blank values kept

    def test_repeated_scalar_last_wins(self):
        self.assertEqual(bind(echo_int, "x=1&x=2"), 2)

    def test_list_takes_all_repeated_values(self):
        def tags(tag: List[str]):
            return tag

        def ids(id: list[int]) -> list:  # noqa: A002 - builtin generic, 3.9+
            return id

        self.assertEqual(bind(tags, "tag=a&tag=b&tag=c"), ["a", "b", "c"])
        self.assertEqual(bind(tags, "tag=a"), ["a"])
        self.assertEqual(bind(ids, "id=1&id=2"), [1, 2])
        error = errors(ids, "id=1&id=x").errors[0]
        self.assertEqual((error["loc"], error["type"]), (["query", "id", 1], "int_parsing"))
        self.assertEqual(error["msg"], "field 'id[1]' must be int, got 'x'")

    def test_dict_cannot_come_from_a_query(self):
        def handler(data: dict):
            return data

        error = errors(handler, "data=x").errors[0]
        self.assertEqual((error["loc"], error["type"]), (["query", "data"], "dict_type"))

    def test_any_and_unknown_classes_pass_through(self):
        def handler(a: Any, b: Custom):
            return a, b

        self.assertEqual(bind(handler, "a=1&b=2"), ("1", "2"))


class JsonConversionTest(unittest.TestCase):
    def test_int(self):
        self.assertEqual(bind(echo_int, body=b'{"x": 2}'), 2)
        self.assertEqual(bind(echo_int, body=b'{"x": "2"}'), 2)
        for bad in (b"true", b"2.5", b'"2.5"', b"null", b"[2]"):
            with self.subTest(bad=bad):
                errors(echo_int, body=b'{"x": ' + bad + b"}")

    def test_float(self):
        value = bind(echo_float, body=b'{"x": 2}')
        self.assertEqual((value, type(value)), (2.0, float))
        self.assertEqual(bind(echo_float, body=b'{"x": 2.5}'), 2.5)
        self.assertEqual(bind(echo_float, body=b'{"x": "2.5"}'), 2.5)
        for bad in (b"true", b'"abc"', b"null", b'"nan"'):
            with self.subTest(bad=bad):
                errors(echo_float, body=b'{"x": ' + bad + b"}")

    def test_bool(self):
        self.assertIs(bind(echo_bool, body=b'{"x": true}'), True)
        self.assertIs(bind(echo_bool, body=b'{"x": "off"}'), False)
        for bad in (b"1", b"0", b'"maybe"', b"null"):
            with self.subTest(bad=bad):
                errors(echo_bool, body=b'{"x": ' + bad + b"}")

    def test_str_accepts_strings_only(self):
        self.assertEqual(bind(echo_str, body=b'{"x": "hi"}'), "hi")
        for bad in (b"5", b"true", b"null", b"{}"):
            with self.subTest(bad=bad):
                errors(echo_str, body=b'{"x": ' + bad + b"}")

    def test_dict_and_list(self):
        def handler(d: dict, ls: list, td: Dict[str, int], tl: List[int], bd: dict[str, Any]):
            return d, ls, td, tl, bd

        body = b'{"d": {"a": 1}, "ls": [1], "td": {"b": 2}, "tl": [3, "4"], "bd": {}}'
        self.assertEqual(bind(handler, body=body), ({"a": 1}, [1], {"b": 2}, [3, 4], {}))
        valid = {"d": b"{}", "ls": b"[]", "td": b"{}", "tl": b"[]", "bd": b"{}"}
        invalid = {"d": b"[1]", "ls": b"{}", "td": b'"x"', "tl": b'["x"]', "bd": b"1"}
        for name, bad in invalid.items():
            with self.subTest(name=name):
                parts = dict(valid, **{name: bad})
                body = b"{" + b",".join(b'"%s": %s' % (k.encode(), v) for k, v in parts.items())
                body += b"}"
                error = errors(handler, body=body).errors[0]
                self.assertEqual(error["loc"][:2], ["body", name])

    def test_bare_typing_generics(self):
        def handler(d: typing.Dict, ls: typing.List):
            return d, ls

        self.assertEqual(bind(handler, body=b'{"d": {}, "ls": []}'), ({}, []))
        errors(handler, body=b'{"d": [], "ls": []}')

    def test_optional_accepts_null(self):
        def handler(x: Optional[int]):
            return x

        self.assertIsNone(bind(handler, body=b'{"x": null}'))
        self.assertEqual(bind(handler, body=b'{"x": 3}'), 3)
        self.assertEqual(bind(handler, "x=4"), 4)
        errors(handler, body=b'{"x": "a"}')

    @unittest.skipIf(sys.version_info < (3, 10), "X | None is Python 3.10+")
    def test_pep604_optional(self):
        namespace: Dict[str, Any] = {}
        exec("def handler(x: int | None):\n    return x", namespace)
        self.assertIsNone(bind(namespace["handler"], body=b'{"x": null}'))
        self.assertEqual(bind(namespace["handler"], "x=5"), 5)

    def test_any_and_unknown_pass_through(self):
        def handler(a: Any, b: Custom):
            return a, b

        self.assertEqual(bind(handler, body=b'{"a": [1], "b": {"k": 1}}'), ([1], {"k": 1}))

    def test_unhashable_annotation_passes_through(self):
        def handler(x: [int]):  # type: ignore[valid-type]
            return x

        self.assertEqual(bind(handler, "x=1"), "1")

    def test_string_annotations_are_resolved(self):
        def handler(x: "int"):
            return x

        self.assertEqual(bind(handler, "x=3"), 3)

    def test_unresolvable_annotation_passes_through(self):
        def handler(x: "NoSuchType"):  # noqa: F821
            return x

        self.assertEqual(bind(handler, "x=3"), "3")


class SourcesTest(unittest.TestCase):
    def test_body_object_gives_keywords(self):
        def add(x: int, y: int):
            return x + y

        self.assertEqual(bind(add, body=b'{"x": 2, "y": 3}'), 5)
        self.assertEqual(bind(add, "x=2", body=b'{"y": 3}'), 5)

    def test_query_wins_over_body(self):
        # Path, then query, then body: a later source never overrides an earlier one.
        self.assertEqual(bind(echo_int, "x=1", body=b'{"x": 2}'), 1)
        # The body's value is not even converted once the query has supplied the name.
        self.assertEqual(bind(echo_int, "x=3", body=b'{"x": "abc"}'), 3)

    def test_non_object_body_goes_to_the_first_parameter(self):
        def first(items: list, limit: int = 10):
            return items, limit

        self.assertEqual(bind(first, body=b"[1, 2]"), ([1, 2], 10))
        self.assertEqual(bind(first, "limit=1", body=b"[1, 2]"), ([1, 2], 1))
        self.assertEqual(bind(echo_int, body=b"7"), 7)
        self.assertEqual(bind(echo_str, body=b'"hi"'), "hi")
        self.assertIsNone(bind(echo_plain, body=b"null"))

    def test_non_object_body_with_no_parameter(self):
        def none():
            return 1

        error = errors(none, body=b"[1]").errors[0]
        self.assertEqual((error["loc"], error["type"]), (["body"], "unexpected"))

    def test_empty_body_gives_no_arguments(self):
        def handler(x: int = 5):
            return x

        self.assertEqual(bind(handler, body=b""), 5)
        self.assertEqual(bind(handler, body=memoryview(b"")), 5)

    def test_body_as_memoryview(self):
        self.assertEqual(bind(echo_int, body=memoryview(b'{"x": 4}')), 4)

    def test_invalid_json_body(self):
        for body in (b"{", b"x=1&y=2", b"\xff\xfe", b'{"x": NaN}', b" "):
            with self.subTest(body=body):
                with self.assertRaises(InvalidBody) as caught:
                    ArgumentBinder(echo_int).bind("", [], body)
                self.assertTrue(str(caught.exception).startswith("request body is not valid JSON: "))

    def test_path_parameters(self):
        def user(id: int, verbose: bool = False):  # noqa: A002
            return id, verbose

        self.assertEqual(bind(user, "verbose=yes", params=[("id", "42")]), (42, True))
        # The router chose the route by the path: a body cannot override it.
        self.assertEqual(bind(user, body=b'{"id": 1}', params=[("id", "42")]), (42, False))
        error = errors(user, params=[("id", "x")]).errors[0]
        self.assertEqual(error["loc"], ["path", "id"])


class SignatureTest(unittest.TestCase):
    def test_defaults(self):
        def greet(name: str = "world", times: int = 1):
            return name * times

        self.assertEqual(bind(greet), "world")
        self.assertEqual(bind(greet, "times=2"), "worldworld")

    def test_kwargs_accept_extra_names(self):
        def handler(a: int, **rest):
            return a, rest

        self.assertEqual(bind(handler, "a=1&b=2", body=b'{"c": [3]}'), (1, {"b": "2", "c": [3]}))

    def test_var_positional_is_ignored(self):
        def handler(a: int, *more):
            return a, more

        self.assertEqual(bind(handler, "a=1"), (1, ()))

    def test_positional_only(self):
        namespace: Dict[str, Any] = {}
        exec("def handler(a: int, b: int = 2, /, c: int = 3):\n    return a, b, c", namespace)
        self.assertEqual(bind(namespace["handler"], "a=1&c=4"), (1, 2, 4))
        self.assertEqual(bind(namespace["handler"], "b=5&a=1"), (1, 5, 3))

    def test_keyword_only(self):
        def handler(*, a: int):
            return a

        self.assertEqual(bind(handler, "a=1"), 1)
        self.assertEqual(bind(handler, body=b"9"), 9)  # the first parameter, keyword-only or not

    def test_callable_object(self):
        class Handler:
            def __call__(self, x: int):
                return x

        self.assertEqual(bind(Handler(), "x=5"), 5)

    def test_builtin_without_signature_accepts_everything(self):
        binder = ArgumentBinder(dict)
        self.assertEqual(binder.bind("a=1", [], b'{"b": 2}'), ((), {"a": "1", "b": 2}))


class ErrorsTest(unittest.TestCase):
    def test_missing(self):
        def add(x: int, y: int):
            return x + y

        exc = errors(add, "x=2")
        self.assertEqual(exc.errors, [
            {"loc": ["query", "y"], "msg": "missing argument 'y'", "type": "missing"},
        ])
        self.assertEqual(exc.detail, "missing argument 'y'")
        exc = errors(add, body=b'{"x": 2}')
        self.assertEqual(exc.errors[0]["loc"], ["body", "y"])

    def test_unexpected(self):
        exc = errors(echo_int, "x=1&z=2")
        self.assertEqual(exc.errors, [
            {"loc": ["query", "z"], "msg": "unexpected argument 'z'", "type": "unexpected"},
        ])
        exc = errors(echo_int, body=b'{"x": 1, "z": 2}')
        self.assertEqual(exc.errors[0]["loc"], ["body", "z"])

    def test_type_error_message(self):
        exc = errors(echo_int, "x=abc")
        self.assertEqual(exc.errors, [{
            "loc": ["query", "x"], "msg": "argument 'x' must be int, got 'abc'", "type": "int_parsing",
        }])
        exc = errors(echo_int, body=b'{"x": "abc"}')
        self.assertEqual(exc.errors[0]["msg"], "argument 'x' must be int, got \"abc\"")
        exc = errors(echo_int, body=b'{"x": "' + b"a" * 100 + b'"}')
        self.assertLess(len(exc.errors[0]["msg"]), 100)

    def test_all_errors_are_reported(self):
        def handler(a: int, b: int, c: int):
            return a

        exc = errors(handler, "a=x&d=1", body=b'{"c": 1}')
        self.assertEqual([e["type"] for e in exc.errors], ["int_parsing", "unexpected", "missing"])
        self.assertEqual(
            exc.detail,
            "argument 'a' must be int, got 'x'; unexpected argument 'd'; missing argument 'b'",
        )


class PrecomputedTest(unittest.TestCase):
    def test_no_introspection_per_request(self):
        def add(x: int, y: int):
            return x + y

        binder = ArgumentBinder(add)
        with mock.patch("inspect.signature", side_effect=AssertionError("signature per request")), \
             mock.patch("typing.get_type_hints", side_effect=AssertionError("hints per request")):
            self.assertEqual(binder.bind("x=1", [], b'{"y": 2}'), ((), {"x": 1, "y": 2}))


if __name__ == "__main__":
    unittest.main()
