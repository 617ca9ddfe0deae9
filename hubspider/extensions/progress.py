"""Progress of a long crawl, every HUB_PROGRESS_INTERVAL seconds, and a closing summary.

Replaces Scrapy's LogStats, whose "items" are pages here. The totals come from the API:
the repository listing's `count`, and each repository's first tags page's `count`.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import create_looping_call

from hubspider import stats

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.utils.asyncio import AsyncioLoopingCall
    from twisted.internet.task import LoopingCall

logger = logging.getLogger(__name__)


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


class Progress:
    def __init__(self, crawler: Crawler, interval: float) -> None:
        self.stats = crawler.stats
        self.interval = interval
        self.started = time.monotonic()
        self.requests_before = 0
        self.task: AsyncioLoopingCall | LoopingCall | None = None
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        interval = crawler.settings.getfloat("HUB_PROGRESS_INTERVAL")
        if interval <= 0:
            raise NotConfigured
        return cls(crawler, interval)

    def spider_opened(self) -> None:
        self.started = time.monotonic()
        self.task = create_looping_call(self.log_progress)
        self.task.start(self.interval, now=False)

    def value(self, name: str) -> int:
        return self.stats.get_value(name, 0)

    def eta(self, elapsed: float) -> str:
        total, done = self.value(stats.TAGS_TOTAL), self.value(stats.TAGS_RECEIVED)
        if self.value(stats.REPOSITORIES_COUNTED) < self.value(stats.REPOSITORIES_TOTAL):
            return "ETA once every repository's first page is in"
        if not done or elapsed <= 0:
            return "ETA unknown"
        return f"ETA {_duration(max(total - done, 0) / (done / elapsed))}"

    def log_progress(self) -> None:
        elapsed = time.monotonic() - self.started
        requests = self.value("downloader/request_count")
        rate = (requests - self.requests_before) / self.interval
        self.requests_before = requests
        logger.info(
            "Progress: %d/%d repositories, %d/%d tags, %d records exported, %.1f requests/s, %d 429s, %s",
            self.value(stats.REPOSITORIES_DONE),
            self.value(stats.REPOSITORIES_TOTAL),
            self.value(stats.TAGS_RECEIVED),
            self.value(stats.TAGS_TOTAL),
            self.value(stats.RECORDS_EXPORTED),
            rate,
            self.value(stats.RATELIMIT_429),
            self.eta(elapsed),
        )

    def spider_closed(self, reason: str) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
        elapsed = time.monotonic() - self.started
        requests = self.value("downloader/request_count")
        logger.info(
            "Crawl %s in %s: %d/%d repositories, %d/%d tags, %d records exported, %d requests "
            "(%.1f/s), %d 429s",
            reason,
            _duration(elapsed),
            self.value(stats.REPOSITORIES_DONE),
            self.value(stats.REPOSITORIES_TOTAL),
            self.value(stats.TAGS_RECEIVED),
            self.value(stats.TAGS_TOTAL),
            self.value(stats.RECORDS_EXPORTED),
            requests,
            requests / elapsed if elapsed > 0 else 0.0,
            self.value(stats.RATELIMIT_429),
        )
