"""A Docker Hub API emulator: a real HTTP server on loopback serving a generated hub."""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

if TYPE_CHECKING:
    from .data import Hub, Tag

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 10
REPOSITORY_ORDERINGS = {"name", "-name", "last_updated", "-last_updated", "pull_count", "-pull_count"}
TAG_ORDERINGS = {"last_updated", "-last_updated", "name", "-name"}

REPOSITORIES_PATH = re.compile(
    r"^/v2/(?:repositories/(?P<ns1>[^/]+)/?|namespaces/(?P<ns2>[^/]+)/repositories/?)$"
)
TAGS_PATH = re.compile(
    r"^/v2/(?:repositories|namespaces/(?P<ns2>[^/]+)/repositories)/(?:(?P<ns1>[^/]+)/)?(?P<repo>[^/]+)/tags/?$"
)


class HubRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HubServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: tests read the crawler's log, not the server's."""

    def do_GET(self) -> None:
        self.server.count_request(self.path)
        if self.server.latency:
            time.sleep(self.server.latency)
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        try:
            if match := TAGS_PATH.match(url.path):
                namespace = match["ns1"] or match["ns2"]
                self.send_tags(namespace, match["repo"], url.path, query)
            elif match := REPOSITORIES_PATH.match(url.path):
                self.send_repositories(match["ns1"] or match["ns2"], url.path, query)
            else:
                self.send_json(404, {"message": "httperror 404: object not found", "errinfo": {}})
        except _HttpError as error:
            self.send_json(error.status, error.body)

    def send_repositories(self, namespace: str, path: str, query: dict[str, str]) -> None:
        repositories = self.server.hub.namespaces.get(namespace)
        if repositories is None:
            raise _HttpError(
                404, {"message": f"httperror 404: namespace '{namespace}' not found", "errinfo": {}}
            )
        ordering = query.get("ordering", "name")
        if ordering not in REPOSITORY_ORDERINGS:
            raise _HttpError(400, {"message": f"invalid ordering '{ordering}'", "errinfo": {}})
        items = [repository.api() for repository in repositories.values()]
        field = ordering.lstrip("-")
        items.sort(key=lambda item: item[field], reverse=ordering.startswith("-"))
        encoded = [json.dumps(item, separators=(",", ":")).encode() for item in items]
        self.send_page(encoded, path, query)

    def send_tags(self, namespace: str, name: str, path: str, query: dict[str, str]) -> None:
        repository = self.server.hub.repository(namespace, name)
        if repository is None:
            raise _HttpError(404, {"message": "httperror 404: object not found", "errinfo": {}})
        ordering = query.get("ordering", "last_updated")
        if ordering not in TAG_ORDERINGS:
            raise _HttpError(400, {"message": f"invalid ordering '{ordering}'", "errinfo": {}})
        tags: list[Tag] = repository.tags
        if ordering == "-last_updated":
            tags = tags[::-1]
        elif ordering in ("name", "-name"):
            tags = sorted(repository.unique_tags, key=lambda tag: tag.name, reverse=ordering == "-name")
        self.send_page([tag.json for tag in tags], path, query)

    def send_page(self, items: list[bytes], path: str, query: dict[str, str]) -> None:
        try:
            page = int(query.get("page", "1"))
            page_size = int(query.get("page_size", DEFAULT_PAGE_SIZE))
        except ValueError:
            raise _HttpError(400, {"message": "invalid page or page_size", "errinfo": {}}) from None
        if page < 1 or page_size < 1:
            raise _HttpError(400, {"message": "invalid page or page_size", "errinfo": {}})
        page_size = min(page_size, MAX_PAGE_SIZE)
        start = (page - 1) * page_size
        if start >= len(items) and page > 1:
            raise _HttpError(404, {"message": "httperror 404: page not found", "errinfo": {}})
        end = start + page_size
        base = f"http://{self.headers.get('Host', '127.0.0.1')}{path}"

        def link(number: int) -> bytes:
            return json.dumps(
                f"{base}?{urlencode(query | {'page': number, 'page_size': page_size})}"
            ).encode()

        next_link = link(page + 1) if end < len(items) else b"null"
        previous_link = link(page - 1) if page > 1 else b"null"
        body = b'{"count":%d,"next":%s,"previous":%s,"results":[%s]}' % (
            len(items),
            next_link,
            previous_link,
            b",".join(items[start:end]),
        )
        self.send_body(200, body)

    def send_json(self, status: int, payload: Any) -> None:
        self.send_body(status, json.dumps(payload).encode())

    def send_body(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _HttpError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status)
        self.status = status
        self.body = body


class HubServer(ThreadingHTTPServer):
    """Serves `hub` on 127.0.0.1; `requests` counts what was asked, by path."""

    daemon_threads = True

    def __init__(self, hub: Hub, port: int = 0, latency: float = 0.0) -> None:
        super().__init__(("127.0.0.1", port), HubRequestHandler)
        self.hub = hub
        self.latency = latency
        self.requests: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def count_request(self, path: str) -> None:
        with self._lock:
            self.requests[path] += 1

    def start(self) -> HubServer:
        self._thread = threading.Thread(target=self.serve_forever, name="fakehub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
