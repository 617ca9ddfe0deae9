"""Downloader middlewares that are not about the rate limit or signing in."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urljoin

from scrapy import signals
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import IgnoreRequest
from w3lib.url import safe_url_string

from hubspider.arguments import parse_api_url, same_origin
from hubspider.losses import report_loss
from hubspider.pages import NOT_JSON, PAGE_META, page_problem

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
        retry = get_retry_request(
            request, spider=self.crawler.spider, reason=f"malformed page: {problem.split(' (')[0]}"
        )
        return retry or response


# The answers Scrapy's RedirectMiddleware follows.
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def redirect_target(response: Response) -> str | None:
    """Where a redirect answer sends the request, resolved as RedirectMiddleware does; None if
    the answer is not one RedirectMiddleware follows."""
    location = response.headers.get("Location")
    if response.status not in REDIRECT_STATUSES or not location:
        return None
    return urljoin(response.url, safe_url_string(location))


def redirect_problem(
    target: str, url: str, earlier: list[str], api_url: str, max_redirects: int
) -> str | None:
    """Why following a redirect from `url` (reached through `earlier` redirects) to `target` is
    refused, or None if it may be followed."""
    chain = [*earlier, url]
    if not same_origin(target, api_url):
        asked_for = f" (asked for {chain[0]})" if earlier else ""
        return f"redirected off the API origin to {target}{asked_for}: refused"
    if target in chain:
        loop = [*chain[chain.index(target) :], target]
        return f"redirect loop {' -> '.join(loop)}: refused"
    if len(earlier) >= max_redirects:
        return f"more than {max_redirects} redirects from {chain[0]}: refused"
    return None


class OriginMiddleware:
    """Every request stays on HUB_API_URL's scheme, host and port, so that no request, bearer
    token or PAT goes to a host the user did not name, and no other host's data is exported.

    A redirect is judged before RedirectMiddleware follows it, so that the refusal fails the
    page the spider asked for (its errback counts it lost); a loop is refused at once too,
    because the dupe filter would otherwise drop the repeated request without a word.
    Any other request off the origin is refused when it is about to be sent. A redirect to a
    page already asked for, which the dupe filter drops, is reported lost.
    """

    def __init__(self, crawler: Crawler, api_url: str) -> None:
        self.crawler = crawler
        self.api_url = api_url
        self.follows_redirects = crawler.settings.getbool("REDIRECT_ENABLED")
        self.max_redirects = crawler.settings.getint("REDIRECT_MAX_TIMES")
        crawler.signals.connect(self.request_dropped, signal=signals.request_dropped)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler, parse_api_url(crawler.settings.get("HUB_API_URL")))

    def process_request(self, request: Request) -> None:
        if not same_origin(request.url, self.api_url):
            self.crawler.stats.inc_value("hubspider/offsite/refused")
            raise IgnoreRequest(f"{request.url} is off the API origin {self.api_url}: refused")

    def process_response(self, request: Request, response: Response) -> Response:
        if not self.follows_redirects or self._not_followed(request, response):
            return response
        target = redirect_target(response)
        if target is None:
            return response
        earlier = request.meta.get("redirect_urls", [])
        problem = redirect_problem(target, request.url, earlier, self.api_url, self.max_redirects)
        if problem is None:
            return response
        offsite = not same_origin(target, self.api_url)
        self.crawler.stats.inc_value("hubspider/offsite/refused" if offsite else "hubspider/redirect/refused")
        raise IgnoreRequest(problem)

    def request_dropped(self, request: Request) -> None:
        """The dupe filter drops a redirect to a URL already seen, and with it the page that
        was asked for: report that page lost, or it would be missing without a word."""
        earlier = request.meta.get("redirect_urls")
        if not earlier:
            return
        reason = f"redirected to {request.url}, a page already asked for: dropped"
        report_loss(self.crawler, "page", earlier[0], reason)

    def _not_followed(self, request: Request, response: Response) -> bool:
        """RedirectMiddleware leaves these answers to whoever asked (the sign-in does)."""
        meta = request.meta
        return bool(
            meta.get("dont_redirect")
            or meta.get("handle_httpstatus_all")
            or response.status in meta.get("handle_httpstatus_list", ())
            or response.status in getattr(self.crawler.spider, "handle_httpstatus_list", ())
        )
