"""The `registry` spider: every tag of an OCI distribution registry (mcr.microsoft.com, one on
localhost), as digest records in the library crawl's contract.

Repositories come from the catalog (`GET /v2/_catalog`), or from `-a repos=` where a registry
has none (ghcr.io); tags from each repository's tag list; both are paged by their Link header.
Each tag costs one manifest HEAD (its Docker-Content-Digest: no pull where pulls are counted),
each distinct digest one GET (alias tags wait for it), and a single-platform manifest one
config GET for its platform. Everything fetched is checked against its digest.

A tags page travels as a `TagPage` of tags in the Hub API's shape (registry/assembly.py) through
the library crawl's pipelines. The records' namespace is the registry host, so the store,
lookup, history, changes, the layers crawl and detect take them as they are. With JOBDIR the
journal resumes it as it does the library crawl: a page is done once its records are exported.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.spidermiddlewares.httperror import HttpError

from hubspider import stats
from hubspider.arguments import ArgumentError, RegistryArguments, is_repository_path
from hubspider.items import TagPage
from hubspider.losses import report_loss
from hubspider.planning import Continuation, PageDone
from hubspider.records import image_reference
from hubspider.registry.assembly import RepositoryRead, TagsPage, Target, image_target, index_target
from hubspider.registry.content import (
    ANY_MANIFEST_ACCEPT,
    DIGEST,
    DigestMismatch,
    ManifestProblem,
    config_platform,
    is_index,
    parse_index,
    parse_manifest,
    sha256_digest,
    verify_digest,
)
from hubspider.registry.listing import ListingProblem, read_listing
from hubspider.registry.meta import CONTENT_ADDRESSED_META, REGISTRY_SCOPE_META
from hubspider.registry.urls import blob_url, catalog_url, manifest_url, registry_scope, tags_list_url
from hubspider.spiders.base import HubSpider, estimate, failure_reason, tags_progress

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterable

    from scrapy.http import Response
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

    from hubspider.config import HubConfig

logger = logging.getLogger(__name__)

CATALOG_SCOPE = "registry:catalog:*"
# Work begun goes first, so that pages become whole, and leave memory, before new ones are read.
PRIORITIES = {"repositories": 0, "tags": 1, "head": 2, "manifest": 3, "config": 4}
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# The repositories the closing summary names of those the catalog lists and that answer 404.
NAMED_UNKNOWN = 20

Output = Request | TagPage


class RegistrySpider(HubSpider):
    name = "registry"
    uses_hub_api = False
    reads_docker_hub = False

    def __init__(self, *args: Any, config: HubConfig, **kwargs: Any) -> None:
        self.arguments = RegistryArguments.parse(kwargs)
        super().__init__(*args, config=config, **kwargs)
        self.host = self.arguments.registry
        self.reads: dict[str, RepositoryRead] = {}
        #: Repositories named so far (by the catalog or `repos`), and the catalog pages asked for.
        self.listed: set[str] = set()
        self.catalog_asked: set[str] = set()
        self.first_catalog_page = catalog_url(config.registry_url, config.registry_page_size)
        #: Repositories the catalog lists that answer 404.
        self.unknown: list[str] = []

    @classmethod
    def argument_settings(cls, arguments: dict[str, Any]) -> dict[str, Any]:
        """The registry to read is the argument's host, whatever HUB_REGISTRY_URL says."""
        try:
            return {"HUB_REGISTRY_URL": RegistryArguments.parse(arguments).url}
        except ArgumentError:
            return {}  # check_arguments names it

    @classmethod
    def check_arguments(cls, settings: BaseSettings, arguments: dict[str, Any]) -> None:
        RegistryArguments.parse(arguments)
        super().check_arguments(settings, arguments)

    @classmethod
    def resume_key(cls, settings: BaseSettings, arguments: dict[str, Any]) -> dict[str, Any]:
        return RegistryArguments.parse(arguments).describe()

    def journal_arguments(self) -> dict[str, Any]:
        return self.arguments.describe()

    def progress(self) -> str:
        return tags_progress(self)

    def eta(self, elapsed: float) -> str:
        """By repositories: a tag list gives no count before its last page."""
        value = self.crawler.stats.get_stats().get
        return estimate(value(stats.REPOSITORIES_DONE, 0), value(stats.REPOSITORIES_TOTAL, 0), elapsed)

    def log_summary(self) -> None:
        value = self.crawler.stats.get_stats().get
        logger.info(
            "Exported %d digest records from %d tags of %d repositories of %s: %d tag HEADs, "
            "%d manifests and %d configs fetched; skipped %d non-platform images",
            value(stats.RECORDS_EXPORTED, 0),
            value(stats.TAGS_RECEIVED, 0),
            value(stats.REPOSITORIES_DONE, 0),
            self.host,
            value(stats.REGISTRY_HEADS, 0),
            value(stats.REGISTRY_MANIFESTS, 0),
            value(stats.REGISTRY_CONFIGS, 0),
            value(stats.SKIPPED_NOT_A_PLATFORM, 0),
        )
        if self.unknown:
            named = ", ".join(self.unknown[:NAMED_UNKNOWN])
            more = (
                f" and {len(self.unknown) - NAMED_UNKNOWN} more" if len(self.unknown) > NAMED_UNKNOWN else ""
            )
            logger.warning(
                "The catalog lists %d repositories that answer 404 (nothing to read, nothing lost): %s%s",
                len(self.unknown),
                named,
                more,
            )

    # The listings: catalog pages, then each repository's tags pages.

    async def start(self) -> AsyncIterator[Request]:
        for request in self.follow(self.first_continuations()):
            yield request

    def first_continuations(self) -> list[Continuation]:
        """The catalog or the repositories asked for, and on resume what the journal left to do."""
        continuations: list[Continuation] = []
        repositories: list[str] = []
        journal = self.journal
        if journal is not None and journal.resuming:
            continuations += journal.state.pending
            repositories = journal.state.repositories
        if self.arguments.repositories is not None:
            repositories = list(self.arguments.repositories)
        else:
            self.catalog_asked.add(self.first_catalog_page)
            continuations.insert(0, Continuation("repositories", self.first_catalog_page))
        self.listed.update(repositories)
        self.crawler.stats.set_value(stats.REPOSITORIES_TOTAL, len(self.listed))
        continuations += [self.first_tags_page(name) for name in repositories]
        return list(dict.fromkeys(continuations))

    def first_tags_page(self, repository: str) -> Continuation:
        url = tags_list_url(self.config.registry_url, self.host, repository, self.config.registry_page_size)
        return Continuation("tags", url, repository)

    def follow(self, continuations: Iterable[Continuation]) -> list[Request]:
        """Requests for the pages not done by an earlier run of the crawl."""
        journal = self.journal
        requests = []
        for continuation in continuations:
            if journal is not None and journal.state.is_done(continuation):
                continue
            callback: Callable[[Response, Continuation], list[Output]]
            if continuation.kind == "repositories":
                scope, callback = CATALOG_SCOPE, self.parse_catalog
            else:
                assert continuation.repository is not None
                scope, callback = self.scope_of(continuation.repository), self.parse_tags
                read = self.reads.setdefault(continuation.repository, RepositoryRead())
                read.open_pages += 1
                read.asked.add(continuation.url)
            requests.append(
                Request(
                    continuation.url,
                    callback=callback,
                    errback=self.listing_failed,
                    cb_kwargs={"continuation": continuation},
                    meta={REGISTRY_SCOPE_META: scope},
                    priority=PRIORITIES[continuation.kind],
                )
            )
        return requests

    def parse_catalog(self, response: Response, continuation: Continuation) -> list[Output]:
        self.crawler.stats.inc_value(stats.REGISTRY_CATALOG_PAGES)
        try:
            page = read_listing(
                response.body, "repositories", link(response), response.url, self.catalog_asked
            )
        except ListingProblem as problem:
            report_loss(self.crawler, "page", response.url, str(problem))
            return []
        names = []
        for name in page.names:
            if not is_repository_path(name):
                report_loss(
                    self.crawler, "repository", repr(name), f"not a repository name, in {response.url}"
                )
            elif name not in self.listed and name.startswith(self.arguments.prefix or ""):
                names.append(name)
        self.listed.update(names)
        self.crawler.stats.inc_value(stats.REPOSITORIES, len(names))
        self.crawler.stats.set_value(stats.REPOSITORIES_TOTAL, len(self.listed))
        then = [self.first_tags_page(name) for name in names]
        if page.next is not None:
            self.catalog_asked.add(page.next)
            then.insert(0, Continuation("repositories", page.next))
        if (journal := self.journal) is not None:
            journal.record_page(PageDone(continuation, then, len(page.names), 0, names))
        return [*self.follow(then)]

    def parse_tags(self, response: Response, continuation: Continuation) -> list[Output]:
        repository = continuation.repository
        assert repository is not None
        read = self.reads[repository]
        self.crawler.stats.inc_value(stats.REGISTRY_TAGS_PAGES)
        try:
            listing = read_listing(response.body, "tags", link(response), response.url, read.asked)
        except ListingProblem as problem:
            return self.page_lost(read, continuation, str(problem))
        names = []
        for name in listing.names:
            if not TAG.match(name):
                reason = f"not a tag name, in {response.url}"
                report_loss(
                    self.crawler, "tag", f"{self.host}/{repository}:{name!r}", reason, page=continuation.url
                )
                read.lost = True
            elif name not in read.listed_tags:
                read.listed_tags.add(name)
                names.append(name)
        self.crawler.stats.inc_value(stats.TAGS_TOTAL, len(names))
        then = []
        if listing.next is not None:
            then.append(Continuation("tags", listing.next, repository, page=continuation.page + 1))
        else:
            read.listed = True
        page = TagsPage(continuation, names, then)
        outputs: list[Output] = [self.head_request(page, name) for name in names]
        outputs += self.follow(then)
        return outputs + self.whole_pages(read, [page])

    def listing_failed(self, failure: Failure) -> list[Output]:
        request = failure.request  # type: ignore[attr-defined]
        continuation: Continuation = request.cb_kwargs["continuation"]
        error = failure.value
        status = error.response.status if isinstance(error, HttpError) else None
        reason = failure_reason(failure)
        if continuation.kind == "repositories":
            if status in (401, 403, 404) and continuation.url == self.first_catalog_page:
                reason += "; a registry without a catalog is crawled with -a repos=NAME,NAME"
            report_loss(self.crawler, "page", continuation.url, reason)
            return []
        repository = continuation.repository
        assert repository is not None
        read = self.reads[repository]
        if status == 404 and continuation.page == 1 and self.arguments.repositories is None:
            return self.repository_unknown(read, continuation)
        if status == 404 and continuation.page == 1:
            report_loss(self.crawler, "repository", f"{self.host}/{repository}", reason)
            read.lost = read.listed = True
            read.page_done()
            self.forget_if_finished(repository, read)
            return []
        return self.page_lost(read, continuation, reason)

    def repository_unknown(self, read: RepositoryRead, continuation: Continuation) -> list[Output]:
        """The catalog lists it, the registry has no such repository (MCR lists some so): as an
        empty listing, not a loss, but counted and named in the closing summary."""
        assert continuation.repository is not None
        self.crawler.stats.inc_value(stats.REGISTRY_REPOSITORIES_UNKNOWN)
        logger.warning(
            "%s/%s: the catalog lists it, the registry answers 404", self.host, continuation.repository
        )
        self.unknown.append(continuation.repository)
        if (journal := self.journal) is not None:
            journal.record_page(PageDone(continuation, []))
        read.listed = True
        read.page_done()
        self.forget_if_finished(continuation.repository, read)
        return []

    def page_lost(self, read: RepositoryRead, continuation: Continuation, reason: str) -> list[Output]:
        """A tags page that did not come: lost, and the list cannot be followed past it."""
        report_loss(self.crawler, "page", continuation.url, reason)
        read.lost = read.listed = True
        read.page_done()
        assert continuation.repository is not None
        self.forget_if_finished(continuation.repository, read)
        return []

    # Each tag: a HEAD for its digest, then a GET of each distinct digest.

    def head_request(self, page: TagsPage, tag: str) -> Request:
        return Request(
            manifest_url(self.config.registry_url, self.host, page.repository, tag),
            method="HEAD",
            headers={"Accept": ANY_MANIFEST_ACCEPT},
            callback=self.parse_head,
            errback=self.head_failed,
            cb_kwargs={"page": page, "tag": tag},
            meta={REGISTRY_SCOPE_META: self.scope_of(page.repository)},
            priority=PRIORITIES["head"],
        )

    def parse_head(self, response: Response, page: TagsPage, tag: str) -> list[Output]:
        self.crawler.stats.inc_value(stats.REGISTRY_HEADS)
        read = self.reads[page.repository]
        digest = (response.headers.get(b"Docker-Content-Digest") or b"").decode("latin-1").strip()
        if not DIGEST.match(digest):
            # A registry that names no digest on HEAD: the manifest itself, by tag, names it.
            return [self.manifest_request(page.repository, tag, by_tag=(page, tag))]
        if read.pointed(page, tag, digest):
            return [self.manifest_request(page.repository, digest)]
        return self.whole_pages(read, [page])

    def head_failed(self, failure: Failure) -> list[Output]:
        request = failure.request  # type: ignore[attr-defined]
        page: TagsPage = request.cb_kwargs["page"]
        tag: str = request.cb_kwargs["tag"]
        read = self.reads[page.repository]
        error = failure.value
        if isinstance(error, HttpError) and error.response.status == 404:
            # Deleted since the list was read: the registry no longer has it, nothing is lost.
            self.crawler.stats.inc_value(stats.REGISTRY_TAGS_GONE)
            logger.warning(
                "%s: listed, then gone before its HEAD", image_reference(self.host, page.repository, tag)
            )
            page.gone.add(tag)
        else:
            self.lose_tags(read, [(page, tag)], f"HEAD {request.url}: {failure_reason(failure)}")
        return self.whole_pages(read, [page])

    def manifest_request(
        self, repository: str, reference: str, by_tag: tuple[TagsPage, str] | None = None
    ) -> Request:
        return Request(
            manifest_url(self.config.registry_url, self.host, repository, reference),
            headers={"Accept": ANY_MANIFEST_ACCEPT},
            callback=self.parse_manifest,
            errback=self.manifest_failed,
            cb_kwargs={"repository": repository, "reference": reference, "by_tag": by_tag},
            meta={REGISTRY_SCOPE_META: self.scope_of(repository), CONTENT_ADDRESSED_META: by_tag is None},
            priority=PRIORITIES["manifest"],
        )

    def parse_manifest(
        self, response: Response, repository: str, reference: str, by_tag: tuple[TagsPage, str] | None
    ) -> list[Output]:
        self.crawler.stats.inc_value(stats.REGISTRY_MANIFESTS)
        read = self.reads[repository]
        body = response.body
        if by_tag is not None:
            # Read by tag: its digest is what the bytes hash to, with nothing to check it against.
            page, tag = by_tag
            reference = sha256_digest(body)
            if not read.pointed(page, tag, reference):
                return self.whole_pages(read, [page])
        try:
            if by_tag is None:
                verify_digest(body, reference)
            media_type = manifest_media_type(response)
            if is_index(body):
                return self.fetched(read, index_target(reference, media_type, parse_index(body)))
            config_digest = parse_manifest(body).config_digest
        except DigestMismatch as problem:
            self.crawler.stats.inc_value(stats.REGISTRY_REFUSED)
            return self.fetch_failed(read, reference, f"manifest {response.url}: {problem}")
        except ManifestProblem as problem:
            return self.fetch_failed(read, reference, f"manifest {response.url}: {problem}")
        if (platform := read.platforms.get(config_digest)) is not None:
            return self.fetched(read, image_target(reference, media_type, len(body), platform))
        waiting = read.awaiting_config.setdefault(config_digest, [])
        waiting.append((reference, media_type, len(body)))
        if len(waiting) > 1:
            return []
        return [
            Request(
                blob_url(self.config.registry_url, self.host, repository, config_digest),
                callback=self.parse_config,
                errback=self.config_failed,
                cb_kwargs={"repository": repository, "config_digest": config_digest},
                meta={REGISTRY_SCOPE_META: self.scope_of(repository), CONTENT_ADDRESSED_META: True},
                priority=PRIORITIES["config"],
            )
        ]

    def manifest_failed(self, failure: Failure) -> list[Output]:
        request = failure.request  # type: ignore[attr-defined]
        kwargs = request.cb_kwargs
        read = self.reads[kwargs["repository"]]
        reason = f"{request.url}: {failure_reason(failure)}"
        if kwargs["by_tag"] is not None:
            self.lose_tags(read, [kwargs["by_tag"]], reason)
            return self.whole_pages(read, [kwargs["by_tag"][0]])
        return self.fetch_failed(read, kwargs["reference"], reason)

    def parse_config(self, response: Response, repository: str, config_digest: str) -> list[Output]:
        self.crawler.stats.inc_value(stats.REGISTRY_CONFIGS)
        read = self.reads[repository]
        waiting = read.awaiting_config.pop(config_digest, [])
        try:
            verify_digest(response.body, config_digest)
            platform = config_platform(response.body)
        except (DigestMismatch, ManifestProblem) as problem:
            if isinstance(problem, DigestMismatch):
                self.crawler.stats.inc_value(stats.REGISTRY_REFUSED)
            reason = f"config {config_digest}: {problem}"
            return [output for digest, _, _ in waiting for output in self.fetch_failed(read, digest, reason)]
        read.platforms[config_digest] = platform
        return [
            output
            for digest, media_type, size in waiting
            for output in self.fetched(read, image_target(digest, media_type, size, platform))
        ]

    def config_failed(self, failure: Failure) -> list[Output]:
        request = failure.request  # type: ignore[attr-defined]
        read = self.reads[request.cb_kwargs["repository"]]
        waiting = read.awaiting_config.pop(request.cb_kwargs["config_digest"], [])
        reason = f"config {request.url}: {failure_reason(failure)}"
        return [output for digest, _, _ in waiting for output in self.fetch_failed(read, digest, reason)]

    # What a page's tags came to.

    def fetched(self, read: RepositoryRead, target: Target) -> list[Output]:
        return self.whole_pages(read, [page for page, _ in read.fetched(target)])

    def fetch_failed(self, read: RepositoryRead, digest: str, reason: str) -> list[Output]:
        waited = read.fetch_failed(digest, reason)
        for page, tag in waited:
            self.report_tag_lost(page, tag, reason)
        return self.whole_pages(read, [page for page, _ in waited])

    def lose_tags(self, read: RepositoryRead, tags: list[tuple[TagsPage, str]], reason: str) -> None:
        for page, tag in tags:
            read.lose(page, tag, reason)
            self.report_tag_lost(page, tag, reason)

    def report_tag_lost(self, page: TagsPage, tag: str, reason: str) -> None:
        what = image_reference(self.host, page.repository, tag)
        report_loss(self.crawler, "tag", what, reason, page=page.continuation.url)

    def whole_pages(self, read: RepositoryRead, pages: list[TagsPage]) -> list[Output]:
        """A `TagPage` for each page that is now whole. A page with a lost tag is not journaled as
        done, so that a resumed crawl reads it again; the last page of a read with nothing lost
        completes the repository, and the store then marks what it did not see as gone."""
        outputs: list[Output] = []
        for page in read.newly_whole(list(dict.fromkeys(pages))):
            complete = read.page_done()
            done = None if page.lost else PageDone(page.continuation, page.then, len(page.names))
            outputs.append(
                TagPage(self.host, page.repository, page.continuation.url, page.tags(), done, complete)
            )
            self.forget_if_finished(page.repository, read)
        return outputs

    def forget_if_finished(self, repository: str, read: RepositoryRead) -> None:
        if read.finished and self.reads.get(repository) is read:
            del self.reads[repository]
            self.crawler.stats.inc_value(stats.REPOSITORIES_DONE)

    def scope_of(self, repository: str) -> str:
        return registry_scope(self.config.registry_url, self.host, repository)


def link(response: Response) -> str | None:
    value = response.headers.get(b"Link")
    return value.decode("latin-1") if value else None


def manifest_media_type(response: Response) -> str | None:
    """The manifest's own `mediaType`, else the Content-Type it was served with."""
    try:
        stated = json.loads(response.body).get("mediaType")
    except (ValueError, UnicodeDecodeError, AttributeError):
        stated = None
    if isinstance(stated, str) and stated:
        return stated
    served = (response.headers.get(b"Content-Type") or b"").decode("latin-1").split(";")[0].strip()
    return served or None
