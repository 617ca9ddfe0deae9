"""Drop the tags that do not match the tag schema, naming the field and the page."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import fastjsonschema
import orjson
from scrapy.exceptions import DropItem

from hubspider import stats
from hubspider.items import ImageRecordItem, TagItem, TagPage
from hubspider.losses import report_loss
from hubspider.schemas.scrapy_jsonschema import JsonSchemaValidatePipeline

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

    from scrapy.crawler import Crawler

# Types orjson would write as a JSON string or number although they are none: with these,
# it refuses them, so that two equal serialisations are two equal JSON values.
_PLAIN_JSON_ONLY = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
)


class ValidatePipeline(JsonSchemaValidatePipeline):
    """Validates every tag of a ``TagPage``; other JSON-schema items as scrapy-jsonschema does.

    jsonschema takes about 280 microseconds a tag, fastjsonschema about 15, so the
    compiled validator accepts and scrapy-jsonschema's validator explains a rejection.
    The schemas use no ``format``, so that both judge the same.
    """

    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler.stats)
        self.crawler = crawler
        self.accepts_tag = TagAcceptor(TagItem.jsonschema)
        self.accepts_image_record: Callable[[Any], Any] = fastjsonschema.compile(ImageRecordItem.jsonschema)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ImageRecordItem):
            return self._image_record(item)
        if not isinstance(item, TagPage):
            return super().process_item(item, self.crawler.spider)
        accepts = self.accepts_tag.for_one_page()
        valid = []
        for tag in item.tags:
            if accepts(tag):
                valid.append(tag)
            else:
                self._report_invalid(tag, item)
        self.stats.inc_value(stats.TAGS_RECEIVED, len(item.tags))
        item.tags = valid
        return item

    def _image_record(self, item: ImageRecordItem) -> ImageRecordItem:
        try:
            self.accepts_image_record(dict(item))
        except fastjsonschema.JsonSchemaException as error:
            what = f"image {item.get('namespace')}/{item.get('repository')}@{item.get('digest')}"
            report_loss(self.crawler, "image", what, f"schema validation failed: {error}")
            raise DropItem(f"{what}: not an image record") from None
        return item

    def _report_invalid(self, tag: Any, page: TagPage) -> None:
        problems = self._problems(tag)
        for path in problems:
            self.stats.inc_value(self.STAT_FMT.format(field=path))
        self.stats.inc_value(stats.TAGS_INVALID)
        name = tag.get("name") if isinstance(tag, dict) else None
        what = f"tag {page.namespace}/{page.repository}:{name} from {page.url}"
        reason = "; ".join(f"{path or '(tag)'}: {message}" for path, message in problems.items())
        reason = f"schema validation failed: {reason}"
        report_loss(self.crawler, "tag", what, reason, page=page.url, level=logging.WARNING)

    def _problems(self, tag: Any) -> dict[str, str]:
        problems: dict[str, str] = {}
        for error in TagItem.validator.iter_errors(tag):
            path = [str(part) for part in error.absolute_path]
            if required := self.REQUIRED_RE.search(error.message):
                path.append(required.group(1))
            problems.setdefault(".".join(path), error.message)
        return problems


class TagAcceptor:
    """Whether a tag matches the tag schema, judging a tag's `images` once per page and digest.

    Alias tags (`3.20`, `3`, `latest`) point at one digest and carry the same `images`,
    which are most of a tag and of the time its validation takes; they come together, on
    one page. An alias's images are accepted without a second validation only when they
    serialise to the very bytes of images already accepted, i.e. are the same JSON value.
    """

    def __init__(self, schema: dict[str, Any]) -> None:
        fields, images = split_images_schema(schema)
        self.accepts_fields: Callable[[Any], Any] = fastjsonschema.compile(fields)
        self.accepts_images: Callable[[Any], Any] = fastjsonschema.compile(images)

    def for_one_page(self) -> Callable[[Any], bool]:
        """A judge whose memory of accepted images lasts one page: aliases share a page."""
        accepted_images: dict[str, Any] = {}

        def accepts(tag: Any) -> bool:
            try:
                self.accepts_fields(tag)
                # The fields' schema made the digest a string or null, `images` an array.
                digest, images = tag.get("digest"), tag["images"]
                known = accepted_images.get(digest) if digest is not None else None
                if known is None or not same_json(known, images):
                    self.accepts_images(images)
                    if digest is not None:
                        accepted_images[digest] = images
            except fastjsonschema.JsonSchemaException:
                return False
            return True

        return accepts


def split_images_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tag schema less what it says of each image, and the schema of `images`: together
    they accept exactly what the whole schema accepts, as no rule ties an image to the tag."""
    images = schema["properties"]["images"]
    images_as_any_array = {key: rule for key, rule in images.items() if key != "items"}
    fields = {**schema, "properties": {**schema["properties"], "images": images_as_any_array}}
    return fields, images


def same_json(first: Any, second: Any) -> bool:
    """Whether two parsed JSON values are the same value: `==` would not do, as
    `True == 1 == 1.0` in Python while the schema tells an integer from a boolean."""
    try:
        return orjson.dumps(first, option=_PLAIN_JSON_ONLY) == orjson.dumps(second, option=_PLAIN_JSON_ONLY)
    except TypeError:  # not JSON (an integer past 64 bits, a non-string key): no verdict to share
        return False
