"""Keep to each origin's rate limit (hubspider/ratelimit.py), and back off between retries.

Every origin a crawl talks to (the Hub API today; a registry and its token service next) has
its own window, its own 429s and its own waiting budget, so each gets its own Pacer.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, NoReturn

from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.defer import deferred_from_coro

from hubspider import stats
from hubspider.config import hub_config
from hubspider.downloadermiddlewares.pulls import pull_limit_answer
from hubspider.origins import origin_of
from hubspider.ratelimit import (
    CLOSE_REASON,
    LONG_HOLD,
    RESET_MARGIN,
    Hold,
    Pacer,
    RateLimitedTooLong,
    retry_at,
    sleep_unless,
)
from hubspider.timestamps import utc_timestamp

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.internet.defer import Deferred

logger = logging.getLogger(__name__)

BACKED_OFF_META = "hubspider_backed_off_for"
PACED_META = "hubspider_paced"
PUT_BACK_META = "hubspider_ratelimit_put_back"


class RateLimitMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("HUB_RATELIMIT_ENABLED"):
            raise NotConfigured
        self.crawler = crawler
        self.stats = crawler.stats
        self.backoff_base = settings.getfloat("HUB_BACKOFF_BASE")
        self.backoff_max = settings.getfloat("HUB_BACKOFF_MAX")
        self.max_wait = settings.getfloat("HUB_RATELIMIT_MAX_WAIT")
        # The name each origin has in log lines.
        config = hub_config(crawler)
        self.names = {origin_of(config.api_url): "Hub", origin_of(config.registry_url): "the registry"}
        self.pacers: dict[str, Pacer] = {}
        self.bare_429_streaks: dict[str, int] = {}
        self.closing: Deferred[None] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_base * 2 ** max(attempt - 1, 0), self.backoff_max)

    def stopping(self) -> bool:
        """Whether the crawl is ending: Ctrl-C (Crawler.stop) or a refused hold."""
        return self.closing is not None or not self.crawler.crawling

    def pacer_for(self, request: Request) -> Pacer:
        origin = origin_of(request.url)
        pacer = self.pacers.get(origin)
        if pacer is None:
            pacer = self.pacers[origin] = Pacer(max_wait=self.max_wait)
        return pacer

    async def process_request(self, request: Request) -> Request | None:
        pacer = self.pacer_for(request)
        if pacer.refused is not None:
            self.give_up(pacer.refused, request)
        retry_times = request.meta.get("retry_times", 0)
        if retry_times and request.meta.get(BACKED_OFF_META) != retry_times:
            # An ordinary retry (5xx, reset, timeout, malformed page) waits before it goes.
            request.meta[BACKED_OFF_META] = retry_times
            if not await sleep_unless(self.backoff(retry_times), self.stopping):
                return self.put_back(request)
        while True:
            turn = pacer.reserve()
            delay = turn - pacer.clock()
            if delay <= 0:
                break
            if not await sleep_unless(delay, self.stopping):
                return self.put_back(request)
            if pacer.refused is not None:
                self.give_up(pacer.refused, request)
            if pacer.blocked_until <= pacer.clock():
                break
        pacer.in_flight += 1
        request.meta[PACED_META] = True
        return None

    def put_back(self, request: Request) -> Request:
        """Return the request unsent: a stopping engine never reads the scheduler again, so
        the page is unfinished (and a JOBDIR crawl asks for it on resuming), not lost."""
        if request.meta.get(PUT_BACK_META):
            # engine.download_async (the sign-in request) sends a returned request again.
            raise IgnoreRequest("the crawl is stopping")
        again = request.replace(dont_filter=True)
        again.meta[PUT_BACK_META] = True
        # The bearer token is added at download time only (downloadermiddlewares/auth.py).
        again.headers.pop(b"Authorization", None)
        return again

    def give_up(self, refusal: RateLimitedTooLong, request: Request) -> NoReturn:
        """The request is lost (the spider's errback names it, the refusal as the reason), and
        the crawl stops: every further request would meet the same limit."""
        self.stats.inc_value(stats.RATELIMIT_GAVE_UP)
        self.stop_crawl(refusal, self.name(request))
        raise refusal.again()

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if not request.meta.pop(PACED_META, False):
            return response
        pacer = self.pacer_for(request)
        pacer.in_flight -= 1
        now = pacer.clock()
        if pull_limit_answer(request, response):
            # The registry's pull window, used up for hours: the pull-limit middleware defers
            # the request to the next run; holding or retrying it would only wait in vain.
            return response
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset = response.headers.get("X-RateLimit-Reset")
        if remaining is not None and reset is not None:
            try:
                window = int(float(remaining)), float(reset)
            except ValueError:
                self.stats.inc_value(stats.RATELIMIT_BAD_HEADERS)
            else:
                try:
                    self.log_hold(pacer.observe(*window), request)
                except RateLimitedTooLong as refusal:
                    if response.status == 429:
                        self.give_up(refusal, request)
                    # A good answer: the next request to go would be the one held, and lost;
                    # when none goes (the crawl was at its end), nothing is.
                    return response
        origin = origin_of(request.url)
        if response.status != 429:
            self.bare_429_streaks.pop(origin, None)
            return response
        self.stats.inc_value(stats.RATELIMIT_429)
        if (asked := retry_at(response, now)) is not None:
            until, header = asked
            cause = f"429 with {header}"
        else:
            streak = self.bare_429_streaks[origin] = self.bare_429_streaks.get(origin, 0) + 1
            until = now + self.backoff(streak)
            cause = f"bare 429, backing off (#{streak})"
        try:
            self.log_hold(pacer.hold(until + RESET_MARGIN, cause), request)
        except RateLimitedTooLong as refusal:
            self.give_up(refusal, request)
        again = request.replace(dont_filter=True)
        # The retry goes back to the scheduler: a bearer token is added at download time only.
        again.headers.pop(b"Authorization", None)
        return again

    def name(self, request: Request) -> str:
        origin = origin_of(request.url)
        return self.names.get(origin, origin)

    def log_hold(self, hold: Hold | None, request: Request) -> None:
        held = sum(pacer.held for pacer in self.pacers.values())
        self.stats.set_value(stats.RATELIMIT_HELD_SECONDS, round(held, 3))
        if hold is None:
            return
        self.stats.inc_value(stats.RATELIMIT_HOLDS)
        name = self.name(request)
        logger.log(
            logging.WARNING if hold.seconds > LONG_HOLD else logging.INFO,
            "Rate limited by %s (%s): holding every request to %s for %.1f s, until %s "
            "(%.0f s of HUB_RATELIMIT_MAX_WAIT left)",
            name,
            hold.cause,
            "the API" if name == "Hub" else name,
            hold.seconds,
            utc_timestamp(hold.until),
            self.pacer_for(request).wait_left,
        )

    def stop_crawl(self, refusal: RateLimitedTooLong, name: str) -> None:
        """Close the spider, once, saying why."""
        if self.closing is not None:
            return
        engine = self.crawler.engine
        if engine is None or engine.spider is None:
            return
        logger.error(
            "Rate limited by %s beyond HUB_RATELIMIT_MAX_WAIT: %s, until %s. Stopping the crawl; "
            "run it again later (with JOBDIR, the same command resumes it), or raise the setting",
            name,
            refusal,
            utc_timestamp(refusal.hold.until),
        )
        # Scheduled, not awaited: closing waits for this very request to be done.
        self.closing = deferred_from_coro(engine.close_spider_async(reason=CLOSE_REASON))

    def process_exception(self, request: Request, exception: Exception) -> None:
        if request.meta.pop(PACED_META, False):
            self.pacer_for(request).in_flight -= 1
