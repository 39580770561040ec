"""Conversion from type hints: each supported type, from the query string and from JSON, good
and bad input, and the 422 errors' loc, msg and type."""

import datetime as dt
import enum
import sys
import unittest
import uuid
from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional, TypedDict, Union

from neutrino.internal.worker.binding import ArgumentBinder, InvalidArguments


def call(handler, query="", body=b"", params=()):
    args, kwargs = ArgumentBinder(handler, [n for n, _ in params]).bind(query, list(params), body)
    return handler(*args, **kwargs)


def fails(handler, query="", body=b"", params=()):
    binder = ArgumentBinder(handler, [n for n, _ in params])
    with unittest.TestCase().assertRaises(InvalidArguments) as caught:
        binder.bind(query, list(params), body)
    return caught.exception.errors


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class Point:
    x: int
    y: int = 0


@dataclass
class Shape:
    name: str
    points: List[Point]
    tags: List[str] = field(default_factory=list)
    color: Optional[Color] = None


@dataclass
class Positive:
    value: int

    def __post_init__(self):
        if self.value <= 0:
            raise ValueError("value must be positive")


class Movie(TypedDict):
    title: str
    year: int


class Partial(TypedDict, total=False):
    note: str


@dataclass
class Tree:
    label: str
    children: List["Tree"] = field(default_factory=list)


class ScalarTest(unittest.TestCase):
    def test_bytes(self):
        def h(data: bytes):
            return data

        self.assertEqual(call(h, "data=abc"), b"abc")
        self.assertEqual(call(h, body=b'{"data": "\\u00e9"}'), "é".encode())
        self.assertEqual(fails(h, body=b'{"data": 5}')[0]["type"], "bytes_type")

    def test_str_from_json_error_type(self):
        def h(s: str):
            return s

        self.assertEqual(fails(h, body=b'{"s": 5}')[0]["type"], "string_type")

    def test_defaults_are_respected(self):
        def h(a: int = 3, b: Optional[str] = None, c: List[int] = [1]):  # noqa: B006
            return a, b, c

        self.assertEqual(call(h), (3, None, [1]))
        self.assertEqual(call(h, "a=4&b=x&c=5&c=6"), (4, "x", [5, 6]))

    def test_error_types(self):
        def h(i: int, f: float, b: bool):
            return i

        errors = fails(h, "i=x&f=y&b=z")
        self.assertEqual([(e["loc"], e["type"]) for e in errors], [
            (["query", "i"], "int_parsing"),
            (["query", "f"], "float_parsing"),
            (["query", "b"], "bool_parsing"),
        ])


class ListDictTest(unittest.TestCase):
    def test_list_from_query_and_json(self):
        def h(ids: List[int]):
            return ids

        self.assertEqual(call(h, "ids=1&ids=2"), [1, 2])
        self.assertEqual(call(h, body=b'{"ids": [3, "4"]}'), [3, 4])
        errors = fails(h, body=b'{"ids": [1, "x", true]}')
        self.assertEqual([(e["loc"], e["type"]) for e in errors],
                         [(["body", "ids", 1], "int_parsing"), (["body", "ids", 2], "int_parsing")])
        self.assertEqual(errors[0]["msg"], "field 'ids[1]' must be int, got \"x\"")
        self.assertEqual(fails(h, body=b'{"ids": 5}')[0]["type"], "list_type")

    def test_dict_keys_and_values(self):
        def h(scores: Dict[int, float]):
            return scores

        self.assertEqual(call(h, body=b'{"scores": {"1": 2, "3": 4.5}}'), {1: 2.0, 3: 4.5})
        errors = fails(h, body=b'{"scores": {"a": 1, "2": "x"}}')
        self.assertEqual([(e["loc"], e["type"]) for e in errors],
                         [(["body", "scores", "a"], "int_parsing"),
                          (["body", "scores", "2"], "float_parsing")])
        self.assertEqual(fails(h, body=b'{"scores": [1]}')[0]["type"], "dict_type")
        self.assertEqual(fails(h, "scores=1")[0]["type"], "dict_type")

    def test_list_of_models_cannot_come_from_the_query(self):
        def h(points: List[Point]):
            return points

        self.assertEqual(call(h, body=b'{"points": [{"x": 1}]}'), [Point(1, 0)])
        self.assertEqual(fails(h, "points=1")[0]["loc"], ["query", "points"])


class UnionLiteralEnumTest(unittest.TestCase):
    def test_optional(self):
        def h(x: Optional[int] = 5):
            return x

        self.assertIsNone(call(h, body=b'{"x": null}'))
        self.assertEqual(call(h, "x=2"), 2)
        self.assertEqual(call(h), 5)
        self.assertEqual(fails(h, body=b'{"x": "a"}')[0]["type"], "int_parsing")

    def test_union_prefers_the_exact_json_type(self):
        def h(v: Union[int, str]):
            return v

        self.assertEqual(call(h, body=b'{"v": "5"}'), "5")
        self.assertEqual(call(h, body=b'{"v": 5}'), 5)
        self.assertEqual(call(h, "v=5"), 5)  # text: each member in order
        self.assertEqual(call(h, "v=five"), "five")
        error = fails(h, body=b'{"v": [1]}')[0]
        self.assertEqual((error["type"], error["msg"]),
                         ("type_error", "argument 'v' must be int or str, got [1]"))

    def test_union_of_models(self):
        def h(v: Union[Point, Movie, None]):
            return v

        self.assertEqual(call(h, body=b'{"v": {"x": 1}}'), Point(1))
        self.assertEqual(call(h, body=b'{"v": {"title": "A", "year": 1}}'), {"title": "A", "year": 1})
        self.assertIsNone(call(h, body=b'{"v": null}'))

    @unittest.skipIf(sys.version_info < (3, 10), "X | Y is Python 3.10+")
    def test_pep604_union(self):
        namespace: dict = {}
        exec("def h(v: int | float | None):\n    return v", namespace)
        self.assertEqual(call(namespace["h"], "v=1.5"), 1.5)
        self.assertEqual(call(namespace["h"], "v=1"), 1)

    def test_literal(self):
        def h(mode: Literal["fast", "slow"], n: Literal[1, 2] = 1, flag: Literal[True] = True):
            return mode, n, flag

        self.assertEqual(call(h, "mode=slow&n=2&flag=true"), ("slow", 2, True))
        self.assertEqual(call(h, body=b'{"mode": "fast", "n": 2}'), ("fast", 2, True))
        errors = fails(h, body=b'{"mode": "medium", "n": "2"}')
        self.assertEqual([e["type"] for e in errors], ["literal_error", "literal_error"])
        self.assertEqual(errors[0]["msg"], "argument 'mode' must be one of 'fast', 'slow', got \"medium\"")

    def test_enum(self):
        def h(color: Color, level: Level = Level.LOW):
            return color, level

        self.assertEqual(call(h, "color=red&level=2"), (Color.RED, Level.HIGH))
        self.assertEqual(call(h, body=b'{"color": "green", "level": 1}'), (Color.GREEN, Level.LOW))
        self.assertEqual(call(h, body=b'{"color": "green", "level": "2"}'), (Color.GREEN, Level.HIGH))
        errors = fails(h, "color=RED&level=3")
        self.assertEqual([e["type"] for e in errors], ["enum", "enum"])
        self.assertEqual(errors[0]["msg"], "argument 'color' must be one of 'red', 'green', got 'RED'")
        self.assertEqual(fails(h, body=b'{"color": "red", "level": true}')[0]["loc"],
                         ["body", "level"])


class DateUuidTest(unittest.TestCase):
    def test_datetime(self):
        def h(when: dt.datetime):
            return when

        utc = dt.timezone.utc
        self.assertEqual(call(h, "when=2024-01-02T03:04:05Z"), dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=utc))
        self.assertEqual(call(h, "when=2024-01-02T03:04:05%2B02:00").utcoffset(), dt.timedelta(hours=2))
        self.assertEqual(call(h, "when=2024-01-02"), dt.datetime(2024, 1, 2))
        self.assertEqual(call(h, body=b'{"when": 0}'), dt.datetime(1970, 1, 1, tzinfo=utc))
        for bad in ("x", "2024-13-01", ""):
            with self.subTest(bad=bad):
                self.assertEqual(fails(h, "when=" + bad)[0]["type"], "datetime_parsing")
        self.assertEqual(fails(h, body=b'{"when": true}')[0]["type"], "datetime_parsing")

    def test_date_and_time(self):
        def h(day: dt.date, at: dt.time = dt.time(12)):
            return day, at

        self.assertEqual(call(h, "day=2024-02-29&at=08:30"), (dt.date(2024, 2, 29), dt.time(8, 30)))
        errors = fails(h, body=b'{"day": "2023-02-29", "at": 5}')
        self.assertEqual([e["type"] for e in errors], ["date_parsing", "time_parsing"])
        self.assertEqual(fails(h, "day=2024-01-01T10:00")[0]["type"], "date_parsing")

    def test_uuid(self):
        def h(id: uuid.UUID):  # noqa: A002
            return id

        value = "12345678-1234-5678-1234-567812345678"
        self.assertEqual(call(h, "id=" + value), uuid.UUID(value))
        self.assertEqual(call(h, body=b'{"id": "%s"}' % value.encode()), uuid.UUID(value))
        self.assertEqual(fails(h, "id=nope")[0]["type"], "uuid_parsing")
        self.assertEqual(fails(h, body=b'{"id": 1}')[0]["type"], "uuid_parsing")


class ModelTest(unittest.TestCase):
    def test_nested_dataclasses(self):
        def h(shape: Shape):
            return shape

        body = b'{"shape": {"name": "tri", "points": [{"x": 1, "y": 2}, {"x": "3"}], "color": "red"}}'
        self.assertEqual(call(h, body=body),
                         Shape("tri", [Point(1, 2), Point(3, 0)], [], Color.RED))
        errors = fails(h, body=b'{"shape": {"points": [{"y": "a"}], "extra": 1}}')
        self.assertEqual([(e["loc"], e["type"]) for e in errors], [
            (["body", "shape", "points", 0, "y"], "int_parsing"),
            (["body", "shape", "points", 0, "x"], "missing"),
            (["body", "shape", "extra"], "unexpected"),
            (["body", "shape", "name"], "missing"),
        ])
        self.assertEqual([e["msg"] for e in errors], [
            "field 'shape.points[0].y' must be int, got \"a\"",
            "missing field 'shape.points[0].x'",
            "unexpected field 'shape.extra'",
            "missing field 'shape.name'",
        ])
        self.assertEqual(fails(h, body=b'{"shape": [1]}')[0]["type"], "model_type")

    def test_whole_body_goes_to_a_single_model(self):
        def h(point: Point, scale: int = 1):
            return point, scale

        self.assertEqual(call(h, body=b'{"x": 1, "y": 2}'), (Point(1, 2), 1))
        self.assertEqual(call(h, "scale=3", body=b'{"x": 1}'), (Point(1, 0), 3))
        # A member named like the parameter: the object's members are the arguments.
        self.assertEqual(call(h, body=b'{"point": {"x": 5}, "scale": 2}'), (Point(5, 0), 2))
        self.assertEqual(fails(h, body=b'{"y": 1}')[0]["loc"], ["body", "point", "x"])
        self.assertEqual(fails(h)[0], {"loc": ["body", "point"], "msg": "missing argument 'point'",
                                       "type": "missing"})

    def test_post_init_value_error_is_a_422(self):
        def h(p: Positive):
            return p

        self.assertEqual(call(h, body=b'{"value": 2}'), Positive(2))
        error = fails(h, body=b'{"value": -1}')[0]
        self.assertEqual((error["loc"], error["type"]), (["body", "p"], "value_error"))
        self.assertIn("value must be positive", error["msg"])

    def test_recursive_dataclass(self):
        def h(tree: Tree):
            return tree

        self.assertEqual(call(h, body=b'{"label": "a", "children": [{"label": "b"}]}'),
                         Tree("a", [Tree("b")]))
        self.assertEqual(fails(h, body=b'{"label": "a", "children": [{"label": 1}]}')[0]["loc"],
                         ["body", "tree", "children", 0, "label"])

    def test_typeddict(self):
        def h(movie: Movie, extra: Partial = {}):  # noqa: B006
            return movie, extra

        self.assertEqual(call(h, body=b'{"movie": {"title": "A", "year": "1999"}, "extra": {}}'),
                         ({"title": "A", "year": 1999}, {}))
        errors = fails(h, body=b'{"movie": {"title": 1}, "extra": {"note": 2}}')
        self.assertEqual([(e["loc"], e["type"]) for e in errors], [
            (["body", "movie", "title"], "string_type"),
            (["body", "movie", "year"], "missing"),
            (["body", "extra", "note"], "string_type"),
        ])

    def test_models_cannot_come_from_the_query(self):
        def h(p: Point = Point(0)):
            return p

        self.assertEqual(fails(h, "p=1")[0]["type"], "model_type")


try:
    import pydantic  # noqa: F401
except ImportError:  # pragma: no cover - pydantic is optional
    pydantic = None


@unittest.skipIf(pydantic is None, "pydantic is not installed")
class PydanticTest(unittest.TestCase):
    def models(self):
        class Address(pydantic.BaseModel):
            city: str
            zip: int

        class User(pydantic.BaseModel):
            name: str
            age: int = 0
            address: Optional[Address] = None

        return Address, User

    def test_validates_and_converts(self):
        _, User = self.models()

        def h(user: User):
            return user

        user = call(h, body=b'{"name": "ann", "age": "7", "address": {"city": "x", "zip": 1}}')
        self.assertEqual((user.name, user.age, user.address.zip), ("ann", 7, 1))
        user = call(h, body=b'{"user": {"name": "bob"}}')
        self.assertEqual(user.name, "bob")

    def test_errors_keep_pydantic_types_and_messages_under_our_loc(self):
        _, User = self.models()

        def h(user: User):
            return user

        errors = fails(h, body=b'{"user": {"age": "x", "address": {"city": "c", "zip": "z"}}}')
        locs = [e["loc"] for e in errors]
        self.assertIn(["body", "user", "name"], locs)
        self.assertIn(["body", "user", "age"], locs)
        self.assertIn(["body", "user", "address", "zip"], locs)
        self.assertIn("missing", [e["type"] for e in errors])
        self.assertTrue(all(isinstance(e["msg"], str) and e["msg"] for e in errors))

    def test_cannot_come_from_a_path(self):
        _, User = self.models()
        from neutrino import RouteError

        def h(user: User):
            return user

        with self.assertRaises(RouteError):
            ArgumentBinder(h, ["user"], "/u/{user}")


if __name__ == "__main__":
    unittest.main()
