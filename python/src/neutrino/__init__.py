"""Neutrino: write handlers in Python, let the Neutrino orchestrator serve them over HTTP."""

from .app import App, Route

__all__ = ["App", "Route"]
__version__ = "0.1.0"
