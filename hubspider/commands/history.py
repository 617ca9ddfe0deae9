"""`scrapy history alpine:latest` (or `mcr.microsoft.com/dotnet/runtime:8.0`, an image of a
`registry` crawl): what a tag pointed to, and when."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from hubspider.cli import EXIT_NOT_FOUND, StoreCommand, fail
from hubspider.held.image import InputProblem
from hubspider.held.reference import parse_reference

if TYPE_CHECKING:
    import argparse
    from typing import NoReturn

EXPECTED = (
    "expected [NAMESPACE/]REPOSITORY[:TAG] or REGISTRY/PATH[:TAG], "
    "e.g. alpine:3.20 or mcr.microsoft.com/dotnet/runtime:8.0"
)


def parse_image(reference: str) -> tuple[str, str, str]:
    """`alpine:3.20`, `bitnami/redis:7` or `alpine` (latest) as namespace, repository, tag, read
    as docker reads a reference. A first component that is a registry host names an image of a
    `registry` crawl, whose namespace is the host: `mcr.microsoft.com/dotnet/runtime:8.0` is
    (`mcr.microsoft.com`, `dotnet/runtime`, `8.0`); Docker Hub's hosts name Hub's own images."""
    try:
        parsed = parse_reference(reference)
    except InputProblem:
        invalid(reference)
    # A digest pins a manifest, not a tag: history is a tag's.
    if "@" in reference:
        invalid(reference)
    if parsed.registry_url is None:
        # Docker Hub names have one namespace (`library/` where none is given).
        if "/" in parsed.namespace:
            invalid(reference)
        return parsed.namespace, parsed.repository, parsed.reference
    host = urlsplit(parsed.registry_url).netloc.lower()
    path = "/".join(part for part in (parsed.namespace, parsed.repository) if part)
    return host, path, parsed.reference


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
