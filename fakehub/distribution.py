"""An OCI distribution registry emulator, as mcr.microsoft.com: `_catalog`, `tags/list`, manifests, blobs.

Not Docker Hub: no Hub API, so a crawler finds repositories through `GET /v2/_catalog` and tags
through `GET /v2/<name>/tags/list`, both paged by `Link: <...>; rel="next"` (distribution's
docs; the OCI distribution spec's "Listing Tags"). Its own data model, generated from a seed,
with real content from fakehub.content: every digest is the sha256 of the bytes served.

What a crawler must get right, and so what this serves:
- anonymous bearer tokens per scope (`repository:<name>:pull`, `registry:catalog:*`) from a
  token service named by the `WWW-Authenticate` challenge;
- alias tags (`8.0.11`, `8.0`, `8`, `latest`) sharing one digest; indexes with Linux and
  Windows platforms and BuildKit attestation manifests (platform unknown/unknown);
- an index only to a client whose Accept names its media type; else, as distribution does,
  the linux/amd64 manifest it lists (another digest), or 404 when it lists none;
- a repository with no tags, and one the catalog lists that answers 404 NAME_UNKNOWN;
- 429 with `Retry-After` past a burst of requests, as MCR answers.

`counts` counts what the registry answered, found or 404, by kind (`catalog_page`,
`tags_page`, `manifest_head`, `manifest_get`, `index_get` (what was served: an index GET answered
with its linux/amd64 manifest is a `manifest_get`), `blob_get`), and apart from those the requests refused
(`unauthorized`, `429`) and the tokens issued (`token`): a refused request is not counted in its
kind, so that a crawler's minimal number of requests can be checked exactly.
"""

from __future__ import annotations

import json
import math
import random
import re
import secrets
import threading
import time
from bisect import bisect_right
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from .content import (
    BUILDKIT,
    DOCKER_LIST,
    INDEX_TYPES,
    MANIFEST_OF_INDEX,
    OCI_INDEX,
    OCI_MANIFEST,
    Attestation,
    ImageContent,
    Recipe,
    Step,
    index_bytes,
    make_attestation,
    make_image,
    make_layer,
    sha256_digest,
    shared_layer,
)
from .server import LoopbackServer, ServerGroup

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

SERVICE = "distribution.fakehub"
TOKEN_TTL = 300.0
CATALOG_SCOPE = "registry:catalog:*"
COUNT_KEYS = (
    "catalog_page",
    "tags_page",
    "manifest_head",
    "manifest_get",
    "index_get",
    "blob_get",
    "token",
    "unauthorized",
    "429",
)
# MCR's paths: a few with three components, then vendors' to reach the count.
NAMED_REPOSITORIES = (
    "dotnet/runtime",
    "dotnet/aspnet",
    "dotnet/sdk",
    "dotnet/runtime-deps",
    "mssql/server",
    "windows/servercore",
    "windows/nanoserver",
    "powershell",
    "azure-cli",
    "cbl-mariner/base/core",
    "playwright",
    "openjdk/jdk",
)
EMPTY_REPOSITORY = "azure-cli/preview"
MISSING_REPOSITORY = "dotnet/nightly/runtime"

TAGGED = "tagged"
EMPTY = "empty"
NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None

    @property
    def key(self) -> str:
        parts = [self.os, self.architecture, self.variant, self.os_version]
        return "/".join(part for part in parts if part)


LINUX_AMD64 = Platform("linux", "amd64")
LINUX = (LINUX_AMD64, Platform("linux", "arm64", "v8"), Platform("linux", "arm", "v7"))
WINDOWS = (
    Platform("windows", "amd64", os_version="10.0.20348.2849"),
    Platform("windows", "amd64", os_version="10.0.17763.6532"),
)
VENDOR_PLATFORM_SETS = (LINUX, LINUX[:2], (*LINUX[:1], *WINDOWS[:1]))
_EPOCH = datetime(2026, 11, 1, tzinfo=UTC)

NAME_PATTERN = r"[a-z0-9]+(?:(?:[._]|__|-+|/)[a-z0-9]+)*"
LISTING_PATH = re.compile(rf"^/v2/(?P<name>{NAME_PATTERN})/tags/list$")
OBJECT_PATH = re.compile(rf"^/v2/(?P<name>{NAME_PATTERN})/(?P<kind>manifests|blobs)/(?P<reference>[^/]+)$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True, eq=False)
class Index:
    """An OCI index or Docker manifest list: its platform images, then their attestations."""

    media_type: str
    images: tuple[ImageContent, ...]
    attestations: tuple[Attestation, ...]
    name: str
    digest: str
    size: int

    def manifest(self) -> bytes:
        return index_bytes(self.media_type, self.images, self.attestations, self.name)


def make_index(
    media_type: str, images: tuple[ImageContent, ...], attestations: tuple[Attestation, ...], name: str
) -> Index:
    body = index_bytes(media_type, images, attestations, name)
    return Index(media_type, images, attestations, name, sha256_digest(body), len(body))


Target = Index | ImageContent


def images_of(target: Target) -> tuple[ImageContent, ...]:
    """The platform images a tag's target holds: an index's, without its attestations, or itself."""
    return target.images if isinstance(target, Index) else (target,)


@dataclass(slots=True, eq=False)
class DistributionRepository:
    """One repository: its tags, and every manifest and blob it serves by digest."""

    name: str
    status: str = TAGGED
    tags: dict[str, Target] = field(default_factory=dict)
    # digest -> (media type, what makes the bytes)
    manifests: dict[str, tuple[str, Callable[[], bytes]]] = field(default_factory=dict)
    blobs: dict[str, Callable[[], bytes]] = field(default_factory=dict)

    def add(self, tag: str, target: Target) -> None:
        self.tags[tag] = target
        self.manifests[target.digest] = (target.media_type, target.manifest)
        for image in images_of(target):
            self.manifests[image.digest] = (image.media_type, image.manifest)
            self.blobs.update(image.blobs())
        for attestation in target.attestations if isinstance(target, Index) else ():
            self.manifests[attestation.digest] = (OCI_MANIFEST, attestation.manifest)
            self.blobs.update(attestation.blobs())


@dataclass(slots=True, eq=False)
class Distribution:
    """The repositories of a registry, in catalog order (sorted, as distribution lists them)."""

    repositories: dict[str, DistributionRepository]

    @property
    def catalog(self) -> list[str]:
        return list(self.repositories)

    def expected(self) -> dict[str, dict[str, Any]]:
        """The truth a complete crawl must find: per repository, its status and each tag's target.

        An index's `images` are its platform images without attestation manifests; a single
        manifest's `images` is itself, its platform being the one its config names.
        """
        return {
            name: {
                "status": repository.status,
                "tags": {tag: _expected_target(target) for tag, target in sorted(repository.tags.items())},
            }
            for name, repository in self.repositories.items()
        }

    def expected_records(self, host: str, repositories: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Every digest record a complete crawl of this registry, served at `host`, exports (all
        but `seen_at`), by the record contract: a record per platform image, and one for a tag's
        index; `size` is the platform manifest's, as the index's descriptor gives it."""
        records = []
        for name, repository in self.repositories.items():
            if repositories is not None and name not in repositories:
                continue
            for tag, target in repository.tags.items():
                common: dict[str, Any] = {
                    "namespace": host,
                    "repository": name,
                    "tag": tag,
                    "image": f"{host}/{name}:{tag}",
                }
                common |= {"tag_digest": target.digest, "media_type": target.media_type, "last_pushed": None}
                records += [common | _expected_image_record(image) for image in images_of(target)]
                if isinstance(target, Index):
                    records.append(
                        common
                        | dict.fromkeys(("platform", "os", "architecture", "variant", "os_version", "size"))
                        | {"digest": target.digest, "kind": "index"}
                    )
        return records

    def fewest_requests(self, page_size: int, *, catalog_all_at_once: bool = False) -> dict[str, int]:
        """The fewest answers of each kind (`counts`' keys) a complete crawl needs: the catalog
        and each tag list in pages of `page_size` (the repository that answers 404 still costs
        its one), one HEAD a tag, one GET a distinct digest (index or single manifest), and one
        config GET a distinct config of the single manifests, per repository (its scope)."""
        catalog_pages = 1 if catalog_all_at_once else max(1, math.ceil(len(self.catalog) / page_size))
        tags_pages = 0
        indexes: set[str] = set()
        manifests: set[str] = set()
        configs: set[tuple[str, str]] = set()
        for name, repository in self.repositories.items():
            tags_pages += max(1, math.ceil(len(repository.tags) / page_size))
            for target in repository.tags.values():
                if isinstance(target, Index):
                    indexes.add(target.digest)
                else:
                    manifests.add(target.digest)
                    configs.add((name, target.config_digest))
        return {
            "catalog_page": catalog_pages,
            "tags_page": tags_pages,
            "manifest_head": self.tag_count,
            "index_get": len(indexes),
            "manifest_get": len(manifests),
            "blob_get": len(configs),
        }

    def distinct_digests(self) -> set[str]:
        """The digests tags point to: one manifest GET each (no digest is in two repositories)."""
        return {
            target.digest for repository in self.repositories.values() for target in repository.tags.values()
        }

    @property
    def tag_count(self) -> int:
        return sum(len(repository.tags) for repository in self.repositories.values())


def _expected_image(image: ImageContent) -> dict[str, Any]:
    return {
        "digest": image.digest,
        "media_type": image.media_type,
        "size": image.size,
        "os": image.os,
        "architecture": image.architecture,
        "variant": image.variant,
        "os_version": image.os_version,
    }


def _expected_image_record(image: ImageContent) -> dict[str, Any]:
    return {
        "digest": image.digest,
        "platform": image.platform,
        "kind": "image",
        "os": image.os,
        "architecture": image.architecture,
        "variant": image.variant,
        "os_version": image.os_version,
        "size": image.size,
    }


def _expected_target(target: Target) -> dict[str, Any]:
    return {
        "digest": target.digest,
        "media_type": target.media_type,
        "images": [_expected_image(image) for image in images_of(target)],
    }


def repository_names(count: int) -> list[str]:
    """`count` names: the empty and the missing repository, MCR's, then `vendor-NNN/app`."""
    if count < 3:
        raise ValueError("a distribution needs at least 3 repositories: one empty, one missing, one tagged")
    tagged = list(NAMED_REPOSITORIES[: count - 2])
    tagged += [f"vendor-{number:03d}/app" for number in range(1, count - 2 - len(tagged) + 1)]
    return [EMPTY_REPOSITORY, MISSING_REPOSITORY, *tagged]


def split_tags(total: int, repositories: int, rng: random.Random) -> list[int]:
    """`total` tags over `repositories`, unevenly as on a real registry, at least one each."""
    if total < repositories:
        raise ValueError(f"{total} tags cannot give each of {repositories} repositories one")
    weights = [rng.randint(1, 6) for _ in range(repositories)]
    spare = total - repositories
    shares = [1 + spare * weight // sum(weights) for weight in weights]
    for position in range(total - sum(shares)):
        shares[position % repositories] += 1
    return shares


def versions(count: int, rng: random.Random) -> list[tuple[int, int, int]]:
    """At least `count` distinct versions, newest first."""
    found: list[tuple[int, int, int]] = []
    major = 1
    while len(found) < count:
        for minor in range(rng.randint(1, 3)):
            found += [(major, minor, patch) for patch in range(rng.randint(1, 12))]
        major += 1
    return sorted(found, reverse=True)


def tag_names(version: tuple[int, int, int], newer: Sequence[tuple[int, int, int]]) -> list[str]:
    """The version's tag and the aliases it holds: `X.Y` and `X` while no newer version has them."""
    major, minor, patch = version
    names = [f"{major}.{minor}.{patch}"]
    if not any(other[:2] == version[:2] for other in newer):
        names.append(f"{major}.{minor}")
    if not any(other[0] == major for other in newer):
        names.append(f"{major}")
    if not newer:
        names.append("latest")
    return names


def platforms_of(name: str, rng: random.Random) -> tuple[Platform, ...]:
    if name.startswith(("dotnet/", "powershell")):
        return (*LINUX, *WINDOWS)
    if name.startswith("windows/"):
        return WINDOWS
    if name == "mssql/server":
        return (LINUX_AMD64,)
    if name.startswith("vendor-"):
        return rng.choice(VENDOR_PLATFORM_SETS)
    return LINUX


class _Builder:
    """Makes one repository's content; layers of a platform's base are shared across its images."""

    def __init__(self, name: str, position: int, seed: int, rng: random.Random) -> None:
        self.name = name
        self.seed = seed
        self.rng = rng
        # One repository in four is pushed as Docker manifest lists (no attestations), as older
        # pipelines do; the rest as OCI indexes with BuildKit attestations.
        self.index_type = DOCKER_LIST if position % 4 == 3 else OCI_INDEX
        self.manifest_type = MANIFEST_OF_INDEX[self.index_type]
        self.platforms = platforms_of(name, rng)

    def image(self, version: str, platform: Platform, age: int) -> ImageContent:
        created = (_EPOCH - timedelta(days=age)).strftime("%Y-%m-%dT%H:%M:%SZ")
        base = shared_layer(f"distribution/{self.seed}/base/{platform.key}")
        own = make_layer(f"distribution/{self.seed}/{self.name}/{version}/{platform.key}")
        if platform.os == "windows":
            first = Step(created, f"Apply image {platform.os_version}")
        else:
            first = Step(created, f"/bin/sh -c #(nop) ADD file:{base.diff_id[7:23]} in / ")
        steps = (
            first,
            Step(created, f"ENV APP_VERSION={version}", BUILDKIT, empty_layer=True),
            Step(created, f"RUN /bin/sh -c install {self.name} {version} # buildkit", BUILDKIT),
        )
        recipe = Recipe.of(steps, (f"APP_VERSION={version}",))
        return make_image(
            media_type=self.manifest_type,
            os=platform.os,
            architecture=platform.architecture,
            variant=platform.variant,
            os_version=platform.os_version,
            recipe=recipe,
            layers=(base, own),
        )

    def index(self, version: str, age: int) -> Index:
        images = tuple(self.image(version, platform, age) for platform in self.platforms)
        attestations: tuple[Attestation, ...] = ()
        if self.index_type == OCI_INDEX:
            # BuildKit attests the Linux images it builds; Windows images come from elsewhere.
            attestations = tuple(
                make_attestation(image.digest, f"{self.name}:{version}")
                for image in images
                if image.os == "linux"
            )
        return make_index(self.index_type, images, attestations, f"{self.name}:{version}")

    def repository(self, tag_count: int) -> DistributionRepository:
        repository = DistributionRepository(self.name)
        all_versions = versions(tag_count, self.rng)
        for age, version in enumerate(all_versions):
            if len(repository.tags) >= tag_count:
                break
            text = ".".join(map(str, version))
            # Some versions were pushed as one platform's manifest, no index.
            single = self.rng.random() < 0.15
            target: Target = self.image(text, self.platforms[0], age) if single else self.index(text, age)
            tagged: list[tuple[str, Target]] = [
                (name, target) for name in tag_names(version, all_versions[:age])
            ]
            if isinstance(target, Index) and self.rng.random() < 0.25:
                # An architecture's own tag, as MCR's `8.0-bookworm-slim-amd64`: the index's child.
                child = target.images[0]
                tagged.append((f"{text}-{child.architecture}", child))
            for tag, tag_target in tagged[: tag_count - len(repository.tags)]:
                repository.add(tag, tag_target)
        return repository


def make_distribution(repositories: int = 12, tags: int = 300, seed: int = 0) -> Distribution:
    """A registry of `repositories` (one empty, one missing) sharing `tags` tags; one seed, one registry."""
    rng = random.Random(seed)
    names = repository_names(repositories)
    tagged = names[2:]
    shares = split_tags(tags, len(tagged), rng)
    built = {
        EMPTY_REPOSITORY: DistributionRepository(EMPTY_REPOSITORY, EMPTY),
        MISSING_REPOSITORY: DistributionRepository(MISSING_REPOSITORY, NOT_FOUND),
    }
    for position, (name, count) in enumerate(zip(tagged, shares, strict=True)):
        built[name] = _Builder(name, position, seed, rng).repository(count)
    return Distribution({name: built[name] for name in sorted(built)})


def listing_page(names: Sequence[str], last: str | None, n: int | None) -> tuple[list[str], bool]:
    """The sorted `names` after `last`, at most `n` of them (None: all), and whether more remain."""
    start = bisect_right(names, last) if last is not None else 0
    if n is None:
        return list(names[start:]), False
    page = list(names[start : start + n])
    # n=0 asks for nothing: no next link, which would name no `last` and go round.
    return page, bool(page) and start + n < len(names)


def next_link(path: str, last: str, n: int) -> str:
    """The `Link` header of a page, relative as distribution sends it."""
    return f'<{path}?{urlencode({"last": last, "n": n})}>; rel="next"'


def granted_scopes(requested: Sequence[str]) -> frozenset[str]:
    """What an anonymous client is given: pull of any repository, and the catalog."""
    granted = set()
    for scope in requested:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind == "repository" and name and "pull" in actions.split(","):
            granted.add(f"repository:{name}:pull")
        elif scope == CATALOG_SCOPE:
            granted.add(CATALOG_SCOPE)
    return frozenset(granted)


def accepts(accept_headers: Sequence[str], media_type: str) -> bool:
    """Whether Accept names `media_type`: `*/*` does not make a client one that reads indexes."""
    return any(
        part.split(";")[0].strip() == media_type for header in accept_headers for part in header.split(",")
    )


class BurstLimiter:
    """At most `limit` requests in any `window` seconds; `now` is passed in so that tests need not sleep."""

    def __init__(self, limit: int, window: float) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("burst limit and window must be positive")
        self.limit = limit
        self.window = window
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def check(self, now: float) -> float | None:
        """None if a request at `now` is served (and counted); else the seconds until one would be."""
        with self._lock:
            while self._times and self._times[0] <= now - self.window:
                self._times.popleft()
            if len(self._times) < self.limit:
                self._times.append(now)
                return None
            # A refused request takes no place in the window: a client that waits is served.
            return self._times[0] + self.window - now


def _errors(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, "detail": None}]}


class _RequestError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = _errors(code, message)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle's algorithm the body would wait for the
    # client's delayed ACK of the headers (up to 40 ms), a latency no real registry adds.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: tests read the crawler's log, not the server's."""

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        headers = {"Content-Type": "application/json"} | (headers or {})
        headers.setdefault("Content-Length", str(len(body)))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(payload, separators=(",", ":")).encode(), headers)


class _RegistryHandler(_Handler):
    def do_GET(self) -> None:
        self.answer()

    def do_HEAD(self) -> None:
        self.answer()

    def answer(self) -> None:
        registry = self.server.registry
        registry.wait()
        if (wait := registry.burst(time.monotonic())) is not None:
            registry.count("429")
            self.send_json(
                429,
                _errors("TOOMANYREQUESTS", "too many requests"),
                {"Retry-After": str(max(1, math.ceil(wait)))},
            )
            return
        try:
            self.route()
        except _RequestError as error:
            self.send_json(error.status, error.body)

    def route(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        if url.path in ("/v2", "/v2/"):
            if self.authorized(None):
                self.send_json(200, {})
        elif url.path == "/v2/_catalog":
            if self.authorized(CATALOG_SCOPE):
                self.catalog(query)
        elif match := LISTING_PATH.match(url.path):
            if self.authorized(f"repository:{match['name']}:pull"):
                self.tags(match["name"], query)
        elif match := OBJECT_PATH.match(url.path):
            if self.authorized(f"repository:{match['name']}:pull"):
                repository = self.repository(match["name"])
                if match["kind"] == "manifests":
                    self.manifest(repository, match["reference"])
                else:
                    self.blob(repository, match["reference"])
        else:
            raise _RequestError(404, "NAME_UNKNOWN", "repository name not known to registry")

    def authorized(self, scope: str | None) -> bool:
        """Whether the request's token is valid and holds `scope` (None: any valid token); else a 401."""
        registry = self.server.registry
        scopes = registry.scopes(self.headers.get("Authorization", ""))
        if scopes is not None and (scope is None or scope in scopes):
            return True
        registry.count("unauthorized")
        challenge = f'Bearer realm="{registry.auth_url}/token",service="{registry.service}"'
        if scope is not None:
            challenge += f',scope="{scope}"'
            if scopes is not None:
                challenge += ',error="insufficient_scope"'
        self.send_json(
            401,
            _errors("UNAUTHORIZED", "authentication required"),
            {"WWW-Authenticate": challenge, "Docker-Distribution-API-Version": "registry/2.0"},
        )
        return False

    def repository(self, name: str) -> DistributionRepository:
        repository = self.server.registry.distribution.repositories.get(name)
        if repository is None or repository.status == NOT_FOUND:
            raise _RequestError(404, "NAME_UNKNOWN", "repository name not known to registry")
        return repository

    def page_size(self, query: dict[str, str]) -> int | None:
        registry = self.server.registry
        try:
            n = int(query["n"]) if "n" in query else None
        except ValueError:
            n = -1
        if n is not None and n < 0:
            raise _RequestError(400, "PAGINATION_NUMBER_INVALID", "invalid number of results requested")
        if registry.page_size_cap is not None:
            return registry.page_size_cap if n is None else min(n, registry.page_size_cap)
        return n

    def catalog(self, query: dict[str, str]) -> None:
        registry = self.server.registry
        registry.count("catalog_page")
        n = None if registry.catalog_all_at_once else self.page_size(query)
        page, more = listing_page(registry.distribution.catalog, query.get("last"), n)
        headers = {"Link": next_link("/v2/_catalog", page[-1], n)} if more and n is not None else {}
        self.send_json(200, {"repositories": page}, headers)

    def tags(self, name: str, query: dict[str, str]) -> None:
        registry = self.server.registry
        registry.count("tags_page")
        repository = self.repository(name)
        n = self.page_size(query)
        page, more = listing_page(sorted(repository.tags), query.get("last"), n)
        headers = {"Link": next_link(f"/v2/{name}/tags/list", page[-1], n)} if more and n is not None else {}
        self.send_json(200, {"name": name, "tags": page}, headers)

    def manifest(self, repository: DistributionRepository, reference: str) -> None:
        registry = self.server.registry
        if DIGEST.match(reference):
            found = repository.manifests.get(reference)
            digest = reference
        else:
            target = repository.tags.get(reference)
            found = (target.media_type, target.manifest) if target is not None else None
            digest = target.digest if target is not None else ""
        head = self.command == "HEAD"
        accepted = self.headers.get_all("Accept") or []
        if found is not None and found[0] in INDEX_TYPES and not accepts(accepted, found[0]):
            # As distribution: a client that reads no index is given the linux/amd64 manifest.
            digest, found = fallback(repository, json.loads(found[1]()))
        if found is None:
            registry.count("manifest_head" if head else "manifest_get")
            raise _RequestError(404, "MANIFEST_UNKNOWN", f"manifest unknown: {reference}")
        media_type, make = found
        registry.count(
            "manifest_head" if head else "index_get" if media_type in INDEX_TYPES else "manifest_get"
        )
        body = make()
        headers = {
            "Content-Type": media_type,
            "Docker-Content-Digest": digest,
            "Etag": f'"{digest}"',
            "Docker-Distribution-API-Version": "registry/2.0",
        }
        self.send(200, body, headers)

    def blob(self, repository: DistributionRepository, digest: str) -> None:
        if self.command != "HEAD":
            self.server.registry.count("blob_get")
        make = repository.blobs.get(digest)
        if make is None:
            raise _RequestError(404, "BLOB_UNKNOWN", f"blob unknown to registry: {digest}")
        headers = {"Content-Type": "application/octet-stream", "Docker-Content-Digest": digest}
        self.send(200, make(), headers)


def fallback(
    repository: DistributionRepository, index: dict[str, Any]
) -> tuple[str, tuple[str, Callable[[], bytes]] | None]:
    """The linux/amd64 manifest an index lists, for a client that reads no index: its digest, or none."""
    for entry in index["manifests"]:
        platform = entry.get("platform", {})
        if (platform.get("os"), platform.get("architecture")) == ("linux", "amd64"):
            return entry["digest"], repository.manifests[entry["digest"]]
    return "", None


class _TokenHandler(_Handler):
    def do_GET(self) -> None:
        registry = self.server.registry
        registry.wait()
        url = urlsplit(self.path)
        if url.path.rstrip("/") != "/token":
            self.send_json(404, {"details": "not found"})
            return
        # Anonymous only: credentials, if any, are ignored, as a public registry does.
        requested = parse_qs(url.query).get("scope", [])
        token = registry.issue(granted_scopes([part for scope in requested for part in scope.split(" ")]))
        registry.count("token")
        issued = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        expires = int(registry.token_ttl)
        self.send_json(
            200, {"token": token, "access_token": token, "expires_in": expires, "issued_at": issued}
        )


class _Server(LoopbackServer):
    def __init__(self, registry: DistributionRegistry, handler: type[_Handler], port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), handler)
        self.registry = registry


class DistributionRegistry(ServerGroup):
    """Serves `distribution` (`url`) and its token service (`auth_url`) on 127.0.0.1.

    `page_size_cap` caps `n` of both listings (and is the page size when `n` is not given);
    `catalog_all_at_once` answers the whole catalog in one page whatever `n`, as MCR does today.
    `burst_limit` requests in any `burst_window` seconds, then 429 with Retry-After.
    """

    thread_name = "fakedistribution"

    def __init__(
        self,
        distribution: Distribution,
        *,
        port: int = 0,
        page_size_cap: int | None = None,
        catalog_all_at_once: bool = False,
        burst_limit: int | None = None,
        burst_window: float = 1.0,
        latency: float = 0.0,
        token_ttl: float = TOKEN_TTL,
        service: str = SERVICE,
    ) -> None:
        super().__init__()
        if page_size_cap is not None and page_size_cap < 1:
            raise ValueError("page size cap must be positive")
        # Checked before binding, so that a bad argument leaves no open socket behind.
        self.burst_limiter = BurstLimiter(burst_limit, burst_window) if burst_limit is not None else None
        self.distribution = distribution
        self.page_size_cap = page_size_cap
        self.catalog_all_at_once = catalog_all_at_once
        #: Seconds every answer (registry and token service) waits, as a distant host would.
        self.latency = latency
        self.token_ttl = token_ttl
        self.service = service
        self.counts: Counter[str] = Counter(dict.fromkeys(COUNT_KEYS, 0))
        self._tokens: dict[str, tuple[frozenset[str], float]] = {}
        self._lock = threading.Lock()
        self._servers = [_Server(self, _RegistryHandler, port), _Server(self, _TokenHandler)]

    def count(self, key: str) -> None:
        with self._lock:
            self.counts[key] += 1

    def counts_snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def wait(self) -> None:
        if self.latency:
            time.sleep(self.latency)

    def burst(self, now: float) -> float | None:
        return self.burst_limiter.check(now) if self.burst_limiter is not None else None

    def issue(self, scopes: frozenset[str]) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = (scopes, time.monotonic())
        return token

    def scopes(self, authorization: str) -> frozenset[str] | None:
        """The scopes of a request's valid (known, unexpired) bearer token; None without one."""
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        with self._lock:
            found = self._tokens.get(value.strip())
        if found is None or time.monotonic() - found[1] >= self.token_ttl:
            return None
        return found[0]

    def serve_forever(self) -> None:
        """Serve until interrupted, for `python -m fakehub --distribution`."""
        self.start()
        try:
            while True:
                time.sleep(3600)
        finally:
            self.stop()
