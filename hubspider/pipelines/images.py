"""Write every image record into the store, where the next `layers` run and `scrapy lookup` read it,
and the compressed layers the Hub API announced of each tag's images, which `scrapy detect` reads.

Image records are few (one per pull) next to digest records, so the crawl writes them itself,
in groups, committed when the store writer's CommitPolicy would commit pages (after 100, or a
second after the first uncommitted one), and at the end. What a crash leaves uncommitted is
still pending in the store, and the next run fetches it again; a store that fails stops the
crawl at once, as lost data.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import DropItem, NotConfigured
from scrapy.utils.defer import deferred_from_coro

from hubspider import stats
from hubspider.config import hub_config
from hubspider.items import AnnouncedLayers, ImageRecordItem
from hubspider.losses import report_loss
from hubspider.spiders.base import hub_spider
from hubspider.store import Store, StoreError
from hubspider.store.protocol import CommitPolicy

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Self

    from scrapy.crawler import Crawler

    from hubspider.store.announced import AnnouncedImage


class ImageStorePipeline:
    def __init__(self, crawler: Crawler, path: str) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.path = path
        self.store: Store | None = None
        self.batch: list[dict[str, Any]] = []
        self.announced: list[tuple[str, str, Sequence[AnnouncedImage]]] = []
        self.policy = CommitPolicy()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        config = hub_config(crawler)
        if not config.store_enabled:
            raise NotConfigured
        return cls(crawler, config.store_path)

    def open_spider(self) -> None:
        try:
            self.store = Store(self.path)
        except StoreError as error:
            self.failed(str(error))

    def process_item(self, item: Any) -> Any:
        if isinstance(item, AnnouncedLayers):
            if self.store is None:
                raise DropItem("the store failed: the announced layers are not stored")
            self.announced.append((item.namespace, item.repository, item.images))
        elif isinstance(item, ImageRecordItem):
            if self.store is None:
                raise DropItem("the store failed: not exported either, so that the next run fetches it")
            self.batch.append(dict(item))
        else:
            return item
        now = time.monotonic()
        self.policy.added(now)
        if self.policy.due(now):
            self.commit()
        return item

    def commit(self) -> None:
        if self.store is None or not (self.batch or self.announced):
            return
        try:
            if self.batch:
                self.store.add_images(self.batch, hub_spider(self.crawler).seen_at)
                self.stats.inc_value(stats.LAYERS_STORED, len(self.batch))
                self.batch = []
            if self.announced:
                self.store.add_announced(self.announced)
                announced = sum(len(images) for _, _, images in self.announced)
                self.stats.inc_value(stats.LAYERS_ANNOUNCED, announced)
                self.announced = []
        except StoreError as error:
            self.failed(str(error))
            return
        self.policy.committed()

    def close_spider(self) -> None:
        self.commit()
        if self.store is not None:
            self.store.close()
            self.store = None

    def failed(self, problem: str) -> None:
        """The records not committed are lost to the store: the crawl stops now."""
        unstored = len(self.batch)
        self.batch = []
        # Announced layers are no loss: the next run's Hub API answers name them again.
        self.announced = []
        if self.store is not None:
            self.store.close()
            self.store = None
        report_loss(
            self.crawler,
            "store",
            self.path,
            f"{problem} ({unstored} image records unstored); the crawl stops here",
        )
        engine = self.crawler.engine
        if engine is not None and engine.spider is not None:
            deferred_from_coro(engine.close_spider_async(reason="store_failed"))
