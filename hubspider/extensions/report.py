"""The crawl's closing report: what was exported and, by name, everything that was lost."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapy import Spider, signals

from hubspider import stats
from hubspider.items import DigestRecords, ImageRecordItem
from hubspider.losses import data_lost, report_loss
from hubspider.spiders.base import hub_spider

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)


class CrawlReport:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.losses: list[tuple[str, str, str]] = []
        crawler.signals.connect(self.item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(self.item_error, signal=signals.item_error)
        crawler.signals.connect(self.spider_error, signal=signals.spider_error)
        crawler.signals.connect(self.data_lost, signal=data_lost)
        crawler.signals.connect(self.spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def item_scraped(self, item: Any) -> None:
        if isinstance(item, DigestRecords):
            self.stats.inc_value(stats.RECORDS_EXPORTED, len(item.records))
        elif isinstance(item, ImageRecordItem):
            self.stats.inc_value(stats.LAYERS_RECORDS)

    def item_error(self, item: Any, response: Response | None, failure: Failure) -> None:
        report_loss(self.crawler, "item", repr(item), f"pipeline error: {failure.getErrorMessage()}")

    def spider_error(self, failure: Failure, response: Response | None, spider: Spider) -> None:
        what = response.url if response is not None else f"spider {spider.name}"
        report_loss(self.crawler, "page", what, f"spider error: {failure.getErrorMessage()}")

    def data_lost(self, kind: str, what: str, reason: str, **_: Any) -> None:
        self.losses.append((kind, what, reason))

    def spider_closed(self, reason: str) -> None:
        hub_spider(self.crawler).log_summary()
        self._report_capped()
        if self.losses:
            lines = "\n".join(summarize_losses(self.losses))
            logger.error(
                "The crawl lost data (%d losses); the export is incomplete:\n%s",
                self.stats.get_value(stats.LOST, 0),
                lines,
            )
        if reason != "finished" and not self.stats.get_value(stats.AUTH_FAILED):
            resume = " run the same command again to resume it" if self.crawler.settings.get("JOBDIR") else ""
            logger.error("The crawl did not finish (%s); the export is incomplete;%s", reason, resume)

    def _report_capped(self) -> None:
        capped = hub_spider(self.crawler).capped
        if not capped:
            return
        self.stats.set_value(stats.ANONYMOUS_CAP_REPOSITORIES, len(capped))
        self.stats.set_value(stats.ANONYMOUS_CAP_TAGS, sum(capped.values()))
        worst = sorted(capped.items(), key=lambda item: -item[1])
        listed = ", ".join(f"{name} ({count})" for name, count in worst[:20])
        more = f" and {len(worst) - 20} more" if len(worst) > 20 else ""
        logger.warning(
            "Hub serves anonymous crawls only the newest 1000 tags of a repository: %d older tags of "
            "%d repositories were not reached: %s%s. Sign in to crawl them: set DOCKERHUB_USERNAME "
            "and DOCKERHUB_TOKEN (a personal access token).",
            sum(capped.values()),
            len(capped),
            listed,
            more,
        )


def summarize_losses(losses: list[tuple[str, str, str]]) -> list[str]:
    """One line per loss, but losses of one kind and cause (a host that does not answer) in one."""
    by_cause: dict[tuple[str, str], list[str]] = {}
    for kind, what, why in losses:
        by_cause.setdefault((kind, why), []).append(what)
    lines = []
    for (kind, why), whats in by_cause.items():
        if len(whats) == 1:
            lines.append(f"  {kind} {whats[0]}: {why}")
        else:
            lines.append(f"  {kind} (x{len(whats)}) {', '.join(whats)}: {why}")
    return lines
