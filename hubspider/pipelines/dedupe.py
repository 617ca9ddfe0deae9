"""Export each record once, although offset paging can serve a tag on two pages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hubspider import stats
from hubspider.extensions.journal import CrawlJournal
from hubspider.items import DigestRecords
from hubspider.records import record_key

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler


class DedupePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.seen: set[bytes] = set()

    def open_spider(self) -> None:
        # On resume, what earlier runs exported is not exported again.
        journal = self.crawler.get_extension(CrawlJournal)
        if journal is not None:
            self.seen |= journal.earlier_keys

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, DigestRecords):
            return item
        unique = []
        for record in item.records:
            key = record_key(record)
            if key not in self.seen:
                self.seen.add(key)
                unique.append(record)
        if duplicates := len(item.records) - len(unique):
            self.stats.inc_value(stats.RECORDS_DUPLICATE, duplicates)
        item.records = unique
        return item
