"""Keep to the registry's pull limit: a manifest GET is a pull, and a used-up window defers the
rest to the next run rather than losing it.

Requests marked PULL_META (hubspider/registry/meta.py) are counted: one that the window cannot
hold, counting the pulls still in flight, is refused before it goes; a 429 TOOMANYREQUESTS
(on a pull or any other registry request) marks the window used up. Both raise PullWindowUsed,
which the spider treats as deferred, never as lost, and which is never retried or held: the
window frees hours later, longer than a run waits. The crawl's PullBudget (`pull_budget(crawler)`)
holds what the closing report says.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from hubspider import stats
from hubspider.registry.meta import PULL_META, REGISTRY_SCOPE_META
from hubspider.registry.pulls import PullWindowUsed, parse_pull_header, pull_budget, too_many_requests
from hubspider.timestamps import utc_timestamp

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)

# Set while a pull is counted in flight; a retry that no answer settled (a 401 renewing the
# token, a 429 that is not the pull limit) is still the same pull in flight.
IN_FLIGHT_META = "hubspider_pull_in_flight"


def pull_limit_answer(request: Request, response: Response) -> bool:
    """Whether this is the registry refusing a pull: only registry requests are judged, so a
    Hub API 429 stays the rate-limit middleware's. A 429 that says when to come back
    (`Retry-After`, as MCR and distribution answer a burst) is a rate limit, which the rate-limit
    middleware waits out; Docker Hub's pull limit names no such time, its window being hours."""
    meta = request.meta
    return (
        bool(meta.get(PULL_META) or meta.get(REGISTRY_SCOPE_META))
        and b"Retry-After" not in response.headers
        and too_many_requests(response.status, response.body)
    )


class PullLimitMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats
        self.budget = pull_budget(crawler)
        self.in_flight = 0
        self.told = False
        self.clock = time.time

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_request(self, request: Request) -> None:
        if not request.meta.get(PULL_META) or request.meta.get(IN_FLIGHT_META):
            return
        if not self.budget.may_pull(self.in_flight):
            self.refuse()
            raise PullWindowUsed(
                f"{request.url}: the registry's pull window is used up ({self.budget.describe()}): "
                "deferred to the next run"
            )
        self.in_flight += 1
        request.meta[IN_FLIGHT_META] = True

    def process_response(self, request: Request, response: Response) -> Response:
        self.settle(request)
        if pull_limit_answer(request, response):
            self.stats.inc_value(stats.PULLS_429)
            self.budget.refused_by_registry(self.clock())
            self.refuse()
            raise PullWindowUsed(
                f"{request.url}: HTTP 429 TOOMANYREQUESTS, the registry's pull window is used up: "
                "deferred to the next run"
            )
        if request.meta.get(PULL_META):
            self.observe(response)
        return response

    def process_exception(self, request: Request, exception: Exception) -> None:
        self.settle(request)

    def settle(self, request: Request) -> None:
        if request.meta.pop(IN_FLIGHT_META, False):
            self.in_flight -= 1

    def observe(self, response: Response) -> None:
        if 200 <= response.status < 300:
            self.budget.made += 1
            self.stats.inc_value(stats.PULLS_MADE)
        limit_header = response.headers.get("ratelimit-limit")
        remaining_header = response.headers.get("ratelimit-remaining")
        if limit_header is None and remaining_header is None:
            # No headers: this registry (or this account) has no pull limit.
            return
        limit = parse_pull_header(limit_header.decode("latin-1")) if limit_header else None
        remaining = parse_pull_header(remaining_header.decode("latin-1")) if remaining_header else None
        if limit is None or remaining is None:
            self.stats.inc_value(stats.PULLS_BAD_HEADERS)
            return
        self.budget.observe(limit, remaining, self.clock())
        self.publish()
        if self.budget.exhausted:
            self.tell_used_up()

    def refuse(self) -> None:
        self.budget.refused += 1
        self.stats.inc_value(stats.PULLS_REFUSED)
        self.publish()
        self.tell_used_up()

    def publish(self) -> None:
        budget = self.budget
        if budget.limit is not None:
            self.stats.set_value(stats.PULLS_LIMIT, budget.limit)
        if budget.remaining is not None:
            self.stats.set_value(stats.PULLS_REMAINING, budget.remaining)
        if (resets_by := budget.resets_by(self.clock())) is not None:
            self.stats.set_value(stats.PULLS_RESETS_BY, utc_timestamp(resets_by))

    def tell_used_up(self) -> None:
        """Once: the closing report says what waits and until when."""
        if self.told:
            return
        self.told = True
        resets_by = self.budget.resets_by(self.clock())
        logger.info(
            "The registry's pull window is used up (%s): further pulls wait for the next run%s",
            self.budget.describe(),
            f"; it is whole again by {utc_timestamp(resets_by)}" if resets_by is not None else "",
        )
