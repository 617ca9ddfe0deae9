"""`scrapy crawl`, with a one-line error for bad arguments and an exit status that tells loss."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, NoReturn

from scrapy.commands.crawl import Command as ScrapyCrawlCommand
from scrapy.spiderloader import get_spider_loader
from scrapy.utils.job import job_dir

from hubspider import stats
from hubspider.arguments import ArgumentError
from hubspider.extensions.report import CrawlReport
from hubspider.preflight import check_settings, check_targets, project_data_dir
from hubspider.resume.check import JournalMismatchError, check_resumable
from hubspider.spiders.base import HubSpider
from hubspider.store import Store, StoreError

if TYPE_CHECKING:
    import argparse

    from scrapy.crawler import Crawler

EXIT_BAD_ARGUMENT = 2
# 1 is what Scrapy returns when a crawl cannot start at all.
EXIT_INCOMPLETE = 3


class Command(ScrapyCrawlCommand):
    def process_options(self, args: list[str], opts: argparse.Namespace) -> None:
        assert self.settings is not None
        if opts.output or opts.overwrite_output:
            # Scrapy adds -o/-O to the project's FEEDS; here they replace its default feed.
            self.settings.set("FEEDS", {}, priority="cmdline")
        super().process_options(args, opts)
        if len(args) == 1:
            self._check_arguments(args[0], opts.spargs)

    def _check_arguments(self, spider_name: str, arguments: dict[str, str]) -> None:
        """Stop on a bad argument before Scrapy starts, with one line on stderr."""
        assert self.settings is not None
        loader = get_spider_loader(self.settings)
        try:
            spidercls = loader.load(spider_name)
        except KeyError:
            _fail(f"no spider named {spider_name!r}; this project has: {', '.join(loader.list())}")
        try:
            # Before Scrapy configures logging (LOG_FILE) or job_dir() below creates JOBDIR.
            check_settings(self.settings)
            check_targets(self.settings, project_data_dir())
        except ArgumentError as error:
            _fail(str(error))
        if not issubclass(spidercls, HubSpider):
            return
        self.settings.setdict(spidercls.argument_settings(arguments), priority="cmdline")
        try:
            spidercls.check_arguments(self.settings, arguments)
        except ArgumentError as error:
            _fail(str(error))
        if spidercls.resumable and (jobdir := job_dir(self.settings)):
            try:
                resume_key = spidercls.resume_key(self.settings, arguments)
                check_resumable(jobdir, resume_key, self.settings.getdict("FEEDS"))
            except JournalMismatchError as error:
                _fail(str(error))
        if self.settings.getbool("HUB_STORE_ENABLED"):
            # Opened once here, so that a store that is garbage or held by another process is
            # one line now rather than a failed crawl later.
            try:
                with Store(self.settings.get("HUB_STORE_PATH")):
                    pass
            except StoreError as error:
                _fail(str(error))

    def run(self, args: list[str], opts: argparse.Namespace) -> None:
        if len(args) != 1:
            super().run(args, opts)
            return
        assert self.crawler_process
        crawler = self._create_crawler(args[0])
        self.crawler_process.crawl(crawler, **opts.spargs)
        self.crawler_process.start()
        if self.crawler_process.bootstrap_failed:
            self.exitcode = 1
        elif crawler.stats.get_value(stats.AUTH_FAILED):
            # Hub refused the credentials, or answered the token request with something else.
            self.exitcode = EXIT_BAD_ARGUMENT
        elif not _complete(crawler):
            self.exitcode = EXIT_INCOMPLETE
            # The last line, whatever the log above it holds: what happened, in one line.
            print(f"Error: {_verdict(crawler)}", file=sys.stderr)


def _fail(message: str) -> NoReturn:
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(EXIT_BAD_ARGUMENT)


def _complete(crawler: Crawler) -> bool:
    lost = crawler.stats.get_value(stats.LOST, 0)
    return lost == 0 and crawler.stats.get_value("finish_reason") == "finished"


def _verdict(crawler: Crawler) -> str:
    report = crawler.get_extension(CrawlReport)
    losses = report.losses if report is not None else []
    if not losses:
        reason = crawler.stats.get_value("finish_reason")
        return f"the crawl did not finish ({reason}); the export is incomplete"
    kind, what, why = losses[0]
    if not crawler.stats.get_value("downloader/response_count"):
        spider = crawler.spider
        asked = (
            "HUB_API_URL" if not isinstance(spider, HubSpider) or spider.uses_hub_api else "HUB_REGISTRY_URL"
        )
        return f"no answer from {crawler.settings.get(asked)}: {why}"
    first = f"the first: {kind} {what}: {why}"
    return f"the crawl lost data ({len(losses)} losses, {first}); the export is incomplete"
