"""Scrapy's feed exporter, made to fail loudly and to say when a page is on disk.

Scrapy's own one calls the exporters inside the `item_scraped` signal, whose dispatch logs
an exception with its traceback and goes on: a full disk or a vanished directory gave a
traceback per page, an export cut short, and exit status 0. Here a feed that cannot be
written is a loss, named once, the crawl stops, and the page is marked unwritten so that
the journal does not count it done. `sync` puts what the feeds hold on disk (fsync), so
that the journal counts a page done only once a power cut cannot take it back.
"""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.extensions.feedexport import FeedExporter as ScrapyFeedExporter
from scrapy.utils.defer import deferred_from_coro

from hubspider import stats
from hubspider.items import DigestRecords
from hubspider.losses import report_loss
from hubspider.preflight import feed_file

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy.extensions.feedexport import FeedSlot

FEED_FAILED = "feed_failed"


class FeedExporter(ScrapyFeedExporter):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.crawler = crawler
        self.failed = False
        # Duplicates of the feed files' descriptors: they can be synced after Scrapy closed the files.
        self.descriptors: dict[str, int] = {}

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        exporter = super().from_crawler(crawler)
        crawler.signals.connect(exporter.close_descriptors, signals.engine_stopped)
        return exporter

    def local_feeds(self) -> list[tuple[str, str]]:
        """(resolved path, format) of each feed this crawl writes to a local file."""
        return [(str(path.resolve()), slot.format) for slot in self.slots if (path := feed_file(slot.uri))]

    def item_scraped(self, item: Any, spider: Spider) -> None:
        if any(self.feeds[slot.uri_template]["batch_item_count"] for slot in self.slots):
            super().item_scraped(item, spider)  # batches: Scrapy's own handling
            return
        if self.failed:
            self._unwritten(item)
            return
        for slot in self.slots:
            if not slot.filter.accepts(item):
                continue
            try:
                slot.start_exporting()
                assert slot.exporter is not None
                slot.exporter.export_item(item)
            except OSError as error:
                self._fail(slot, error)
                self._unwritten(item)
                return
            slot.itemcount += 1
            self._keep_descriptor(slot)

    async def _close_slot(self, slot: FeedSlot, spider: Spider) -> None:
        # Scrapy's would log a failure to finish or close a feed with a traceback, and go on.
        try:
            if slot.itemcount:
                slot.finish_exporting()
            if slot.file is not None:
                slot.file.flush()
        except OSError as error:
            self._fail(slot, error)
        if not self.failed:
            await super()._close_slot(slot, spider)
        elif slot.file is not None:
            # Named already: what could not be written is lost, and the journal knows.
            with contextlib.suppress(OSError):
                slot.file.close()

    def _keep_descriptor(self, slot: FeedSlot) -> None:
        if slot.uri in self.descriptors or feed_file(slot.uri) is None:
            return
        # A feed that is not a plain file (post-processing) has no descriptor: nothing to sync.
        with contextlib.suppress(AttributeError, OSError, ValueError):
            self.descriptors[slot.uri] = os.dup(slot.file.fileno())  # type: ignore[union-attr]

    def sync(self) -> bool:
        """Put every feed's data on disk; False (and the crawl stopped) if a feed cannot."""
        for uri, descriptor in self.descriptors.items():
            try:
                os.fsync(descriptor)
            except OSError as error:
                self._fail(uri, error)
                return False
        return not self.failed

    def _fail(self, slot: FeedSlot | str, error: OSError) -> None:
        """Name the feed and the error once, and stop the crawl: every further page would fail too."""
        if self.failed:
            return
        self.failed = True
        uri = slot if isinstance(slot, str) else slot.uri
        reason = f"could not be written: {error.strerror or error}; the crawl stops here"
        report_loss(self.crawler, "feed", uri, reason)
        assert self.crawler.engine is not None
        deferred_from_coro(self.crawler.engine.close_spider_async(reason=FEED_FAILED))

    def _unwritten(self, item: Any) -> None:
        if isinstance(item, DigestRecords):
            item.unwritten = True
            self.crawler.stats.inc_value(stats.FEED_PAGES_UNWRITTEN)

    def close_descriptors(self) -> None:
        for descriptor in self.descriptors.values():
            os.close(descriptor)
        self.descriptors.clear()
