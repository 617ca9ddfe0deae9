"""Scrub the PAT from every log record."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured

from hubspider.config import Credentials, credentials_from
from hubspider.redaction import redact_in_logs

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler


class RedactSecretsExtension:
    """Scrubs the PAT from logs before Scrapy logs the overridden settings (an extension
    is built before that line is written; a middleware only after)."""

    def __init__(self, credentials: Credentials) -> None:
        redact_in_logs(credentials.token)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        credentials = credentials_from(crawler.settings)
        if credentials is None:
            raise NotConfigured
        return cls(credentials)
