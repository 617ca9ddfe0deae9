"""Write every digest record into the SQLite store, with when it was first and last seen."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured

from hubspider.items import DigestRecords
from hubspider.pipelines.explode import crawl_started_at
from hubspider.store import Store

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler


class StorePipeline:
    def __init__(self, crawler: Crawler, path: str) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.path = path
        self.store: Store | None = None
        self.seen_at = ""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("HUB_STORE_ENABLED"):
            raise NotConfigured
        return cls(crawler, crawler.settings.get("HUB_STORE_PATH"))

    def open_spider(self) -> None:
        self.store = Store(self.path)
        self.seen_at = crawl_started_at(self.crawler)

    def close_spider(self) -> None:
        if self.store is not None:
            self.store.close()

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, DigestRecords):
            return item
        assert self.store is not None
        self.store.add(item.records, item.tags, self.seen_at)
        self.stats.inc_value("hubspider/store/records", len(item.records))
        if item.unchanged_rest:
            self.store.carry_forward(item.namespace, item.repository, self.seen_at)
            self.stats.inc_value("hubspider/store/repositories_carried_forward")
        if item.completes:
            self.store.complete(item.namespace, item.repository, self.seen_at)
            self.stats.inc_value("hubspider/store/repositories_complete")
        return item
