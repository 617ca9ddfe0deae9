"""The `library` spider: every tag of a Docker Hub namespace, as pages of tags.

The repository listing is followed by its `next` links; each repository's tags are read in
walks (see hubspider/planning.py, which decides every page to ask for). The callbacks read
a page, ask the planning what comes next, and do it: requests, losses, stats, the journal.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy import Request
from scrapy.spidermiddlewares.httperror import HttpError

from hubspider import stats
from hubspider.arguments import CrawlArguments
from hubspider.config import parse_api_url
from hubspider.hub.pages import PAGE_META, listing_page, page_problem
from hubspider.hub.urls import page_key, repositories_url
from hubspider.items import DigestRecords, TagPage
from hubspider.losses import report_loss
from hubspider.planning import (
    Continuation,
    Incremental,
    PageDone,
    Scope,
    Walk,
    first_tags_page,
    plan_failed_page,
    plan_listing_page,
    plan_tags_page,
)
from hubspider.spiders.base import HubSpider, estimate, failure_reason, tags_progress
from hubspider.store import Store, StoreError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scrapy.http import Response
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

    from hubspider.config import HubConfig
    from hubspider.hub.pages import ListingPage
    from hubspider.planning import Baseline, Plan, WalkKey

logger = logging.getLogger(__name__)

# Listings, then first pages, come first: only a first page tells how many pages follow.
PRIORITIES = {"repositories": 2, "first page": 1, "page": 0}
INCREMENTAL_STATS = {
    Incremental.STOPPED_EARLY: stats.INCREMENTAL_STOPPED_EARLY,
    Incremental.WHOLE_WALK: stats.INCREMENTAL_WHOLE_WALKS,
}


class LibrarySpider(HubSpider):
    name = "library"

    def __init__(self, *args: Any, config: HubConfig, **kwargs: Any) -> None:
        self.arguments = CrawlArguments.parse(kwargs)
        super().__init__(*args, config=config, **kwargs)
        self.namespace = self.arguments.namespace
        self.scope = Scope(config.api_url, self.namespace, config.signed_in, config.anonymous_cap)
        self.walks: dict[WalkKey, Walk] = {}
        # The repository listing is a walk too, and the repositories it has named so far.
        self.listing = Walk()
        self.listed: set[str] = set()
        self.baselines: dict[str, Baseline] = {}

    @classmethod
    def check_arguments(cls, settings: BaseSettings, arguments: dict[str, Any]) -> None:
        CrawlArguments.parse(arguments)
        super().check_arguments(settings, arguments)

    @classmethod
    def resume_key(cls, settings: BaseSettings, arguments: dict[str, Any]) -> dict[str, Any]:
        return _crawl_key(CrawlArguments.parse(arguments), parse_api_url(settings.get("HUB_API_URL")))

    def journal_arguments(self) -> dict[str, Any]:
        return _crawl_key(self.arguments, self.scope.api_url)

    def progress(self) -> str:
        return tags_progress(self)

    def eta(self, elapsed: float) -> str:
        """The totals come from the API: the listing's `count`, and each first tags page's."""
        value = self.crawler.stats.get_stats().get
        if value(stats.REPOSITORIES_COUNTED, 0) < value(stats.REPOSITORIES_TOTAL, 0):
            return "ETA once every repository's first page is in"
        return estimate(value(stats.TAGS_RECEIVED, 0), value(stats.TAGS_TOTAL, 0), elapsed)

    def log_summary(self) -> None:
        values = self.crawler.stats.get_stats()
        logger.info(
            "Exported %d digest records from %d tags (%d pages); %d duplicate records dropped; "
            "skipped %d non-platform images, %d images and %d tags without a digest",
            values.get(stats.RECORDS_EXPORTED, 0),
            values.get(stats.TAGS_RECEIVED, 0),
            values.get(stats.PAGES, 0),
            values.get(stats.RECORDS_DUPLICATE, 0),
            values.get(stats.SKIPPED_NOT_A_PLATFORM, 0),
            values.get(stats.SKIPPED_IMAGE_WITHOUT_DIGEST, 0),
            values.get(stats.SKIPPED_TAG_WITHOUT_DIGEST, 0),
        )

    async def start(self) -> AsyncIterator[Request]:
        for continuation in self.first_continuations():
            yield self.request_for(continuation)

    def first_continuations(self) -> list[Continuation]:
        """The listing or the repositories asked for, and on resume, what the journal left to do."""
        if self.arguments.since == "auto":
            self.baselines = self.load_baselines()
        journal = self.journal
        continuations: list[Continuation] = []
        repositories: list[str] = []
        if self.arguments.repositories is not None:
            self.crawler.stats.set_value(stats.REPOSITORIES_TOTAL, len(self.arguments.repositories))
        if journal is not None and journal.resuming:
            resumed = journal.state
            self.walks, self.listing = resumed.walks, resumed.listing
            continuations += resumed.pending
            repositories = resumed.repositories
            self.listed.update(repositories)
            if self.listing.count:
                self.crawler.stats.set_value(stats.REPOSITORIES_TOTAL, self.listing.count)
            self.crawler.stats.set_value(stats.REPOSITORIES_DONE, resumed.finished_repositories)
        if self.arguments.repositories is not None:
            repositories = list(self.arguments.repositories)
        else:
            url = repositories_url(self.scope.api_url, self.namespace)
            self.listing.asked.add(page_key(url))
            continuations.append(Continuation("repositories", url))
        continuations += [first_tags_page(self.scope, name) for name in dict.fromkeys(repositories)]
        if journal is None:
            return continuations
        return [continuation for continuation in continuations if not journal.state.is_done(continuation)]

    def load_baselines(self) -> dict[str, Baseline]:
        if not self.config.store_enabled:
            logger.warning("since=auto needs the store (HUB_STORE_ENABLED): crawling everything")
            return {}
        try:
            with Store(self.config.store_path, read_only=True) as store:
                baselines = store.baselines(self.namespace)
        except StoreError as error:
            logger.warning("since=auto: %s: crawling everything", error)
            return {}
        logger.info("Incremental refresh: %d repositories known complete in the store", len(baselines))
        return baselines

    def request_for(self, continuation: Continuation) -> Request:
        if continuation.kind == "repositories":
            priority = PRIORITIES["repositories"]
        else:
            priority = PRIORITIES["first page" if continuation.page == 1 else "page"]
        return Request(
            continuation.url,
            callback=self.parse_repositories if continuation.kind == "repositories" else self.parse_tags,
            errback=self.page_failed,
            meta={PAGE_META: True},
            cb_kwargs={"continuation": continuation},
            dont_filter=continuation.walk > 1,
            priority=priority,
        )

    def parse_repositories(self, response: Response, continuation: Continuation) -> list[Request]:
        page = self.read_page(response)
        if page is None:
            return []
        plan = plan_listing_page(page, continuation, self.listing, self.listed, self.scope)
        self.crawler.stats.inc_value(stats.REPOSITORIES, len(plan.repositories))
        if page.count is not None:
            self.crawler.stats.set_value(stats.REPOSITORIES_TOTAL, page.count)
        requests = self.perform(plan, continuation)
        requests += [self.request_for(first_tags_page(self.scope, name)) for name in plan.repositories]
        if (journal := self.journal) is not None:
            # No records to wait for: the page is done once its losses are written.
            done = PageDone(continuation, plan.then, len(page.results), page.count or 0, plan.repositories)
            journal.record_page(done)
        return requests

    def parse_tags(self, response: Response, continuation: Continuation) -> list[Request | TagPage]:
        page = self.read_page(response)
        if page is None:
            plan = plan_failed_page(None, continuation, self.walks, self.scope)
            return list(self.perform(plan, continuation))
        repository = continuation.repository
        assert repository is not None
        if continuation.page == 1 and continuation.walk == 1:
            self.crawler.stats.inc_value(stats.REPOSITORIES_COUNTED)
            self.crawler.stats.inc_value(stats.TAGS_TOTAL, page.count or 0)
        baseline = self.baselines.get(repository)
        plan = plan_tags_page(page, continuation, self.walks, self.scope, baseline)
        done = PageDone(continuation, plan.then, len(page.results), page.count or 0)
        tags = TagPage(
            self.namespace, repository, page.url, page.results, done, plan.completes, plan.unchanged_rest
        )
        return [*self.perform(plan, continuation), tags]

    def page_failed(self, failure: Failure) -> list[Request | DigestRecords]:
        request = failure.request  # type: ignore[attr-defined]
        continuation: Continuation = request.cb_kwargs["continuation"]
        error = failure.value
        response = error.response if isinstance(error, HttpError) else None
        status = response.status if response is not None else None
        plan = plan_failed_page(status, continuation, self.walks, self.scope)
        if plan.page_lost:
            # The page asked for, not where a redirect led.
            page = request.meta.get("redirect_urls", [request.url])[0]
            report_loss(self.crawler, "page", page, failure_reason(failure))
        outputs: list[Request | DigestRecords] = [*self.perform(plan, continuation)]
        if plan.completes:
            # A page past the end ended a walk that read every tag: the store closes the others.
            assert continuation.repository is not None
            outputs.append(
                DigestRecords(self.namespace, continuation.repository, request.url, [], completes=True)
            )
        return outputs

    def read_page(self, response: Response) -> ListingPage | None:
        """The page if it has the paginated shape; otherwise the page is lost."""
        self.crawler.stats.inc_value(stats.PAGES)
        if problem := page_problem(response):
            report_loss(self.crawler, "page", response.url, problem)
            return None
        return listing_page(response)

    def perform(self, plan: Plan, continuation: Continuation) -> list[Request]:
        """Report what the plan found, count what it decided, and make its requests."""
        for loss in plan.losses:
            report_loss(self.crawler, loss.kind, loss.what, loss.reason, page=loss.page)
        if plan.capped and continuation.repository is not None:
            repository = continuation.repository
            self.capped[repository] = max(self.capped.get(repository, 0), plan.capped)
        if plan.incremental is not None:
            self.crawler.stats.inc_value(INCREMENTAL_STATS[plan.incremental])
        if plan.repository_done:
            self.crawler.stats.inc_value(stats.REPOSITORIES_DONE)
        if (shortfall := plan.rewalk) is not None:
            logger.info(
                "%s/%s: %d of %d tags came; the listing changed while it was read, reading it again",
                self.namespace,
                shortfall.repository,
                shortfall.received,
                shortfall.expected,
            )
            self.crawler.stats.inc_value(stats.REWALKS)
        return [self.request_for(then) for then in plan.then]


def _crawl_key(arguments: CrawlArguments, api_url: str) -> dict[str, Any]:
    return arguments.describe() | {"api_url": api_url}
