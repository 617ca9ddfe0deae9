"""The pace of requests to a rate-limited origin, as pure logic: the clock is a parameter.

Scrapy's RetryMiddleware ignores `Retry-After` and AutoThrottle does not slow down for a
fast 429, so the rate-limit middleware (hubspider/downloadermiddlewares/ratelimit.py) owns
the pace: it reads `X-RateLimit-*` from every response
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
import math
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from scrapy.exceptions import IgnoreRequest

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy.http import Response

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


class Pacer:
    """When the next request to one origin may go: one schedule, and one waiting budget, for the crawl."""

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
