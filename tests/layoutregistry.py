"""A registry that needs no token, serving an OCI image layout directory on 127.0.0.1, as a
private registry (`localhost:5000/app`) serves an image built on an official one: manifests by
tag (the layout's `org.opencontainers.image.ref.name`) or digest, and blobs, with the
`Docker-Content-Digest` header. It counts what it was asked."""

from __future__ import annotations

import json
import re
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from tests.countingserver import CountingServer

if TYPE_CHECKING:
    from pathlib import Path

PATH = re.compile(r"^/v2/(?P<name>.+)/(?P<kind>manifests|blobs)/(?P<reference>[^/]+)$")
REF_NAME = "org.opencontainers.image.ref.name"


class LayoutRegistry(CountingServer):
    def __init__(self, layout: Path, name: str) -> None:
        self.layout = layout
        self.name = name
        super().__init__(_Handler)

    def tags(self) -> dict[str, dict[str, Any]]:
        index = json.loads((self.layout / "index.json").read_text())
        return {
            entry["annotations"][REF_NAME]: entry
            for entry in index.get("manifests") or []
            if REF_NAME in entry.get("annotations", {})
        }

    def blob(self, digest: str) -> bytes | None:
        path = self.layout / "blobs" / "sha256" / digest.removeprefix("sha256:")
        return path.read_bytes() if digest.startswith("sha256:") and path.is_file() else None


class _Handler(BaseHTTPRequestHandler):
    server: LayoutRegistry

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the stdlib's name)
        pass

    def do_GET(self) -> None:
        if self.path == "/v2/":
            self.answer(200, b"{}", "application/json")
            return
        match = PATH.match(self.path)
        if match is None or match["name"] != self.server.name:
            self.answer(404, b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known"}]}')
            return
        reference = match["reference"]
        if match["kind"] == "blobs":
            self.server.count("blob_get")
            self.serve_blob(reference, "application/octet-stream")
            return
        self.server.count("manifest_get")
        entry = self.server.tags().get(reference)
        if entry is not None:
            self.serve_blob(entry["digest"], entry["mediaType"])
        else:
            blob = self.server.blob(reference)
            media_type = json.loads(blob).get("mediaType", "") if blob else ""
            self.serve_blob(reference, media_type)

    def serve_blob(self, digest: str, media_type: str) -> None:
        body = self.server.blob(digest)
        if body is None:
            self.answer(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}')
            return
        self.answer(200, body, media_type, {"Docker-Content-Digest": digest})

    def answer(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
