"""Downloader middlewares that are not about the rate limit or signing in."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.retry import get_retry_request

from hubspider.pages import PAGE_META, page_problem

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response


class MalformedPageRetryMiddleware:
    """Retry a 200 whose body is not a page: Hub sometimes answers with HTML or cut-off JSON.

    A page that is still malformed after the retries reaches the spider, which reports it lost.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if response.status != 200 or not request.meta.get(PAGE_META):
            return response
        problem = page_problem(response)
        if problem is None:
            return response
        retry = get_retry_request(
            request, spider=self.crawler.spider, reason=f"malformed page: {problem.split(' (')[0]}"
        )
        return retry or response
