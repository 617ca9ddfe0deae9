"""Turn each page of tags into the digest records of its tags."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from hubspider import stats
from hubspider.items import DigestRecords, TagPage
from hubspider.records import TagSeen, tag_records, tag_target
from hubspider.spiders.base import hub_spider

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

    from hubspider.records import DigestRecord


class ExplodePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.seen_at = ""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def open_spider(self) -> None:
        self.seen_at = hub_spider(self.crawler).seen_at

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, TagPage):
            return item
        namespace, repository = item.namespace, item.repository
        skipped: Counter[str] = Counter()
        records: list[DigestRecord] = []
        tags: list[TagSeen] = []
        for tag in item.tags:
            tag_digests = tag_records(tag, namespace, repository, self.seen_at, skipped)
            records += tag_digests
            target = tag_target(tag.get("digest"), [record["digest"] for record in tag_digests])
            tags.append(TagSeen(namespace, repository, tag["name"], target, tag.get("last_updated")))
        for reason, count in skipped.items():
            self.stats.inc_value(f"{stats.SKIPPED}/{reason}", count)
        self.stats.inc_value(stats.RECORDS_PRODUCED, len(records))
        return DigestRecords(
            item.namespace,
            item.repository,
            item.url,
            records,
            tags,
            item.page,
            item.completes,
            item.unchanged_rest,
        )
