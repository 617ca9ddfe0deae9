"""Scrapy's item exporters, taught to write the records of a ``DigestRecords`` one by one.

Registered for every built-in format in ``settings.FEED_EXPORTERS``, so `-O x.jsonl`,
`x.csv`, `x.json`, `x.xml` and the rest write one entry per digest record.
"""

from __future__ import annotations

from typing import Any

import orjson
from scrapy.exporters import (
    CsvItemExporter,
    JsonItemExporter,
    JsonLinesItemExporter,
    MarshalItemExporter,
    PickleItemExporter,
    XmlItemExporter,
)

from hubspider.items import AnnouncedLayers, DigestRecords


class RecordsExporterMixin:
    def __init__(self, file: Any, **kwargs: Any) -> None:
        self.output = file
        super().__init__(file, **kwargs)  # type: ignore[call-arg]

    def export_item(self, item: Any) -> None:
        if isinstance(item, AnnouncedLayers):
            return  # for the store only: the layers export is image records
        if isinstance(item, DigestRecords):
            for record in item.records:
                super().export_item(record)  # type: ignore[misc]
            # A page is journaled as done right after this: its records must be in the file.
            self.output.flush()
        else:
            super().export_item(item)  # type: ignore[misc]


class JsonLinesExporter(RecordsExporterMixin, JsonLinesItemExporter):
    def export_item(self, item: Any) -> None:
        # Records are plain JSON values (str, int, None): orjson writes them as UTF-8 six
        # times faster than Scrapy's per-field serialisation, which dominated export time.
        if isinstance(item, DigestRecords) and self._plain_utf8:
            lines = [orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE) for record in item.records]
            self.file.write(b"".join(lines))
            self.output.flush()
        else:
            super().export_item(item)

    @property
    def _plain_utf8(self) -> bool:
        encoding = (self.encoding or "").lower().replace("_", "-")
        return encoding in ("utf-8", "utf8") and self.fields_to_export is None


class JsonExporter(RecordsExporterMixin, JsonItemExporter):
    pass


class CsvExporter(RecordsExporterMixin, CsvItemExporter):
    def __init__(self, file: Any, **kwargs: Any) -> None:
        # Appending (-o, or a resumed crawl) to a CSV file that has its header already.
        if _writes_after_existing_data(file):
            kwargs["include_headers_line"] = False
        super().__init__(file, **kwargs)

    def serialize_field(self, field: Any, name: str, value: Any) -> Any:
        # An image record's `layers` and `history` as JSON in their cell, not Python's repr.
        if isinstance(value, list | dict):
            return orjson.dumps(value).decode()
        return super().serialize_field(field, name, value)


class XmlExporter(RecordsExporterMixin, XmlItemExporter):
    pass


class PickleExporter(RecordsExporterMixin, PickleItemExporter):
    pass


class MarshalExporter(RecordsExporterMixin, MarshalItemExporter):
    pass


def _writes_after_existing_data(file: Any) -> bool:
    try:
        return file.seekable() and file.tell() > 0
    except (AttributeError, OSError):
        return False
