"""`scrapy history alpine:latest` (or `mcr.microsoft.com/dotnet/runtime:8.0`, an image of a
`registry` crawl): what a tag pointed to, and when."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from hubspider.arguments import NAME_COMPONENT
from hubspider.cli import EXIT_NOT_FOUND, StoreCommand, fail
from hubspider.held.reference import REFERENCE
from hubspider.registry.urls import DOCKER_HUB_HOSTS, HOST, is_registry_host

if TYPE_CHECKING:
    import argparse
    from typing import NoReturn

EXPECTED = (
    "expected [NAMESPACE/]REPOSITORY[:TAG] or REGISTRY/PATH[:TAG], "
    "e.g. alpine:3.20 or mcr.microsoft.com/dotnet/runtime:8.0"
)


def parse_image(reference: str) -> tuple[str, str, str]:
    """`alpine:3.20`, `bitnami/redis:7` or `alpine` (latest) as namespace, repository, tag. A
    first component that is a registry host (docker's rule) names an image of a `registry`
    crawl, whose namespace is the host: `mcr.microsoft.com/dotnet/runtime:8.0` is
    (`mcr.microsoft.com`, `dotnet/runtime`, `8.0`)."""
    first, slash, rest = reference.partition("/")
    if slash and is_registry_host(first):
        return registry_image(reference, first.lower(), rest)
    name, _, tag = reference.partition(":")
    namespace, _, repository = name.rpartition("/")
    namespace = namespace or "library"
    tag = tag or "latest"
    if not NAME_COMPONENT.match(namespace) or not NAME_COMPONENT.match(repository) or "/" in tag:
        invalid(reference)
    return namespace, repository, tag


def registry_image(reference: str, host: str, path: str) -> tuple[str, str, str]:
    """The image at `path` of the registry `host`; Docker Hub's hosts name Hub's own images,
    which the library crawl stores under their namespace (`docker.io/alpine` is `library/alpine`)."""
    match = REFERENCE.match(path)
    # A digest pins a manifest, not a tag: history is a tag's.
    if not HOST.match(host) or match is None or match["digest"]:
        invalid(reference)
    tag = match["tag"] or "latest"
    if host in DOCKER_HUB_HOSTS:
        namespace, _, repository = match["name"].rpartition("/")
        if "/" in namespace:
            invalid(reference)
        return namespace or "library", repository, tag
    return host, match["name"], tag


def invalid(reference: str) -> NoReturn:
    fail(f"invalid image {reference!r}: {EXPECTED}")


class Command(StoreCommand):
    def syntax(self) -> str:
        return "[--platform OS/ARCH[/VARIANT]] [--json] IMAGE"

    def short_desc(self) -> str:
        return "Tell what an image tag pointed to, and when"

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument("--platform", help="only this platform, e.g. linux/amd64")

    def run_on_store(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            fail("give one image, e.g. alpine:latest")
        namespace, repository, tag = parse_image(args[0])
        with self.open_store(opts) as store:
            rows = store.image_history(namespace, repository, tag, opts.platform)
        if not rows:
            fail(f"no crawl in {store.path} has seen {args[0]}", EXIT_NOT_FOUND)
        entries = [
            {
                "digest": row["digest"],
                "platform": row["platform"] or None,
                "kind": row["kind"],
                "first_seen": row["first_seen"],
                "last_seen": row["last_seen"],
                "current": bool(row["current"]),
            }
            for row in rows
        ]
        if opts.json:
            print(json.dumps(entries, indent=2))
            return
        for entry in entries:
            mark = "current" if entry["current"] else "past"
            platform = entry["platform"] or "index"
            print(
                f"{entry['first_seen']} .. {entry['last_seen']}  {mark:<7}  {platform:<16} {entry['digest']}"
            )
