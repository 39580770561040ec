"""The benchmark app for gunicorn's sync workers: `gunicorn flask_app:app`."""

from flask import Flask, request

from work import CPU_ITERS, SLOW_ITERS, burn

app = Flask(__name__)


@app.route("/add", methods=["GET", "POST"])
def add():
    if request.method == "POST":
        data = request.get_json(force=True)
        x, y = int(data["x"]), int(data["y"])
    else:
        x, y = int(request.args["x"]), int(request.args["y"])
    return {"result": x + y}


@app.route("/cpu", methods=["GET", "POST"])
def cpu():
    return {"result": burn(CPU_ITERS)}


@app.route("/slow", methods=["GET", "POST"])
def slow():
    return {"result": burn(SLOW_ITERS)}
