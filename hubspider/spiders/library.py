"""The `library` spider: every tag of a Docker Hub namespace, as pages of tags."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlsplit

from scrapy import Request, Spider
from scrapy.spidermiddlewares.httperror import HttpError

from hubspider.arguments import CrawlArguments, parse_api_url, same_origin
from hubspider.auth import credentials_from
from hubspider.items import TagPage
from hubspider.journal import Continuation, CrawlJournal, PageDone
from hubspider.losses import report_loss
from hubspider.pages import PAGE_META, page_problem, read_json

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

PAGE_SIZE = 100  # the API's maximum
# A listing that changed while it was paged is read once more before a shortfall is a loss.
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
        self.journal: CrawlJournal | None = None
        # Tags that the anonymous offset cap kept out of reach, by repository.
        self.capped: dict[str, int] = {}

    @classmethod
    def check_arguments(cls, settings: BaseSettings, arguments: dict[str, Any]) -> None:
        """Raise ArgumentError before the crawl starts, so the user gets one line."""
        CrawlArguments.parse(arguments)
        parse_api_url(settings.get("HUB_API_URL"))
        credentials_from(settings)

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        api_url = parse_api_url(crawler.settings.get("HUB_API_URL"))
        spider = super().from_crawler(crawler, *args, api_url=api_url, **kwargs)
        spider.signed_in = credentials_from(crawler.settings) is not None
        return spider

    @classmethod
    def resume_key(cls, settings: BaseSettings, arguments: dict[str, Any]) -> dict[str, Any]:
        """What makes two runs the same crawl, for resuming from a JOBDIR."""
        api_url = parse_api_url(settings.get("HUB_API_URL"))
        return CrawlArguments.parse(arguments).describe() | {"api_url": api_url}

    def journal_arguments(self) -> dict[str, Any]:
        return self.arguments.describe() | {"api_url": self.api_url}

    async def start(self) -> AsyncIterator[Request]:
        self.journal = self.crawler.get_extension(CrawlJournal)
        for continuation in self.first_continuations():
            if self.journal is None or not self.journal.is_done(continuation):
                yield self.request_for(continuation)

    def first_continuations(self) -> Iterator[Continuation]:
        if self.journal is not None and self.journal.resuming:
            yield from self.journal.pending
            repositories = self.journal.repositories
        else:
            repositories = []
        if self.arguments.repositories is not None:
            repositories = list(self.arguments.repositories)
        else:
            yield Continuation(
                "repositories", f"{self.api_url}/v2/repositories/{self.namespace}/?page_size={PAGE_SIZE}"
            )
        for name in dict.fromkeys(repositories):
            yield self.first_tags_page(name)

    def first_tags_page(self, repository: str, walk: int = 1) -> Continuation:
        url = (
            f"{self.api_url}/v2/repositories/{self.namespace}/{quote(repository)}/tags"
            f"?page_size={PAGE_SIZE}&ordering=last_updated"
        )
        return Continuation("tags", url, repository, walk=walk)

    def request_for(self, continuation: Continuation) -> Request:
        if continuation.kind == "repositories":
            return Request(
                continuation.url,
                callback=self.parse_repositories,
                errback=self.page_failed,
                meta={PAGE_META: True},
            )
        return Request(
            continuation.url,
            callback=self.parse_tags,
            errback=self.page_failed,
            meta={PAGE_META: True},
            cb_kwargs={"continuation": continuation},
            dont_filter=continuation.walk > 1,
        )

    def parse_repositories(self, response: Response) -> Iterator[Request]:
        page = self.read_page(response)
        if page is None:
            return
        then = self.next_page(response, page, Continuation("repositories", response.url))
        if then is not None:
            yield self.request_for(then)
        names = []
        for repository in page["results"]:
            name = repository.get("name") if isinstance(repository, dict) else None
            if not isinstance(name, str) or not name:
                reason = "it has no name"
                report_loss(
                    self.crawler,
                    "repository",
                    f"{repository!r:.80} of {response.url}",
                    reason,
                    page=response.url,
                )
                continue
            names.append(name)
            yield self.request_for(self.first_tags_page(name))
        self.crawler.stats.inc_value("hubspider/repositories", len(names))
        if self.journal is not None:
            self.journal.record_page(PageDone(response.url, 1, then, names))

    def parse_tags(self, response: Response, continuation: Continuation) -> Iterator[Request | TagPage]:
        page = self.read_page(response)
        if page is None:
            return
        repository = continuation.repository
        assert repository is not None
        received = continuation.received + len(page["results"])
        count = max(continuation.count, page.get("count") or 0)
        chain = replace(continuation, received=received, count=count)
        then = self.next_page(response, page, chain)
        if page["next"] is None and received < count:
            then = self.after_shortfall(chain)
        if then is not None:
            yield self.request_for(then)
        done = PageDone(response.url, continuation.walk, then)
        yield TagPage(self.namespace, repository, response.url, page["results"], done)

    def after_shortfall(self, chain: Continuation) -> Continuation | None:
        """Fewer tags than `count` came: tags moved while the listing was paged."""
        full_name = f"{self.namespace}/{chain.repository}"
        if chain.walk < MAX_WALKS:
            logger.info(
                "%s: %d of %d tags came; the listing changed while it was read, reading it again",
                full_name,
                chain.received,
                chain.count,
            )
            self.crawler.stats.inc_value("hubspider/rewalks")
            assert chain.repository is not None
            return self.first_tags_page(chain.repository, chain.walk + 1)
        reason = f"{chain.received} of {chain.count} tags came, after reading the listing {chain.walk} times"
        report_loss(
            self.crawler, "repository", full_name, reason, page=self.first_tags_page(chain.repository).url
        )
        return None

    def read_page(self, response: Response) -> dict[str, Any] | None:
        """The page's JSON if it has the paginated shape; otherwise the page is lost."""
        self.crawler.stats.inc_value("hubspider/pages")
        if problem := page_problem(response):
            report_loss(self.crawler, "page", response.url, problem)
            return None
        return read_json(response)

    def next_page(self, response: Response, page: dict[str, Any], chain: Continuation) -> Continuation | None:
        next_url = page["next"]
        if not next_url:
            return None
        if not same_origin(next_url, self.api_url):
            reason = f"refused its 'next' link {next_url!r}: it leaves {self.api_url}"
            report_loss(self.crawler, "page", response.url, reason, page=response.url)
            return None
        return replace(chain, url=next_url)

    def page_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        if failure.check(HttpError):
            response = failure.value.response
            if self.is_anonymous_cap(response):
                self.note_capped(request.cb_kwargs["continuation"])
                return
            reason = f"HTTP {response.status}"
            if message := _api_message(response):
                reason += f" ({message})"
        else:
            reason = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        report_loss(self.crawler, "page", request.url, reason)

    def is_anonymous_cap(self, response: Response) -> bool:
        if response.status != 403 or self.signed_in or "continuation" not in response.request.cb_kwargs:
            return False
        query = parse_qs(urlsplit(response.url).query)
        try:
            offset = (int(query["page"][0]) - 1) * int(query["page_size"][0])
        except (KeyError, ValueError):
            return False
        return offset >= self.settings.getint("HUB_ANONYMOUS_OFFSET_CAP")

    def note_capped(self, chain: Continuation) -> None:
        """Anonymous paging stops at offset 1000: not a loss, but the summary says what is missing."""
        assert chain.repository is not None
        unreachable = max(chain.count - chain.received, 0)
        self.capped[chain.repository] = unreachable
        self.crawler.stats.inc_value("hubspider/anonymous_cap/repositories")
        self.crawler.stats.inc_value("hubspider/anonymous_cap/tags", unreachable)


def _api_message(response: Response) -> str | None:
    try:
        body = read_json(response)
    except ValueError:
        return None
    message = body.get("message") or body.get("detail") if isinstance(body, dict) else None
    return message if isinstance(message, str) else None
