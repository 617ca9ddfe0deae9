"""The crawl journal in JOBDIR: each page written as done once every feed and the store hold
its records, and, on resume, what the earlier runs did (see hubspider/resume/)."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.job import job_dir

from hubspider import stats
from hubspider.extensions.feedexport import FeedExporter
from hubspider.items import DigestRecords
from hubspider.losses import data_lost, report_loss
from hubspider.planning import Loss
from hubspider.resume.entries import (
    FeedFile,
    Run,
    encode_loss,
    encode_page,
    encode_run,
    journal_path,
    read_journal,
)
from hubspider.resume.repair import earlier_feeds, repair_feeds
from hubspider.resume.replay import replay
from hubspider.spiders.base import HubSpider

if TYPE_CHECKING:
    from collections.abc import Collection
    from typing import Self

    from scrapy.crawler import Crawler

    from hubspider.planning import PageDone

logger = logging.getLogger(__name__)

# Done pages are written in groups, each after one fsync of the feeds: at most ten a second.
SYNC_INTERVAL = 0.1


class CrawlJournal:
    def __init__(self, crawler: Crawler, jobdir: str) -> None:
        self.crawler = crawler
        # Scrapy makes the spider before the extensions: it reads the journal from there.
        if isinstance(crawler.spider, HubSpider):
            crawler.spider.journal = self
        path = journal_path(jobdir)
        path.parent.mkdir(parents=True, exist_ok=True)
        journal = read_journal(path)
        self.runs = journal.runs
        self.earlier_losses = journal.losses
        #: Where the earlier runs got to: what the spider resumes from.
        self.state = replay(journal.pages)
        self.resuming = bool(self.runs)
        #: When the crawl's first run started, if this is not it: the `seen_at` of its records.
        self.first_started_at = self.runs[0].started_at if self.runs else None
        #: `record_key` of each record the earlier runs exported: not exported again.
        self.earlier_keys: set[bytes] = set()
        if self.resuming:
            self._repair_earlier_feeds()
        self.file = path.open("ab")
        # Pages whose records every feed and the store hold, not yet synced and written.
        self.ready: list[PageDone] = []
        self.synced_at = time.monotonic()
        crawler.signals.connect(self.spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(self.data_lost, signal=data_lost)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        jobdir = job_dir(crawler.settings)
        spider = crawler.spider
        if not jobdir or (isinstance(spider, HubSpider) and not spider.resumable):
            raise NotConfigured
        return cls(crawler, jobdir)

    def _repair_earlier_feeds(self) -> None:
        repair = repair_feeds(self.runs)
        for path, cut in repair.cut:
            logger.warning("Removed a broken last line (%d bytes) from %s", cut, path)
            self.crawler.stats.inc_value(stats.RESUME_BROKEN_LINES_REMOVED)
        self.earlier_keys = repair.keys
        logger.info(
            "Resuming: %d pages done, %d to go on from, %d records already exported",
            len(self.state.done),
            len(self.state.pending),
            len(self.earlier_keys),
        )

    def earlier_feeds(self, formats: Collection[str]) -> list[str]:
        """The local feed files of earlier runs in these formats, each once."""
        return earlier_feeds(self.runs, formats)

    def spider_opened(self, spider: HubSpider) -> None:
        exporter = self.crawler.get_extension(FeedExporter)
        local_feeds = exporter.local_feeds() if exporter is not None else []
        feeds = [FeedFile(path, feed_format) for path, feed_format in local_feeds]
        run = Run(spider.seen_at, spider.journal_arguments(), feeds)
        self.runs.append(run)
        self._write(encode_run(run))
        for loss in self.earlier_losses:
            if loss.page in self.state.done_urls:
                reason = f"{loss.reason} (earlier run)"
                report_loss(self.crawler, loss.kind, loss.what, reason, replay=True)

    def record_page(self, page: PageDone) -> None:
        """Write a page as done now: one whose records need no feed or store (a listing page)."""
        self._write(encode_page(page))

    def item_scraped(self, item: Any) -> None:
        # Connected after the FeedExporter, so this runs once the page is in every feed.
        if isinstance(item, DigestRecords) and item.page is not None and not item.unwritten:
            self.confirm(item.page, "feeds")

    def confirm(self, page: PageDone, holder: str) -> None:
        """`holder` has the page's records; once all have, the page is done."""
        page.waiting.discard(holder)
        if page.waiting:
            return
        self.ready.append(page)
        if time.monotonic() - self.synced_at >= SYNC_INTERVAL:
            self.sync()

    def sync(self) -> None:
        """Write the ready pages as done, once the feeds have their records on disk."""
        self.synced_at = time.monotonic()
        if not self.ready:
            return
        exporter = self.crawler.get_extension(FeedExporter)
        if exporter is not None and not exporter.sync():
            self.ready.clear()  # not on disk: a resume asks for these pages again
            return
        self._write(b"".join(map(encode_page, self.ready)))
        self.ready.clear()

    def data_lost(
        self, kind: str, what: str, reason: str, page: str | None = None, replay: bool = False
    ) -> None:
        if not replay:
            self._write(encode_loss(Loss(kind, what, reason, page)))

    def _write(self, lines: bytes) -> None:
        self.file.write(lines)
        self.file.flush()

    def spider_closed(self) -> None:
        self.sync()
        self.file.close()
