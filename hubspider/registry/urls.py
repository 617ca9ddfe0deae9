"""Registry URLs (the distribution API): a registry URL is an origin plus an optional prefix placed
after `/v2/`, so `https://public.ecr.aws/docker` reads ECR Public's copies of the official images."""

from __future__ import annotations

from urllib.parse import quote, urlsplit


def _repository_name(registry_url: str, namespace: str, repository: str) -> str:
    """The repository's name in the registry: behind the prefix, as a mirror names it."""
    prefix = urlsplit(registry_url).path.strip("/")
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


def registry_scope(registry_url: str, namespace: str, repository: str) -> str:
    """The token scope that reads one repository, named as the registry names it (prefix included)."""
    return f"repository:{_repository_name(registry_url, namespace, repository)}:pull"
