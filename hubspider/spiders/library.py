"""The `library` spider: every tag of a Docker Hub namespace, as pages of tags.

The repository listing is followed by its `next` links. A repository's tag listing is
read in walks: its first page gives `count` and the `next` link, and the other pages are
then asked for all at once, by page number in that link (following `next` one page after
another would make the biggest repository, 130 pages, the floor of the whole crawl). The
last page's `next`, if tags were pushed meanwhile, is followed. When a walk ends with fewer
tags than `count` (tags were deleted under the offset paging), the listing is walked once
more; a shortfall after that is a loss.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scrapy import Request, Spider
from scrapy.spidermiddlewares.httperror import HttpError

from hubspider import stats
from hubspider.arguments import CrawlArguments
from hubspider.config import HubConfig, hub_config, parse_api_url
from hubspider.extensions.journal import CrawlJournal
from hubspider.hub.pages import PAGE_META, api_message, page_problem, read_json
from hubspider.hub.urls import PAGE_SIZE, numbered_pages, page_key, repositories_url, tags_url
from hubspider.items import DigestRecords, TagPage
from hubspider.losses import report_loss
from hubspider.origins import same_origin
from hubspider.planning import Baseline, Continuation, PageDone, Walk
from hubspider.store import Store, StoreError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

# Listings, then first pages, come first: only a first page tells how many pages follow.
PRIORITIES = {"repositories": 2, "first page": 1, "page": 0}
# A listing that changed while it was paged is walked once more before a shortfall is a loss.
MAX_WALKS = 2


class LibrarySpider(Spider):
    name = "library"

    def __init__(self, *args: Any, api_url: str = "https://hub.docker.com", **kwargs: Any) -> None:
        self.arguments = CrawlArguments.parse(kwargs)
        super().__init__(*args, **kwargs)
        self.namespace = self.arguments.namespace
        self.api_url = api_url
        self.started_at = datetime.now(UTC)
        self.signed_in = False
        self.anonymous_cap = 0
        self.journal: CrawlJournal | None = None
        self.walks: dict[tuple[str, int], Walk] = {}
        # The repository listing is a walk too, and the repositories it has named so far.
        self.listing = Walk()
        self.listed: set[str] = set()
        self.baselines: dict[str, Baseline] = {}
        # Tags that the anonymous offset cap kept out of reach, by repository.
        self.capped: dict[str, int] = {}

    @classmethod
    def check_arguments(cls, settings: BaseSettings, arguments: dict[str, Any]) -> None:
        """Raise ArgumentError before the crawl starts, so the user gets one line."""
        CrawlArguments.parse(arguments)
        HubConfig.from_settings(settings)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        config = hub_config(crawler)
        spider = super().from_crawler(crawler, *args, api_url=config.api_url, **kwargs)
        spider.signed_in = config.signed_in
        spider.anonymous_cap = config.anonymous_cap
        return spider

    @classmethod
    def resume_key(cls, settings: BaseSettings, arguments: dict[str, Any]) -> dict[str, Any]:
        """What makes two runs the same crawl, for resuming from a JOBDIR."""
        api_url = parse_api_url(settings.get("HUB_API_URL"))
        return CrawlArguments.parse(arguments).describe() | {"api_url": api_url}

    def journal_arguments(self) -> dict[str, Any]:
        return self.arguments.describe() | {"api_url": self.api_url}

    @property
    def last_reachable_page(self) -> int | None:
        """Anonymous tag listings answer 403 from offset 1000 on: page 11 is not asked for."""
        return None if self.signed_in or not self.anonymous_cap else self.anonymous_cap // PAGE_SIZE

    async def start(self) -> AsyncIterator[Request]:
        self.journal = self.crawler.get_extension(CrawlJournal)
        if self.arguments.since == "auto":
            self.baselines = self.load_baselines()
        if self.arguments.repositories is not None:
            self.crawler.stats.set_value(stats.REPOSITORIES_TOTAL, len(self.arguments.repositories))
        for continuation in self.first_continuations():
            if self.journal is None or not self.journal.is_done(continuation):
                yield self.request_for(continuation)

    def load_baselines(self) -> dict[str, Baseline]:
        settings = self.crawler.settings
        if not settings.getbool("HUB_STORE_ENABLED"):
            logger.warning("since=auto needs the store (HUB_STORE_ENABLED): crawling everything")
            return {}
        try:
            with Store(settings.get("HUB_STORE_PATH"), read_only=True) as store:
                baselines = store.baselines(self.namespace)
        except StoreError as error:
            logger.warning("since=auto: %s: crawling everything", error)
            return {}
        logger.info("Incremental refresh: %d repositories known complete in the store", len(baselines))
        return baselines

    def first_continuations(self) -> Iterator[Continuation]:
        repositories: list[str] = []
        if self.journal is not None and self.journal.resuming:
            self.walks = self.journal.walks
            self.listing = self.journal.listing
            yield from self.journal.pending
            repositories = self.journal.repositories
            self.listed.update(repositories)
            if self.listing.count:
                self.crawler.stats.set_value(stats.REPOSITORIES_TOTAL, self.listing.count)
            self.crawler.stats.set_value(stats.REPOSITORIES_DONE, self.journal.finished_repositories)
        if self.arguments.repositories is not None:
            repositories = list(self.arguments.repositories)
        else:
            url = repositories_url(self.api_url, self.namespace)
            self.listing.asked.add(page_key(url))
            yield Continuation("repositories", url)
        for name in dict.fromkeys(repositories):
            yield self.first_tags_page(name)

    def first_tags_page(self, repository: str, walk: int = 1) -> Continuation:
        return Continuation("tags", tags_url(self.api_url, self.namespace, repository), repository, walk=walk)

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

    def parse_repositories(self, response: Response, continuation: Continuation) -> Iterator[Request]:
        page = self.read_page(response)
        if page is None:
            return
        then = self.next_link(response, page, continuation, self.listing)
        yield from map(self.request_for, then)
        names = []
        for repository in page["results"]:
            name = repository.get("name") if isinstance(repository, dict) else None
            if not isinstance(name, str) or not name:
                what = f"{repository!r:.80} of {response.url}"
                report_loss(self.crawler, "repository", what, "it has no name", page=response.url)
                continue
            names.append(name)
            yield self.request_for(self.first_tags_page(name))
        self.crawler.stats.inc_value(stats.REPOSITORIES, len(names))
        self.listed.update(names)
        if isinstance(page.get("count"), int):
            self.listing.count = page["count"]
            self.crawler.stats.set_value(stats.REPOSITORIES_TOTAL, page["count"])
        if not then and not self.listing.failed and len(self.listed) < self.listing.count:
            # The pages ended before the count: trust neither, and say so.
            listed, count = len(self.listed), self.listing.count
            reason = f"its pages ended after {listed} of the {count} repositories it counts"
            report_loss(self.crawler, "listing", response.url, reason, page=response.url)
        if self.journal is not None:
            done = PageDone(continuation, then, len(page["results"]), page.get("count") or 0, names)
            self.journal.record_page(done)

    def parse_tags(self, response: Response, continuation: Continuation) -> Iterator[Request | TagPage]:
        page = self.read_page(response)
        if page is None:
            yield from map(self.request_for, self.page_gone(continuation, lost=True))
            return
        repository = continuation.repository
        assert repository is not None
        count = page.get("count") or 0
        if continuation.page == 1:
            self.walks[(repository, continuation.walk)] = Walk(
                asked={page_key(continuation.url), page_key(response.url)}
            )
            if continuation.walk == 1:
                self.crawler.stats.inc_value(stats.REPOSITORIES_COUNTED)
                self.crawler.stats.inc_value(stats.TAGS_TOTAL, count)
        walk = self.walks[(repository, continuation.walk)]
        walk.received += len(page["results"])
        walk.count = max(walk.count, count)
        baseline = self.baselines.get(repository) if continuation.walk == 1 else None
        if baseline is not None and not walk.whole:
            then = self.changed_pages(response, page, continuation, walk, baseline)
        else:
            then = self.pages_after(response, page, continuation, walk)
        then += self.page_gone(continuation)
        yield from map(self.request_for, then)
        done = PageDone(continuation, then, len(page["results"]), count)
        yield TagPage(
            self.namespace,
            repository,
            response.url,
            page["results"],
            done,
            walk.complete,
            walk.unchanged_rest,
        )

    def changed_pages(
        self,
        response: Response,
        page: dict[str, Any],
        continuation: Continuation,
        walk: Walk,
        baseline: Baseline,
    ) -> list[Continuation]:
        """Incremental: tags come newest first, so read on only while every tag is newer than
        the last complete crawl; stop at the first page with an older one, unless `count`
        says tags were deleted, which only a whole walk can find."""
        tags = [tag for tag in page["results"] if isinstance(tag, dict)]
        walk.new_tags += sum(tag.get("name") not in baseline.tags for tag in tags)
        older = any(str(tag.get("last_updated") or "") < baseline.since for tag in tags)
        if not older and page["next"]:
            return self.next_link(response, page, continuation, walk)
        if len(baseline.tags) + walk.new_tags <= walk.count or not page["next"]:
            self.crawler.stats.inc_value(stats.INCREMENTAL_STOPPED_EARLY)
            walk.unchanged_rest = True
            return []
        self.crawler.stats.inc_value(stats.INCREMENTAL_WHOLE_WALKS)
        walk.whole = True
        numbered = numbered_pages(page["next"], _pages_shown(walk.count, continuation.page)) or []
        then = [
            Continuation("tags", url, continuation.repository, continuation.walk, number)
            for number, url in numbered
            if number > continuation.page
        ]
        walk.plan(then)
        return then

    def pages_after(
        self, response: Response, page: dict[str, Any], continuation: Continuation, walk: Walk
    ) -> list[Continuation]:
        """From a first page, every other page at once; from the last, its `next` if tags came."""
        if page["next"] and not same_origin(page["next"], self.api_url):
            return self.next_link(response, page, continuation, walk)  # refused and reported there
        if continuation.page == 1 and page["next"]:
            last = _pages_shown(walk.count, continuation.page)
            if (cap := self.last_reachable_page) is not None and last > cap:
                self.note_capped(continuation, max(walk.count - cap * PAGE_SIZE, 1))
                last = cap
            numbered = numbered_pages(page["next"], last)
            if numbered is not None:
                then = [
                    Continuation("tags", url, continuation.repository, continuation.walk, number)
                    for number, url in numbered
                ]
                walk.plan(then)
                return then
        if continuation.page < walk.last_page or continuation.page == self.last_reachable_page:
            return []
        return self.next_link(response, page, continuation, walk)

    def next_link(
        self, response: Response, page: dict[str, Any], continuation: Continuation, walk: Walk
    ) -> list[Continuation]:
        """The page after this one, planned in its walk; a link that leaves the API or leads back
        to a page already asked for is refused, and the walk is then incomplete."""
        next_url = page["next"]
        if not next_url:
            return []
        if not same_origin(next_url, self.api_url):
            reason = f"refused its 'next' link {next_url!r}: it leaves {self.api_url}"
        elif page_key(next_url) in walk.asked:
            reason = f"refused its 'next' link {next_url!r}: it leads back to a page already read (a loop)"
        else:
            kind, repository, number = continuation.kind, continuation.repository, continuation.walk
            then = [Continuation(kind, next_url, repository, number, continuation.page + 1)]
            walk.plan(then)
            return then
        walk.failed = True
        report_loss(self.crawler, "page", response.url, reason, page=response.url)
        return []

    def page_gone(self, continuation: Continuation, *, lost: bool = False) -> list[Continuation]:
        """A page of a walk is in (or lost, or past the end); after the last one, check the count."""
        if continuation.kind != "tags":
            return []
        assert continuation.repository is not None
        key = (continuation.repository, continuation.walk)
        walk = self.walks.get(key)
        if walk is None:  # the first page itself is lost: there is no walk to finish
            self.crawler.stats.inc_value(stats.REPOSITORIES_DONE)
            return []
        walk.pending.discard(continuation.page)
        walk.failed |= lost
        if walk.pending:
            return []
        del self.walks[key]
        return self.after_walk(continuation.repository, continuation.walk, walk)

    def after_walk(self, repository: str, number: int, walk: Walk) -> list[Continuation]:
        """A walk has ended: read the listing again if tags moved under it."""
        if walk.unchanged_rest:
            self.crawler.stats.inc_value(stats.REPOSITORIES_DONE)
            walk.complete = True
            return []
        expected = walk.count
        if (cap := self.last_reachable_page) is not None:
            expected = min(expected, cap * PAGE_SIZE)
        if walk.failed or walk.received >= expected:
            self.crawler.stats.inc_value(stats.REPOSITORIES_DONE)
            walk.complete = not walk.failed and expected == walk.count
            return []
        full_name = f"{self.namespace}/{repository}"
        if number < MAX_WALKS:
            logger.info(
                "%s: %d of %d tags came; the listing changed while it was read, reading it again",
                full_name,
                walk.received,
                expected,
            )
            self.crawler.stats.inc_value(stats.REWALKS)
            return [self.first_tags_page(repository, number + 1)]
        self.crawler.stats.inc_value(stats.REPOSITORIES_DONE)
        reason = f"{walk.received} of {expected} tags came, after reading the listing {number} times"
        report_loss(self.crawler, "repository", full_name, reason, page=self.first_tags_page(repository).url)
        return []

    def read_page(self, response: Response) -> dict[str, Any] | None:
        """The page's JSON if it has the paginated shape; otherwise the page is lost."""
        self.crawler.stats.inc_value(stats.PAGES)
        if problem := page_problem(response):
            report_loss(self.crawler, "page", response.url, problem)
            return None
        return read_json(response)

    def page_failed(self, failure: Failure) -> Iterator[Request | DigestRecords]:
        request = failure.request  # type: ignore[attr-defined]
        continuation: Continuation = request.cb_kwargs["continuation"]
        if failure.check(HttpError):
            response = failure.value.response
            if self.past_the_end(response, continuation):
                # Tags were deleted since the first page: fewer pages now. The count check decides.
                walk = self.walks.get((continuation.repository, continuation.walk))
                yield from map(self.request_for, self.page_gone(continuation))
                if walk is not None and walk.complete:
                    yield DigestRecords(
                        self.namespace, continuation.repository, request.url, [], completes=True
                    )
                return
            if self.anonymous_cap_reached(response, continuation):
                yield from map(self.request_for, self.page_gone(continuation))
                return
            reason = f"HTTP {response.status}"
            if message := api_message(response):
                reason += f" ({message})"
        else:
            reason = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        # The page asked for, not where a redirect led.
        report_loss(self.crawler, "page", request.meta.get("redirect_urls", [request.url])[0], reason)
        yield from map(self.request_for, self.page_gone(continuation, lost=True))

    def past_the_end(self, response: Response, continuation: Continuation) -> bool:
        return response.status == 404 and continuation.kind == "tags" and continuation.page > 1

    def anonymous_cap_reached(self, response: Response, continuation: Continuation) -> bool:
        """A 403 deeper than page 1 of an anonymous crawl: Hub's cap came sooner than expected."""
        if response.status != 403 or self.signed_in or continuation.kind != "tags" or continuation.page == 1:
            return False
        assert continuation.repository is not None
        walk = self.walks.get((continuation.repository, continuation.walk))
        count = walk.count if walk is not None else 0
        self.note_capped(continuation, count - (continuation.page - 1) * PAGE_SIZE)
        return True

    def note_capped(self, continuation: Continuation, unreachable: int) -> None:
        """Anonymous paging stops at offset 1000: not a loss, but the summary says what is missing."""
        assert continuation.repository is not None
        if continuation.walk == 1:
            known = self.capped.get(continuation.repository, 0)
            self.capped[continuation.repository] = max(known, unreachable)


def _pages_shown(count: int, page: int) -> int:
    """How many pages a page with a `next` link says there are: its `count` may say fewer, but
    the link shows at least one more page, and what the pages show wins."""
    return max(-(-count // PAGE_SIZE), page + 1)
