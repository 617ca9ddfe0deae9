"""A crash-safe journal of finished pages in JOBDIR, from which a crawl resumes.

Scrapy's own JOBDIR state does not survive `kill -9`: a request taken from the disk queue
but not finished is lost, queue metadata is written only on a clean close, and a half
written item breaks a line of the export. So hubspider keeps requests in memory and
writes, to `JOBDIR/hubspider-journal.jsonl`, one line per page once its records are in
every feed (the feed exporters flush each page): the page, and the request that comes
after it. On resume, the requests that come after finished pages but were not finished
themselves are made again; feed files of earlier runs lose a broken last line, and their
records are not exported twice.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.job import job_dir

from hubspider import stats
from hubspider.extensions.feedexport import FeedExporter, local_path
from hubspider.hub.urls import page_key
from hubspider.items import DigestRecords
from hubspider.losses import data_lost, report_loss
from hubspider.planning import Continuation, PageDone, Walk
from hubspider.records import record_key

if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

JOURNAL_FILE = "hubspider-journal.jsonl"
REPAIRABLE_FORMATS = {"jsonlines", "jsonl", "csv"}
# Done pages are written in groups, each after one fsync of the feeds: at most ten a second.
SYNC_INTERVAL = 0.1


class JournalMismatchError(Exception):
    """The JOBDIR holds another crawl; its message is one line for the user."""


def journal_path(jobdir: str) -> Path:
    return Path(jobdir) / JOURNAL_FILE


def read_journal(path: Path) -> list[dict[str, Any]]:
    """The journal's entries; a line cut short by a kill is dropped from the file."""
    if not path.exists():
        return []
    _truncate_partial_line(path)
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def check_resumable(jobdir: str, arguments: dict[str, Any], feeds: dict[str, dict[str, Any]]) -> None:
    """Refuse a resume that would mix two crawls, erase exported records (-O) or append to a
    file that cannot take more (JSON, XML); `feeds` is the FEEDS setting."""
    entries = read_journal(journal_path(jobdir))
    runs = [entry["run"] for entry in entries if "run" in entry]
    if not runs:
        return
    if runs[0]["arguments"] != arguments:
        raise JournalMismatchError(
            f"JOBDIR {jobdir} holds another crawl ({_describe(runs[0]['arguments'])}); "
            f"this one is {_describe(arguments)}: use a new JOBDIR"
        )
    earlier = {feed["path"]: feed["format"] for run in runs for feed in run["feeds"]}
    for feed, options in feeds.items():
        if (earlier_format := earlier.get(local_path(feed) or "")) is None:
            continue
        if options.get("overwrite"):
            raise JournalMismatchError(
                f"JOBDIR {jobdir} holds a crawl in progress whose records are in {feed}: "
                f"resume with -o {feed} (append); -O would erase them"
            )
        if earlier_format not in REPAIRABLE_FORMATS:
            raise JournalMismatchError(
                f"JOBDIR {jobdir} holds a crawl in progress whose records are in {feed}: "
                f"a {earlier_format.upper()} file cannot be appended to; start again with a new JOBDIR "
                "(JSON Lines and CSV feeds resume)"
            )


def _describe(arguments: dict[str, Any]) -> str:
    return ", ".join(f"{key}={value}" for key, value in sorted(arguments.items()) if value is not None)


def _truncate_partial_line(path: Path) -> int:
    """Cut the file after its last newline; returns how many bytes were cut."""
    with path.open("rb+") as file:
        size = end = file.seek(0, os.SEEK_END)
        while end > 0:
            start = max(end - 65536, 0)
            file.seek(start)
            newline = file.read(end - start).rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        file.truncate(end)
    return size - end


class CrawlJournal:
    def __init__(self, crawler: Crawler, jobdir: str) -> None:
        self.crawler = crawler
        self.path = journal_path(jobdir)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entries = read_journal(self.path)
        self.runs = [entry["run"] for entry in entries if "run" in entry]
        self.done: set[tuple[str, int]] = set()
        self.done_urls: set[str] = set()
        self.repositories: list[str] = []
        self.earlier_losses: list[dict[str, str]] = []
        self.walks: dict[tuple[str, int], Walk] = {}
        self.listing = Walk()
        planned: dict[tuple[str, int], Continuation] = {}
        for entry in entries:
            if "done" in entry:
                self._replay(entry, planned)
            elif "lost" in entry:
                self.earlier_losses.append(entry["lost"])
        self.pending = [c for key, c in planned.items() if key not in self.done]
        # Pages are journaled as they are done, not in the order they were planned: a walk's
        # pending pages are the ones planned less the ones done, whatever came first.
        for continuation in planned.values():
            walk = self.walks.get((continuation.repository or "", continuation.walk))
            if walk is not None and continuation.kind == "tags" and continuation.key in self.done:
                walk.pending.discard(continuation.page)
        ended: set[str] = set()
        for key, walk in list(self.walks.items()):
            if not walk.pending:
                del self.walks[key]
                ended.add(key[0])
        still_read = {repository for repository, _ in self.walks}
        still_read.update(c.repository for c in self.pending if c.repository is not None)
        # Repositories the earlier runs read to the end, for the progress totals.
        self.finished_repositories = len(ended - still_read)
        self.resuming = bool(self.runs)
        self.earlier_keys: set[bytes] = set()
        if self.resuming:
            self._repair_earlier_feeds()
        self.file = self.path.open("a", encoding="utf-8")
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
        if not jobdir:
            raise NotConfigured
        return cls(crawler, jobdir)

    def _replay(self, entry: dict[str, Any], planned: dict[tuple[str, int], Continuation]) -> None:
        done = Continuation(**entry["done"])
        self.done.add(done.key)
        self.done_urls.add(done.url)
        then = [Continuation(**item) for item in entry["then"]]
        for continuation in then:
            planned[continuation.key] = continuation
        self.repositories += entry.get("repositories") or []
        if done.kind == "tags":
            assert done.repository is not None
            walk = self.walks.setdefault((done.repository, done.walk), Walk())
        else:
            walk = self.listing
        walk.received += entry["results"]
        walk.count = max(walk.count, entry["count"])
        walk.asked.add(page_key(done.url))
        same_walk = (done.kind, done.repository, done.walk)
        walk.plan([c for c in then if (c.kind, c.repository, c.walk) == same_walk])

    @property
    def started_at(self) -> str | None:
        """When the first run of this crawl started: the `seen_at` of all its records."""
        return self.runs[0]["started_at"] if self.runs else None

    def is_done(self, continuation: Continuation) -> bool:
        return continuation.key in self.done

    def _repair_earlier_feeds(self) -> None:
        for run in self.runs:
            for feed in run["feeds"]:
                path = Path(feed["path"])
                if feed["format"] not in REPAIRABLE_FORMATS or not path.exists():
                    continue
                if cut := _truncate_partial_line(path):
                    logger.warning("Removed a broken last line (%d bytes) from %s", cut, path)
                    self.crawler.stats.inc_value(stats.RESUME_BROKEN_LINES_REMOVED)
                self.earlier_keys.update(_record_keys(path, feed["format"]))
        logger.info(
            "Resuming: %d pages done, %d to go on from, %d records already exported",
            len(self.done),
            len(self.pending),
            len(self.earlier_keys),
        )

    def earlier_feeds(self, formats: set[str]) -> list[str]:
        """The local feed files of earlier runs in these formats, each once."""
        paths = [feed["path"] for run in self.runs for feed in run["feeds"] if feed["format"] in formats]
        return [path for path in dict.fromkeys(paths) if Path(path).exists()]

    def _write(self, entry: dict[str, Any], *, flush: bool = True) -> None:
        self.file.write(json.dumps(entry, separators=(",", ":")) + "\n")
        if flush:
            self.file.flush()

    def spider_opened(self) -> None:
        exporter = self.crawler.get_extension(FeedExporter)
        local_feeds = exporter.local_feeds() if exporter is not None else []
        feeds = [{"path": path, "format": feed_format} for path, feed_format in local_feeds]
        spider = self.crawler.spider
        run = {
            "started_at": self.started_at or spider.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "arguments": spider.journal_arguments(),
            "feeds": feeds,
        }
        self.runs.append(run)
        self._write({"run": run})
        for loss in self.earlier_losses:
            if loss.get("page") in self.done_urls:
                report_loss(
                    self.crawler, loss["kind"], loss["what"], f"{loss['reason']} (earlier run)", replay=True
                )

    def record_page(self, page: PageDone, *, flush: bool = True) -> None:
        entry: dict[str, Any] = {
            "done": asdict(page.continuation),
            "then": [asdict(continuation) for continuation in page.then],
            "results": page.results,
            "count": page.count,
        }
        if page.repositories is not None:
            entry["repositories"] = page.repositories
        self._write(entry, flush=flush)

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
        for page in self.ready:
            self.record_page(page, flush=False)
        self.file.flush()
        self.ready.clear()

    def data_lost(
        self, kind: str, what: str, reason: str, page: str | None = None, replay: bool = False
    ) -> None:
        if not replay:
            self._write({"lost": {"kind": kind, "what": what, "reason": reason, "page": page}})

    def spider_closed(self) -> None:
        self.sync()
        self.file.close()


def _record_keys(path: Path, feed_format: str) -> Iterator[bytes]:
    with path.open(encoding="utf-8", newline="") as file:
        if feed_format == "csv":
            for row in csv.DictReader(file):
                yield record_key(row)
        else:
            for line in file:
                yield record_key(json.loads(line))
