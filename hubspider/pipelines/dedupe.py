"""Export each record once, although offset paging can serve a tag on two pages."""

from __future__ import annotations

from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from hubspider import stats
from hubspider.extensions.journal import CrawlJournal
from hubspider.items import DigestRecords
from hubspider.records import record_key, tag_key, tag_target

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Self

    from scrapy.crawler import Crawler

    from hubspider.records import DigestRecord

# Explode writes a tag's records one after the other: these fields change between tags only.
_TAG_OF = itemgetter("namespace", "repository", "tag")


class DedupePipeline:
    """Drops a tag served again pointing at the same target: a tag's records travel together,
    so one key a tag does the work of one key a record, for less than half the CPU."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.seen_tags: set[bytes] = set()
        # `record_key`s of what earlier runs of a resumed crawl exported: one of them may have
        # been stopped in the middle of a tag's records, so those are checked record by record.
        self.earlier: set[bytes] = set()

    def open_spider(self) -> None:
        journal = self.crawler.get_extension(CrawlJournal)
        if journal is not None:
            self.earlier = journal.earlier_keys

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, DigestRecords):
            return item
        unique: list[DigestRecord] = []
        for (namespace, repository, tag), grouped in groupby(item.records, _TAG_OF):
            records = list(grouped)
            key = tag_key(namespace, repository, tag, _target_of(records))
            if key in self.seen_tags:
                continue
            self.seen_tags.add(key)
            unique += self._not_exported_earlier(records) if self.earlier else records
        if duplicates := len(item.records) - len(unique):
            self.stats.inc_value(stats.RECORDS_DUPLICATE, duplicates)
        item.records = unique
        return item

    def _not_exported_earlier(self, records: Iterable[DigestRecord]) -> list[DigestRecord]:
        return [record for record in records if record_key(record) not in self.earlier]


def _target_of(records: list[DigestRecord]) -> str:
    """What the tag of these records pointed at, as explode and the store name it."""
    return tag_target(records[0]["tag_digest"], (record["digest"] for record in records))
