"""Neutrino: write handlers in Python, let the Neutrino orchestrator serve them over HTTP."""

from .app import App, Route
from .errors import RouteError
from .request import Headers, Request
from .response import HTTPException, Response
from .streaming import ClientDisconnect, ServerSentEvent, StreamingResponse
from .uploads import UploadedFile
from .websocket import WebSocket, WebSocketDisconnect

__all__ = ["App", "Route", "Request", "Response", "HTTPException", "Headers", "RouteError",
           "StreamingResponse", "ServerSentEvent", "ClientDisconnect", "WebSocket",
           "WebSocketDisconnect", "UploadedFile"]
__version__ = "0.1.0"
