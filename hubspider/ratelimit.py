"""Keep to Docker Hub's rate limit, and back off between retries.

Scrapy's RetryMiddleware ignores `Retry-After` and AutoThrottle does not slow down for a
fast 429, so this middleware owns the pace: it reads `X-RateLimit-*` from every response
and spreads the remaining requests over the rest of the window; on a 429 it holds every
request to the API until the time Hub names (or backs off exponentially on a bare 429),
then sends the same request again without using up the retry budget.
"""

from __future__ import annotations

import asyncio
import logging
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured

from hubspider.arguments import parse_api_url, same_origin

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

WAITED_META = "hubspider_ratelimit_waited"
BACKED_OFF_META = "hubspider_backed_off_for"
# Sent a little after the window resets: clocks and rounding differ by milliseconds.
RESET_MARGIN = 0.05


def retry_at(response: Response, now: float) -> float | None:
    """The unix time a 429 response says to come back at, if it says."""
    if value := response.headers.get("X-Retry-After"):
        try:
            return float(value)
        except ValueError:
            pass
    if value := response.headers.get("Retry-After"):
        text = value.decode("latin-1").strip()
        try:
            return now + float(text)
        except ValueError:
            pass
        try:
            return parsedate_to_datetime(text).timestamp()
        except (TypeError, ValueError):
            pass
    return None


class Pacer:
    """When the next request to the API may go: one schedule for the whole slot."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.next_send = 0.0
        self.interval = 0.0
        self.blocked_until = 0.0
        self.in_flight = 0

    def reserve(self) -> float:
        """Take the next free turn; returns the time to send at."""
        turn = max(self.clock(), self.next_send, self.blocked_until)
        self.next_send = turn + self.interval
        return turn

    def observe(self, remaining: int, reset: float) -> None:
        """Spread what remains of the window's budget over the time left in it."""
        now = self.clock()
        budget = remaining - self.in_flight
        if budget <= 0:
            self.block(reset + RESET_MARGIN)
            self.interval = 0.0
        else:
            self.interval = max(reset - now, 0.0) / budget

    def block(self, until: float) -> None:
        self.blocked_until = max(self.blocked_until, until)


class RateLimitMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("HUB_RATELIMIT_ENABLED"):
            raise NotConfigured
        self.crawler = crawler
        self.stats = crawler.stats
        self.api_url = parse_api_url(settings.get("HUB_API_URL"))
        self.max_wait = settings.getfloat("HUB_RATELIMIT_MAX_WAIT")
        self.backoff_base = settings.getfloat("HUB_BACKOFF_BASE")
        self.backoff_max = settings.getfloat("HUB_BACKOFF_MAX")
        self.pacer = Pacer()
        self.bare_429_streak = 0

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_base * 2 ** max(attempt - 1, 0), self.backoff_max)

    async def process_request(self, request: Request) -> None:
        if not same_origin(request.url, self.api_url):
            return
        retry_times = request.meta.get("retry_times", 0)
        if retry_times and request.meta.get(BACKED_OFF_META) != retry_times:
            # An ordinary retry (5xx, reset, timeout, malformed page) waits before it goes.
            request.meta[BACKED_OFF_META] = retry_times
            await asyncio.sleep(self.backoff(retry_times))
        while True:
            turn = self.pacer.reserve()
            delay = turn - self.pacer.clock()
            if delay <= 0:
                break
            await asyncio.sleep(delay)
            if self.pacer.blocked_until <= self.pacer.clock():
                break
        self.pacer.in_flight += 1
        request.meta["hubspider_paced"] = True

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if not request.meta.pop("hubspider_paced", False):
            return response
        self.pacer.in_flight -= 1
        now = self.pacer.clock()
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset = response.headers.get("X-RateLimit-Reset")
        if remaining is not None and reset is not None:
            try:
                self.pacer.observe(int(float(remaining)), float(reset))
            except ValueError:
                self.stats.inc_value("hubspider/ratelimit/bad_headers")
        if response.status != 429:
            self.bare_429_streak = 0
            return response
        self.stats.inc_value("hubspider/ratelimit/429")
        until = retry_at(response, now)
        if until is None:
            self.bare_429_streak += 1
            until = now + self.backoff(self.bare_429_streak)
        self.pacer.block(until + RESET_MARGIN)
        wait = max(until - now, 0.0)
        waited = request.meta.get(WAITED_META, 0.0) + wait
        if waited > self.max_wait:
            self.stats.inc_value("hubspider/ratelimit/gave_up")
            logger.error(
                "Gave up on %s: rate limited for %.0f s, more than HUB_RATELIMIT_MAX_WAIT",
                request.url,
                waited,
            )
            return response
        self.stats.inc_value("hubspider/ratelimit/wait_seconds", round(wait, 3))
        logger.info("Rate limited by Hub: holding requests for %.1f s", wait)
        retry = request.replace(dont_filter=True)
        retry.meta[WAITED_META] = waited
        return retry

    def process_exception(self, request: Request, exception: Exception) -> None:
        if request.meta.pop("hubspider_paced", False):
            self.pacer.in_flight -= 1
