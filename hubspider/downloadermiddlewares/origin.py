"""Every request stays on the origin it is for: redirects judged before they are followed."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urljoin

from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from w3lib.url import safe_url_string

from hubspider import stats
from hubspider.config import hub_config
from hubspider.losses import report_loss
from hubspider.origins import same_origin

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response


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
        return cls(crawler, hub_config(crawler).api_url)

    def process_request(self, request: Request) -> None:
        if not same_origin(request.url, self.api_url):
            self.crawler.stats.inc_value(stats.OFFSITE_REFUSED)
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
        self.crawler.stats.inc_value(stats.OFFSITE_REFUSED if offsite else stats.REDIRECT_REFUSED)
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
