"""A Starlette app served by uvicorn on a free local port, in a thread: the local stand-ins for outside
services (an OpenAI-compatible model server, an OAuth issuer) that tests talk to over real HTTP."""

from __future__ import annotations

import threading
import time

import uvicorn
from starlette.applications import Starlette

from tests.server.processes import free_port


class ThreadedServer:
    def __init__(self, app: Starlette) -> None:
        self.port = free_port()
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local server on port {self.port} did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
