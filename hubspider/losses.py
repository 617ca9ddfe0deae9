"""Lost data is counted where it happens and named again in the crawl's final log."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from hubspider import stats

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

#: Signal sent for every piece of data a crawl could not get: kind, what, reason, the page
#: it was lost from (if that page itself was read), and whether an earlier run lost it.
data_lost = object()


def report_loss(
    crawler: Crawler,
    kind: str,
    what: str,
    reason: str,
    *,
    page: str | None = None,
    level: int = logging.ERROR,
    replay: bool = False,
) -> None:
    """Count a lost page, repository or tag, log it, and tell the crawl report and journal."""
    crawler.stats.inc_value(stats.LOST)
    crawler.stats.inc_value(f"{stats.LOST}/{kind}")
    logger.log(level, "Lost %s %s: %s", kind, what, reason)
    crawler.signals.send_catch_log(data_lost, kind=kind, what=what, reason=reason, page=page, replay=replay)
