"""Retry a page whose body is not JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.downloadermiddlewares.retry import get_retry_request

from hubspider.hub.pages import NOT_JSON, PAGE_META, page_problem

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response


class MalformedPageRetryMiddleware:
    """Retry a 200 whose body is not JSON: Hub sometimes answers with HTML or cut-off JSON.

    JSON of the wrong shape would come again as it is: it goes to the spider at once, which
    refuses the page as lost, as does a body still malformed after the retries.
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
        if problem is None or not problem.startswith(NOT_JSON):
            return response
        spider = self.crawler.spider
        assert spider is not None, "responses only come while a spider is open"
        retry = get_retry_request(request, spider=spider, reason=f"malformed page: {problem.split(' (')[0]}")
        return retry or response
