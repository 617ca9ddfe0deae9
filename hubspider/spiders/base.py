"""What every spider of the project offers the modules that read it: the crawl command
(arguments, resume key), the journal, the pipelines (`seen_at`) and the closing report."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from scrapy import Spider
from scrapy.spidermiddlewares.httperror import HttpError

from hubspider import stats
from hubspider.config import HubConfig, hub_config
from hubspider.hub.pages import api_message
from hubspider.timestamps import utc_timestamp

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

    from hubspider.extensions.journal import CrawlJournal

class HubSpider(Spider):
    """A spider of the project: checked before it starts, resumable from the JOBDIR journal
    (if `resumable`), and every record it exports carries the crawl's one `seen_at`."""

    #: Whether a JOBDIR journal resumes it; a spider whose progress is the store needs none.
    resumable = True
    #: Whether it asks the Hub API: only then does a signed-in crawl sign in to it.
    uses_hub_api = True
    #: Whether the registry it reads is Docker Hub's: only then may the Docker Hub credentials
    #: buy its tokens. Another registry's challenge could name Docker Hub's token service, and
    #: the token bought there would then go to that registry.
    reads_docker_hub = True

    def __init__(self, *args: Any, config: HubConfig, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config = config
        #: When this run started.
        self.started_at = datetime.now(UTC)
        #: Tags that the anonymous offset cap kept out of reach, by repository: not a loss,
        #: but the closing report names them.
        self.capped: dict[str, int] = {}
        #: The JOBDIR journal, which sets itself here (None without JOBDIR).
        self.journal: CrawlJournal | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        return super().from_crawler(crawler, *args, config=hub_config(crawler), **kwargs)

    @classmethod
    def check_arguments(cls, settings: BaseSettings, arguments: dict[str, Any]) -> None:
        """Raise ArgumentError before the crawl starts, so that a bad argument or setting
        costs the user one line rather than a traceback."""
        HubConfig.from_settings(settings)

    @classmethod
    def argument_settings(cls, arguments: dict[str, Any]) -> dict[str, Any]:
        """Settings that the spider's arguments decide (a registry the argument names), which
        the crawl command applies before the crawler is made."""
        return {}

    @classmethod
    def resume_key(cls, settings: BaseSettings, arguments: dict[str, Any]) -> dict[str, Any]:
        """What makes two runs the same crawl, for resuming from a JOBDIR: the crawl command
        compares it with the journal's before a run starts."""
        raise NotImplementedError

    def journal_arguments(self) -> dict[str, Any]:
        """This crawl's `resume_key`, which the journal records for the next run to compare."""
        raise NotImplementedError

    def progress(self) -> str:
        """What the crawl has done so far, for the progress lines."""
        return ""

    def eta(self, elapsed: float) -> str:
        """How long the rest of the crawl will take, at the pace of its first `elapsed` seconds."""
        return "ETA unknown"

    def log_summary(self) -> None:
        """Say, as the crawl closes, what it exported: the closing report then names the losses."""

    @property
    def seen_at(self) -> str:
        """The `seen_at` of every record of this crawl: when its first run started."""
        journal = self.journal
        if journal is not None and journal.first_started_at:
            return journal.first_started_at
        return utc_timestamp(self.started_at)


def hub_spider(crawler: Crawler) -> HubSpider:
    """The crawl's spider, which pipelines and extensions read as the project declares it."""
    spider = crawler.spider
    if not isinstance(spider, HubSpider):
        raise TypeError(f"{spider!r} is not a spider of this project (hubspider.spiders.base.HubSpider)")
    return spider


def tags_progress(spider: HubSpider) -> str:
    """The progress of a crawl of tags (`library`, `registry`): repositories, tags and records."""
    value = spider.crawler.stats.get_stats().get
    return (
        f"{value(stats.REPOSITORIES_DONE, 0)}/{value(stats.REPOSITORIES_TOTAL, 0)} repositories, "
        f"{value(stats.TAGS_RECEIVED, 0)}/{value(stats.TAGS_TOTAL, 0)} tags, "
        f"{value(stats.RECORDS_EXPORTED, 0)} records exported"
    )


def failure_reason(failure: Failure) -> str:
    """Why a request failed, in one line: the HTTP status and what the answer said, or the error."""
    error = failure.value
    if isinstance(error, HttpError):
        reason = f"HTTP {error.response.status}"
        if message := api_message(error.response):
            reason += f" ({message})"
        return reason
    return f"{type(error).__name__}: {failure.getErrorMessage()}"


def estimate(done: int, total: int, elapsed: float) -> str:
    """The time the rest of `total` takes at the pace `done` took `elapsed` seconds."""
    if not done or elapsed <= 0:
        return "ETA unknown"
    return f"ETA {duration(max(total - done, 0) / (done / elapsed))}"


def duration(seconds: float) -> str:
    minutes, whole_seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {whole_seconds:02d}s" if minutes else f"{whole_seconds}s"
