"""What crosses the engine.

A crawl yields hundreds of thousands of digest records, and every object that crosses
Scrapy's engine costs about 170 microseconds (``../shared/perf-notes.md``). So one tags
page, not one tag or one record, is the unit that travels through the pipelines: a
``TagPage`` in, a ``DigestRecords`` out, and the feed exporters write its records one by
one. ``TagItem`` and ``DigestRecordItem`` declare the schema of each element.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hubspider.schemas import load_schema
from hubspider.schemas.scrapy_jsonschema import JsonSchemaItem

if TYPE_CHECKING:
    from hubspider.planning import PageDone
    from hubspider.records import DigestRecord, TagSeen
    from hubspider.store.announced import AnnouncedImage


class TagItem(JsonSchemaItem):
    """One tag as the Hub API gives it."""

    jsonschema = load_schema("tag.json")


class DigestRecordItem(JsonSchemaItem):
    """One exported record: a digest and the official image, tag and platform it is."""

    jsonschema = load_schema("digest_record.json")


class ImageRecordItem(JsonSchemaItem):
    """One platform image of a repository with its image ID and layers (the `layers` spider's
    export). Few enough (one per pull) to cross the engine one by one."""

    jsonschema = load_schema("image_record.json")


@dataclass(slots=True)
class TagPage:
    """The tags of one page of one repository's tag listing."""

    namespace: str
    repository: str
    url: str
    tags: list[dict[str, Any]] = field(repr=False)
    page: PageDone | None = None
    # The last page of a walk that read the repository whole.
    completes: bool = False
    # Incremental: the tags after this page are as the store has them.
    unchanged_rest: bool = False

    def __repr__(self) -> str:
        return f"<TagPage {self.namespace}/{self.repository} {len(self.tags)} tags from {self.url}>"


@dataclass(slots=True)
class DigestRecords:
    """The digest records of one tags page, each shaped as a ``DigestRecord``, and its tags."""

    namespace: str
    repository: str
    url: str
    records: list[DigestRecord] = field(repr=False)
    tags: list[TagSeen] = field(default_factory=list, repr=False)
    page: PageDone | None = None
    completes: bool = False
    unchanged_rest: bool = False
    # A feed could not take these records: the page is not done.
    unwritten: bool = False

    def __repr__(self) -> str:
        return f"<DigestRecords {len(self.records)} records from {self.url}>"


@dataclass(slots=True)
class AnnouncedLayers:
    """The platform images one Hub API images answer lists with their compressed layer digests,
    for the store (`layers` crawl): not exported, since the export holds image records only."""

    namespace: str
    repository: str
    images: list[AnnouncedImage] = field(repr=False)

    def __repr__(self) -> str:
        return f"<AnnouncedLayers {len(self.images)} images of {self.namespace}/{self.repository}>"
