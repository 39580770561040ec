"""How many tasks a worker takes at once: NEUTRINO_WORKER_CONCURRENCY, the orchestrator's
``--worker-concurrency``, set only when the user gave it. Unset, each kind of app has its own
default: 64 for an app with async routes (asyncio tasks are cheap), 1 for a WSGI app (one
request per worker, as gunicorn's sync worker: the app may rely on it)."""

import os
import sys

CONCURRENCY_ENV = "NEUTRINO_WORKER_CONCURRENCY"
DEFAULT_CONCURRENCY = 64


def concurrency_from_env(worker_id: str, default: int = DEFAULT_CONCURRENCY) -> int:
    """NEUTRINO_WORKER_CONCURRENCY, or ``default`` when it is unset (or not a whole number of 1
    or more, which is said on stderr)."""
    raw = os.environ.get(CONCURRENCY_ENV, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        sys.stderr.write(
            f"neutrino worker {worker_id}: ignoring {CONCURRENCY_ENV}={raw!r} (not a whole number"
            f" of 1 or more); using {default}\n"
        )
        return default
    return value
