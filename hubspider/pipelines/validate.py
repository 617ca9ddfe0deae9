"""Drop the tags that do not match the tag schema, naming the field and the page."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import fastjsonschema

from hubspider import stats
from hubspider.items import TagItem, TagPage
from hubspider.losses import report_loss
from hubspider.schemas import JsonSchemaValidatePipeline

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler


class ValidatePipeline(JsonSchemaValidatePipeline):
    """Validates every tag of a ``TagPage``; other JSON-schema items as scrapy-jsonschema does.

    jsonschema takes about 280 microseconds a tag, fastjsonschema about 15, so the
    compiled validator accepts and scrapy-jsonschema's validator explains a rejection.
    The schemas use no ``format``, so that both judge the same.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler.stats)
        self.crawler = crawler
        self.accepts_tag = fastjsonschema.compile(TagItem.jsonschema)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if not isinstance(item, TagPage):
            return super().process_item(item, self.crawler.spider)
        valid = [tag for tag in item.tags if self._is_valid(tag, item)]
        self.stats.inc_value(stats.TAGS_RECEIVED, len(item.tags))
        item.tags = valid
        return item

    def _is_valid(self, tag: Any, page: TagPage) -> bool:
        try:
            self.accepts_tag(tag)
        except fastjsonschema.JsonSchemaException:
            pass
        else:
            return True
        problems = self._problems(tag)
        for path in problems:
            self.stats.inc_value(self.STAT_FMT.format(field=path))
        self.stats.inc_value(stats.TAGS_INVALID)
        name = tag.get("name") if isinstance(tag, dict) else None
        what = f"tag {page.namespace}/{page.repository}:{name} from {page.url}"
        reason = "; ".join(f"{path or '(tag)'}: {message}" for path, message in problems.items())
        reason = f"schema validation failed: {reason}"
        report_loss(self.crawler, "tag", what, reason, page=page.url, level=logging.WARNING)
        return False

    def _problems(self, tag: Any) -> dict[str, str]:
        problems = {}
        for error in TagItem.validator.iter_errors(tag):
            path = [str(part) for part in error.absolute_path]
            if required := self.REQUIRED_RE.search(error.message):
                path.append(required.group(1))
            problems.setdefault(".".join(path), error.message)
        return problems
