"""Export each record once, although offset paging can serve a tag on two pages."""

from __future__ import annotations

from hashlib import blake2b
from typing import TYPE_CHECKING, Any

from hubspider.items import DigestRecords

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler


def record_key(record: dict[str, Any]) -> bytes:
    """A record's identity in 16 bytes, so that a million seen records take tens of MB."""
    identity = "\0".join(
        (
            record["namespace"],
            record["repository"],
            record["tag"],
            record["digest"],
            record["platform"] or "",
        )
    )
    return blake2b(identity.encode(), digest_size=16).digest()


class DedupePipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats
        self.seen: set[bytes] = set()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, DigestRecords):
            return item
        unique = []
        for record in item.records:
            key = record_key(record)
            if key not in self.seen:
                self.seen.add(key)
                unique.append(record)
        if duplicates := len(item.records) - len(unique):
            self.stats.inc_value("hubspider/records/duplicate", duplicates)
        item.records = unique
        return item
