"""Requests stay in memory: with JOBDIR, hubspider resumes from its journal instead.

Scrapy's disk queues and `requests.seen` do not survive `kill -9` (see hubspider/resume/), and a
restored queue would send again what the journal already sends.
"""

from __future__ import annotations

from typing import Any

from scrapy.core.scheduler import Scheduler
from scrapy.dupefilters import BaseDupeFilter, RFPDupeFilter


class MemoryScheduler(Scheduler):
    def __init__(self, dupefilter: BaseDupeFilter, jobdir: str | None = None, **kwargs: Any) -> None:
        super().__init__(dupefilter, jobdir=None, **kwargs)


class MemoryDupeFilter(RFPDupeFilter):
    def __init__(self, path: str | None = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(None, *args, **kwargs)
