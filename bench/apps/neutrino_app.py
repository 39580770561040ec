"""The benchmark app for Neutrino: `neutrino serve bench/apps/neutrino_app:app`."""

from neutrino import App

from work import CPU_ITERS, SLOW_ITERS, burn

app = App()


@app.route("/add")  # GET ?x=2&y=3 and POST {"x": 2, "y": 3}
def add(x: int, y: int):
    return {"result": x + y}


@app.route("/cpu")
def cpu():
    return {"result": burn(CPU_ITERS)}


@app.route("/slow")
def slow():
    return {"result": burn(SLOW_ITERS)}
