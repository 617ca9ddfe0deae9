"""The `layers` spider's callbacks, fed the emulator's real content (manifests, configs and the
Hub API's images answers, real digests throughout) without a crawl."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from scrapy import Request
from scrapy.http import Response, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from fakehub import make_hub
from fakehub.content import ImageContent
from hubspider import stats
from hubspider.arguments import ArgumentError
from hubspider.items import AnnouncedLayers, ImageRecordItem
from hubspider.registry.meta import CONTENT_ADDRESSED_META, PULL_META, REGISTRY_SCOPE_META
from hubspider.registry.pulls import PullWindowUsed
from hubspider.spiders.layers import Fetch, LayersSpider, announced_images, by_tag, plan_fetches
from hubspider.store import PendingImage
from hubspider.store.announced import AnnouncedImage
from tests.helpers import PROJECT_SETTINGS

if TYPE_CHECKING:
    from fakehub import Hub
    from fakehub.data import Image, Tag

API = "https://hub.docker.com"
REGISTRY = "https://registry-1.docker.io"
SEEN_AT = "2026-11-22T12:00:00Z"


@pytest.fixture(scope="module")
def hub() -> Hub:
    return make_hub(repositories=3, tags=12, seed=1)


@pytest.fixture
def spider() -> LayersSpider:
    crawler = get_crawler(LayersSpider, PROJECT_SETTINGS | {"HUB_API_URL": API})
    spider = LayersSpider.from_crawler(crawler)
    crawler.spider = spider
    crawler.stats.open_spider()
    spider.started_at = spider.started_at.replace(year=2026, month=11, day=22, hour=12, minute=0, second=0)
    return spider


def tag_and_image(hub: Hub, repository: str = "python") -> tuple[Tag, Image, ImageContent]:
    for tag in hub.namespaces["library"][repository].unique_tags:
        for image in tag.build.images:
            if isinstance(image.content, ImageContent):
                return tag, image, image.content
    raise AssertionError(f"no platform image in {repository}")


def pending(
    tag: Tag, image: Image, *, repository: str | None = None, known: bool = False, current: bool = True
) -> PendingImage:
    assert image.digest is not None
    return PendingImage(
        digest=image.digest,
        namespace="library",
        repository=repository or tag.repository,
        platform=image.platform,
        os=image.os,
        architecture=image.architecture,
        variant=image.variant,
        os_version=image.os_version,
        tag=tag.name if current else None,
        known=known,
    )


def answer(request: Request, body: bytes, status: int = 200, **headers: str) -> Response:
    return TextResponse(request.url, status=status, body=body, headers=headers, request=request)


def failure(request: Request, error: Exception) -> Failure:
    result = Failure(error)
    result.request = request  # type: ignore[attr-defined]
    return result


def lost(spider: LayersSpider) -> int:
    assert spider.crawler.stats is not None
    return spider.crawler.stats.get_value(stats.LOST, 0)


def expected(hub: Hub, digest: str, repository: str) -> dict[str, Any]:
    return next(
        record
        for record in hub.expected_image_records()
        if record["digest"] == digest and record["repository"] == repository
    )


def fetched(spider: LayersSpider, hub: Hub, tag: Tag, content: ImageContent, fetch: Fetch) -> list[Any]:
    """The outputs of the tag's images answer, the manifest and the config, in turn."""
    images_request = Request(f"{API}/v2/repositories/library/{tag.repository}/tags/{tag.name}/images")
    images_answer = json.dumps([image.images_api() for image in tag.build.images]).encode()
    (announced, manifest_request) = spider.parse_tag_images(answer(images_request, images_answer), [fetch])
    assert isinstance(announced, AnnouncedLayers)
    (config_request,) = spider.parse_manifest(answer(manifest_request, content.manifest()), fetch)
    return spider.parse_config(answer(config_request, content.config()), content.config_digest)


def test_one_fetch_per_digest_carrying_the_other_repositories(hub: Hub) -> None:
    tag, image, _ = tag_and_image(hub)
    first, second = pending(tag, image), pending(tag, image, repository="other")
    fetches, known = plan_fetches([first, second], {})
    assert [(fetch.image, fetch.also) for fetch in fetches] == [(first, [second])]
    assert known == []


def test_a_digest_the_store_knows_is_not_fetched(hub: Hub) -> None:
    tag, image, _ = tag_and_image(hub)
    image_pending = pending(tag, image, known=True)
    data = {"image_id": "sha256:" + "1" * 64, "layers": [], "history": []}
    fetches, known = plan_fetches([image_pending], {image_pending.digest: data})
    assert fetches == []
    assert known == [(image_pending, data)]


def test_fetches_are_grouped_by_tag_in_the_stores_order(hub: Hub) -> None:
    tag, image, _ = tag_and_image(hub)
    other_tag, other_image, _ = tag_and_image(hub, "alpine")
    fetches = [Fetch(pending(tag, image)), Fetch(pending(other_tag, other_image))]
    assert [(name, len(group)) for name, group in by_tag(fetches)] == [(tag.name, 1), (other_tag.name, 1)]


def test_a_manifest_request_is_a_pull_for_the_repositorys_scope(spider: LayersSpider, hub: Hub) -> None:
    tag, image, _ = tag_and_image(hub)
    request = spider.manifest_request(Fetch(pending(tag, image)))
    assert request.url == f"{REGISTRY}/v2/library/python/manifests/{image.digest}"
    assert request.meta[PULL_META] is True
    assert request.meta[REGISTRY_SCOPE_META] == "repository:library/python:pull"
    assert b"index" not in request.headers[b"Accept"]


def test_the_record_equals_the_emulators_truth(spider: LayersSpider, hub: Hub) -> None:
    tag, image, content = tag_and_image(hub)
    (item,) = fetched(spider, hub, tag, content, Fetch(pending(tag, image)))
    assert isinstance(item, ImageRecordItem)
    assert dict(item) == expected(hub, content.digest, tag.repository) | {"seen_at": SEEN_AT}


def test_the_config_is_asked_for_once_and_may_follow_a_redirect_anywhere(
    spider: LayersSpider, hub: Hub
) -> None:
    tag, image, content = tag_and_image(hub)
    first, second = Fetch(pending(tag, image)), Fetch(pending(tag, image, repository="other"))
    manifest_request = spider.manifest_request(first)
    (config_request,) = spider.parse_manifest(answer(manifest_request, content.manifest()), first)
    assert spider.parse_manifest(answer(manifest_request, content.manifest()), second) == []
    assert config_request.meta[CONTENT_ADDRESSED_META] is True
    assert config_request.dont_filter
    records = spider.parse_config(answer(config_request, content.config()), content.config_digest)
    assert [item["repository"] for item in records] == ["python", "other"]


def test_a_manifest_that_is_not_its_digest_is_refused_and_named(
    spider: LayersSpider, hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    tag, image, content = tag_and_image(hub)
    fetch = Fetch(pending(tag, image))
    request = spider.manifest_request(fetch)
    assert spider.parse_manifest(answer(request, content.manifest() + b" "), fetch) == []
    assert lost(spider) == 1
    assert content.digest in caplog.text
    assert spider.crawler.stats.get_value(stats.LAYERS_REFUSED) == 1  # type: ignore[union-attr]


def test_a_config_that_is_not_its_digest_is_refused_for_every_image_waiting(
    spider: LayersSpider, hub: Hub
) -> None:
    tag, image, content = tag_and_image(hub)
    fetch = Fetch(pending(tag, image), also=[pending(tag, image, repository="other")])
    (config_request,) = spider.parse_manifest(
        answer(spider.manifest_request(fetch), content.manifest()), fetch
    )
    tampered = content.config().replace(b'"', b"'", 1)
    assert spider.parse_config(answer(config_request, tampered), content.config_digest) == []
    assert lost(spider) == 2


def test_a_used_up_pull_window_defers_without_a_loss(spider: LayersSpider, hub: Hub) -> None:
    tag, image, _ = tag_and_image(hub)
    fetch = Fetch(pending(tag, image), also=[pending(tag, image, repository="other")])
    spider.fetch_failed(failure(spider.manifest_request(fetch), PullWindowUsed("used up")))
    assert spider.deferred == 2
    assert lost(spider) == 0


def test_images_answer_that_is_not_an_array_loses_the_tags_images(spider: LayersSpider, hub: Hub) -> None:
    tag, image, _ = tag_and_image(hub)
    request = Request(f"{API}/v2/repositories/library/python/tags/{tag.name}/images")
    assert spider.parse_tag_images(answer(request, b'{"detail": "nope"}'), [Fetch(pending(tag, image))]) == []
    assert lost(spider) == 1


def test_an_image_the_images_answer_does_not_list_has_no_instructions(spider: LayersSpider, hub: Hub) -> None:
    tag, image, content = tag_and_image(hub)
    fetch = Fetch(pending(tag, image))
    request = Request(f"{API}/v2/repositories/library/python/tags/{tag.name}/images")
    (manifest_request,) = spider.parse_tag_images(answer(request, b"[]"), [fetch])
    (config_request,) = spider.parse_manifest(answer(manifest_request, content.manifest()), fetch)
    (item,) = spider.parse_config(answer(config_request, content.config()), content.config_digest)
    assert {layer["instruction"] for layer in item["layers"]} == {None}


def test_a_known_image_is_exported_after_a_head_names_its_digest(spider: LayersSpider, hub: Hub) -> None:
    tag, image, _ = tag_and_image(hub)
    stored = {"image_id": "sha256:" + "1" * 64, "layers": [], "history": []}
    request = spider.head_request(pending(tag, image, known=True), stored)
    assert request.method == "HEAD"
    assert PULL_META not in request.meta
    (item,) = spider.parse_head(
        answer(request, b"", **{"Docker-Content-Digest": str(image.digest)}), **request.cb_kwargs
    )
    assert item["image_id"] == stored["image_id"]
    assert item["digest"] == image.digest


def test_a_head_naming_another_digest_is_a_loss(spider: LayersSpider, hub: Hub) -> None:
    tag, image, _ = tag_and_image(hub)
    request = spider.head_request(pending(tag, image, known=True), {})
    other = "sha256:" + "2" * 64
    assert (
        spider.parse_head(answer(request, b"", **{"Docker-Content-Digest": other}), **request.cb_kwargs) == []
    )
    assert lost(spider) == 1


def test_without_the_store_the_arguments_are_refused() -> None:
    settings = get_crawler(LayersSpider, PROJECT_SETTINGS | {"HUB_STORE_ENABLED": False}).settings
    with pytest.raises(ArgumentError, match="needs HUB_STORE_ENABLED"):
        LayersSpider.check_arguments(settings, {})


def test_unknown_arguments_are_refused() -> None:
    settings = get_crawler(LayersSpider, PROJECT_SETTINGS).settings
    with pytest.raises(ArgumentError, match="unknown spider argument 'since'"):
        LayersSpider.check_arguments(settings, {"since": "auto"})


def not_found(request: Request) -> Failure:
    return failure(request, HttpError(answer(request, b'{"errors": [{"code": "MANIFEST_UNKNOWN"}]}', 404)))


def test_a_manifest_gone_from_the_registry_that_a_current_tag_holds_is_lost(
    spider: LayersSpider, hub: Hub
) -> None:
    tag, image, _ = tag_and_image(hub)
    spider.fetch_failed(not_found(spider.manifest_request(Fetch(pending(tag, image)))))
    assert lost(spider) == 1


def test_a_manifest_gone_that_only_past_tags_held_is_no_loss(spider: LayersSpider, hub: Hub) -> None:
    tag, image, _ = tag_and_image(hub)
    spider.fetch_failed(not_found(spider.manifest_request(Fetch(pending(tag, image, current=False)))))
    assert lost(spider) == 0
    assert spider.crawler.stats.get_value(stats.LAYERS_GONE) == 1  # type: ignore[union-attr]


def test_a_failed_fetch_is_lost_for_every_repository_holding_the_digest(
    spider: LayersSpider, hub: Hub
) -> None:
    tag, image, _ = tag_and_image(hub)
    fetch = Fetch(pending(tag, image), also=[pending(tag, image, repository="other")])
    spider.fetch_failed(failure(spider.manifest_request(fetch), TimeoutError("timed out")))
    assert lost(spider) == 2


def test_an_image_only_past_tags_held_is_asked_for_by_head_before_it_is_pulled(
    spider: LayersSpider, hub: Hub
) -> None:
    tag, image, _ = tag_and_image(hub)
    fetch = Fetch(pending(tag, image, current=False))
    head = spider.exists_request(fetch)
    assert head.method == "HEAD"
    assert PULL_META not in head.meta
    assert head.meta[REGISTRY_SCOPE_META] == "repository:library/python:pull"
    (get,) = spider.parse_exists(answer(head, b""), **head.cb_kwargs)
    assert (get.method, get.url, get.meta[PULL_META]) == ("GET", head.url, True)


def test_an_image_gone_before_its_head_costs_no_pull_and_no_loss(spider: LayersSpider, hub: Hub) -> None:
    tag, image, _ = tag_and_image(hub)
    spider.fetch_failed(not_found(spider.exists_request(Fetch(pending(tag, image, current=False)))))
    assert lost(spider) == 0
    assert spider.crawler.stats.get_value(stats.LAYERS_GONE) == 1  # type: ignore[union-attr]


# What the images answer announces: every platform image's compressed layers.


def images_answer(tag: Tag) -> bytes:
    return json.dumps([image.images_api() for image in tag.build.images]).encode()


def manifest_layers(content: ImageContent) -> tuple[str, ...]:
    """The compressed layer digests as the image's own manifest names them."""
    return tuple(layer["digest"] for layer in json.loads(content.manifest())["layers"])


def test_the_images_answer_announces_every_platform_images_manifest_layers_once(
    spider: LayersSpider, hub: Hub
) -> None:
    tag, image, _ = tag_and_image(hub)
    fetches = [Fetch(pending(tag, image)), Fetch(pending(tag, image, repository="other"))]
    request = Request(f"{API}/v2/repositories/library/python/tags/{tag.name}/images")
    outputs = spider.parse_tag_images(answer(request, images_answer(tag)), fetches)
    (announced,) = [output for output in outputs if isinstance(output, AnnouncedLayers)]
    assert len(outputs) == 1 + len(fetches)
    assert (announced.namespace, announced.repository) == ("library", "python")
    expected = {
        entry.digest: (entry.platform, manifest_layers(entry.content))
        for entry in tag.build.images
        if entry.is_platform and isinstance(entry.content, ImageContent)
    }
    assert expected
    assert {one.digest: (one.platform, one.layer_digests) for one in announced.images} == expected


def test_an_announce_only_answer_gives_the_layers_and_pulls_nothing(spider: LayersSpider, hub: Hub) -> None:
    tag, image, _ = tag_and_image(hub)
    fetch = Fetch(pending(tag, image))
    request = spider.tag_images_request(tag.name, [fetch], announce_only=True)
    (announced,) = spider.parse_tag_images(answer(request, images_answer(tag)), **request.cb_kwargs)
    assert isinstance(announced, AnnouncedLayers)
    assert fetch.instructions is None
    assert spider.parse_tag_images(answer(request, b"{}"), **request.cb_kwargs) == []
    assert spider.tag_images_failed(failure(request, TimeoutError("timed out"))) == []
    assert lost(spider) == 0


def test_once_pulls_are_used_up_only_tags_with_unannounced_images_are_asked(
    spider: LayersSpider, hub: Hub
) -> None:
    tag, image, _ = tag_and_image(hub)
    other_tag, other_image, _ = tag_and_image(hub, "alpine")
    spider.announced = {str(image.digest)}
    groups = [
        (tag.name, [Fetch(pending(tag, image))]),
        (other_tag.name, [Fetch(pending(other_tag, other_image))]),
        (None, [Fetch(pending(other_tag, other_image, current=False))]),
    ]
    (request,) = spider.announce_requests(groups)
    assert request.url.endswith(f"/alpine/tags/{other_tag.name}/images")
    assert request.cb_kwargs["announce_only"] is True


LAYER = "sha256:" + "a" * 64
MANIFEST = "sha256:" + "b" * 64


def entry(**fields: Any) -> dict[str, Any]:
    steps = [{"digest": LAYER, "size": 3, "instruction": "ADD"}, {"size": 0, "instruction": "CMD"}]
    return {
        "digest": MANIFEST,
        "os": "linux",
        "architecture": "arm64",
        "variant": "v8",
        "layers": steps,
    } | fields


def test_announced_images_spell_the_platform_as_the_records_do() -> None:
    assert announced_images([entry(os_version="")]) == [AnnouncedImage(MANIFEST, "linux/arm64/v8", (LAYER,))]
    windows = entry(os="windows", architecture="amd64", variant=None, os_version="10.0.20348.2762")
    assert announced_images([windows]) == [
        AnnouncedImage(MANIFEST, "windows/amd64", (LAYER,), "10.0.20348.2762")
    ]


@pytest.mark.parametrize(
    "odd",
    [
        entry(digest=None),
        entry(digest="sha256:short"),
        entry(os="unknown", architecture="unknown"),
        entry(architecture=None),
        entry(layers=[]),
        entry(layers=[{"size": 0, "instruction": "CMD"}]),
        entry(layers=[{"digest": LAYER}, {"digest": "md5:abc"}]),
        entry(layers=[{"digest": LAYER}, {"digest": 7}]),
        entry(layers="nope"),
        "not an image",
    ],
)
def test_images_without_a_digest_or_sound_layer_digests_are_not_announced(odd: Any) -> None:
    assert announced_images([odd]) == []
