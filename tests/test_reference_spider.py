"""`scrapy crawl reference`: one image read from a registry (the emulator's), by tag or digest,
as `scrapy detect` reads a reference: an index, one platform manifest and one config; no layer."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from hubspider.registry.content import chain_ids
from tests.helpers import CrawlResult, run_crawl, stat

if TYPE_CHECKING:
    from pathlib import Path

    from fakehub import FakeRegistry, Hub
    from fakehub.data import Build, Image

pytestmark = pytest.mark.e2e

UNUSED_API = "http://127.0.0.1:9"


def multi_platform_tag(hub: Hub) -> tuple[str, Build]:
    """A tag of alpine that points to an index of several platforms."""
    for tag in hub.namespaces["library"]["alpine"].unique_tags:
        platforms = [image for image in tag.build.images if image.is_platform]
        if tag.build.digest is not None and len(platforms) > 2:
            return tag.name, tag.build
    raise AssertionError("the emulator has no multi-platform alpine tag")


def read(registry: FakeRegistry, workdir: Path, ref: str, *arguments: str) -> CrawlResult:
    host = registry.url.removeprefix("http://")
    return run_crawl(
        UNUSED_API, workdir, "-a", f"ref={host}/{ref}", *arguments, output="held.jsonl", spider="reference"
    )


def expected(image: Image, index: str | None) -> dict[str, object]:
    content = image.content
    assert content is not None
    assert hasattr(content, "layers")
    return {
        "platform": image.platform,
        "image_id": content.config_digest,
        "diff_ids": [layer.diff_id for layer in content.layers],
        "layer_digests": [layer.digest for layer in content.layers],
        "digests": [image.digest] if index is None else [image.digest, index],
    }


def held(result: CrawlResult) -> dict[str, object]:
    (record,) = result.records()
    return {key: record[key] for key in ("platform", "image_id", "diff_ids", "layer_digests", "digests")}


def test_a_tag_reads_its_platforms_manifest_and_config_and_no_layer(
    hub: Hub, registry: FakeRegistry, tmp_path: Path
) -> None:
    tag, build = multi_platform_tag(hub)
    image = next(image for image in build.images if image.platform == "linux/arm64/v8")
    result = read(registry, tmp_path, f"library/alpine:{tag}", "-a", "platform=linux/arm64")
    assert result.returncode == 0, result.stderr[-2000:]
    assert held(result) == expected(image, build.digest)
    assert registry.counts["index_get"] == 1
    assert registry.counts["manifest_get"] == 1
    assert registry.counts["blob_get"] == 1
    assert registry.counts["cdn_get"] == 1


def test_a_digest_reads_that_image(hub: Hub, registry: FakeRegistry, tmp_path: Path) -> None:
    _, build = multi_platform_tag(hub)
    image = next(image for image in build.images if image.is_platform)
    result = read(registry, tmp_path, f"library/alpine@{image.digest}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert held(result) == expected(image, None)
    assert registry.counts["index_get"] == 0


def test_the_diff_ids_give_the_chain_the_store_holds(
    hub: Hub, registry: FakeRegistry, tmp_path: Path
) -> None:
    tag, build = multi_platform_tag(hub)
    image = next(image for image in build.images if image.platform == "linux/amd64")
    result = read(registry, tmp_path, f"library/alpine:{tag}", "-a", "platform=linux/amd64")
    record = image.expected_image_record("library", "alpine")
    assert chain_ids(held(result)["diff_ids"]) == [layer["chain_id"] for layer in record["layers"]]  # type: ignore[arg-type]


def test_an_index_without_a_platform_chosen_is_named_and_read_no_further(
    hub: Hub, registry: FakeRegistry, tmp_path: Path
) -> None:
    tag, build = multi_platform_tag(hub)
    result = read(registry, tmp_path, f"library/alpine:{tag}")
    assert result.returncode == 3
    platforms = [image.platform for image in build.images if image.is_platform]
    assert f"holds images for {len(platforms)} platforms ({', '.join(platforms)})" in result.stderr
    assert registry.counts["manifest_get"] == 0


def test_a_platform_the_index_lacks_is_named(hub: Hub, registry: FakeRegistry, tmp_path: Path) -> None:
    tag, _ = multi_platform_tag(hub)
    result = read(registry, tmp_path, f"library/alpine:{tag}", "-a", "platform=plan9/amd64")
    assert result.returncode == 3
    assert "no plan9/amd64 image in" in result.stderr


def test_an_unknown_tag_is_a_named_loss(registry: FakeRegistry, tmp_path: Path) -> None:
    result = read(registry, tmp_path, "library/alpine:no-such-tag")
    assert result.returncode == 3
    assert "Lost image" in result.stderr
    assert "HTTP 404" in result.stderr
    assert stat(result, "hubspider/lost") == 1


@pytest.mark.parametrize(
    "arguments", [("-a", "platform=linux"), ("-a", "ref=NOT A REF"), ("-a", "colour=red")]
)
def test_bad_arguments_are_one_line(
    registry: FakeRegistry, tmp_path: Path, arguments: tuple[str, ...]
) -> None:
    result = run_crawl(UNUSED_API, tmp_path, *arguments, output=None, spider="reference")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("Error: ")


def test_the_export_is_a_json_record(hub: Hub, registry: FakeRegistry, tmp_path: Path) -> None:
    tag, _ = multi_platform_tag(hub)
    result = read(registry, tmp_path, f"library/alpine:{tag}", "-a", "platform=linux/amd64")
    record = json.loads(result.output.read_text())
    assert record["names"] == [f"{registry.url.removeprefix('http://')}/library/alpine:{tag}"]
