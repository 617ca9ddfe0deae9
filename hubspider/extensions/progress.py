"""Progress of a long crawl, every HUB_PROGRESS_INTERVAL seconds, and a closing summary.

Replaces Scrapy's LogStats, whose "items" are pages here. Each spider says what it has done
and how long the rest will take (`HubSpider.progress` and `eta`).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import create_looping_call

from hubspider import stats
from hubspider.spiders.base import duration, hub_spider

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.utils.asyncio import AsyncioLoopingCall
    from twisted.internet.task import LoopingCall

logger = logging.getLogger(__name__)


class Progress:
    def __init__(self, crawler: Crawler, interval: float) -> None:
        self.crawler = crawler
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

    def log_progress(self) -> None:
        elapsed = time.monotonic() - self.started
        requests = self.value("downloader/request_count")
        rate = (requests - self.requests_before) / self.interval
        self.requests_before = requests
        spider = hub_spider(self.crawler)
        logger.info(
            "Progress: %s, %.1f requests/s, %d 429s, %s",
            spider.progress(),
            rate,
            self.value(stats.RATELIMIT_429),
            spider.eta(elapsed),
        )

    def spider_closed(self, reason: str) -> None:
        if self.task is not None and self.task.running:
            self.task.stop()
        elapsed = time.monotonic() - self.started
        requests = self.value("downloader/request_count")
        logger.info(
            "Crawl %s in %s: %s, %d requests (%.1f/s), %d 429s",
            reason,
            duration(elapsed),
            hub_spider(self.crawler).progress(),
            requests,
            requests / elapsed if elapsed > 0 else 0.0,
            self.value(stats.RATELIMIT_429),
        )
