"""Image references as docker reads them (`alpine`, `ghcr.io/acme/app:1.2`,
`registry.example.com:5000/app@sha256:...`), and the registry URL each is read from."""

from __future__ import annotations

import re
from dataclasses import dataclass

from hubspider.held.image import InputProblem
from hubspider.registry.urls import DOCKER_HUB_HOSTS, HOST, is_registry_host, registry_url_of

# The distribution spec's grammar (reference.go): path components of lowercase letters and
# digits joined by separators; a tag of up to 128 word characters, dots and dashes.
COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REFERENCE = re.compile(
    rf"^(?P<name>{COMPONENT}(?:/{COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


@dataclass(frozen=True, slots=True)
class Reference:
    """Where an image is: `registry_url` is None for Docker Hub (the HUB_REGISTRY_URL setting)."""

    registry_url: str | None
    #: The repository's path in the registry, split as the registry URL helpers take it.
    namespace: str
    repository: str
    #: The tag, or the digest when the reference has one (a digest pins it; a tag beside it is a label).
    reference: str
    given: str


def parse_reference(text: str) -> Reference:
    """The reference `text` names, or InputProblem; docker's defaults apply (Docker Hub,
    `library/` for a bare name, tag `latest`)."""
    domain, slash, rest = text.partition("/")
    if slash and is_registry_host(domain):
        if not HOST.match(domain):
            raise InputProblem(f"not an image reference: {text!r} (bad registry host {domain!r})")
        path = rest
    else:
        domain, path = "docker.io", text
    match = REFERENCE.match(path)
    if match is None:
        raise InputProblem(
            f"not a file, a directory or an image reference: {text!r} "
            "(a reference is [registry/]repository[:tag][@sha256:digest], in lowercase)"
        )
    name = match["name"]
    registry_url = None if domain in DOCKER_HUB_HOSTS else registry_url_of(domain)
    if registry_url is None and "/" not in name:
        name = f"library/{name}"
    namespace, _, repository = name.rpartition("/")
    return Reference(registry_url, namespace, repository, match["digest"] or match["tag"] or "latest", text)


def looks_like_path(text: str) -> bool:
    """Whether `text` is meant as a file: a missing one is then "no such file", not a registry miss."""
    return (
        text.startswith((".", "/", "~"))
        or "\\" in text
        or text.endswith((".tar", ".tar.gz", ".tgz", ".json", ".oci"))
    )
