"""Registry URLs (the distribution API): a registry URL is an origin plus an optional prefix placed
after `/v2/`, so `https://public.ecr.aws/docker` reads ECR Public's copies of the official images."""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

# A registry host as docker reads one: a name or an IPv6 address in brackets, and a port.
HOST = re.compile(r"^(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$")
DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
# Registries docker reaches over plain http without being told to.
LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]"})


def is_registry_host(name: str) -> bool:
    """Whether the first component of an image name is a registry host, by docker's rule (a dot,
    a port or `localhost`). Docker Hub namespaces have none, so records of a registry crawl,
    whose namespace is the host, never meet a Hub namespace."""
    return name == "localhost" or "." in name or ":" in name


def registry_url_of(host: str) -> str:
    """The URL of a registry host: https, but plain http for loopback, as docker does."""
    bare = host if host.endswith("]") else host.rsplit(":", 1)[0]
    return f"{'http' if bare in LOOPBACK else 'https'}://{host}"


def _repository_name(registry_url: str, namespace: str, repository: str) -> str:
    """The repository's name in the registry: behind the prefix, as a mirror names it. A
    namespace that is a registry host is not part of the path (`mcr.microsoft.com`, `dotnet/runtime`)."""
    prefix = urlsplit(registry_url).path.strip("/")
    if is_registry_host(namespace):
        namespace = ""
    return "/".join(part for part in (prefix, namespace, repository) if part)


def _repository_url(registry_url: str, namespace: str, repository: str) -> str:
    parts = urlsplit(registry_url)
    name = _repository_name(registry_url, namespace, repository)
    return f"{parts.scheme}://{parts.netloc}/v2/{quote(name)}"


def manifest_url(registry_url: str, namespace: str, repository: str, reference: str) -> str:
    """The manifest of a tag or a digest."""
    return f"{_repository_url(registry_url, namespace, repository)}/manifests/{quote(reference, safe=':')}"


def blob_url(registry_url: str, namespace: str, repository: str, digest: str) -> str:
    """A blob (a config or a layer), by its digest."""
    return f"{_repository_url(registry_url, namespace, repository)}/blobs/{quote(digest, safe=':')}"


def base_url(registry_url: str) -> str:
    """`<origin>/v2/`: the endpoint whose 401 names the token service."""
    parts = urlsplit(registry_url)
    return f"{parts.scheme}://{parts.netloc}/v2/"


def catalog_url(registry_url: str, page_size: int) -> str:
    """The first page of the registry's repository catalog."""
    return f"{base_url(registry_url)}_catalog?n={page_size}"


def tags_list_url(registry_url: str, namespace: str, repository: str, page_size: int) -> str:
    """The first page of a repository's tag list."""
    return f"{_repository_url(registry_url, namespace, repository)}/tags/list?n={page_size}"


def registry_scope(registry_url: str, namespace: str, repository: str) -> str:
    """The token scope that reads one repository, named as the registry names it (prefix included)."""
    return f"repository:{_repository_name(registry_url, namespace, repository)}:pull"
