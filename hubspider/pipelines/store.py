"""Write every digest record into the SQLite store, with when it was first and last seen.

SQLite takes about 20 microseconds a record, most of it with the GIL released, so a
writer thread applies the pages in order while the crawl goes on. The store may lag behind
the export: the journal counts a page done only once the writer has committed it, and a
resumed crawl puts what earlier runs exported into the store again (idempotent), so after a
crash the store still holds every exported record and every repository read whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured
from scrapy.utils.defer import deferred_from_coro

from hubspider import stats
from hubspider.extensions.journal import CrawlJournal
from hubspider.items import DigestRecords
from hubspider.losses import report_loss
from hubspider.pipelines.explode import crawl_started_at
from hubspider.store import Store, StoreError

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

    from hubspider.planning import PageDone
    from hubspider.records import TagSeen

logger = logging.getLogger(__name__)

# Pages in one transaction at the most: SQLite rewrites the B-tree pages a transaction
# touched at each commit, so committing each page alone costs twice as much.
WRITE_BATCH = 100


@dataclass(slots=True)
class _Write:
    namespace: str
    repository: str
    records: list[dict[str, Any]]
    tags: list[TagSeen]
    unchanged_rest: bool
    completes: bool
    page: PageDone | None


class StorePipeline:
    def __init__(self, crawler: Crawler, path: str) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.path = path
        self.store: Store | None = None
        self.seen_at = ""
        # Bounded: when SQLite falls behind, the crawl waits rather than holding pages in memory.
        self.writes: queue.Queue[_Write | None] = queue.Queue(maxsize=64)
        self.writer: threading.Thread | None = None
        self.error: BaseException | None = None
        # Pages the writer has committed, for the journal, which runs in the crawl's thread.
        self.committed: queue.SimpleQueue[PageDone] = queue.SimpleQueue()
        self.journal: CrawlJournal | None = None
        self.error_reported = False
        self.loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        if not crawler.settings.getbool("HUB_STORE_ENABLED"):
            raise NotConfigured
        return cls(crawler, crawler.settings.get("HUB_STORE_PATH"))

    def open_spider(self) -> None:
        try:
            self.store = Store(self.path, check_same_thread=False)
        except StoreError as error:
            # The crawl checked the store before it started: something changed it since.
            self.error = error
            self._confirm_committed()
            return
        self.seen_at = crawl_started_at(self.crawler)
        with contextlib.suppress(RuntimeError):  # no asyncio loop: pages are confirmed as items pass
            self.loop = asyncio.get_running_loop()
        journal = self.journal = self.crawler.get_extension(CrawlJournal)
        if journal is not None and journal.resuming:
            self._store_earlier_exports(journal)
        self.writer = threading.Thread(target=self._write_all, name="hubspider-store", daemon=True)
        self.writer.start()

    def _store_earlier_exports(self, journal: CrawlJournal) -> None:
        assert self.store is not None
        for path in journal.earlier_feeds({"jsonlines", "jsonl"}):
            imported, _ = self.store.import_jsonl(Path(path), report=_ignore_invalid)
            logger.info("Stored again the %d records of an earlier run in %s", imported, path)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, DigestRecords):
            return item
        self._confirm_committed()
        if self.error is None:
            if item.page is not None:
                item.page.waiting.add("store")
            write = _Write(
                item.namespace,
                item.repository,
                item.records,
                item.tags,
                item.unchanged_rest,
                item.completes,
                item.page,
            )
            self.writes.put(write)
        return item

    def _confirm_committed(self) -> None:
        """Tell the journal which pages the store holds; report a failed write when it is seen."""
        while True:
            try:
                page = self.committed.get_nowait()
            except queue.Empty:
                break
            if self.journal is not None:
                self.journal.confirm(page, "store")
        if self.error is not None and not self.error_reported:
            self.error_reported = True
            error = self.error
            what = str(error) if isinstance(error, StoreError) else f"{type(error).__name__}: {error}"
            reason = f"{what}; the crawl stops here"
            report_loss(self.crawler, "store", str(self.path), reason)
            assert self.crawler.engine is not None
            deferred_from_coro(self.crawler.engine.close_spider_async(reason="store_failed"))

    def _write_all(self) -> None:
        """Apply the queued pages in order, as many in one transaction as have queued up."""
        assert self.store is not None
        done = False
        while not done:
            batch = [self.writes.get()]
            while len(batch) < WRITE_BATCH and not self.writes.empty():
                batch.append(self.writes.get_nowait())
            done = batch[-1] is None
            writes = [write for write in batch if write is not None]
            if self.error is not None or not writes:
                continue
            try:
                with self.store.transaction():
                    for write in writes:
                        self._apply(write)
            except Exception as error:
                self.error = error
            else:
                for write in writes:
                    if write.page is not None:
                        self.committed.put(write.page)
            if self.loop is not None:
                # The journal lives in the crawl's thread: tell it there, now rather than at the next page.
                self.loop.call_soon_threadsafe(self._confirm_committed)

    def _apply(self, write: _Write) -> None:
        assert self.store is not None
        self.store.add(write.records, write.tags, self.seen_at)
        self.stats.inc_value(stats.STORE_RECORDS, len(write.records))
        if write.unchanged_rest:
            self.store.carry_forward(write.namespace, write.repository, self.seen_at)
            self.stats.inc_value(stats.STORE_REPOSITORIES_CARRIED_FORWARD)
        if write.completes:
            self.store.complete(write.namespace, write.repository, self.seen_at)
            self.stats.inc_value(stats.STORE_REPOSITORIES_COMPLETE)

    def close_spider(self) -> None:
        if self.writer is not None:
            self.writes.put(None)
            self.writer.join()
        if self.store is not None:
            self.store.close()
        self._confirm_committed()


def _ignore_invalid(path: Path, number: int, problem: str) -> None:
    """An earlier run's export holds only records, and its broken last line was cut."""
