"""Streams with Neutrino: a streamed download, Server-Sent Events, an upload read as it arrives,
and a WebSocket echo.

    neutrino serve examples/streaming.py:app
    curl -N localhost:8000/numbers?n=5
    curl -N localhost:8000/clock
    curl -T big.iso localhost:8000/upload
    # and a WebSocket client on ws://localhost:8000/echo
"""

import asyncio
import hashlib
import time

from neutrino import App, Request, ServerSentEvent, WebSocket

app = App()


@app.route("/numbers")
def numbers(n: int = 10):
    """Each line goes out as soon as it is yielded."""
    for i in range(n):
        yield f"{i}\n"


@app.route("/clock", media_type="text/event-stream")
async def clock(ticks: int = 10):
    """One event a second; the generator is closed if the client leaves."""
    for i in range(ticks):
        yield ServerSentEvent({"time": time.time()}, event="tick", id=str(i))
        await asyncio.sleep(1)


@app.route("/upload", methods=["PUT", "POST"], stream_body=True)
async def upload(request: Request):
    """Hashes a body of any size without holding it in memory."""
    digest = hashlib.sha256()
    size = 0
    async for chunk in request.stream():
        digest.update(chunk)
        size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}


@app.websocket("/echo")
async def echo(ws: WebSocket):
    async for message in ws:
        await ws.send(message)
