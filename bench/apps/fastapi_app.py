"""The benchmark app for uvicorn, gunicorn + UvicornWorker and Granian (ASGI): `fastapi_app:app`.

Written as FastAPI's docs advise: /add awaits nothing and is `async def` (runs on the event
loop); /cpu and /slow block on CPU and are plain `def`, which FastAPI runs in its thread pool so
the event loop keeps serving other connections meanwhile (the GIL still serialises the work).
"""

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from work import CPU_ITERS, SLOW_ITERS, burn

app = FastAPI()

STREAM_CHUNK = b"x" * 65536


class AddIn(BaseModel):
    x: int
    y: int


@app.get("/add")
async def add_get(x: int, y: int):
    return {"result": x + y}


@app.post("/add")
async def add_post(body: AddIn):
    return {"result": body.x + body.y}


@app.get("/cpu")
def cpu():
    return {"result": burn(CPU_ITERS)}


@app.get("/slow")
def slow():
    return {"result": burn(SLOW_ITERS)}


@app.get("/stream")  # the `stream` workload: `mb` MiB in 64 KiB chunks, as neutrino_app.py streams them
def stream(mb: int = 100):
    def chunks():
        for _ in range(mb * 16):
            yield STREAM_CHUNK
    return StreamingResponse(chunks(), media_type="application/octet-stream")
