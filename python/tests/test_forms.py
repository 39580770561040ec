"""Form bodies bound to handler parameters: urlencoded and multipart, files, limits."""

import io
import json
import unittest
from contextlib import redirect_stderr
from typing import List, Optional

from neutrino import App, UploadedFile
from neutrino.internal.worker.executor import build_route_table, execute
from neutrino.internal.worker.forms import MAX_FIELDS
from neutrino.internal.worker.protocol import TaskAssignment

app = App()


@app.route("/form", methods=["POST"])
def form(name: str, age: int, tags: List[str] = []):
    return {"name": name, "age": age, "tags": tags}


@app.route("/upload", methods=["POST"])
def upload(title: str, doc: UploadedFile, extra: Optional[UploadedFile] = None):
    return {"title": title, "doc": [doc.filename, doc.content_type, doc.size, doc.read().decode()],
            "extra": extra is not None}


TABLE = build_route_table(app)
BOUNDARY = "----b0undary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def post(route: str, body: bytes, content_type: str):
    task = TaskAssignment(1, "POST", route, route, "", [], [("content-type", content_type)],
                          "req-1", "", 0, body)
    with redirect_stderr(io.StringIO()):
        status, _, _, out = execute(TABLE, task)
    return status, json.loads(out)


def multipart(*parts: str) -> bytes:
    return ("".join(f"--{BOUNDARY}\r\n{p}\r\n" for p in parts) + f"--{BOUNDARY}--\r\n").encode()


def field(name: str, value: str) -> str:
    return f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}'


def file(name: str, filename: str, data: str) -> str:
    return (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: text/csv\r\n\r\n{data}")


class UrlencodedTest(unittest.TestCase):
    def test_fields_bind_and_convert_like_query_parameters(self):
        status, out = post("/form", b"name=Ada+L&age=36&tags=a&tags=b",
                           "application/x-www-form-urlencoded")
        self.assertEqual((status, out), (200, {"name": "Ada L", "age": 36, "tags": ["a", "b"]}))

    def test_a_field_that_does_not_convert_is_a_422_in_the_body(self):
        status, out = post("/form", b"name=x&age=old", "application/x-www-form-urlencoded")
        self.assertEqual(status, 422)
        self.assertEqual(out["errors"][0]["loc"], ["body", "age"])

    def test_json_labelled_as_a_form_is_json(self):
        status, out = post("/form", b' {"name": "J", "age": 5}', "application/x-www-form-urlencoded")
        self.assertEqual((status, out["age"]), (200, 5))

    def test_too_many_fields_is_a_413(self):
        body = "&".join(f"f{i}=1" for i in range(MAX_FIELDS + 1)).encode()
        status, out = post("/form", body, "application/x-www-form-urlencoded")
        self.assertEqual(status, 413)
        self.assertIn(str(MAX_FIELDS), out["detail"])

    def test_invalid_utf8_is_a_400(self):
        status, _ = post("/form", b"name=\xff&age=1", "application/x-www-form-urlencoded")
        self.assertEqual(status, 400)


class MultipartTest(unittest.TestCase):
    def test_file_part_binds_to_an_uploaded_file(self):
        body = multipart(field("title", "héllo"), file("doc", "a.csv", "x,y\r\n1,2"))
        status, out = post("/upload", body, MULTIPART)
        self.assertEqual(status, 200, out)
        self.assertEqual(out, {"title": "héllo", "doc": ["a.csv", "text/csv", 8, "x,y\r\n1,2"],
                               "extra": False})

    def test_text_for_a_file_parameter_and_a_file_for_a_text_one_are_422(self):
        body = multipart(field("title", "t"), field("doc", "not a file"))
        self.assertEqual(post("/upload", body, MULTIPART)[0], 422)
        body = multipart(file("title", "t.csv", "1"), file("doc", "a.csv", "1"))
        status, out = post("/upload", body, MULTIPART)
        self.assertEqual(status, 422)
        self.assertIn("a file", out["detail"])

    def test_missing_boundary_and_garbage_are_400(self):
        self.assertEqual(post("/upload", b"whatever", "multipart/form-data")[0], 400)
        self.assertEqual(post("/upload", b"no parts here", MULTIPART)[0], 400)

    def test_quoted_boundary_and_boundary_like_bytes_inside_a_file(self):
        data = "a\r\n--" + BOUNDARY[:-1] + "\r\nb"  # the boundary but its last character
        body = multipart(field("title", "t"), file("doc", "a.csv", data))
        status, out = post("/upload", body, f'multipart/form-data; boundary="{BOUNDARY}"')
        self.assertEqual(status, 200, out)
        self.assertEqual(out["doc"][3], data)

    def test_a_body_cut_before_its_closing_boundary_is_a_400(self):
        body = multipart(field("title", "t"), file("doc", "a.csv", "1,2"))
        self.assertEqual(post("/upload", body[:-20], MULTIPART)[0], 400)
        headless = f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"title\"".encode()
        self.assertEqual(post("/upload", headless + f"\r\n--{BOUNDARY}--\r\n".encode(),
                              MULTIPART)[0], 400)

    def test_file_parameter_cannot_come_from_the_query(self):
        task = TaskAssignment(1, "POST", "/upload", "/upload", "title=t&doc=x", [], [], "r", "",
                              0, b"")
        with redirect_stderr(io.StringIO()):
            self.assertEqual(execute(TABLE, task)[0], 422)


if __name__ == "__main__":
    unittest.main()
