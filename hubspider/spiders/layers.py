"""The `layers` spider: the image ID, layers, diff_ids and chain IDs of every platform image the
store knows from `library` (or `registry`) crawls and holds no layer data for yet.

For each tag, one Hub API call (`/tags/{tag}/images`) names the build step of every layer of
all its platforms; for each platform image, one manifest GET from the registry (a pull, which
Docker Hub limits) and one config blob GET (answered through a CDN). Every manifest and blob is
checked against its sha256 before it is used. A digest is fetched once, ever: an image the store
(or this run) already has from another repository costs a HEAD, which is no pull. When the pull
window is used up, the rest waits for the next run, which carries on where this one stopped.

Each images answer also lists every platform image's compressed layer digests: they are stored
as announced (`AnnouncedLayers`), so that `detect` can match an image built on one the registry
has not been asked for yet. Once the pull window is used up, the tags whose images the store
has no announced layers of are still asked of the Hub API (it costs no pull), for that alone.

With `-a registry=HOST` it indexes what a `registry` crawl of that host stored (namespace = the
host). Such a registry has no Hub API: no images call, no announced layers, no build step named
for a layer (`instruction` null); each digest costs its manifest GET and config GET alone, and
the Docker Hub sign-in is not made.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.spidermiddlewares.httperror import HttpError

from hubspider import stats
from hubspider.arguments import ArgumentError, LayersArguments
from hubspider.hub.pages import read_json
from hubspider.hub.urls import tag_images_url
from hubspider.items import AnnouncedLayers, ImageRecordItem
from hubspider.losses import report_loss
from hubspider.registry.content import (
    MANIFEST_ACCEPT,
    DigestMismatch,
    ImageConfig,
    ManifestProblem,
    image_record,
    layer_instructions,
    parse_config,
    parse_manifest,
    platform_name,
    verify_digest,
)
from hubspider.registry.meta import CONTENT_ADDRESSED_META, PULL_META, REGISTRY_SCOPE_META
from hubspider.registry.pulls import PullWindowUsed, pull_budget
from hubspider.registry.urls import blob_url, manifest_url, registry_scope, registry_url_of
from hubspider.spiders.base import HubSpider, estimate, failure_reason
from hubspider.store import Store, StoreError
from hubspider.store.announced import AnnouncedImage
from hubspider.store.keys import SHA256
from hubspider.timestamps import utc_timestamp

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Iterator

    from scrapy.http import Response
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

    from hubspider.config import HubConfig
    from hubspider.registry.content import Manifest
    from hubspider.store import PendingImage

logger = logging.getLogger(__name__)

# Work already begun goes before the next tag: a pull window used up mid-tag leaves fewer half-done.
# Tags go in the store's order (newest first) as Scrapy reads start requests first in, first out;
# a priority each would cost the scheduler a queue each, and a scan of them all per request.
PRIORITY_STARTED = 1


@dataclass(slots=True)
class Fetch:
    """One digest to fetch, for the first repository that holds it, and the others that do too."""

    image: PendingImage
    also: list[PendingImage] = field(default_factory=list)
    instructions: list[str] | None = None


class LayersSpider(HubSpider):
    name = "layers"
    # The store is its journal: what a run stored is done, and the next run asks for the rest.
    resumable = False
    custom_settings = {  # noqa: RUF012 (Scrapy declares it so)
        "ITEM_PIPELINES": {
            "hubspider.pipelines.ValidatePipeline": 100,
            "hubspider.pipelines.ImageStorePipeline": 250,
        },
    }

    def __init__(self, *args: Any, config: HubConfig, **kwargs: Any) -> None:
        self.arguments = LayersArguments.parse(kwargs)
        super().__init__(*args, config=config, **kwargs)
        self.namespace = self.arguments.namespace
        # Another registry than Docker Hub has no Hub API to name the layers' build steps, and
        # its tokens are not Docker Hub's to buy.
        self.uses_hub_api = self.reads_docker_hub = self.arguments.registry is None
        # Config blobs parsed in this run, by digest, and the fetches waiting for one in flight.
        self.configs: dict[str, ImageConfig] = {}
        self.awaiting_config: dict[str, list[tuple[Fetch, Manifest]]] = {}
        #: Images left for the next run (the pull window was used up).
        self.deferred = 0
        #: Pending digests whose compressed layers the store has from an earlier Hub API answer.
        self.announced: set[str] = set()

    @classmethod
    def argument_settings(cls, arguments: dict[str, Any]) -> dict[str, Any]:
        """The registry a `registry` crawl read is the one to index, whatever HUB_REGISTRY_URL says."""
        try:
            registry = LayersArguments.parse(arguments).registry
        except ArgumentError:
            return {}  # check_arguments names it
        return {} if registry is None else {"HUB_REGISTRY_URL": registry_url_of(registry)}

    @classmethod
    def check_arguments(cls, settings: BaseSettings, arguments: dict[str, Any]) -> None:
        LayersArguments.parse(arguments)
        super().check_arguments(settings, arguments)
        if not settings.getbool("HUB_STORE_ENABLED"):
            raise ArgumentError(
                "the layers spider indexes the images the store knows: it needs HUB_STORE_ENABLED"
            )

    def progress(self) -> str:
        value = self.crawler.stats.get_stats().get
        return (
            f"{value(stats.LAYERS_RECORDS, 0)}/{value(stats.LAYERS_PENDING, 0)} images indexed, "
            f"{value(stats.PULLS_MADE, 0)} pulls"
        )

    def eta(self, elapsed: float) -> str:
        value = self.crawler.stats.get_stats().get
        return estimate(value(stats.LAYERS_RECORDS, 0), value(stats.LAYERS_PENDING, 0), elapsed)

    def log_summary(self) -> None:
        values = self.crawler.stats.get_stats()
        logger.info(
            "Exported %d image records of %d waiting: %d manifests and %d configs fetched, %d images "
            "known from another repository checked by HEAD; %d gone from the registry",
            values.get(stats.LAYERS_RECORDS, 0),
            values.get(stats.LAYERS_PENDING, 0),
            values.get(stats.LAYERS_MANIFESTS, 0),
            values.get(stats.LAYERS_CONFIGS, 0),
            values.get(stats.LAYERS_HEADS, 0),
            values.get(stats.LAYERS_GONE, 0),
        )
        if self.deferred:
            budget = pull_budget(self.crawler)
            resets = budget.resets_by(time.time())
            logger.warning(
                "The registry's pull limit is used up (%s): %d images wait for the next run%s. "
                "Run the same command again then: it carries on where this one stopped.",
                budget.describe(),
                self.deferred,
                f"; the window resets by {utc_timestamp(resets)}" if resets is not None else "",
            )

    async def start(self) -> AsyncIterator[Request]:
        loaded = self.load_pending()
        if loaded is None:
            return
        pending, stored = loaded
        fetches, known = plan_fetches(pending, stored)
        self.crawler.stats.set_value(stats.LAYERS_PENDING, len(pending))
        logger.info(
            "%d platform images of %s wait for layer data: %d digests to fetch, "
            "%d known from another repository",
            len(pending),
            self.namespace,
            len(fetches),
            len(known),
        )
        for image, data in known:
            yield self.head_request(image, data)
        groups = by_tag(fetches)
        for position, (tag, group) in enumerate(groups):
            # Read lazily by Scrapy: a window used up stops asking for more.
            if self.pulls_used_up():
                self.defer(fetch for _, rest in groups[position:] for fetch in rest)
                for request in self.announce_requests(groups[position:]):
                    yield request
                return
            if tag is None:
                for fetch in group:
                    yield self.exists_request(fetch)
                continue
            if not self.uses_hub_api:
                # No build steps to ask for: straight to the manifests.
                for fetch in group:
                    yield self.manifest_request(fetch)
                continue
            yield self.tag_images_request(tag, group)

    def tag_images_request(self, tag: str, group: list[Fetch], *, announce_only: bool = False) -> Request:
        image = group[0].image
        return Request(
            tag_images_url(self.config.api_url, image.namespace, image.repository, tag),
            callback=self.parse_tag_images,
            errback=self.tag_images_failed,
            cb_kwargs={"group": group, "announce_only": announce_only},
        )

    def announce_requests(self, groups: list[tuple[str | None, list[Fetch]]]) -> Iterator[Request]:
        """The images answers of deferred tags, for their compressed layers only: their images
        wait for the next window, but `detect` can match on those layers meanwhile. None without
        a Hub API."""
        if not self.uses_hub_api:
            return
        for tag, group in groups:
            if tag is not None and any(fetch.image.digest not in self.announced for fetch in group):
                yield self.tag_images_request(tag, group, announce_only=True)

    def load_pending(self) -> tuple[list[PendingImage], dict[str, dict[str, Any]]] | None:
        """The images to index, and the layer data the store has of those it knows."""
        try:
            with Store(self.config.store_path, read_only=True) as store:
                pending = store.pending_images(self.namespace, self.arguments.repositories)
                self.announced = store.announced_among([image.digest for image in pending])
                stored = {
                    image.digest: data
                    for image in pending
                    if image.known and (data := store.known_image(image.digest)) is not None
                }
        except StoreError as error:
            report_loss(self.crawler, "store", self.config.store_path, str(error))
            return None
        return pending, stored

    def pulls_used_up(self) -> bool:
        return pull_budget(self.crawler).exhausted

    # The Hub API: which build step made each layer.

    def parse_tag_images(
        self, response: Response, group: list[Fetch], announce_only: bool = False
    ) -> list[Request | AnnouncedLayers]:
        self.crawler.stats.inc_value(stats.LAYERS_TAG_IMAGES)
        try:
            answer = read_json(response)
        except ValueError:
            answer = None
        if not isinstance(answer, list):
            if not announce_only:  # deferred already: the next run asks again
                for fetch in group:
                    self.lose(fetch, f"{response.url}: not a JSON array")
            return []
        outputs: list[Request | AnnouncedLayers] = []
        if images := announced_images(answer):
            image = group[0].image
            outputs.append(AnnouncedLayers(image.namespace, image.repository, images))
        if announce_only:
            return outputs
        for fetch in group:
            fetch.instructions = layer_instructions(answer, fetch.image.digest)
        return [*outputs, *(self.manifest_request(fetch) for fetch in group)]

    def tag_images_failed(self, failure: Failure) -> list[Request]:
        request = failure.request  # type: ignore[attr-defined]
        group: list[Fetch] = request.cb_kwargs["group"]
        if request.cb_kwargs.get("announce_only"):
            # Its images are deferred already, not lost: the next run asks for it again.
            self.crawler.stats.inc_value(stats.LAYERS_ANNOUNCE_FAILED)
            logger.warning("No announced layers from %s: %s", request.url, failure_reason(failure))
            return []
        error = failure.value
        if isinstance(error, HttpError) and error.response.status == 404:
            # The tag went away since the library crawl: its images are still in the registry.
            return [self.manifest_request(fetch) for fetch in group]
        reason = f"{request.url}: {failure_reason(failure)}"
        for fetch in group:
            self.lose(fetch, reason)
        return []

    # The registry: the platform manifest, then its config blob.

    def manifest_request(self, fetch: Fetch) -> Request:
        image = fetch.image
        return Request(
            manifest_url(self.config.registry_url, image.namespace, image.repository, image.digest),
            headers={"Accept": MANIFEST_ACCEPT},
            callback=self.parse_manifest,
            errback=self.fetch_failed,
            cb_kwargs={"fetch": fetch},
            meta={PULL_META: True, REGISTRY_SCOPE_META: self.scope_of(image)},
            priority=PRIORITY_STARTED,
        )

    def exists_request(self, fetch: Fetch) -> Request:
        """A HEAD first, for an image only past tags held: it may have been deleted since, and a
        HEAD finds that out without spending a pull."""
        return self.manifest_request(fetch).replace(
            method="HEAD", callback=self.parse_exists, meta={REGISTRY_SCOPE_META: self.scope_of(fetch.image)}
        )

    def parse_exists(self, response: Response, fetch: Fetch) -> list[Request]:
        self.crawler.stats.inc_value(stats.LAYERS_HEADS)
        return [self.manifest_request(fetch)]

    def parse_manifest(self, response: Response, fetch: Fetch) -> list[Request | ImageRecordItem]:
        self.crawler.stats.inc_value(stats.LAYERS_MANIFESTS)
        try:
            verify_digest(response.body, fetch.image.digest)
            manifest = parse_manifest(response.body)
        except (DigestMismatch, ManifestProblem) as problem:
            self.refuse(fetch, f"manifest {response.url}: {problem}")
            return []
        config = self.configs.get(manifest.config_digest)
        if config is not None:
            return self.records(fetch, manifest, config)
        waiting = self.awaiting_config.setdefault(manifest.config_digest, [])
        waiting.append((fetch, manifest))
        if len(waiting) > 1:
            return []
        image = fetch.image
        return [
            Request(
                blob_url(self.config.registry_url, image.namespace, image.repository, manifest.config_digest),
                callback=self.parse_config,
                errback=self.config_failed,
                cb_kwargs={"digest": manifest.config_digest},
                # Two blobs may redirect to one CDN URL: the dupe filter must not drop the second.
                dont_filter=True,
                meta={
                    CONTENT_ADDRESSED_META: True,
                    REGISTRY_SCOPE_META: self.scope_of(image),
                },
                priority=PRIORITY_STARTED,
            )
        ]

    def parse_config(self, response: Response, digest: str) -> list[Request | ImageRecordItem]:
        self.crawler.stats.inc_value(stats.LAYERS_CONFIGS)
        waiting = self.awaiting_config.pop(digest, [])
        try:
            verify_digest(response.body, digest)
            config = parse_config(response.body)
        except (DigestMismatch, ManifestProblem) as problem:
            for fetch, _ in waiting:
                self.refuse(fetch, f"config {digest}: {problem}")
            return []
        self.configs[digest] = config
        return [output for fetch, manifest in waiting for output in self.records(fetch, manifest, config)]

    def config_failed(self, failure: Failure) -> None:
        digest = failure.request.cb_kwargs["digest"]  # type: ignore[attr-defined]
        waiting = [fetch for fetch, _ in self.awaiting_config.pop(digest, [])]
        if failure.check(PullWindowUsed):
            self.defer(waiting)
            return
        for fetch in waiting:
            self.lose(fetch, f"config {digest}: {failure_reason(failure)}")

    def records(
        self, fetch: Fetch, manifest: Manifest, config: ImageConfig
    ) -> list[Request | ImageRecordItem]:
        """The image's record, and a HEAD for each other repository that holds the same digest."""
        image = fetch.image
        try:
            record = image_record(
                **platform_fields(image),
                image_id=manifest.config_digest,
                manifest=manifest,
                config=config,
                instructions=fetch.instructions,
                seen_at=self.seen_at,
            )
        except ManifestProblem as problem:
            self.refuse(fetch, str(problem))
            return []
        stored = {key: record[key] for key in ("image_id", "layers", "history")}
        return [ImageRecordItem(record), *(self.head_request(other, stored) for other in fetch.also)]

    def fetch_failed(self, failure: Failure) -> None:
        fetch: Fetch = failure.request.cb_kwargs["fetch"]  # type: ignore[attr-defined]
        if failure.check(PullWindowUsed):
            self.defer([fetch])
            return
        error = failure.value
        if isinstance(error, HttpError) and error.response.status == 404:
            self.gone(fetch.image)
            for other in fetch.also:
                self.gone(other)
            return
        self.lose(fetch, failure_reason(failure))

    # An image whose layer data the store or this run has: does this repository hold it too?

    def head_request(self, image: PendingImage, stored: dict[str, Any]) -> Request:
        return Request(
            manifest_url(self.config.registry_url, image.namespace, image.repository, image.digest),
            method="HEAD",
            headers={"Accept": MANIFEST_ACCEPT},
            callback=self.parse_head,
            errback=self.head_failed,
            cb_kwargs={"image": image, "stored": stored},
            meta={REGISTRY_SCOPE_META: self.scope_of(image)},
            priority=PRIORITY_STARTED,
            dont_filter=True,
        )

    def parse_head(
        self, response: Response, image: PendingImage, stored: dict[str, Any]
    ) -> list[ImageRecordItem]:
        self.crawler.stats.inc_value(stats.LAYERS_HEADS)
        served = (response.headers.get("Docker-Content-Digest") or b"").decode("latin-1")
        if served != image.digest:
            report_loss(
                self.crawler,
                "image",
                describe(image),
                f"HEAD {response.url} answered Docker-Content-Digest {served or '(none)'}",
            )
            return []
        return [ImageRecordItem({**platform_fields(image), **stored, "seen_at": self.seen_at})]

    def head_failed(self, failure: Failure) -> None:
        image: PendingImage = failure.request.cb_kwargs["image"]  # type: ignore[attr-defined]
        error = failure.value
        if failure.check(PullWindowUsed):
            self.defer_images(1)
        elif isinstance(error, HttpError) and error.response.status == 404:
            self.gone(image)
        else:
            report_loss(self.crawler, "image", describe(image), failure_reason(failure))

    def scope_of(self, image: PendingImage) -> str:
        return registry_scope(self.config.registry_url, image.namespace, image.repository)

    # Outcomes that are not records.

    def refuse(self, fetch: Fetch, reason: str) -> None:
        """Content that is not what its digest says: refused, and named (a mirror may be poisoned)."""
        self.crawler.stats.inc_value(stats.LAYERS_REFUSED)
        self.lose(fetch, reason)

    def lose(self, fetch: Fetch, reason: str) -> None:
        """The fetch failed: lost for every repository that holds the digest."""
        for image in (fetch.image, *fetch.also):
            report_loss(self.crawler, "image", describe(image), reason)

    def defer(self, fetches: Iterable[Fetch]) -> None:
        self.defer_images(sum(1 + len(fetch.also) for fetch in fetches))

    def defer_images(self, count: int) -> None:
        """Left for the next run, which finds them pending in the store again: not lost."""
        self.deferred += count
        self.crawler.stats.inc_value(stats.LAYERS_DEFERRED, count)

    def gone(self, image: PendingImage) -> None:
        """The registry has no such manifest. For an image only past tags held, it was deleted
        since: nothing to index, nothing lost. One a current tag holds should be there: lost."""
        if image.tag is not None:
            lister = "the Hub API lists it" if self.uses_hub_api else "the last registry crawl found it"
            reason = f"the registry has no such manifest, though {lister} in tag {image.tag}"
            report_loss(self.crawler, "image", describe(image), reason)
            return
        self.crawler.stats.inc_value(stats.LAYERS_GONE)
        logger.warning("%s: the registry has no such manifest (no current tag holds it)", describe(image))


def plan_fetches(
    pending: list[PendingImage], stored: dict[str, dict[str, Any]]
) -> tuple[list[Fetch], list[tuple[PendingImage, dict[str, Any]]]]:
    """One fetch per digest without layer data, in the store's order (newest first), carrying
    the other repositories that hold it; and the images whose layer data is `stored`."""
    fetches: dict[str, Fetch] = {}
    known = []
    for image in pending:
        if (data := stored.get(image.digest)) is not None:
            known.append((image, data))
        elif (fetch := fetches.get(image.digest)) is not None:
            fetch.also.append(image)
        else:
            fetches[image.digest] = Fetch(image)
    return list(fetches.values()), known


def by_tag(fetches: list[Fetch]) -> list[tuple[str | None, list[Fetch]]]:
    """Fetches grouped by the tag whose images call names their layers' steps, in first-seen order."""
    groups: dict[tuple[str, str, str | None], list[Fetch]] = {}
    for fetch in fetches:
        image = fetch.image
        groups.setdefault((image.namespace, image.repository, image.tag), []).append(fetch)
    return [(key[2], group) for key, group in groups.items()]


def announced_images(answer: list[Any]) -> list[AnnouncedImage]:
    """The platform images a Hub API images answer lists with a digest and at least one layer
    digest, with their compressed layer digests in order (steps without a digest made no layer).
    Attestations (`unknown` os or architecture) and anything not shaped so are left out."""
    images = []
    for entry in answer:
        if not isinstance(entry, dict):
            continue
        digest, os, architecture = entry.get("digest"), entry.get("os"), entry.get("architecture")
        steps = entry.get("layers")
        if not (isinstance(digest, str) and SHA256.fullmatch(digest) and isinstance(steps, list)):
            continue
        if not (isinstance(os, str) and isinstance(architecture, str)) or "unknown" in (os, architecture):
            continue
        named = [step.get("digest") for step in steps if isinstance(step, dict) and step.get("digest")]
        layers = [layer for layer in named if isinstance(layer, str) and SHA256.fullmatch(layer)]
        # One malformed layer digest and the chain would be another image's: none at all.
        if not layers or len(layers) != len(named):
            continue
        variant, os_version = entry.get("variant"), entry.get("os_version")
        images.append(
            AnnouncedImage(
                digest=digest,
                platform=platform_name(os, architecture, variant if isinstance(variant, str) else None),
                layer_digests=tuple(layers),
                os_version=os_version if isinstance(os_version, str) and os_version else None,
            )
        )
    return images


def platform_fields(image: PendingImage) -> dict[str, Any]:
    return {
        "digest": image.digest,
        "namespace": image.namespace,
        "repository": image.repository,
        "platform": image.platform,
        "os": image.os,
        "architecture": image.architecture,
        "variant": image.variant,
        "os_version": image.os_version,
    }


def describe(image: PendingImage) -> str:
    return f"{image.namespace}/{image.repository}@{image.digest} ({image.platform})"
