"""A registry that answers what a test tells it to, on 127.0.0.1 and without tokens: for the
registry crawl's faults (a Link that loops or leaves the host, content that is not what its
digest says, a HEAD without Docker-Content-Digest, no catalog). It counts what it was asked."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.countingserver import CountingServer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def digest_of(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass(frozen=True, slots=True)
class Answer:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_answer(document: Any, status: int = 200, **headers: str) -> Answer:
    return Answer(status, json.dumps(document).encode(), {"Content-Type": "application/json", **headers})


@dataclass(frozen=True, slots=True)
class Image:
    """A single-platform image: its config and manifest bytes, and their digests."""

    config: bytes
    manifest: bytes

    @property
    def digest(self) -> str:
        return digest_of(self.manifest)

    @property
    def config_digest(self) -> str:
        return digest_of(self.config)


def make_image(name: str, os: str = "linux", architecture: str = "amd64") -> Image:
    layer = digest_of(name.encode())
    config = json.dumps(
        {"os": os, "architecture": architecture, "rootfs": {"type": "layers", "diff_ids": [layer]}}
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": 1}
            ],
        }
    ).encode()
    return Image(config, manifest)


class HostileRegistry(CountingServer):
    """Answers `routes[path with query]`, the same for GET and HEAD (no body for HEAD); 404 else."""

    def __init__(self) -> None:
        self.routes: dict[str, Answer] = {}
        #: With `challenge` set, `/v2/` answers 401 naming it as the token service, which
        #: `/token` here plays; every Authorization header received is kept, by path.
        self.challenge: str | None = None
        self.authorizations: list[tuple[str, str]] = []
        super().__init__(_Handler)

    def serve_tag(self, repository: str, tag: str, image: Image, *, head_digest: bool = True) -> None:
        """A tag of a single-platform image: its manifest by tag and by digest, and its config."""
        headers = {"Content-Type": OCI_MANIFEST}
        if head_digest:
            headers["Docker-Content-Digest"] = image.digest
        answer = Answer(200, image.manifest, headers)
        self.routes[f"/v2/{repository}/manifests/{tag}"] = answer
        self.routes[f"/v2/{repository}/manifests/{image.digest}"] = answer
        self.routes[f"/v2/{repository}/blobs/{image.config_digest}"] = Answer(200, image.config)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HostileRegistry

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: tests read the crawler's log."""

    def do_GET(self) -> None:
        self.answer()

    def do_HEAD(self) -> None:
        self.answer()

    def answer(self) -> None:
        server = self.server
        server.count(f"{self.command} {self.path}")
        if authorization := self.headers.get("Authorization"):
            server.authorizations.append((self.path, authorization))
        if self.path.rstrip("/") == "/v2":
            found: Answer | None = json_answer({})
            if server.challenge is not None:
                realm = f'Bearer realm="{server.challenge}",service="hostile"'
                found = json_answer({}, 401, **{"WWW-Authenticate": realm})
        elif self.path.startswith("/token?"):
            found = json_answer({"token": "hostile-token", "expires_in": 300})
        else:
            found = server.routes.get(self.path)
        if found is None:
            found = json_answer({"errors": [{"code": "NAME_UNKNOWN", "message": "not here"}]}, 404)
        self.send_response(found.status)
        for name, value in {"Content-Length": str(len(found.body)), **found.headers}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(found.body)
