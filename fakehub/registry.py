"""A Docker registry emulator: the registry, its token service (the realm) and a blob CDN.

Three loopback servers, as Docker Hub's registry-1.docker.io, auth.docker.io and the CDN a
blob GET is redirected to. They serve the hub's real content: every manifest, config and layer
has the digest the Hub API names.

Accept, as Docker Hub's registry (distribution) does: no Accept header, or `*/*`, serves a
manifest in its own media type; otherwise its media type must be among those accepted, else
404 MANIFEST_UNKNOWN ("OCI index found, but accept header does not support OCI indexes"): no
conversion, no fallback to one platform.

Pulls: a manifest GET is a pull (HEAD is not), counted per client: anonymous clients share one
window (one IP, as loopback is), each signed-in user has one. `counts` counts what was asked:
"manifest_get" and "index_get" every GET of a platform (or attestation) manifest or of an index,
served or refused; "pulls" those served; "pull_429" those refused.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import secrets
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from .content import INDEX_TYPES, OCI_MANIFEST, Attestation, ImageContent, gzip_stored
from .server import LoopbackServer, ServerGroup

if TYPE_CHECKING:
    from collections.abc import Callable

    from .data import Hub, Repository

SERVICE = "registry.fakehub"
TOKEN_TTL = 300.0
# How long the CDN honours a redirect, as a signed URL does.
CDN_URL_TTL = 1200
COUNT_KEYS = (
    "manifest_get",
    "manifest_head",
    "index_get",
    "blob_get",
    "token",
    "pull_429",
    "pulls",
    "cdn_get",
)
REPOSITORY_PATH = re.compile(
    r"^(?P<ns>[^/]+)/(?P<repo>[^/]+)/(?P<kind>manifests|blobs)/(?P<reference>[^/]+)$"
)
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
TOO_MANY_REQUESTS = (
    "You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: "
    "https://www.docker.com/increase-rate-limit"
)


def _errors(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, "detail": None}]}


def tamper(data: bytes) -> bytes:
    """Other bytes of the same length: a gzip'd tar still gunzips, JSON still parses."""
    if data[:2] == b"\x1f\x8b":
        tar = bytearray(gzip.decompress(data))
        tar[512] ^= 1  # the first byte of the file, not of a header: the tar stays valid
        return gzip_stored(bytes(tar))
    position = data.rfind(b"sha256:")
    if position >= 0:
        last = position + len("sha256:") + 63
        altered = b"0" if data[last : last + 1] != b"0" else b"1"
        return data[:last] + altered + data[last + 1 :]
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 1]) + data[middle + 1 :]


class _Catalog:
    """One repository's manifests (by tag and by digest) and blobs, indexed when first asked."""

    def __init__(self, repository: Repository) -> None:
        self.listing = repository.tags
        self.tags: dict[str, str] = {}
        # digest -> (media type, what makes the bytes)
        self.manifests: dict[str, tuple[str, Callable[[], bytes]]] = {}
        self.blobs: dict[str, Callable[[], bytes]] = {}
        for tag in repository.unique_tags:
            build = tag.build
            # A 2020-era tag the Hub API gives no digest for: its platform manifests are still
            # served by digest, as Docker Hub's registry still serves them.
            if build.digest is not None:
                self.tags[tag.name] = build.digest
                if build.media_type in INDEX_TYPES:
                    self.manifests[build.digest] = (build.media_type, build.index)
            for image in build.images:
                content = image.content
                if isinstance(content, ImageContent):
                    self.manifests[content.digest] = (content.media_type, content.manifest)
                    self.blobs.update(content.blobs())
                elif isinstance(content, Attestation):
                    self.manifests[content.digest] = (OCI_MANIFEST, content.manifest)
                    self.blobs.update(content.blobs())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: tests read the crawler's log, not the server's."""

    def send(
        self, status: int, body: bytes, headers: dict[str, str] | None = None, *, head: bool = False
    ) -> None:
        if latency := self.server.registry.latency:
            time.sleep(latency)
        self.send_response(status)
        headers = {"Content-Type": "application/json"} | (headers or {})
        headers.setdefault("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(payload).encode(), headers, head=self.command == "HEAD")


class _RegistryHandler(_Handler):
    def do_GET(self) -> None:
        self.serve()

    def do_HEAD(self) -> None:
        self.serve()

    def serve(self) -> None:
        registry = self.server.registry
        url = urlsplit(self.path)
        path = url.path
        token = registry.token(self.headers.get("Authorization", ""))
        if path in ("/v2", "/v2/"):
            if token is None:
                self.challenge(None)
            else:
                self.send_json(200, {})
            return
        prefix = f"/v2/{registry.prefix}/" if registry.prefix else "/v2/"
        match = REPOSITORY_PATH.match(path.removeprefix(prefix)) if path.startswith(prefix) else None
        if match is None:
            self.send_json(404, _errors("NAME_UNKNOWN", "repository name not known to registry"))
            return
        namespace, name = match["ns"], match["repo"]
        scope = f"repository:{'/'.join(filter(None, (registry.prefix, namespace, name)))}:pull"
        if token is None or scope not in token.scopes:
            self.challenge(scope)
            return
        catalog = registry.catalog(namespace, name)
        if catalog is None:
            self.send_json(404, _errors("NAME_UNKNOWN", "repository name not known to registry"))
        elif match["kind"] == "manifests":
            self.manifest(catalog, match["reference"], token.user)
        else:
            self.blob(catalog, match["reference"])

    def challenge(self, scope: str | None) -> None:
        registry = self.server.registry
        registry.count("unauthorized")
        value = f'Bearer realm="{registry.auth_url}/token",service="{SERVICE}"'
        if scope is not None:
            value += f',scope="{scope}"'
        self.send_json(
            401,
            _errors("UNAUTHORIZED", "authentication required"),
            {"WWW-Authenticate": value, "Docker-Distribution-API-Version": "registry/2.0"},
        )

    def manifest(self, catalog: _Catalog, reference: str, user: str | None) -> None:
        registry = self.server.registry
        head = self.command == "HEAD"
        digest = reference if DIGEST.match(reference) else catalog.tags.get(reference)
        found = catalog.manifests.get(digest) if digest is not None else None
        if head:
            registry.count("manifest_head")
        if digest is None or found is None:
            self.send_json(404, _errors("MANIFEST_UNKNOWN", f"manifest unknown: {reference}"))
            return
        media_type, make = found
        if not _accepts(self.headers.get_all("Accept") or [], media_type):
            kind = "index" if media_type in INDEX_TYPES else "manifest"
            message = f"{media_type} {kind} found, but accept header does not support it"
            self.send_json(404, _errors("MANIFEST_UNKNOWN", message))
            return
        if not head:
            registry.count("index_get" if media_type in INDEX_TYPES else "manifest_get")
        allowed, limit_headers = registry.pull(user, counted=not head)
        if not allowed:
            registry.count("pull_429")
            self.send_json(429, _errors("TOOMANYREQUESTS", TOO_MANY_REQUESTS), limit_headers)
            return
        body = registry.served(digest, make)
        headers = {"Content-Type": media_type, "Docker-Content-Digest": digest, "Etag": f'"{digest}"'}
        self.send(200, body, headers | limit_headers, head=head)

    def blob(self, catalog: _Catalog, digest: str) -> None:
        registry = self.server.registry
        make = catalog.blobs.get(digest)
        if make is None:
            self.send_json(404, _errors("BLOB_UNKNOWN", f"blob unknown to registry: {digest}"))
            return
        if self.command == "HEAD":
            length = str(len(make()))
            headers = {"Content-Type": "application/octet-stream", "Docker-Content-Digest": digest}
            self.send(200, b"", headers | {"Content-Length": length}, head=True)
            return
        registry.count("blob_get")
        location = registry.redirect(digest, make)
        self.send(307, b"", {"Location": location, "Content-Type": "text/html; charset=utf-8"})


class _TokenHandler(_Handler):
    def do_GET(self) -> None:
        registry = self.server.registry
        url = urlsplit(self.path)
        if url.path.rstrip("/") != "/token":
            self.send_json(404, {"details": "not found"})
            return
        query = parse_qs(url.query)
        user = None
        scheme, _, credentials = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "basic":
            registry.record_basic_authorization(credentials.strip())
            user = registry.check_user(credentials.strip())
            if user is None:
                registry.count("token_refused")
                self.send_json(401, {"details": "incorrect username or password"})
                return
        registry.count("token")
        token = registry.issue(frozenset(query.get("scope", [])), user)
        issued = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        expires = int(registry.token_ttl)
        self.send_json(
            200, {"token": token, "access_token": token, "expires_in": expires, "issued_at": issued}
        )


class _CdnHandler(_Handler):
    def do_GET(self) -> None:
        registry = self.server.registry
        authorization = self.headers.get("Authorization")
        if authorization is not None:
            registry.record_cdn_authorization(authorization)
        registry.count("cdn_get")
        url = urlsplit(self.path)
        digest = url.path.rsplit("/", 1)[-1]
        try:
            expires = int(parse_qs(url.query).get("expires", ["0"])[-1])
        except ValueError:
            expires = 0
        make = registry.cdn_blob(digest)
        if make is None or expires < time.time():
            self.send(403, b"<Error><Code>AccessDenied</Code></Error>", {"Content-Type": "application/xml"})
            return
        self.send(200, registry.served(digest, make), {"Content-Type": "application/octet-stream"})


def _accepts(accept_headers: list[str], media_type: str) -> bool:
    accepted = {
        part.split(";")[0].strip() for header in accept_headers for part in header.split(",") if part.strip()
    }
    return not accepted or "*/*" in accepted or media_type in accepted


class _Token:
    __slots__ = ("issued", "scopes", "user")

    def __init__(self, scopes: frozenset[str], user: str | None, issued: float) -> None:
        self.scopes = scopes
        self.user = user
        self.issued = issued


class _Server(LoopbackServer):
    def __init__(self, registry: FakeRegistry, handler: type[_Handler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.registry = registry


class FakeRegistry(ServerGroup):
    """The registry (`url`), its token service (`auth_url`) and its blob CDN (`cdn_url`) for `hub`.

    `pull_limit` pulls per `window` seconds for anonymous clients, `signed_in_pull_limit` (twice
    that by default) for each user of `users` (name -> personal access token); None: unlimited,
    and no ratelimit headers. `prefix` puts the repositories under /v2/<prefix>/, as ECR Public's
    copies of the official images. `tampered` digests are served with other bytes of the same size.
    """

    thread_name = "fakeregistry"

    def __init__(
        self,
        hub: Hub,
        *,
        pull_limit: int | None = None,
        window: int = 21600,
        users: dict[str, str] | None = None,
        prefix: str = "",
        tampered: frozenset[str] = frozenset(),
        signed_in_pull_limit: int | None = None,
        token_ttl: float = TOKEN_TTL,
        latency: float = 0.0,
    ) -> None:
        super().__init__()
        if pull_limit is not None and pull_limit < 0:
            raise ValueError("pull limit must not be negative")
        self.hub = hub
        self.pull_limit = pull_limit
        self.signed_in_pull_limit = (
            signed_in_pull_limit if signed_in_pull_limit is not None or pull_limit is None else 2 * pull_limit
        )
        self.window = window
        self.users = dict(users or {})
        self.prefix = prefix.strip("/")
        self.tampered = frozenset(tampered)
        self.token_ttl = token_ttl
        #: Seconds every answer (registry, token service, CDN) waits, as a distant host would.
        self.latency = latency
        self.counts: Counter[str] = Counter(dict.fromkeys(COUNT_KEYS, 0))
        self.cdn_authorizations: list[str] = []
        #: The HTTP basic credentials the token service received (base64, as sent).
        self.basic_authorizations: list[str] = []
        self._tokens: dict[str, _Token] = {}
        self._pulls: Counter[str | None] = Counter()
        self._catalogs: dict[tuple[str, str], _Catalog] = {}
        self._cdn: dict[str, Callable[[], bytes]] = {}
        self._lock = threading.Lock()
        self._servers = [
            _Server(self, _RegistryHandler),
            _Server(self, _TokenHandler),
            _Server(self, _CdnHandler),
        ]

    @property
    def cdn_url(self) -> str:
        return self._servers[2].url

    def count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def reset_pulls(self) -> None:
        """A new pull window for every client."""
        with self._lock:
            self._pulls.clear()

    def check_user(self, credentials: str) -> str | None:
        """The user HTTP basic `credentials` name, if the secret is theirs."""
        try:
            name, _, secret = base64.b64decode(credentials, validate=True).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        known = self.users.get(name)
        return name if known is not None and secrets.compare_digest(known, secret) else None

    def issue(self, scopes: frozenset[str], user: str | None) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = _Token(scopes, user, time.monotonic())
        return token

    @property
    def issued_tokens(self) -> list[str]:
        """Every token the token service gave: secrets that must appear nowhere else."""
        with self._lock:
            return list(self._tokens)

    def record_basic_authorization(self, credentials: str) -> None:
        with self._lock:
            self.basic_authorizations.append(credentials)

    def token(self, authorization: str) -> _Token | None:
        """The valid (known, unexpired) bearer token of a request, if any."""
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        with self._lock:
            token = self._tokens.get(value.strip())
        if token is None or time.monotonic() - token.issued >= self.token_ttl:
            return None
        return token

    def pull(self, user: str | None, *, counted: bool) -> tuple[bool, dict[str, str]]:
        """Count a pull by `user` (None: anonymous) if `counted`: whether to serve it, and the headers."""
        limit = self.pull_limit if user is None else self.signed_in_pull_limit
        if limit is None:
            if counted:
                self.count("pulls")
            return True, {}
        with self._lock:
            allowed = not counted or self._pulls[user] < limit
            if counted and allowed:
                self._pulls[user] += 1
                self.counts["pulls"] += 1
            remaining = max(0, limit - self._pulls[user])
        headers = {
            "ratelimit-limit": f"{limit};w={self.window}",
            "ratelimit-remaining": f"{remaining};w={self.window}",
        }
        return allowed, headers

    def catalog(self, namespace: str, name: str) -> _Catalog | None:
        repository = self.hub.repository(namespace, name)
        if repository is None:
            return None
        key = (namespace, name)
        with self._lock:
            catalog = self._catalogs.get(key)
        # evolve() and churn give a repository a new list of tags: index it again.
        if catalog is None or catalog.listing is not repository.tags:
            catalog = _Catalog(repository)
            with self._lock:
                self._catalogs[key] = catalog
        return catalog

    def served(self, digest: str, make: Callable[[], bytes]) -> bytes:
        body = make()
        return tamper(body) if digest in self.tampered else body

    def redirect(self, digest: str, make: Callable[[], bytes]) -> str:
        with self._lock:
            self._cdn[digest] = make
        return f"{self.cdn_url}/registry-v2/blobs/{digest}?expires={int(time.time()) + CDN_URL_TTL}"

    def cdn_blob(self, digest: str) -> Callable[[], bytes] | None:
        with self._lock:
            return self._cdn.get(digest)

    def record_cdn_authorization(self, value: str) -> None:
        with self._lock:
            self.cdn_authorizations.append(value)
