"""Deterministic Hub-shaped data, and the records a correct crawl of it must export.

The data is generated from a model of builds (one pushed manifest or index with its
platform images) and the tags that point to them; the API JSON and the ground truth
are both derived from that model, independently of the spider's code.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .content import (
    FAMILY_TYPES,
    MANIFEST_OF_INDEX,
    Attestation,
    ImageContent,
    chain_ids,
    index_bytes,
    make_attestation,
    sha256_digest,
)
from .recipes import BuildRecipe, family_of

if TYPE_CHECKING:
    from collections.abc import Callable

INDEX_MEDIA_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_MEDIA_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)

LINUX_ALL = (
    ("linux", "amd64", None),
    ("linux", "arm", "v6"),
    ("linux", "arm", "v7"),
    ("linux", "arm64", "v8"),
    ("linux", "386", None),
    ("linux", "ppc64le", None),
    ("linux", "riscv64", None),
    ("linux", "s390x", None),
)
LINUX_UBUNTU = (
    ("linux", "amd64", None),
    ("linux", "arm", "v7"),
    ("linux", "arm64", "v8"),
    ("linux", "ppc64le", None),
    ("linux", "riscv64", None),
    ("linux", "s390x", None),
)
LINUX_COMMON = (("linux", "amd64", None), ("linux", "arm64", "v8"))
LINUX_AMD64 = (("linux", "amd64", None),)
WINDOWS_VERSIONS = {"ltsc2022": "10.0.20348.2762", "1809": "10.0.17763.6414"}

OFFICIAL_NAMES = tuple(
    """
    adminer aerospike almalinux alpine alt amazoncorretto amazonlinux api-firewall arangodb
    archlinux backdrop bash bonita buildpack-deps busybox caddy cassandra chronograf cirros
    clearlinux clefos clickhouse clojure composer convertigo couchbase couchdb crate dart
    debian docker drupal eclipse-mosquitto eclipse-temurin eggdrop elasticsearch elixir emqx
    erlang fedora flink fluentd friendica gazebo gcc geonetwork ghost golang gradle groovy
    haproxy haskell haxe hello-world hitch httpd hylang ibm-semeru-runtimes ibmjava influxdb
    irssi jetty joomla jruby julia kapacitor kibana kong krakend lightstreamer liquibase
    logstash mageia mariadb matomo maven mediawiki memcached mongo mongo-express mono mysql
    nats neo4j neurodebian nextcloud nginx node notary odoo open-liberty oraclelinux orientdb
    percona perl photon php php-zendserver phpmyadmin plone postfixadmin postgres python
    r-base rabbitmq rakudo-star redis redmine registry rethinkdb rocket.chat rockylinux ros
    ruby rust sapmachine satosa silverpeas sl solr sonarqube spiped storm swift swipl
    teamspeak telegraf tomcat tomee traefik ubuntu unit varnish websphere-liberty wordpress
    xwiki yourls znc zookeeper
    """.split()
)
WINDOWS_REPOSITORIES = frozenset(
    """
    docker golang haproxy influxdb mongo node open-liberty php python ruby rust sapmachine
    telegraf traefik websphere-liberty
    """.split()
)
OTHER_NAMESPACE = "bitnami"
OTHER_NAMESPACE_NAMES = ("nginx", "postgresql", "redis")
# Kept in even the smallest hub, so that tests can name them.
EDGE_CASE_REPOSITORIES = ("alpine", "python", "rust")
EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
# The tag at this position of a drifting repository is served again as the next one,
# as when a tag is pushed between two page requests of an offset-paged listing.
DRIFT_POSITION = 99
# evolve() re-pushes tags from among this many newest of a repository, as Hub's moving tags are recent.
EVOLVE_NEWEST = 30
# evolve() deletes only behind the first page, so that a first-page-only crawl sees it only in `count`.
EVOLVE_FIRST_PAGE = 100


def _key(*parts: object) -> str:
    return "/".join(map(str, parts))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Image:
    os: str
    architecture: str
    variant: str | None
    os_version: str | None
    digest: str | None
    size: int
    last_pushed: str
    # What the registry serves for this digest; None where Hub names no digest.
    content: ImageContent | Attestation | None = None

    @property
    def is_platform(self) -> bool:
        return self.digest is not None and "unknown" not in (self.os, self.architecture)

    @property
    def platform(self) -> str:
        parts = (self.os, self.architecture, self.variant)
        return "/".join(part for part in parts if part)

    def api(self) -> dict[str, Any]:
        return {
            "architecture": self.architecture,
            "features": "",
            "variant": self.variant,
            "digest": self.digest,
            "os": self.os,
            "os_features": "",
            "os_version": self.os_version,
            "size": self.size,
            "status": "active",
            "last_pulled": _iso(EPOCH + timedelta(days=20)),
            "last_pushed": self.last_pushed,
        }

    def images_api(self) -> dict[str, Any]:
        """This image as the Hub API's images endpoint lists it: with its build steps as `layers`."""
        layers = self.content.api_layers() if isinstance(self.content, ImageContent) else []
        return self.api() | {"layers": layers}

    def expected_image_record(self, namespace: str, repository: str) -> dict[str, Any]:
        """The image record (without seen_at) a layers crawl must export for this platform image."""
        content = self.content
        if not isinstance(content, ImageContent) or not self.is_platform:
            raise ValueError(f"{self.digest} is not a platform image with content")
        _, layer_type = FAMILY_TYPES[content.media_type]
        layer_steps = content.layer_steps()
        chains = chain_ids([layer.diff_id for _, layer in layer_steps])
        return {
            "digest": self.digest,
            "image_id": content.config_digest,
            "namespace": namespace,
            "repository": repository,
            "platform": self.platform,
            "os": self.os,
            "architecture": self.architecture,
            "variant": self.variant,
            "os_version": self.os_version,
            "layers": [
                {
                    "digest": layer.digest,
                    "diff_id": layer.diff_id,
                    "chain_id": chain,
                    "size": layer.size,
                    "media_type": layer_type,
                    "instruction": step.created_by,
                }
                for (step, layer), chain in zip(layer_steps, chains, strict=True)
            ],
            "history": content.history(),
        }


@dataclass(frozen=True, slots=True)
class Build:
    """One push: the manifest or index a tag points to, and its platform images."""

    digest: str | None
    media_type: str
    images: tuple[Image, ...]
    pushed: str
    # Names an index that lists nothing, which would otherwise have the same digest as every other.
    key: str = ""

    @property
    def full_size(self) -> int:
        if self.digest is None:
            return 0
        return max((image.size for image in self.images), default=0)

    def index(self) -> bytes:
        """The OCI index or Docker manifest list this build pushed (an index build's only)."""
        images = [image.content for image in self.images if isinstance(image.content, ImageContent)]
        attestations = [image.content for image in self.images if isinstance(image.content, Attestation)]
        return index_bytes(self.media_type, images, attestations, None if images else self.key)

    def index_digest(self) -> str:
        return sha256_digest(self.index())


@dataclass
class Tag:
    namespace: str
    repository: str
    repository_id: int
    name: str
    tag_id: int
    build: Build
    last_updated: str

    @cached_property
    def json(self) -> bytes:
        return json.dumps(self.api(), separators=(",", ":")).encode()

    def api(self) -> dict[str, Any]:
        tag: dict[str, Any] = {
            "creator": 7,
            "id": self.tag_id,
            "images": [image.api() for image in self.build.images],
            "last_updated": self.last_updated,
            "last_updater": 1156886,
            "last_updater_username": "doijanky",
            "name": self.name,
            "repository": self.repository_id,
            "full_size": self.build.full_size,
            "v2": True,
            "tag_status": "active",
            "tag_last_pulled": _iso(EPOCH + timedelta(days=20)),
            "tag_last_pushed": self.build.pushed,
            "media_type": self.build.media_type,
            "content_type": "image",
            "digest": self.build.digest,
        }
        if self.build.digest is None:
            del tag["digest"]  # Hub omits the key, as for library/rust 1.44.0-slim
        return tag

    def expected_records(self) -> list[dict[str, Any]]:
        """The digest records this tag must give, by the record contract."""
        build = self.build
        image_ref = (
            f"{self.repository}:{self.name}"
            if self.namespace == "library"
            else f"{self.namespace}/{self.repository}:{self.name}"
        )
        common = {
            "namespace": self.namespace,
            "repository": self.repository,
            "tag": self.name,
            "image": image_ref,
        }
        records = []
        platform_digests = set()
        for image in build.images:
            if not image.is_platform:
                continue
            platform_digests.add(image.digest)
            records.append(
                common
                | {
                    "digest": image.digest,
                    "platform": image.platform,
                    "kind": "image",
                    "os": image.os,
                    "architecture": image.architecture,
                    "variant": image.variant,
                    "os_version": image.os_version,
                    "tag_digest": build.digest,
                    "media_type": build.media_type,
                    "size": image.size,
                    "last_pushed": image.last_pushed,
                }
            )
        all_image_digests = {image.digest for image in build.images}
        if build.digest is not None and build.digest not in all_image_digests:
            records.append(
                common
                | {
                    "digest": build.digest,
                    "platform": None,
                    "kind": "index" if build.media_type in INDEX_MEDIA_TYPES else "image",
                    "os": None,
                    "architecture": None,
                    "variant": None,
                    "os_version": None,
                    "tag_digest": build.digest,
                    "media_type": build.media_type,
                    "size": None,
                    "last_pushed": build.pushed,
                }
            )
        return records


@dataclass(slots=True)
class Repository:
    namespace: str
    name: str
    repository_id: int
    # Newest first, as served for ordering=last_updated; may hold a drift duplicate.
    tags: list[Tag] = field(default_factory=list)

    @property
    def unique_tags(self) -> list[Tag]:
        seen: set[int] = set()
        unique = []
        for tag in self.tags:
            if tag.tag_id not in seen:
                seen.add(tag.tag_id)
                unique.append(tag)
        return unique

    def api(self) -> dict[str, Any]:
        updated = self.tags[0].last_updated if self.tags else _iso(EPOCH)
        return {
            "name": self.name,
            "namespace": self.namespace,
            "repository_type": "image",
            "status": 1,
            "status_description": "active",
            "description": f"Official build of {self.name}.",
            "is_private": False,
            "star_count": 100 + self.repository_id % 997,
            "pull_count": 1_000_000 * (1 + self.repository_id % 89),
            "last_updated": updated,
            "last_modified": updated,
            "date_registered": "2014-06-05T19:14:51.441071Z",
            "affiliation": "",
            "media_types": sorted({tag.build.media_type for tag in self.tags}),
            "content_types": ["image"] if self.tags else [],
            "categories": [{"name": "Operating systems", "slug": "operating-systems"}],
            "storage_size": sum(tag.build.full_size for tag in self.unique_tags),
        }


@dataclass(slots=True)
class Hub:
    namespaces: dict[str, dict[str, Repository]]
    # How many times evolve() changed this hub: keeps the digests of each day's new builds unique.
    generation: int = 0

    def repository(self, namespace: str, name: str) -> Repository | None:
        return self.namespaces.get(namespace, {}).get(name)

    def expected_records(
        self, namespace: str = "library", repositories: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Every record a complete crawl of `namespace` (or of some repositories) exports."""
        selected = self.namespaces.get(namespace, {})
        names = repositories if repositories is not None else list(selected)
        return [
            record
            for name in names
            for tag in selected[name].unique_tags
            for record in tag.expected_records()
        ]

    def expected_image_records(
        self, namespace: str = "library", repositories: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Every image record (without seen_at) a complete layers crawl exports after a complete
        crawl of `namespace`: one per platform image digest and repository, over its unique tags."""
        selected = self.namespaces.get(namespace, {})
        names = repositories if repositories is not None else list(selected)
        records = []
        for name in names:
            seen: set[str] = set()
            for tag in selected[name].unique_tags:
                for image in tag.build.images:
                    if image.is_platform and image.digest not in seen:
                        seen.add(image.digest)  # type: ignore[arg-type]
                        records.append(image.expected_image_record(namespace, name))
        return records

    @property
    def tag_count(self) -> int:
        return sum(len(r.unique_tags) for repos in self.namespaces.values() for r in repos.values())


# os, architecture, variant, os_version
Platform = tuple[str, str, str | None, str | None]


class _BuildContent:
    """Makes the images of one build, each with real content and its digest."""

    def __init__(
        self, repository: Repository, name: str, key: str, pushed: str, base_generation: int | None = None
    ) -> None:
        self.key = key
        self.pushed = pushed
        self.recipe = BuildRecipe(
            namespace=repository.namespace,
            repository=repository.name,
            name=name,
            build_key=key,
            pushed=pushed,
            base_generation=base_generation,
        )

    def image(self, platform: Platform, size: int, media_type: str) -> Image:
        os, architecture, variant, os_version = platform
        content = self.recipe.image(
            media_type=media_type, os=os, architecture=architecture, variant=variant, os_version=os_version
        )
        return Image(os, architecture, variant, os_version, content.digest, size, self.pushed, content)

    def attestation(self, subject: Image) -> Image:
        if subject.digest is None:
            raise ValueError("an attestation needs the digest of the image it attests")
        content = make_attestation(subject.digest, self.key)
        return Image("unknown", "unknown", None, None, content.digest, 1_024, self.pushed, content)


class _Generator:
    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)
        self.next_tag_id = 1_000_000
        self.next_repository_id = 1

    def namespace(self, name: str, repo_names: list[str], tag_counts: list[int]) -> dict[str, Repository]:
        repositories = {}
        multi_page = 0
        for repo_name, count in zip(repo_names, tag_counts, strict=True):
            repository = Repository(name, repo_name, self.next_repository_id)
            self.next_repository_id += 1
            repository.tags = self.tags(repository, count)
            if len(repository.tags) > DRIFT_POSITION + 1:
                if multi_page % 7 == 0:
                    repository.tags.insert(DRIFT_POSITION + 1, repository.tags[DRIFT_POSITION])
                multi_page += 1
            repositories[repo_name] = repository
        return dict(sorted(repositories.items()))

    def tags(self, repository: Repository, count: int) -> list[Tag]:
        suffixes = [""]
        if repository.name in WINDOWS_REPOSITORIES:
            suffixes += ["-windowsservercore-ltsc2022", "-nanoserver-1809"]
        suffixes += ["-slim", "-alpine"][: self.random.randint(0, 2)]
        tags: list[Tag] = []
        moment = EPOCH - timedelta(minutes=self.random.randint(0, 600))
        version_names = self._versions()
        builds_by_family: Counter[str] = Counter()
        while len(tags) < count:
            aliases_by_version = next(version_names)
            for suffix in suffixes:
                if len(tags) >= count:
                    break
                moment -= timedelta(minutes=self.random.randint(1, 300))
                build_name = aliases_by_version[0] + suffix
                family = family_of(repository.name, build_name)
                build = self.build(
                    repository, build_name, suffix, moment, len(tags), ordinal=builds_by_family[family]
                )
                builds_by_family[family] += 1
                for alias in aliases_by_version[: count - len(tags)]:
                    tags.append(
                        Tag(
                            namespace=repository.namespace,
                            repository=repository.name,
                            repository_id=repository.repository_id,
                            name=alias + suffix if alias != "latest" or not suffix else suffix[1:],
                            tag_id=self.next_tag_id,
                            build=build,
                            last_updated=_iso(moment),
                        )
                    )
                    self.next_tag_id += 1
        return tags

    def _versions(self):
        """Version tags newest first, each with the alias names that point to it."""
        newest_minor: set[tuple[int, int]] = set()
        newest_major: set[int] = set()
        first = True
        for major in range(40, 0, -1):
            for minor in range(24, -1, -1):
                for patch in range(9, -1, -1):
                    aliases = [f"{major}.{minor}.{patch}"]
                    if (major, minor) not in newest_minor:
                        newest_minor.add((major, minor))
                        aliases.append(f"{major}.{minor}")
                    if major not in newest_major:
                        newest_major.add(major)
                        aliases.append(f"{major}")
                    if first:
                        aliases.append("latest")
                        first = False
                    yield aliases
        raise RuntimeError("ran out of version names")

    def build(
        self, repository: Repository, name: str, suffix: str, moment: datetime, position: int, *, ordinal: int
    ) -> Build:
        rng = self.random
        pushed = _iso(moment)
        if "windows" in suffix or "nanoserver" in suffix:
            os_version = WINDOWS_VERSIONS["ltsc2022" if "ltsc2022" in suffix else "1809"]
            platforms: list[Platform] = [("windows", "amd64", None, os_version)]
        else:
            choice = rng.random()
            if choice < 0.12:
                platform_set = LINUX_AMD64
            elif choice < 0.45:
                platform_set = LINUX_COMMON
            elif choice < 0.75:
                platform_set = LINUX_UBUNTU
            else:
                platform_set = LINUX_ALL
            platforms = [(*p, None) for p in platform_set]
        sizes = [rng.randint(2_000_000, 400_000_000) for _ in platforms]
        key = _key(repository.namespace, repository.name, name)
        content = _BuildContent(repository, name, key, pushed, ordinal)
        if len(platforms) == 1 and platforms[0][0] == "linux" and rng.random() < 0.6:
            # A single-platform tag: the tag digest is its one image's manifest.
            media_type = rng.choice(MANIFEST_MEDIA_TYPES)
            image = content.image(platforms[0], sizes[0], media_type)
            return Build(image.digest, media_type, (image,), pushed)
        attested = rng.random() < 0.15
        old = position > 40
        digestless_first = old and rng.random() < 0.04
        empty = old and rng.random() < 0.02
        digestless_tag = old and rng.random() < 0.03
        media_type = rng.choice(INDEX_MEDIA_TYPES)
        if empty:
            build = Build(None, media_type, (), pushed, content.key)
            return build if digestless_tag else replace(build, digest=build.index_digest())
        manifest_type = MANIFEST_OF_INDEX[media_type]
        images = [content.image(p, size, manifest_type) for p, size in zip(platforms, sizes, strict=True)]
        if attested:
            images.append(content.attestation(images[-1]))
        if digestless_first:
            images[0] = replace(images[0], digest=None, content=None)
        build = Build(None, media_type, tuple(images), pushed, content.key)
        return build if digestless_tag else replace(build, digest=build.index_digest())


def _tag_counts(total: int, names: list[str], rng: random.Random) -> list[int]:
    """A heavy tail, as real official repositories keep thousands of old tags; some are empty."""
    weights = [1 / (i + 1) ** 1.05 for i in range(len(names))]
    rng.shuffle(weights)
    for i, name in enumerate(names):
        if i % 40 == 7 and name not in EDGE_CASE_REPOSITORIES:
            weights[i] = 0.0
    scale = total / sum(weights)
    counts = [int(w * scale) for w in weights]
    counts[weights.index(max(weights))] += total - sum(counts)
    return counts


def make_hub(repositories: int = 12, tags: int = 1_500, seed: int = 0) -> Hub:
    """Build a hub: `repositories` in `library` sharing `tags` tags, plus a small `bitnami`."""
    generator = _Generator(seed)
    names = list(OFFICIAL_NAMES[:repositories])
    names += [f"official-{i:03d}" for i in range(len(names), repositories)]
    for must in EDGE_CASE_REPOSITORIES:
        if must not in names and len(names) >= len(EDGE_CASE_REPOSITORIES):
            names[names.index(next(n for n in names if n not in EDGE_CASE_REPOSITORIES))] = must
    names.sort()
    library = generator.namespace("library", names, _tag_counts(tags, names, random.Random(seed)))
    other_counts = [max(1, tags // 200), max(1, tags // 40), 0]
    bitnami = generator.namespace(OTHER_NAMESPACE, list(OTHER_NAMESPACE_NAMES), other_counts)
    return Hub({"library": library, OTHER_NAMESPACE: bitnami})


def pushed_tag(repository: Repository, name: str, tag_id: int) -> Tag:
    """A tag pushed after the hub was made: newer than every generated tag, with a build of its own."""
    pushed = _iso(EPOCH + timedelta(hours=1))
    content = _BuildContent(repository, name, _key(repository.namespace, repository.name, name), pushed)
    manifest_type = MANIFEST_OF_INDEX[INDEX_MEDIA_TYPES[0]]
    images = tuple(
        content.image((os, arch, variant, None), 30_000_000 + 1_000_000 * i, manifest_type)
        for i, (os, arch, variant) in enumerate(LINUX_COMMON)
    )
    build = Build(None, INDEX_MEDIA_TYPES[0], images, pushed, content.key)
    return Tag(
        namespace=repository.namespace,
        repository=repository.name,
        repository_id=repository.repository_id,
        name=name,
        tag_id=tag_id,
        build=replace(build, digest=build.index_digest()),
        last_updated=pushed,
    )


@dataclass
class Evolution:
    """What evolve() changed: the ground truth of what a second, incremental crawl must notice."""

    moved: list[tuple[str, str]] = field(default_factory=list)
    added: list[tuple[str, str]] = field(default_factory=list)
    deleted: list[tuple[str, str]] = field(default_factory=list)
    # The tag digest each moved tag pointed to before it was re-pushed.
    old_digests: dict[tuple[str, str], str | None] = field(default_factory=dict)


def _parse_iso(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _rebuilt(build: Build, content: _BuildContent, rng: random.Random) -> Build:
    """A fresh push shaped like `build`: same platforms and media type, new digests everywhere."""
    single = build.media_type in MANIFEST_MEDIA_TYPES
    manifest_type = build.media_type if single else MANIFEST_OF_INDEX[build.media_type]
    images: list[Image] = []
    for image in build.images:
        if not image.is_platform:
            # Hub names no digest here, or an attestation: made again below, for the new images.
            if image.digest is None:
                images.append(replace(image, last_pushed=content.pushed))
            continue
        size = max(1_024, image.size + rng.randint(-500_000, 500_000))
        platform = (image.os, image.architecture, image.variant, image.os_version)
        images.append(content.image(platform, size, manifest_type))
    if any(isinstance(image.content, Attestation) for image in build.images) and images[-1].digest:
        images.append(content.attestation(images[-1]))
    if single and images:
        # A single-platform tag's digest stays its one image's manifest digest.
        return Build(images[0].digest, build.media_type, tuple(images), content.pushed)
    rebuilt = Build(None, build.media_type, tuple(images), content.pushed, content.key)
    return replace(rebuilt, digest=rebuilt.index_digest())


class _Evolver:
    """One evolve() call: the listings as they were (where picks are made) and as they become."""

    def __init__(self, hub: Hub, rng: random.Random, now: datetime) -> None:
        self.hub = hub
        self.rng = rng
        self.now = now
        library = hub.namespaces.get("library", {})
        # Biggest first, so that changes land first in repositories with more than one page.
        self.ranked = sorted(
            (r for r in library.values() if r.tags), key=lambda r: (-len(r.unique_tags), r.name)
        )
        # "Newest" and "first page" mean before evolve, whatever the changes before a pick did.
        self.before = {r.name: r.unique_tags for r in self.ranked}
        self.listings = {name: list(tags) for name, tags in self.before.items()}
        self.touched: dict[str, Repository] = {}
        self.taken: set[int] = set()
        self.seconds = 0
        self.next_tag_id = 1 + max(
            (tag.tag_id for repos in hub.namespaces.values() for r in repos.values() for tag in r.tags),
            default=0,
        )
        self.evolution = Evolution()

    def deal(
        self, repositories: list[Repository], count: int, window: Callable[[list[Tag]], list[Tag]], what: str
    ) -> list[tuple[Repository, Tag]]:
        """Pick `count` distinct tags round-robin over `repositories`, each at random within its window."""
        picks = []
        for i in range(count):
            for step in range(len(repositories)):
                repository = repositories[(i + step) % len(repositories)]
                choices = [tag for tag in window(self.before[repository.name]) if id(tag) not in self.taken]
                if choices:
                    break
            else:
                raise ValueError(f"the hub has too few tags to {what} {count}")
            tag = self.rng.choice(choices)
            self.taken.add(id(tag))
            picks.append((repository, tag))
        return picks

    def stamp(self) -> str:
        """A moment after `now`, later for each change, so that the last change is the newest."""
        self.seconds += 1
        return _iso(self.now + timedelta(seconds=self.seconds))

    def content(self, repository: Repository, name: str) -> _BuildContent:
        """A new build of `name`, stamped now: its key makes its digests unlike any before."""
        key = _key("evolved", self.hub.generation, repository.namespace, repository.name, name)
        return _BuildContent(repository, name, key, self.stamp())

    def move(self, repository: Repository, tag: Tag) -> None:
        build = _rebuilt(tag.build, self.content(repository, tag.name), self.rng)
        pushed = build.pushed
        # A new Tag object, not an edit: the old one's cached JSON goes with it.
        new_tag = replace(tag, build=build, last_updated=pushed)
        listing = self.listings[repository.name]
        self.listings[repository.name] = [new_tag, *(t for t in listing if t is not tag)]
        self.touched[repository.name] = repository
        self.evolution.moved.append((repository.name, tag.name))
        self.evolution.old_digests[(repository.name, tag.name)] = tag.build.digest

    def add(self, repository: Repository) -> None:
        listing = self.listings[repository.name]
        names = {t.name for t in listing}
        number = 1
        while f"3.99.0-new{number}" in names:
            number += 1
        name = f"3.99.0-new{number}"
        # Shaped like the repository's newest build: the platforms it publishes today.
        template = self.before[repository.name][0].build
        build = _rebuilt(template, self.content(repository, name), self.rng)
        pushed = build.pushed
        new_tag = Tag(
            namespace=repository.namespace,
            repository=repository.name,
            repository_id=repository.repository_id,
            name=name,
            tag_id=self.next_tag_id,
            build=build,
            last_updated=pushed,
        )
        self.next_tag_id += 1
        self.listings[repository.name] = [new_tag, *listing]
        self.touched[repository.name] = repository
        self.evolution.added.append((repository.name, name))

    def delete(self, repository: Repository, tag: Tag) -> None:
        self.listings[repository.name] = [t for t in self.listings[repository.name] if t is not tag]
        self.touched[repository.name] = repository
        self.evolution.deleted.append((repository.name, tag.name))

    def commit(self) -> Evolution:
        for name, repository in self.touched.items():
            tags = self.listings[name]
            if len(repository.tags) != len(repository.unique_tags) and len(tags) > DRIFT_POSITION + 1:
                # Every old occurrence is gone with the list; the duplicate stays at the page boundary.
                tags.insert(DRIFT_POSITION + 1, tags[DRIFT_POSITION])
            # A new list, not an edit in place: requests being served keep a consistent listing.
            repository.tags = tags
        self.hub.generation += 1
        return self.evolution


def _middle(tags: list[Tag]) -> list[Tag]:
    """Behind the first page, and not the oldest tag unless it is the only one there."""
    return tags[EVOLVE_FIRST_PAGE : max(EVOLVE_FIRST_PAGE + 1, len(tags) - 1)]


def evolve(
    hub: Hub,
    *,
    moved: int = 3,
    added: int = 2,
    deleted: int = 1,
    seed: int = 1,
    now: datetime | None = None,
) -> Evolution:
    """Change `library` in place as Hub changes between two daily crawls: re-pushes, new tags, deletions.

    Repositories are dealt round-robin, biggest first, so that changes spread over the repositories
    with more than one page, where an incremental crawler that reads only the first page is tested.
    Moved and added tags get new builds and go to the top, newest last; deleted tags come from behind
    the first page. The same seed on the same hub makes the same changes.
    """
    if min(moved, added, deleted) < 0:
        raise ValueError("moved, added and deleted must not be negative")
    now = datetime.now(UTC) if now is None else now
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    library = hub.namespaces.get("library", {})
    newest = max((_parse_iso(tag.last_updated) for r in library.values() for tag in r.tags), default=EPOCH)
    if now <= newest:
        # Otherwise re-pushed tags would top a listing ordered newest first, yet be older than the rest.
        raise ValueError(f"now must be later than the newest tag of library ({_iso(newest)})")
    evolver = _Evolver(hub, random.Random(seed), now)
    multi_page = [r for r in evolver.ranked if len(r.unique_tags) > EVOLVE_FIRST_PAGE]
    moves = evolver.deal(evolver.ranked, moved, lambda tags: tags[:EVOLVE_NEWEST], "move")
    deletions = evolver.deal(multi_page, deleted, _middle, "delete")
    if added and not evolver.ranked:
        raise ValueError("the hub has no repository with tags to add to")
    for repository, tag in moves:
        evolver.move(repository, tag)
    for i in range(added):
        evolver.add(evolver.ranked[i % len(evolver.ranked)])
    for repository, tag in deletions:
        evolver.delete(repository, tag)
    return evolver.commit()
