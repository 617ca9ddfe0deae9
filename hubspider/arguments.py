"""Spider arguments and the API origin, checked before anything is requested."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hubspider.held.image import InputProblem, parse_platform
from hubspider.registry.urls import DOCKER_HUB_HOSTS, HOST, registry_url_of

# A path component of an image name, from the distribution reference grammar.
NAME_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
# A registry's repository path (`dotnet/runtime`): name components joined by `/`.
REPOSITORY_PATH = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+|/)[a-z0-9]+)*$")
MAX_NAME_LENGTH = 255
# The start of repository paths: whole components, perhaps a separator after the last.
PATH_PREFIX = re.compile(r"^[a-z0-9]+(?:(?:[._/]|__|-+)[a-z0-9]+)*[._/-]?$")


class ArgumentError(ValueError):
    """A spider argument or setting that cannot work; its message is one line for the user."""


def _check_name(kind: str, value: str) -> str:
    if not NAME_COMPONENT.match(value) or len(value) > MAX_NAME_LENGTH:
        raise ArgumentError(
            f"invalid {kind} {value!r}: use lowercase letters, digits and single separators (. _ -), "
            f"starting and ending with a letter or digit, at most {MAX_NAME_LENGTH} characters"
        )
    return value


@dataclass(frozen=True, slots=True)
class CrawlArguments:
    namespace: str = "library"
    repositories: tuple[str, ...] | None = None
    # "auto": read only what changed since the store's last complete crawl of each repository.
    since: str | None = None

    KNOWN = ("namespace", "repos", "since")

    @classmethod
    def parse(cls, arguments: dict[str, Any]) -> CrawlArguments:
        """Check `-a` arguments; names starting with `_` are Scrapyd's (`_job`) and pass."""
        _refuse_unknown(arguments, cls.KNOWN)
        namespace = _namespace(arguments)
        since = arguments.get("since")
        if since is not None and since != "auto":
            raise ArgumentError(f"invalid since {since!r}: the one value is auto (refresh from the store)")
        return cls(namespace, _repositories(arguments.get("repos")), since)

    def describe(self) -> dict[str, Any]:
        repositories = list(self.repositories) if self.repositories is not None else None
        return {"namespace": self.namespace, "repositories": repositories, "since": self.since}


@dataclass(frozen=True, slots=True)
class LayersArguments:
    """The `layers` spider's arguments: which repositories' known images to index, of Docker
    Hub's `namespace` or of the `registry` host a `registry` crawl read."""

    namespace: str = "library"
    repositories: tuple[str, ...] | None = None
    registry: str | None = None

    KNOWN = ("namespace", "repos", "registry")

    @classmethod
    def parse(cls, arguments: dict[str, Any]) -> LayersArguments:
        _refuse_unknown(arguments, cls.KNOWN)
        if "registry" not in arguments:
            return cls(_namespace(arguments), _repositories(arguments.get("repos")))
        if "namespace" in arguments:
            raise ArgumentError("give namespace (Docker Hub) or registry, not both")
        registry = _registry(arguments["registry"])
        return cls(registry, _repository_paths(arguments.get("repos")), registry)


@dataclass(frozen=True, slots=True)
class RegistryArguments:
    """The `registry` spider's arguments: the registry host, and which of its repositories."""

    registry: str
    repositories: tuple[str, ...] | None = None
    prefix: str | None = None

    KNOWN = ("registry", "repos", "prefix")

    @classmethod
    def parse(cls, arguments: dict[str, Any]) -> RegistryArguments:
        _refuse_unknown(arguments, cls.KNOWN)
        if "registry" not in arguments:
            raise ArgumentError("give the registry to crawl: -a registry=mcr.microsoft.com")
        prefix = arguments.get("prefix")
        if prefix is not None:
            prefix = str(prefix).strip()
            if not prefix or not PATH_PREFIX.match(prefix):
                raise ArgumentError(
                    f"invalid prefix {prefix!r}: expected the start of repository paths, e.g. dotnet/"
                )
        return cls(_registry(arguments["registry"]), _repository_paths(arguments.get("repos")), prefix)

    @property
    def url(self) -> str:
        return registry_url_of(self.registry)

    def describe(self) -> dict[str, Any]:
        repositories = list(self.repositories) if self.repositories is not None else None
        return {"registry": self.registry, "repositories": repositories, "prefix": self.prefix}


@dataclass(frozen=True, slots=True)
class ReferenceArguments:
    """The `reference` spider's arguments: an image reference, and the platform to read of an index."""

    ref: str
    platform: str | None = None

    KNOWN = ("ref", "platform")

    @classmethod
    def parse(cls, arguments: dict[str, Any]) -> ReferenceArguments:
        _refuse_unknown(arguments, cls.KNOWN)
        ref = str(arguments.get("ref", "")).strip()
        if not ref:
            raise ArgumentError("give the image to read: -a ref=ghcr.io/acme/app:1.2")
        return cls(ref, check_platform(arguments.get("platform")))


def check_platform(value: Any) -> str | None:
    """A `--platform` value, or None; a malformed one is an ArgumentError."""
    if value is None:
        return None
    try:
        return parse_platform(str(value))
    except InputProblem as problem:
        raise ArgumentError(str(problem)) from None


def _refuse_unknown(arguments: dict[str, Any], known: tuple[str, ...]) -> None:
    """Names starting with `_` are Scrapyd's (`_job`) and pass."""
    unknown = sorted(key for key in arguments if key not in known and not key.startswith("_"))
    if unknown:
        raise ArgumentError(f"unknown spider argument {unknown[0]!r}: expected one of {', '.join(known)}")


def _namespace(arguments: dict[str, Any]) -> str:
    return _check_name("namespace", str(arguments.get("namespace", "library")).strip())


def _registry(value: Any) -> str:
    """A registry host (`mcr.microsoft.com`, `127.0.0.1:5000`), lowercased as docker does."""
    host = str(value).strip().lower()
    if not HOST.match(host) or len(host) > MAX_NAME_LENGTH:
        raise ArgumentError(
            f"invalid registry {value!r}: expected a host such as mcr.microsoft.com or localhost:5000"
        )
    if host in DOCKER_HUB_HOSTS:
        raise ArgumentError(f"{host} is Docker Hub: crawl it with the library spider")
    return host


def _repository_paths(repos: Any) -> tuple[str, ...] | None:
    """Repository paths of a registry (`dotnet/runtime`): name components joined by `/`."""
    if repos is None:
        return None
    names = [name.strip() for name in str(repos).split(",")]
    if not any(names):
        raise ArgumentError("repos is empty: give repository paths separated by commas, e.g. dotnet/runtime")
    for name in names:
        if not is_repository_path(name):
            raise ArgumentError(
                f"invalid repository {name!r}: expected a path such as dotnet/runtime, in lowercase"
            )
    return tuple(dict.fromkeys(names))


def is_repository_path(name: str) -> bool:
    """Whether `name` is a registry's repository path, as the distribution spec's grammar has it."""
    return bool(REPOSITORY_PATH.match(name)) and len(name) <= MAX_NAME_LENGTH


def _repositories(repos: Any) -> tuple[str, ...] | None:
    if repos is None:
        return None
    names = [name.strip() for name in str(repos).split(",")]
    if not any(names):
        raise ArgumentError("repos is empty: give repository names separated by commas, e.g. alpine,nginx")
    return tuple(dict.fromkeys(_check_name("repository", name) for name in names))
