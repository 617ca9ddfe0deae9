"""The `reference` spider: one image in a registry, read as `scrapy detect` compares it (its
platform, image ID, diff_ids and compressed layer digests), through the layer index's registry
client: the token service the registry names, its pull limit, and the checks of every manifest
and config against its digest.

A tag costs one manifest GET, plus one for the platform's manifest when the tag is an index,
and one config blob GET. No layer is read. `scrapy crawl reference -a ref=ghcr.io/acme/app:1.2
-O image.jsonl` exports what detect sees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy import Request

from hubspider.arguments import ArgumentError, ReferenceArguments
from hubspider.held.image import HeldImage, InputProblem, same_platform
from hubspider.held.reference import parse_reference
from hubspider.losses import report_loss
from hubspider.registry.content import (
    ANY_MANIFEST_ACCEPT,
    DIGEST,
    MANIFEST_ACCEPT,
    DigestMismatch,
    Manifest,
    ManifestProblem,
    is_index,
    parse_config,
    parse_index,
    parse_manifest,
    platform_name,
    sha256_digest,
    verify_digest,
)
from hubspider.registry.meta import CONTENT_ADDRESSED_META, PULL_META, REGISTRY_SCOPE_META
from hubspider.registry.urls import blob_url, manifest_url, registry_scope
from hubspider.spiders.base import HubSpider, failure_reason

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scrapy.http import Response
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

    from hubspider.config import HubConfig
    from hubspider.registry.content import IndexEntry


class ReferenceSpider(HubSpider):
    name = "reference"
    resumable = False
    uses_hub_api = False
    custom_settings = {"ITEM_PIPELINES": {}}  # noqa: RUF012 (Scrapy declares it so)

    def __init__(self, *args: Any, config: HubConfig, **kwargs: Any) -> None:
        self.arguments = ReferenceArguments.parse(kwargs)
        super().__init__(*args, config=config, **kwargs)
        self.reference = parse_reference(self.arguments.ref)
        self.reads_docker_hub = self.reference.registry_url is None
        #: Why the image could not be read, in one line; None once it was.
        self.problem: str | None = None

    @classmethod
    def check_arguments(cls, settings: BaseSettings, arguments: dict[str, Any]) -> None:
        try:
            parse_reference(ReferenceArguments.parse(arguments).ref)
        except InputProblem as problem:
            raise ArgumentError(str(problem)) from None
        super().check_arguments(settings, arguments)

    @classmethod
    def argument_settings(cls, arguments: dict[str, Any]) -> dict[str, Any]:
        """The registry the reference names, for the registry client's HUB_REGISTRY_URL; Docker
        Hub's stays the setting's (a mirror, or the tests' emulator)."""
        try:
            registry_url = parse_reference(ReferenceArguments.parse(arguments).ref).registry_url
        except (ArgumentError, InputProblem):
            return {}  # check_arguments names it
        return {} if registry_url is None else {"HUB_REGISTRY_URL": registry_url}

    async def start(self) -> AsyncIterator[Request]:
        yield self.manifest_request(self.reference.reference, ANY_MANIFEST_ACCEPT, self.parse_tag)

    def manifest_request(self, reference: str, accept: str, callback: Any, **cb_kwargs: Any) -> Request:
        return Request(
            manifest_url(
                self.config.registry_url, self.reference.namespace, self.reference.repository, reference
            ),
            headers={"Accept": accept},
            callback=callback,
            errback=self.failed,
            cb_kwargs={"asked": reference, **cb_kwargs},
            meta={PULL_META: True, REGISTRY_SCOPE_META: self.scope},
        )

    @property
    def scope(self) -> str:
        return registry_scope(self.config.registry_url, self.reference.namespace, self.reference.repository)

    def parse_tag(self, response: Response, asked: str) -> list[Request] | list[HeldImage]:
        """The tag's manifest: an index, whose platform manifest is asked for next, or the image's."""
        try:
            digest = self.checked_digest(response, asked)
            if not is_index(response.body):
                return self.read_manifest(response.body, digest, ())
            entry = self.choose_platform(
                [entry for entry in parse_index(response.body) if entry.platform is not None]
            )
        except (DigestMismatch, ManifestProblem, InputProblem) as problem:
            return self.fail(str(problem))
        return [self.manifest_request(entry.digest, MANIFEST_ACCEPT, self.parse_manifest, index=digest)]

    def parse_manifest(self, response: Response, asked: str, index: str) -> list[Request] | list[HeldImage]:
        try:
            digest = self.checked_digest(response, asked)
            return self.read_manifest(response.body, digest, (index,))
        except (DigestMismatch, ManifestProblem) as problem:
            return self.fail(str(problem))

    def read_manifest(self, body: bytes, digest: str, above: tuple[str, ...]) -> list[Request]:
        manifest = parse_manifest(body)
        reference = self.reference
        return [
            Request(
                blob_url(
                    self.config.registry_url,
                    reference.namespace,
                    reference.repository,
                    manifest.config_digest,
                ),
                callback=self.parse_config,
                errback=self.failed,
                cb_kwargs={"manifest": manifest, "digests": (digest, *above)},
                meta={CONTENT_ADDRESSED_META: True, REGISTRY_SCOPE_META: self.scope},
            )
        ]

    def parse_config(
        self, response: Response, manifest: Manifest, digests: tuple[str, ...]
    ) -> list[HeldImage]:
        try:
            verify_digest(response.body, manifest.config_digest)
            config = parse_config(response.body)
        except (DigestMismatch, ManifestProblem) as problem:
            return self.fail(f"config {manifest.config_digest}: {problem}")
        platform = platform_name(config.os or "unknown", config.architecture or "unknown", config.variant)
        wanted = self.arguments.platform
        if wanted is not None and not same_platform(platform, wanted):
            return self.fail(f"no {wanted} image in {self.reference.given}: it is {platform} only")
        layer_digests = tuple(layer.digest for layer in manifest.layers)
        return [
            HeldImage(
                platform=platform,
                image_id=manifest.config_digest,
                diff_ids=config.diff_ids,
                layer_digests=layer_digests if len(layer_digests) == len(config.diff_ids) else None,
                digests=digests,
                names=(self.reference.given,),
            )
        ]

    def checked_digest(self, response: Response, asked: str) -> str:
        """The digest of a manifest answer, checked: the one asked for, else the one the registry
        names (Docker-Content-Digest), else its sha256."""
        named = response.headers.get(b"Docker-Content-Digest")
        digest = (
            asked
            if DIGEST.match(asked)
            else named.decode("latin-1")
            if named
            else sha256_digest(response.body)
        )
        verify_digest(response.body, digest)
        return digest

    def choose_platform(self, entries: list[IndexEntry]) -> IndexEntry:
        """The index entry of the platform asked for, or the only one."""
        platforms = ", ".join(entry.platform or "" for entry in entries) or "none"
        wanted = self.arguments.platform
        if wanted is not None:
            for entry in entries:
                if entry.platform is not None and same_platform(entry.platform, wanted):
                    return entry
            raise InputProblem(f"no {wanted} image in {self.reference.given}: it holds {platforms}")
        if len(entries) != 1:
            raise InputProblem(
                f"{self.reference.given} holds images for {len(entries)} platforms ({platforms}): "
                "choose one with --platform"
            )
        return entries[0]

    def failed(self, failure: Failure) -> None:
        self.fail(f"{failure.request.url}: {failure_reason(failure)}")  # type: ignore[attr-defined]

    def fail(self, reason: str) -> list[Any]:
        self.problem = reason
        report_loss(self.crawler, "image", self.reference.given, reason)
        return []
