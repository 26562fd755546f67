"""The people-facing edge: the HTTP API (app.py, openapi.yaml), the agent console (console.html), the banner's
in-process copy of the open incidents (known.py), and ``correlate api`` / ``correlate token`` (serve.py,
commands.py). Handlers are thin; the wording is in :mod:`correlate.api.banner`, state in :mod:`correlate.store`."""

__all__: list[str] = []
