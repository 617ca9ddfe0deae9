"""The feed exporters write a page's records one entry each, in every format."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter

from hubspider.exporters import CsvExporter, JsonExporter, JsonLinesExporter, XmlExporter
from hubspider.items import DigestRecordItem, DigestRecords
from hubspider.records import tag_records
from tests.helpers import load_response


def alpine_records() -> DigestRecords:
    skipped: Counter[str] = Counter()
    tags = load_response("tags_alpine.json")["results"]
    records = [
        r for tag in tags for r in tag_records(tag, "library", "alpine", "2026-11-22T06:00:00Z", skipped)
    ]
    return DigestRecords("library", "alpine", "https://hub.docker.com/page", records)


def export(exporter_class, item, **options) -> bytes:
    file = io.BytesIO()
    exporter = exporter_class(file, **options)
    exporter.start_exporting()
    exporter.export_item(item)
    exporter.finish_exporting()
    return file.getvalue()


def test_jsonlines_writes_one_line_per_record():
    item = alpine_records()
    lines = export(JsonLinesExporter, item, encoding="utf-8").decode().splitlines()
    assert [json.loads(line) for line in lines] == item.records


def test_jsonlines_honours_chosen_fields():
    lines = export(JsonLinesExporter, alpine_records(), fields_to_export=["digest", "image"]).splitlines()
    assert set(json.loads(lines[0])) == {"digest", "image"}


def test_json_writes_an_array_of_records():
    item = alpine_records()
    assert json.loads(export(JsonExporter, item)) == item.records


def test_csv_has_the_contract_header_and_a_row_per_record():
    item = alpine_records()
    rows = list(csv.DictReader(io.StringIO(export(CsvExporter, item).decode())))
    assert list(rows[0]) == list(DigestRecordItem.fields)
    assert len(rows) == len(item.records)
    index = next(row for row in rows if row["kind"] == "index")
    assert index["platform"] == ""
    assert index["size"] == ""


def test_xml_writes_an_element_per_record():
    item = alpine_records()
    assert export(XmlExporter, item).count(b"<item>") == len(item.records)


def test_other_items_pass_through_unchanged():
    record = alpine_records().records[0]
    assert json.loads(export(JsonLinesExporter, dict(record))) == record
