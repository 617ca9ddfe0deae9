"""Every request stays on the origin it is for: redirects judged before they are followed."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from w3lib.url import safe_url_string

from hubspider import stats
from hubspider.config import hub_config
from hubspider.losses import report_loss
from hubspider.origins import same_origin
from hubspider.registry.meta import CONTENT_ADDRESSED_META, TOKEN_REQUEST_META

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
    target: str,
    url: str,
    earlier: list[str],
    api_url: str,
    max_redirects: int,
    *,
    origin_name: str = "API",
    any_origin: bool = False,
) -> str | None:
    """Why following a redirect from `url` (reached through `earlier` redirects) to `target` is
    refused, or None if it may be followed. The target must be on `api_url`'s origin (named
    `origin_name`), or with `any_origin` anywhere on http(s)."""
    chain = [*earlier, url]
    asked_for = f" (asked for {chain[0]})" if earlier else ""
    if any_origin:
        if not is_http(target):
            return f"redirected to {target}, not an http(s) URL{asked_for}: refused"
    elif not same_origin(target, api_url):
        return f"redirected off the {origin_name} origin to {target}{asked_for}: refused"
    if target in chain:
        loop = [*chain[chain.index(target) :], target]
        return f"redirect loop {' -> '.join(loop)}: refused"
    if len(earlier) >= max_redirects:
        return f"more than {max_redirects} redirects from {chain[0]}: refused"
    return None


def is_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class OriginMiddleware:
    """Every request stays on the origins the user named, HUB_API_URL's and HUB_REGISTRY_URL's
    scheme, host and port, so that no request, bearer token or PAT goes to a host the user did
    not name, and no other host's data is exported. Two exceptions, both for the registry: a
    token request goes to the token service the registry's challenge names (its credentials
    are the registry auth middleware's to judge), and a blob, whose content the spider checks
    against its digest, follows its redirect to any http(s) host (the registry's CDN).

    A redirect is judged before RedirectMiddleware follows it, so that the refusal fails the
    page the spider asked for (its errback counts it lost); a loop is refused at once too,
    because the dupe filter would otherwise drop the repeated request without a word.
    Any other request off the origins is refused when it is about to be sent. A redirect to a
    page already asked for, which the dupe filter drops, is reported lost.
    """

    def __init__(self, crawler: Crawler, api_url: str, registry_url: str) -> None:
        self.crawler = crawler
        self.api_url = api_url
        self.registry_url = registry_url
        self.follows_redirects = crawler.settings.getbool("REDIRECT_ENABLED")
        self.max_redirects = crawler.settings.getint("REDIRECT_MAX_TIMES")
        crawler.signals.connect(self.request_dropped, signal=signals.request_dropped)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        config = hub_config(crawler)
        return cls(crawler, config.api_url, config.registry_url)

    def process_request(self, request: Request) -> None:
        if self._may_go(request):
            return
        self.crawler.stats.inc_value(stats.OFFSITE_REFUSED)
        raise IgnoreRequest(f"{request.url} is off the API origin {self.api_url}: refused")

    def _may_go(self, request: Request) -> bool:
        url, meta = request.url, request.meta
        if same_origin(url, self.api_url) or same_origin(url, self.registry_url):
            return True
        if meta.get(TOKEN_REQUEST_META) or (meta.get(CONTENT_ADDRESSED_META) and meta.get("redirect_urls")):
            return is_http(url)
        return False

    def process_response(self, request: Request, response: Response) -> Response:
        if not self.follows_redirects or self._not_followed(request, response):
            return response
        target = redirect_target(response)
        if target is None:
            return response
        earlier = request.meta.get("redirect_urls", [])
        on_registry = same_origin(request.url, self.registry_url) and not same_origin(
            request.url, self.api_url
        )
        content_addressed = bool(request.meta.get(CONTENT_ADDRESSED_META))
        home = self.registry_url if on_registry else self.api_url
        problem = redirect_problem(
            target,
            request.url,
            earlier,
            home,
            self.max_redirects,
            origin_name="registry" if on_registry else "API",
            any_origin=content_addressed,
        )
        if problem is None:
            if content_addressed and not same_origin(target, request.url):
                self.crawler.stats.inc_value(stats.REGISTRY_CONTENT_REDIRECTS)
            return response
        offsite = not is_http(target) or (not content_addressed and not same_origin(target, home))
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
