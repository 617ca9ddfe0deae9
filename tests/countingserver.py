"""A loopback HTTP server for one test, on its own thread, that counts what it was asked: the
base of the small registries the tests stand up (a layout's, a hostile one)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING

from fakehub.server import LoopbackServer

if TYPE_CHECKING:
    from http.server import BaseHTTPRequestHandler
    from typing import Self


class CountingServer(LoopbackServer):
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, as an image reference names a registry."""
        host, port = self.server_address[:2]
        return f"{host}:{port}"

    def count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()
        self.server_close()
