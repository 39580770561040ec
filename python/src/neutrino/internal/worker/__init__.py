"""The worker process the orchestrator starts: protocol codec, app loading, request execution."""
