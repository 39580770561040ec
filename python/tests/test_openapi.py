"""OpenAPI 3.1 operations generated from handlers' signatures and type hints."""

import datetime as dt
import enum
import json
import os
import unittest
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Literal, Optional, TypedDict, Union

from neutrino import Request, Response
from neutrino.internal.openapi import VALIDATION_ERROR_SCHEMA, operation, schema_for
from neutrino.internal.worker.app_loader import load_app
from neutrino.internal.worker.executor import build_route_table
from neutrino.internal.worker.main import route_registry

REPO_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Point:
    """A point on the plane."""

    x: int
    y: int = 0


@dataclass
class Node:
    name: str
    children: List["Node"] = field(default_factory=list)


class Movie(TypedDict, total=False):
    title: str


def no_refs(obj):
    return "$ref" not in json.dumps(obj)


class SchemaTest(unittest.TestCase):
    def test_scalars(self):
        self.assertEqual(schema_for(int), {"type": "integer"})
        self.assertEqual(schema_for(float), {"type": "number"})
        self.assertEqual(schema_for(bool), {"type": "boolean"})
        self.assertEqual(schema_for(str), {"type": "string"})
        self.assertEqual(schema_for(bytes), {"type": "string", "format": "binary"})
        self.assertEqual(schema_for(dt.datetime), {"type": "string", "format": "date-time"})
        self.assertEqual(schema_for(dt.date), {"type": "string", "format": "date"})
        self.assertEqual(schema_for(uuid.UUID), {"type": "string", "format": "uuid"})
        self.assertEqual(schema_for(Any), {})

    def test_containers_and_unions(self):
        self.assertEqual(schema_for(List[int]), {"type": "array", "items": {"type": "integer"}})
        self.assertEqual(schema_for(list), {"type": "array"})
        self.assertEqual(schema_for(Dict[str, float]),
                         {"type": "object", "additionalProperties": {"type": "number"}})
        self.assertEqual(schema_for(Optional[int]),
                         {"anyOf": [{"type": "integer"}, {"type": "null"}]})
        self.assertEqual(schema_for(Union[int, str]),
                         {"anyOf": [{"type": "integer"}, {"type": "string"}]})

    def test_literal_and_enum(self):
        self.assertEqual(schema_for(Literal["a", "b"]), {"enum": ["a", "b"], "type": "string"})
        self.assertEqual(schema_for(Literal[1, "a"]), {"enum": [1, "a"]})
        self.assertEqual(schema_for(Color), {"title": "Color", "enum": ["red", "blue"],
                                             "type": "string"})

    def test_dataclass_typeddict_recursive(self):
        self.assertEqual(schema_for(Point), {
            "type": "object", "title": "Point",
            "properties": {"x": {"type": "integer"}, "y": {"type": "integer", "default": 0}},
            "required": ["x"], "additionalProperties": False, "description": "A point on the plane.",
        })
        node = schema_for(Node)
        self.assertEqual(node["properties"]["children"]["items"], {"type": "object", "title": "Node"})
        self.assertEqual(schema_for(Movie)["properties"], {"title": {"type": "string"}})
        self.assertNotIn("required", schema_for(Movie))

    def test_pydantic_inlined(self):
        try:
            import pydantic
        except ImportError:
            self.skipTest("pydantic is not installed")

        class Address(pydantic.BaseModel):
            city: str

        class User(pydantic.BaseModel):
            name: str
            home: Address
            friends: List["User"] = []

        User.model_rebuild() if hasattr(User, "model_rebuild") else User.update_forward_refs()
        schema = schema_for(User)
        self.assertTrue(no_refs(schema), schema)
        self.assertEqual(schema["properties"]["home"]["properties"]["city"]["type"], "string")
        self.assertEqual(schema["properties"]["friends"]["items"]["title"], "User")


class OperationTest(unittest.TestCase):
    def test_query_path_and_body(self):
        def update(user_id: int, item: Point, request: Request, verbose: bool = False,
                   tags: Optional[List[str]] = None) -> Point:
            """Updates a user's point.

            Longer words here.
            """

        op = operation(update, ["user_id"])
        self.assertEqual(op["summary"], "Updates a user's point.")
        self.assertEqual(op["description"], "Longer words here.")
        self.assertEqual(op["parameters"], [
            {"name": "user_id", "in": "path", "required": True, "schema": {"type": "integer"}},
            {"name": "verbose", "in": "query", "required": False,
             "schema": {"type": "boolean", "default": False}},
            {"name": "tags", "in": "query", "required": False,
             "schema": {"type": "array", "items": {"type": "string"}}},  # no null in a query
        ])
        self.assertEqual(op["requestBody"], {
            "required": True,
            "content": {"application/json": {"schema": schema_for(Point)}},
        })
        self.assertEqual(op["responses"]["200"]["content"]["application/json"]["schema"],
                         schema_for(Point))
        self.assertEqual(op["responses"]["422"]["content"]["application/json"]["schema"],
                         VALIDATION_ERROR_SCHEMA)

    def test_several_body_parameters(self):
        def create(data: dict, points: List[Point], note: Optional[Dict[str, str]] = None):
            pass

        op = operation(create, [])
        self.assertNotIn("parameters", op)
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        self.assertEqual(schema["type"], "object")
        self.assertEqual(list(schema["properties"]), ["data", "points", "note"])
        self.assertEqual(schema["required"], ["data", "points"])
        self.assertEqual(op["summary"], "Create")

    def test_return_types(self):
        def raw() -> bytes:
            pass

        def custom() -> Response:
            pass

        self.assertIn("application/octet-stream", operation(raw, [])["responses"]["200"]["content"])
        self.assertNotIn("content", operation(custom, [])["responses"]["200"])

    def test_example_app_add_is_callable_from_docs(self):
        """The /docs page's "try it" on /add must get {"result": 5} for x=2, y=3."""
        cwd = os.getcwd()
        os.chdir(REPO_DIR)
        try:
            app = load_app("examples/myapp.py:app")
        finally:
            os.chdir(cwd)
        entries = {e["path"]: e for e in route_registry(build_route_table(app), False)}
        add = entries["/add"]["openapi"]
        self.assertEqual(add["parameters"], [
            {"name": "x", "in": "query", "required": True, "schema": {"type": "integer"}},
            {"name": "y", "in": "query", "required": True, "schema": {"type": "integer"}},
        ])
        self.assertNotIn("requestBody", add)
        process = entries["/process"]["openapi"]
        self.assertEqual(process["requestBody"]["content"]["application/json"]["schema"],
                         {"type": "object", "properties": {"data": {"type": "object"}},
                          "required": ["data"], "additionalProperties": False})
        for entry in entries.values():
            self.assertTrue(no_refs(entry["openapi"]))
            json.dumps(entry["openapi"])  # plain JSON

    def test_a_broken_annotation_never_stops_the_registry(self):
        from neutrino import App

        app = App()

        class Weird:
            __name__ = "weird"

            def __call__(self, x: int):
                return x

        app.route("/w")(Weird())
        entries = route_registry(build_route_table(app), False)
        self.assertEqual(entries[0]["openapi"]["parameters"][0]["name"], "x")


if __name__ == "__main__":
    unittest.main()


class SchemaAgreesWithConversionTest(unittest.TestCase):
    """One walker: a collection documented as an array of X takes repeated query values, each
    converted to X, and refuses what is not X."""

    def bind(self, hint, query):
        from neutrino.internal.worker.binding import ArgumentBinder

        def handler(x: hint):  # type: ignore[valid-type]
            return x

        return ArgumentBinder(handler).bind(query, [], b"")[1]["x"]

    def test_sets_and_tuples(self) -> None:
        from typing import FrozenSet, Set, Tuple

        from neutrino.internal.worker.binding import InvalidArguments

        self.assertEqual(schema_for(Set[int]), {"type": "array", "items": {"type": "integer"}})
        self.assertEqual(self.bind(Set[int], "x=1&x=2&x=1"), {1, 2})
        self.assertEqual(self.bind(FrozenSet[str], "x=a"), frozenset({"a"}))
        self.assertEqual(schema_for(Tuple[int, int]),
                         {"type": "array", "prefixItems": [{"type": "integer"}] * 2,
                          "minItems": 2, "maxItems": 2, "items": False})
        self.assertEqual(self.bind(Tuple[int, int], "x=1&x=2"), (1, 2))
        self.assertEqual(self.bind(Tuple[int, ...], "x=1&x=2&x=3"), (1, 2, 3))
        for hint, query in ((Set[int], "x=a"), (Tuple[int, int], "x=1"),
                            (Tuple[int, int], "x=1&x=2&x=3"), (Tuple[int, int], "x=1&x=b")):
            with self.subTest(hint=hint, query=query), self.assertRaises(InvalidArguments):
                self.bind(hint, query)


class ResponsesTest(unittest.TestCase):
    def registry_op(self, app, path):
        from neutrino.internal.worker.executor import build_route_table
        from neutrino.internal.worker.main import route_registry

        entries = {e["path"]: e for e in route_registry(build_route_table(app), False)}
        return entries[path]["openapi"]

    def test_body_routes_document_400_and_413(self) -> None:
        from neutrino import App

        app = App()

        @app.route("/process", methods=["POST"])
        def process(data: dict):
            return data

        @app.route("/add", methods=["GET"])
        def add(x: int):
            return x

        op = self.registry_op(app, "/process")
        self.assertEqual(sorted(op["responses"]), ["200", "400", "413", "422"])
        self.assertEqual(op["responses"]["400"]["content"]["application/json"]["schema"]["required"],
                         ["error", "detail"])
        self.assertIs(op["requestBody"]["content"]["application/json"]["schema"][
            "additionalProperties"], False)
        self.assertNotIn("413", self.registry_op(app, "/add")["responses"])

    def test_declared_status_responses_and_media_type(self) -> None:
        from neutrino import App, Response

        app = App()

        @app.route("/items", methods=["POST"], status_code=201, responses={410: "gone",
                   409: {"description": "taken", "content": {"text/plain": {}}}})
        def create(name: str):
            return {"name": name}

        @app.route("/text", methods=["GET"], media_type="text/plain")
        def text() -> Response:
            return Response("hi", media_type="text/plain")

        @app.route("/raw", methods=["GET"])
        def raw() -> bytes:
            return b"\x00"

        op = self.registry_op(app, "/items")
        self.assertIn("201", op["responses"])
        self.assertNotIn("200", op["responses"])
        self.assertEqual(op["responses"]["410"]["description"], "gone")
        self.assertEqual(op["responses"]["409"], {"description": "taken",
                                                  "content": {"text/plain": {}}})
        self.assertEqual(self.registry_op(app, "/text")["responses"]["200"]["content"],
                         {"text/plain": {"schema": {"type": "string"}}})
        self.assertEqual(self.registry_op(app, "/raw")["responses"]["200"]["content"],
                         {"application/octet-stream": {"schema": {"type": "string",
                                                                  "format": "binary"}}})

    def test_status_code_must_carry_a_body(self) -> None:
        from neutrino import App

        for bad in (204, 300, 404, "201"):
            with self.subTest(status=bad), self.assertRaises(ValueError):
                App().route("/x", status_code=bad)
        with self.assertRaises(ValueError):
            App().route("/x", responses={"410": "gone"})
