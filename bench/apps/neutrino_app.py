"""The benchmark app for Neutrino: `neutrino serve bench/apps/neutrino_app:app`."""

from neutrino import App, StreamingResponse

from work import CPU_ITERS, SLOW_ITERS, burn

app = App()

STREAM_CHUNK = b"x" * 65536


@app.route("/add")  # GET ?x=2&y=3 and POST {"x": 2, "y": 3}
def add(x: int, y: int):
    return {"result": x + y}


@app.route("/cpu")
def cpu():
    return {"result": burn(CPU_ITERS)}


@app.route("/slow")
def slow():
    return {"result": burn(SLOW_ITERS)}


@app.route("/stream")  # the `stream` workload: `mb` MiB in 64 KiB chunks
def stream(mb: int = 100):
    def chunks():
        for _ in range(mb * 16):
            yield STREAM_CHUNK
    return StreamingResponse(chunks(), media_type="application/octet-stream")
