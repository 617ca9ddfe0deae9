"""The `library` spider: every tag of a Docker Hub namespace, as pages of tags."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from scrapy import Request, Spider
from scrapy.spidermiddlewares.httperror import HttpError

from hubspider.arguments import CrawlArguments, parse_api_url, same_origin
from hubspider.items import TagPage
from hubspider.losses import report_loss

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

PAGE_SIZE = 100  # the API's maximum


class LibrarySpider(Spider):
    name = "library"

    def __init__(self, *args: Any, api_url: str = "https://hub.docker.com", **kwargs: Any) -> None:
        self.arguments = CrawlArguments.parse(kwargs)
        super().__init__(*args, **kwargs)
        self.namespace = self.arguments.namespace
        self.api_url = api_url
        self.started_at = datetime.now(UTC)

    @classmethod
    def check_arguments(cls, settings: BaseSettings, arguments: dict[str, Any]) -> None:
        """Raise ArgumentError before the crawl starts, so the user gets one line."""
        CrawlArguments.parse(arguments)
        parse_api_url(settings.get("HUB_API_URL"))

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        api_url = parse_api_url(crawler.settings.get("HUB_API_URL"))
        return super().from_crawler(crawler, *args, api_url=api_url, **kwargs)

    async def start(self) -> AsyncIterator[Request]:
        if self.arguments.repositories is None:
            url = f"{self.api_url}/v2/repositories/{self.namespace}/?page_size={PAGE_SIZE}"
            yield Request(url, callback=self.parse_repositories, errback=self.page_failed)
        else:
            for name in self.arguments.repositories:
                yield self.tags_request(name)

    def tags_request(self, repository: str) -> Request:
        url = (
            f"{self.api_url}/v2/repositories/{self.namespace}/{quote(repository)}/tags"
            f"?page_size={PAGE_SIZE}&ordering=last_updated"
        )
        return Request(
            url, callback=self.parse_tags, errback=self.page_failed, cb_kwargs={"repository": repository}
        )

    def parse_repositories(self, response: Response) -> Iterator[Request]:
        page = self.read_page(response)
        if page is None:
            return
        yield from self.follow_next(response, page, self.parse_repositories, {})
        self.crawler.stats.inc_value("hubspider/repositories", len(page["results"]))
        for repository in page["results"]:
            name = repository.get("name") if isinstance(repository, dict) else None
            if not isinstance(name, str) or not name:
                report_loss(
                    self.crawler, "repository", f"entry {repository!r:.80} of {response.url}", "no name"
                )
                continue
            yield self.tags_request(name)

    def parse_tags(self, response: Response, repository: str) -> Iterator[Request | TagPage]:
        page = self.read_page(response)
        if page is None:
            return
        yield from self.follow_next(response, page, self.parse_tags, {"repository": repository})
        yield TagPage(self.namespace, repository, response.url, page["results"])

    def read_page(self, response: Response) -> dict[str, Any] | None:
        """The page's JSON if it has the paginated shape; otherwise the page is lost."""
        self.crawler.stats.inc_value("hubspider/pages")
        try:
            page = json.loads(response.body)
        except ValueError as error:
            content_type = response.headers.get("Content-Type", b"").decode("latin-1") or "no Content-Type"
            report_loss(self.crawler, "page", response.url, f"body is not JSON ({content_type}: {error})")
            return None
        if not isinstance(page, dict):
            report_loss(
                self.crawler, "page", response.url, f"expected a JSON object, got {type(page).__name__}"
            )
            return None
        if not isinstance(page.get("results"), list):
            report_loss(self.crawler, "page", response.url, "'results' is missing or not a list")
            return None
        if not isinstance(page.get("next"), str | None):
            report_loss(self.crawler, "page", response.url, "'next' is neither a URL nor null")
            return None
        return page

    def follow_next(
        self, response: Response, page: dict[str, Any], callback: Any, cb_kwargs: dict[str, Any]
    ) -> Iterator[Request]:
        next_url = page["next"]
        if not next_url:
            return
        if not same_origin(next_url, self.api_url):
            reason = f"refused its 'next' link {next_url!r}: it leaves {self.api_url}"
            report_loss(self.crawler, "page", response.url, reason)
            return
        yield Request(next_url, callback=callback, errback=self.page_failed, cb_kwargs=cb_kwargs)

    def page_failed(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        if failure.check(HttpError):
            response = failure.value.response
            reason = f"HTTP {response.status}"
            try:
                message = json.loads(response.body).get("message")
            except (ValueError, AttributeError):
                message = None
            if isinstance(message, str) and message:
                reason += f" ({message})"
        else:
            reason = f"{failure.type.__name__}: {failure.getErrorMessage()}"
        report_loss(self.crawler, "page", request.url, reason)
