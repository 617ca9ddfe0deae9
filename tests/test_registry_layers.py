"""`scrapy crawl layers -a registry=HOST` and `scrapy detect` on what a `registry` crawl of the
distribution emulator stored: every record and every answer is compared with what the emulator
itself holds, worked out here from its `Distribution`, never from the store."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from scrapy.crawler import Crawler
from scrapy.settings import Settings

from fakehub import DistributionRegistry, make_distribution
from fakehub.content import FAMILY_TYPES, ImageContent, chain_ids
from fakehub.distribution import Index, images_of
from hubspider import stats
from hubspider.held.image import same_platform
from hubspider.matching import tag_order
from hubspider.records import image_reference
from hubspider.spiders.layers import LayersSpider
from hubspider.versions import newest_in_track
from tests import imagefiles
from tests.helpers import PROJECT_SETTINGS, as_keys, project_environment, run_command, run_crawl, stat

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from fakehub.distribution import Distribution, DistributionRepository, Target
    from tests.helpers import CrawlResult

# Every test but the first few crawls the emulator or runs a command in a subprocess.
pytestmark = pytest.mark.e2e

SHAPE = {"repositories": 6, "tags": 60, "seed": 3}
REPOSITORY = "dotnet/runtime"
# The emulator's counts of what a layers run asked of the registry.
FETCHES = ("manifest_head", "manifest_get", "index_get", "blob_get")


def unused_url() -> str:
    """A loopback URL nothing answers: the Hub API a registry's layers crawl must never ask."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class Indexed:
    distribution: Distribution
    registry: DistributionRegistry
    host: str
    workdir: Path
    hub_api: str
    #: When the registry crawl ran, as its records and the store say.
    seen_at: str
    #: `layers -a repos=dotnet/runtime`, then `layers` for the rest, and what each asked.
    partial: CrawlResult
    rest: CrawlResult
    partial_fetches: dict[str, int]
    rest_fetches: dict[str, int]


def fetches(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before[key] for key in FETCHES}


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Indexed]:
    """One registry crawl into the store (the default path in the workdir, where commands look),
    then the layers of dotnet/runtime alone, then of the rest; the registry serves on for detect."""
    distribution = make_distribution(**SHAPE)
    workdir = tmp_path_factory.mktemp("registry-layers")
    hub_api = unused_url()
    with DistributionRegistry(distribution) as registry:
        host = urlsplit(registry.url).netloc
        crawled = run_crawl(
            hub_api, workdir, "-a", f"registry={host}", "-s", "HUB_REGISTRY_PAGE_SIZE=50", spider="registry"
        )
        assert crawled.returncode == 0, crawled.stderr[-3000:]
        before = registry.counts_snapshot()
        partial = layers(hub_api, workdir, host, "-a", f"repos={REPOSITORY}", output="runtime.jsonl")
        middle = registry.counts_snapshot()
        rest = layers(hub_api, workdir, host, output="rest.jsonl")
        after = registry.counts_snapshot()
        yield Indexed(
            distribution,
            registry,
            host,
            workdir,
            hub_api,
            crawled.records()[0]["seen_at"],
            partial,
            rest,
            fetches(before, middle),
            fetches(middle, after),
        )


def layers(hub_api: str, workdir: Path, host: str, *arguments: str, **kwargs: Any) -> CrawlResult:
    result = run_crawl(hub_api, workdir, "-a", f"registry={host}", *arguments, spider="layers", **kwargs)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


# The truth, from the emulator ----------------------------------------------------------------------


def platform_images(
    distribution: Distribution, only: str | None = None
) -> dict[tuple[str, str], ImageContent]:
    """Every platform image any tag holds, by (repository, digest)."""
    return {
        (name, image.digest): image
        for name, repository in distribution.repositories.items()
        if only is None or name == only
        for target in repository.tags.values()
        for image in images_of(target)
    }


def record_truth(host: str, repository: str, image: ImageContent) -> dict[str, Any]:
    """The image record the layers crawl must export, without `seen_at`: no Hub API names the
    layers' build steps, so each `instruction` is null."""
    layer_type = FAMILY_TYPES[image.media_type][1]
    chains = chain_ids([layer.diff_id for layer in image.layers])
    return {
        "digest": image.digest,
        "image_id": image.config_digest,
        "namespace": host,
        "repository": repository,
        "platform": image.platform,
        "os": image.os,
        "architecture": image.architecture,
        "variant": image.variant,
        "os_version": image.os_version,
        "layers": [
            {
                "digest": layer.digest,
                "diff_id": layer.diff_id,
                "chain_id": chain,
                "size": layer.size,
                "media_type": layer_type,
                "instruction": None,
            }
            for layer, chain in zip(image.layers, chains, strict=True)
        ],
        "history": image.history(),
    }


def records_truth(indexed: Indexed, only: str | None = None) -> list[dict[str, Any]]:
    return [
        record_truth(indexed.host, repository, image)
        for (repository, _), image in platform_images(indexed.distribution, only).items()
    ]


def exported(result: CrawlResult) -> list[dict[str, Any]]:
    return [{key: value for key, value in record.items() if key != "seen_at"} for record in result.records()]


def tags_holding(repository: DistributionRepository, digest: str) -> list[str]:
    return tag_order(tag for tag, target in repository.tags.items() if digest in digests_of(target))


def digests_of(target: Target) -> set[str]:
    return {image.digest for image in images_of(target)}


def bases_truth(
    indexed: Indexed, platform: str, diff_ids: tuple[str, ...], image_id: str | None
) -> list[dict[str, Any]]:
    """The bases detect must name: every platform image of the same platform whose layers are
    the first of `diff_ids` (or whose config is the image's own), deepest first."""
    bases = []
    for (name, digest), image in platform_images(indexed.distribution).items():
        own = tuple(layer.diff_id for layer in image.layers)
        exact = image.config_digest == image_id
        if not same_platform(image.platform, platform) or not own:
            continue
        if not exact and own != diff_ids[: len(own)]:
            continue
        repository = indexed.distribution.repositories[name]
        tags = tags_holding(repository, digest)
        bases.append(
            {
                "namespace": indexed.host,
                "repository": name,
                "image": image_reference(indexed.host, name, tags[0]),
                "tags": tags,
                "digest": digest,
                "image_id": image.config_digest,
                "platform": image.platform,
                "matched_layers": len(diff_ids) if exact else len(own),
                "status": "current",
                "newer": newer_truth(indexed, repository, image, tags),
            }
        )
    return sorted(
        bases, key=lambda base: (-base["matched_layers"], base["repository"], base["tags"][0], base["digest"])
    )


def newer_truth(
    indexed: Indexed, repository: DistributionRepository, image: ImageContent, tags: list[str]
) -> dict[str, Any] | None:
    """For the base's tags, most specific first, the first with a later tag in its version track:
    that tag's image of the same platform, unless it is the base itself."""
    for tag in tags:
        later = newest_in_track(tag, list(repository.tags))
        if later is None:
            continue
        same = [
            candidate
            for candidate in images_of(repository.tags[later])
            if candidate.platform == image.platform
        ]
        chosen = next((c for c in same if c.os_version == image.os_version), same[0] if same else None)
        if chosen is None or chosen.digest == image.digest:
            return None
        return {
            "tag": later,
            "image": image_reference(indexed.host, repository.name, later),
            "digest": chosen.digest,
            "since": indexed.seen_at,
        }
    return None


def older_image(indexed: Indexed) -> tuple[str, ImageContent]:
    """A dotnet/runtime tag with a later version in its track, and its linux/amd64 image: what
    a user built on some time ago."""
    repository = indexed.distribution.repositories[REPOSITORY]
    for tag in tag_order(repository.tags):
        if newest_in_track(tag, list(repository.tags)) is None:
            continue
        for image in images_of(repository.tags[tag]):
            if image.platform == "linux/amd64":
                return tag, image
    raise AssertionError(f"the emulator's {REPOSITORY} has no older linux/amd64 image")


def as_image(image: ImageContent) -> imagefiles.Image:
    blobs = {layer.digest: layer.blob() for layer in image.layers}
    return imagefiles.from_registry(image.config(), image.manifest(), blobs)


# The layers crawl --------------------------------------------------------------------------------


def test_the_layers_arguments_point_the_registry_client_at_the_host() -> None:
    assert LayersSpider.argument_settings({"registry": "127.0.0.1:5000"}) == {
        "HUB_REGISTRY_URL": "http://127.0.0.1:5000"
    }
    assert LayersSpider.argument_settings({"registry": "mcr.microsoft.com", "repos": "dotnet/runtime"}) == {
        "HUB_REGISTRY_URL": "https://mcr.microsoft.com"
    }


def test_docker_hub_layers_keep_the_registry_setting() -> None:
    assert LayersSpider.argument_settings({}) == {}
    assert LayersSpider.argument_settings({"namespace": "bitnami"}) == {}


def test_bad_layers_arguments_are_left_to_check_arguments() -> None:
    assert LayersSpider.argument_settings({"registry": "not a host"}) == {}
    assert LayersSpider.argument_settings({"registry": "mcr.microsoft.com", "namespace": "library"}) == {}


def made_spider(**arguments: str) -> LayersSpider:
    crawler = Crawler(LayersSpider, Settings(PROJECT_SETTINGS | {"HUB_API_URL": "https://hub.docker.com"}))
    return LayersSpider.from_crawler(crawler, **arguments)


def test_a_registry_run_asks_no_hub_api_and_buys_no_token_with_hub_credentials() -> None:
    """What the sign-in and registry auth middlewares, and the crawl command, read."""
    spider = made_spider(registry="mcr.microsoft.com")
    assert not spider.uses_hub_api
    assert not spider.reads_docker_hub


def test_a_docker_hub_run_asks_the_hub_api() -> None:
    spider = made_spider(namespace="bitnami")
    assert spider.uses_hub_api
    assert spider.reads_docker_hub


def test_repos_indexes_only_those_repositories(indexed: Indexed) -> None:
    assert as_keys(exported(indexed.partial)) == as_keys(records_truth(indexed, REPOSITORY))


def test_every_platform_image_gets_one_exact_record(indexed: Indexed) -> None:
    records = exported(indexed.partial) + exported(indexed.rest)
    assert as_keys(records) == as_keys(records_truth(indexed))


def test_no_attestation_is_indexed(indexed: Indexed) -> None:
    attestations = {
        attestation.digest
        for repository in indexed.distribution.repositories.values()
        for target in repository.tags.values()
        if isinstance(target, Index)
        for attestation in target.attestations
    }
    assert attestations, "the emulator made no attestation"
    records = indexed.partial.records() + indexed.rest.records()
    assert not attestations & {record["digest"] for record in records}
    assert "unknown" not in {record["os"] for record in records}


def test_each_image_costs_its_manifest_get_and_its_config_get_alone(indexed: Indexed) -> None:
    for fetched, only in ((indexed.partial_fetches, REPOSITORY), (indexed.rest_fetches, None)):
        images = platform_images(indexed.distribution, only)
        if only is None:
            images = {key: image for key, image in images.items() if key[0] != REPOSITORY}
        configs = {image.config_digest for image in images.values()}
        assert fetched == {
            "manifest_head": 0,
            "manifest_get": len(images),
            "index_get": 0,
            "blob_get": len(configs),
        }


def test_no_hub_api_is_asked(indexed: Indexed) -> None:
    """The Hub API URL answers nothing: a single request to it would be a loss, and exit 3."""
    for result in (indexed.partial, indexed.rest):
        assert stat(result, stats.LAYERS_TAG_IMAGES) == 0
        assert stat(result, stats.LAYERS_ANNOUNCED) == 0
        assert stat(result, stats.LOST) == 0


def test_the_log_names_the_registry_host(indexed: Indexed) -> None:
    waiting = len(platform_images(indexed.distribution, REPOSITORY))
    assert f"{waiting} platform images of {indexed.host} wait for layer data" in indexed.partial.stderr


def test_a_signed_in_run_does_not_sign_in_to_the_hub_api(indexed: Indexed) -> None:
    """Credentials set and the Hub API unreachable: a sign-in would fail the crawl. Nothing is
    left to index, and nothing is fetched again."""
    before = indexed.registry.counts_snapshot()
    result = layers(
        indexed.hub_api,
        indexed.workdir,
        indexed.host,
        output="again.jsonl",
        env={"DOCKERHUB_USERNAME": "alice", "DOCKERHUB_TOKEN": "dckr_pat_alice"},
    )
    assert "Signed in" not in result.stderr
    assert stat(result, stats.AUTH_TOKENS) == 0
    assert result.records() == []
    assert fetches(before, indexed.registry.counts_snapshot()) == dict.fromkeys(FETCHES, 0)


def test_lookup_of_an_image_id_names_the_host_images(indexed: Indexed) -> None:
    tag, image = older_image(indexed)
    result = run_command(indexed.workdir, "lookup", "--json", image.config_digest)
    assert result.returncode == 0, result.stderr
    repository = indexed.distribution.repositories[REPOSITORY]
    assert json.loads(result.stdout) == [
        {
            "digest": image.config_digest,
            "kind": "image_id",
            "namespace": indexed.host,
            "repository": REPOSITORY,
            "platform": image.platform,
            "image_digest": image.digest,
            "image_id": image.config_digest,
            "position": None,
            "layer_count": len(image.layers),
            "tags": [
                {"tag": name, "image": image_reference(indexed.host, REPOSITORY, name), "current": True}
                for name in tags_holding(repository, image.digest)
            ],
        }
    ]
    assert tag in tags_holding(repository, image.digest)


# detect --------------------------------------------------------------------------------------------


def detect(indexed: Indexed, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scrapy", "detect", *arguments],
        cwd=indexed.workdir,
        env=project_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def detected(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr[-2000:]
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


@pytest.fixture(scope="module")
def application(indexed: Indexed) -> imagefiles.Image:
    """What a user built: FROM an older dotnet/runtime image, one layer of their own."""
    _, image = older_image(indexed)
    return imagefiles.derived(as_image(image), 1)


def test_detect_of_a_docker_save_names_the_registry_base(
    indexed: Indexed, application: imagefiles.Image, tmp_path: Path
) -> None:
    saved = imagefiles.write_docker_save(tmp_path / "app.tar", [(application, ["app:1.0"])])
    answer = detected(detect(indexed, str(saved), "--json"))
    truth = bases_truth(indexed, application.platform, application.diff_ids, application.image_id)
    assert truth, "no base found in the emulator's images"
    assert truth[0]["newer"] is not None, "the chosen base has nothing newer: pick another"
    assert answer["bases"] == truth


def test_the_base_is_named_by_its_most_specific_tag_on_the_host(
    indexed: Indexed, application: imagefiles.Image, tmp_path: Path
) -> None:
    tag, image = older_image(indexed)
    saved = imagefiles.write_oci_layout(tmp_path / "app.oci.tar", [(application, ["1.0"])])
    base = detected(detect(indexed, str(saved), "--json"))["bases"][0]
    tags = tags_holding(indexed.distribution.repositories[REPOSITORY], image.digest)
    assert tag in tags
    assert (base["digest"], base["image"], base["tags"], base["status"]) == (
        image.digest,
        f"{indexed.host}/{REPOSITORY}:{tags[0]}",
        tags,
        "current",
    )


def test_the_text_says_what_it_is_built_on(
    indexed: Indexed, application: imagefiles.Image, tmp_path: Path
) -> None:
    saved = imagefiles.write_docker_save(tmp_path / "app.tar", [(application, ["app:1.0"])])
    result = detect(indexed, str(saved))
    assert result.returncode == 0, result.stderr[-2000:]
    base = bases_truth(indexed, application.platform, application.diff_ids, application.image_id)[0]
    lines = result.stdout.splitlines()
    assert lines[1].startswith(f"Built on {base['image']}  {base['platform']}")
    assert f"    tags: {', '.join(base['tags'])}" in lines
    assert any(base["newer"]["image"] in line and "rebuild to pick up" in line for line in lines)


def test_detect_by_reference_reads_the_loopback_registry_and_is_that_image(indexed: Indexed) -> None:
    tag, image = older_image(indexed)
    reference = f"{indexed.host}/{REPOSITORY}:{tag}"
    answer = detected(detect(indexed, reference, "--platform", "linux/amd64", "--json"))
    assert answer["image_id"] == image.config_digest
    diff_ids = tuple(layer.diff_id for layer in image.layers)
    truth = bases_truth(indexed, image.platform, diff_ids, image.config_digest)
    assert answer["bases"] == truth
    assert (truth[0]["digest"], truth[0]["matched_layers"]) == (image.digest, len(image.layers))


def test_detect_by_reference_says_it_is(indexed: Indexed) -> None:
    tag, image = older_image(indexed)
    result = detect(indexed, f"{indexed.host}/{REPOSITORY}:{tag}", "--platform", "linux/amd64")
    assert result.returncode == 0, result.stderr[-2000:]
    tags = tags_holding(indexed.distribution.repositories[REPOSITORY], image.digest)
    assert result.stdout.splitlines()[1].startswith(
        f"It is {image_reference(indexed.host, REPOSITORY, tags[0])}  linux/amd64"
    )
