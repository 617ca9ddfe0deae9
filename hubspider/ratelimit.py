"""Keep to Docker Hub's rate limit, and back off between retries.

Scrapy's RetryMiddleware ignores `Retry-After` and AutoThrottle does not slow down for a
fast 429, so this middleware owns the pace: it reads `X-RateLimit-*` from every response
and spreads the remaining requests over the rest of the window; on a 429 it holds every
request to the API until the time Hub names (or backs off exponentially on a bare 429),
then sends the same request again without using up the retry budget.

Holding is bounded: the whole crawl may be held for HUB_RATELIMIT_MAX_WAIT seconds in all.
A hold that would go past that is not waited: the requests that meet it are lost and the
crawl stops, since every further request would meet the same limit. Every hold is logged
when it starts, and a stopping crawl (Ctrl-C) ends it at once.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, NoReturn

from scrapy.exceptions import IgnoreRequest, NotConfigured
from scrapy.utils.defer import deferred_from_coro

from hubspider.arguments import parse_api_url, same_origin

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.internet.defer import Deferred

logger = logging.getLogger(__name__)

BACKED_OFF_META = "hubspider_backed_off_for"
PACED_META = "hubspider_paced"
PUT_BACK_META = "hubspider_ratelimit_put_back"
# Sent a little after the window resets: clocks and rounding differ by milliseconds.
RESET_MARGIN = 0.05
# Spreading a window that resets hours ahead would hold each request for minutes, unlogged;
# past this the requests go, and an empty window then holds them openly (logged, budgeted).
PACING_INTERVAL_MAX = 10.0
# Concurrent 429s each move a hold a few milliseconds later: not worth a line each.
LOGGED_EXTENSION = 1.0
LONG_HOLD = 60.0
# Scrapy's graceful stop sends no signal before it waits for requests in progress, which
# includes one sleeping here: sleeps look this often whether the crawl is stopping.
STOP_CHECK_INTERVAL = 0.1
CLOSE_REASON = "rate_limited"


@dataclass(frozen=True)
class Hold:
    """Every request to the API waits until `until`: `seconds` from when Hub asked, for `cause`."""

    cause: str
    until: float
    seconds: float


class RateLimitedTooLong(IgnoreRequest):
    """Hub asked for a hold that what is left of HUB_RATELIMIT_MAX_WAIT cannot pay for."""

    def __init__(self, hold: Hold, left: float, cap: float) -> None:
        self.hold = hold
        self.left = left
        self.cap = cap
        super().__init__(
            f"Hub asked to wait {hold.seconds:.0f} s ({hold.cause}), more than the {left:.0f} s left "
            f"of HUB_RATELIMIT_MAX_WAIT ({cap:g} s for the whole crawl)"
        )

    def again(self) -> RateLimitedTooLong:
        """The same refusal for another request: an exception instance is raised once."""
        return RateLimitedTooLong(self.hold, self.left, self.cap)


def retry_at(response: Response, now: float) -> tuple[float, str] | None:
    """The unix time a 429 response says to come back at, and the header that said it."""
    if value := response.headers.get("X-Retry-After"):
        try:
            return float(value), "X-Retry-After"
        except ValueError:
            pass
    if value := response.headers.get("Retry-After"):
        text = value.decode("latin-1").strip()
        try:
            return now + float(text), "Retry-After"
        except ValueError:
            pass
        try:
            return parsedate_to_datetime(text).timestamp(), "Retry-After"
        except (TypeError, ValueError):
            pass
    return None


def utc(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Pacer:
    """When the next request to the API may go: one schedule, and one waiting budget, for the crawl."""

    def __init__(self, clock: Callable[[], float] = time.time, max_wait: float = math.inf) -> None:
        self.clock = clock
        self.max_wait = max_wait
        self.next_send = 0.0
        self.interval = 0.0
        self.blocked_until = 0.0
        self.in_flight = 0
        self.held = 0.0
        self.refused: RateLimitedTooLong | None = None

    @property
    def wait_left(self) -> float:
        return max(self.max_wait - self.held, 0.0)

    def reserve(self) -> float:
        """Take the next free turn; returns the time to send at."""
        turn = max(self.clock(), self.next_send, self.blocked_until)
        self.next_send = turn + self.interval
        return turn

    def observe(self, remaining: int, reset: float) -> Hold | None:
        """Spread what remains of the window's budget over the time left in it.

        An empty window is a hold until it resets: see `hold`.
        """
        now = self.clock()
        budget = remaining - self.in_flight
        if budget <= 0:
            self.interval = 0.0
            return self.hold(reset + RESET_MARGIN, "X-RateLimit-Remaining 0 until the window resets")
        self.interval = min(max(reset - now, 0.0) / budget, PACING_INTERVAL_MAX)
        return None

    def hold(self, until: float, cause: str) -> Hold | None:
        """Hold every request until `until`, paid from the crawl's waiting budget.

        Holds overlap, so only the time past the current one is paid. Returns the hold when
        it is worth a log line (it starts, or moves the current one notably later). Raises
        RateLimitedTooLong when the budget cannot pay; from then on every hold is refused.
        """
        if self.refused is not None:
            raise self.refused.again()
        now = self.clock()
        cost = until - max(self.blocked_until, now)
        if cost <= 0:
            return None
        hold = Hold(cause, until, until - now)
        if cost > self.wait_left:
            self.refused = RateLimitedTooLong(hold, self.wait_left, self.max_wait)
            raise self.refused.again()
        starts = self.blocked_until <= now
        self.held += cost
        self.blocked_until = until
        return hold if starts or cost >= LOGGED_EXTENSION else None


async def sleep_unless(seconds: float, stopping: Callable[[], bool]) -> bool:
    """Sleep `seconds`, or less if `stopping()` turns true; True when the whole sleep was slept."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not stopping():
        left = deadline - loop.time()
        if left <= 0:
            return True
        await asyncio.sleep(min(left, STOP_CHECK_INTERVAL))
    return False


class RateLimitMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("HUB_RATELIMIT_ENABLED"):
            raise NotConfigured
        self.crawler = crawler
        self.stats = crawler.stats
        self.api_url = parse_api_url(settings.get("HUB_API_URL"))
        self.backoff_base = settings.getfloat("HUB_BACKOFF_BASE")
        self.backoff_max = settings.getfloat("HUB_BACKOFF_MAX")
        self.pacer = Pacer(max_wait=settings.getfloat("HUB_RATELIMIT_MAX_WAIT"))
        self.bare_429_streak = 0
        self.closing: Deferred[None] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_base * 2 ** max(attempt - 1, 0), self.backoff_max)

    def stopping(self) -> bool:
        """Whether the crawl is ending: Ctrl-C (Crawler.stop) or a refused hold."""
        return self.closing is not None or not self.crawler.crawling

    async def process_request(self, request: Request) -> Request | None:
        if not same_origin(request.url, self.api_url):
            return None
        if self.pacer.refused is not None:
            self.give_up(self.pacer.refused)
        retry_times = request.meta.get("retry_times", 0)
        if retry_times and request.meta.get(BACKED_OFF_META) != retry_times:
            # An ordinary retry (5xx, reset, timeout, malformed page) waits before it goes.
            request.meta[BACKED_OFF_META] = retry_times
            if not await sleep_unless(self.backoff(retry_times), self.stopping):
                return self.put_back(request)
        while True:
            turn = self.pacer.reserve()
            delay = turn - self.pacer.clock()
            if delay <= 0:
                break
            if not await sleep_unless(delay, self.stopping):
                return self.put_back(request)
            if self.pacer.refused is not None:
                self.give_up(self.pacer.refused)
            if self.pacer.blocked_until <= self.pacer.clock():
                break
        self.pacer.in_flight += 1
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
        # The bearer token is added at download time only (hubspider/auth.py).
        again.headers.pop(b"Authorization", None)
        return again

    def give_up(self, refusal: RateLimitedTooLong) -> NoReturn:
        """The request is lost (the spider's errback names it, the refusal as the reason), and
        the crawl stops: every further request would meet the same limit."""
        self.stats.inc_value("hubspider/ratelimit/gave_up")
        self.stop_crawl(refusal)
        raise refusal.again()

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if not request.meta.pop(PACED_META, False):
            return response
        self.pacer.in_flight -= 1
        now = self.pacer.clock()
        remaining = response.headers.get("X-RateLimit-Remaining")
        reset = response.headers.get("X-RateLimit-Reset")
        if remaining is not None and reset is not None:
            try:
                window = int(float(remaining)), float(reset)
            except ValueError:
                self.stats.inc_value("hubspider/ratelimit/bad_headers")
            else:
                try:
                    self.log_hold(self.pacer.observe(*window))
                except RateLimitedTooLong as refusal:
                    if response.status == 429:
                        self.give_up(refusal)
                    # A good answer: the next request to go would be the one held, and lost;
                    # when none goes (the crawl was at its end), nothing is.
                    return response
        if response.status != 429:
            self.bare_429_streak = 0
            return response
        self.stats.inc_value("hubspider/ratelimit/429")
        if (asked := retry_at(response, now)) is not None:
            until, header = asked
            cause = f"429 with {header}"
        else:
            self.bare_429_streak += 1
            until = now + self.backoff(self.bare_429_streak)
            cause = f"bare 429, backing off (#{self.bare_429_streak})"
        try:
            self.log_hold(self.pacer.hold(until + RESET_MARGIN, cause))
        except RateLimitedTooLong as refusal:
            self.give_up(refusal)
        return request.replace(dont_filter=True)

    def log_hold(self, hold: Hold | None) -> None:
        self.stats.set_value("hubspider/ratelimit/held_seconds", round(self.pacer.held, 3))
        if hold is None:
            return
        self.stats.inc_value("hubspider/ratelimit/holds")
        logger.log(
            logging.WARNING if hold.seconds > LONG_HOLD else logging.INFO,
            "Rate limited by Hub (%s): holding every request to the API for %.1f s, until %s "
            "(%.0f s of HUB_RATELIMIT_MAX_WAIT left)",
            hold.cause,
            hold.seconds,
            utc(hold.until),
            self.pacer.wait_left,
        )

    def stop_crawl(self, refusal: RateLimitedTooLong) -> None:
        """Close the spider, once, saying why."""
        if self.closing is not None:
            return
        engine = self.crawler.engine
        if engine is None or engine.spider is None:
            return
        logger.error(
            "Rate limited by Hub beyond HUB_RATELIMIT_MAX_WAIT: %s, until %s. Stopping the crawl; "
            "run it again later (with JOBDIR, the same command resumes it), or raise the setting",
            refusal,
            utc(refusal.hold.until),
        )
        # Scheduled, not awaited: closing waits for this very request to be done.
        self.closing = deferred_from_coro(engine.close_spider_async(reason=CLOSE_REASON))

    def process_exception(self, request: Request, exception: Exception) -> None:
        if request.meta.pop(PACED_META, False):
            self.pacer.in_flight -= 1
