"""`scrapy detect INPUT`: which official image, and which version, an image is built on.

INPUT is what a user holds: a `docker save` file (any Docker version or image store, gzip'd or
not), an OCI image layout (a directory or a tar), `docker inspect` output (a file, or `-` for
stdin), or a reference to an image in a registry. Exit status 0: a base was found; 1: none;
2: the input is not an image, or cannot be read (one line says why).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.crawler import CrawlerProcess

from hubspider.arguments import ArgumentError
from hubspider.cli import EXIT_NOT_FOUND, StoreCommand, fail
from hubspider.held.choose import choose
from hubspider.held.image import InputProblem, parse_platform
from hubspider.held.local import read_local
from hubspider.held.reference import looks_like_path, parse_reference
from hubspider.spiders.reference import ReferenceSpider
from hubspider.store import StoreError

if TYPE_CHECKING:
    import argparse

    from hubspider.held.image import HeldImage


class Command(StoreCommand):
    def syntax(self) -> str:
        return "[--platform OS/ARCH[/VARIANT]] [--json] INPUT"

    def short_desc(self) -> str:
        return "Tell which official image, and which version, an image is built on"

    def long_desc(self) -> str:
        return (
            "INPUT: a docker save file, an OCI image layout (directory or tar), docker inspect output "
            "(a file, or - for stdin), or an image reference (ghcr.io/acme/app:1.2). Exit status 0: "
            "a base was found; 1: none was; 2: the input is not an image."
        )

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        super().add_options(parser)
        parser.add_argument(
            "--platform", metavar="OS/ARCH[/VARIANT]", help="the image to read of a multi-platform input"
        )

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            fail(
                "give one image: a docker save file, an OCI layout, inspect output (-: stdin) or a reference"
            )
        try:
            held = self.read(args[0], opts.platform and parse_platform(opts.platform))
        except (InputProblem, ArgumentError) as problem:
            fail(str(problem))
        try:
            bases, note = self.bases_of(held, opts)
        except StoreError as error:
            fail(str(error))
        if opts.json:
            print(json.dumps(detection(args[0], held, bases), indent=2))
        else:
            print(render(args[0], held, bases))
        if note:
            print(note, file=sys.stderr)
        if not bases:
            sys.exit(EXIT_NOT_FOUND)

    def read(self, argument: str, platform: str | None) -> HeldImage:
        if argument == "-" or os.path.lexists(argument) or looks_like_path(argument):
            return choose(read_local(argument, sys.stdin.buffer), platform, argument)
        parse_reference(argument)
        return self.read_reference(argument, platform)

    def read_reference(self, reference: str, platform: str | None) -> HeldImage:
        """The image in its registry, read by the `reference` spider."""
        assert self.settings is not None
        arguments = {"ref": reference} if platform is None else {"ref": reference, "platform": platform}
        settings = self.settings.copy()
        settings.setdict(ReferenceSpider.argument_settings(arguments), priority="cmdline")
        settings.set("FEEDS", {}, priority="cmdline")
        ReferenceSpider.check_arguments(settings, arguments)
        process = CrawlerProcess(settings)
        crawler = process.create_crawler(ReferenceSpider)
        found: list[HeldImage] = []

        def collect(item: HeldImage) -> None:
            found.append(item)

        crawler.signals.connect(collect, signal=signals.item_scraped)
        process.crawl(crawler, **arguments)
        process.start()
        if found:
            return found[0]
        spider = crawler.spider
        problem = spider.problem if isinstance(spider, ReferenceSpider) else None
        reason = crawler.stats.get_value("finish_reason") if crawler.stats else None
        raise InputProblem(f"cannot read {reference}: {problem or f'the read ended ({reason})'}")

    def bases_of(self, held: HeldImage, opts: argparse.Namespace) -> tuple[list[dict[str, Any]], str]:
        """The bases, and a note for stderr when the store cannot have found any."""
        assert self.settings is not None
        path = Path(opts.store or self.settings.get("HUB_STORE_PATH"))
        if not path.exists():
            return (
                [],
                f"Note: no store at {path}: crawl library and layers first to compare with official images",
            )
        with self.open_store(opts) as store:
            bases = store.bases_of(held)
            if bases or store.indexed_image_count():
                return bases, ""
        return [], f"Note: the store {path} has no layer index yet: run scrapy crawl layers"


def detection(argument: str, held: HeldImage, bases: list[dict[str, Any]]) -> dict[str, Any]:
    """The `--json` answer; its names are a contract."""
    return {
        "input": argument,
        "platform": held.platform,
        "image_id": held.image_id,
        "layers": len(held.diff_ids),
        "bases": bases,
    }


def short(digest: str | None) -> str:
    return "unknown" if digest is None else digest.removeprefix("sha256:")[:12]


def render(argument: str, held: HeldImage, bases: list[dict[str, Any]]) -> str:
    layers = len(held.diff_ids)
    lines = [f"{argument}: {held.platform} image {short(held.image_id)}, {layers} layer{'s' * (layers != 1)}"]
    if not bases:
        lines.append("No official image found under it.")
    depth = None
    for base in bases:
        if depth is None:
            same_id = held.image_id is not None and base["image_id"] == held.image_id
            exact = same_id or base["digest"] in held.digests
            lead = "It is" if exact else "Built on"
        else:
            lead = "  or" if base["matched_layers"] == depth else "  which is built on"
        depth = base["matched_layers"]
        where = f"{base['platform']}  {short(base['digest'])}"
        lines.append(f"{lead} {base['image']}  {where}  ({depth} of {layers} layers, {base['status']})")
        lines.append(f"    tags: {', '.join(base['tags'])}")
        if newer := base["newer"]:
            pick_up = f"{newer['digest']} ({newer['image']})"
            lines.append(f"    moved on since {newer['since']}: rebuild to pick up {pick_up}")
    return "\n".join(lines)
