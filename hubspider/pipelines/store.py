"""Write every digest record into the SQLite store, with when it was first and last seen.

SQLite's work (about as much CPU as the rest of the crawl) runs in a writer process of its
own (`hubspider.store.writer`), fed each page as orjson over a socket. The store may lag
behind the export: the journal counts a page done only once the writer has committed it,
and a resumed crawl has the writer put what earlier runs exported into the store again
(idempotent), so after a crash the store still holds every exported record and every
repository read whole. A store that fails stops the crawl at once, as lost data.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro

from hubspider import stats
from hubspider.config import hub_config
from hubspider.extensions.journal import CrawlJournal
from hubspider.items import DigestRecords
from hubspider.losses import report_loss
from hubspider.resume.repair import JSON_LINES_FORMATS
from hubspider.spiders.base import hub_spider
from hubspider.store.process import WriterProcess

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

    from hubspider.planning import PageDone

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Sent:
    """A page the writer has been sent and has not committed yet."""

    sequence: int
    page: PageDone | None
    records: int
    unchanged_rest: bool
    completes: bool


class StorePipeline:
    def __init__(self, crawler: Crawler, path: str) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.path = Path(path)
        self.writer: WriterProcess | None = None
        self.journal: CrawlJournal | None = None
        self.sent: deque[_Sent] = deque()
        self.store_failed = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        config = hub_config(crawler)
        if not config.store_enabled:
            raise NotConfigured
        return cls(crawler, config.store_path)

    async def open_spider(self) -> None:
        self.journal = self.crawler.get_extension(CrawlJournal)
        self.writer = WriterProcess(self.path, hub_spider(self.crawler).seen_at, listener=self)
        await self.writer.start()
        if self.journal is not None and self.journal.resuming:
            for path in self.journal.earlier_feeds(JSON_LINES_FORMATS):
                self.writer.send_import(path)

    async def process_item(self, item: Any) -> Any:
        if not isinstance(item, DigestRecords) or self.store_failed or self.writer is None:
            return item
        if item.page is not None:
            item.page.waiting.add("store")
        sequence = await self.writer.send_page(item)
        self.sent.append(_Sent(sequence, item.page, len(item.records), item.unchanged_rest, item.completes))
        return item

    def close_spider(self) -> None:
        if self.writer is not None:
            self.writer.close()

    # What the writer says, in the crawl's thread.

    def committed(self, sequence: int) -> None:
        """Tell the journal which pages the store holds."""
        while self.sent and self.sent[0].sequence <= sequence:
            sent = self.sent.popleft()
            self.stats.inc_value(stats.STORE_RECORDS, sent.records)
            if sent.unchanged_rest:
                self.stats.inc_value(stats.STORE_REPOSITORIES_CARRIED_FORWARD)
            if sent.completes:
                self.stats.inc_value(stats.STORE_REPOSITORIES_COMPLETE)
            if self.journal is not None and sent.page is not None:
                self.journal.confirm(sent.page, "store")

    def imported(self, records: int, path: str) -> None:
        logger.info("Stored again the %d records of an earlier run in %s", records, path)

    def failed(self, problem: str) -> None:
        """The store failed (a full disk, a lock held too long, the writer killed): the
        pages it has not committed are not done, and the crawl stops now."""
        if self.store_failed:
            return
        self.store_failed = True
        report_loss(self.crawler, "store", str(self.path), f"{problem}; the crawl stops here")
        assert self.crawler.engine is not None
        deferred_from_coro(self.crawler.engine.close_spider_async(reason="store_failed"))

    def exited(self, usage: dict[str, float]) -> None:
        self.stats.set_value(stats.STORE_WRITER_PEAK_RSS_MB, round(usage["peak_rss_mb"]))
        self.stats.set_value(stats.STORE_WRITER_CPU_SECONDS, round(usage["cpu_seconds"], 1))
