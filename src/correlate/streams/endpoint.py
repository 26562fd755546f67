"""A worker's one HTTP port: ``/metrics`` for Prometheus, ``/livez`` and ``/readyz`` for Kubernetes.

Served from a thread, as prometheus_client's own exporter is (its handler serves ``/metrics``, and any other
path, unchanged), so a scrape never waits on the worker's loop. The probes answer from
:class:`~correlate.streams.probes.ProbeState`: 200 or 503, with a JSON body saying which part is not well.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import ThreadingHTTPServer
from urllib.parse import urlsplit

from prometheus_client.exposition import MetricsHandler
from prometheus_client.registry import Collector

from correlate.streams.probes import ProbeState

__all__ = ["LIVE_PATH", "READY_PATH", "WorkerEndpoint"]

LIVE_PATH = "/livez"
READY_PATH = "/readyz"


class _Handler(MetricsHandler):
    probes: ProbeState

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == LIVE_PATH:
            self._answer(*self.probes.answer_live())
        elif path == READY_PATH:
            self._answer(*self.probes.answer_ready())
        else:
            super().do_GET()

    def _answer(self, well: bool, body: dict[str, str]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(200 if well else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a probe left hanging by its client must not hold the worker's exit


class WorkerEndpoint:
    """Serves ``registry`` and the probes on ``host:port`` (0: any free port, then ``port`` says which)."""

    def __init__(self, registry: Collector, probes: ProbeState, port: int, host: str) -> None:
        handler = type("WorkerHandler", (_Handler,), {"registry": registry, "probes": probes})
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type("WorkerServer", (_Server,), {"address_family": family})
        self._server = server_class((host, port), handler)
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name="correlate-http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
