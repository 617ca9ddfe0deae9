"""Validate, explode and dedupe, each on its own, fed from stored pages."""

from __future__ import annotations

import logging

import pytest
from scrapy.exceptions import DropItem

from hubspider.items import DigestRecordItem, DigestRecords, TagPage
from hubspider.pipelines import DedupePipeline, ExplodePipeline, ValidatePipeline
from hubspider.records import record_key
from tests.helpers import load_response, make_spider

PAGE_URL = "https://hub.docker.com/v2/repositories/library/alpine/tags?page_size=100&ordering=last_updated"


def page_of(file: str, repository: str = "alpine") -> TagPage:
    return TagPage("library", repository, PAGE_URL, load_response(file)["results"])


@pytest.fixture
def crawler():
    return make_spider()[1]


def explode(crawler, page: TagPage) -> DigestRecords:
    pipeline = ExplodePipeline.from_crawler(crawler)
    pipeline.open_spider()
    return pipeline.process_item(page)


def test_validate_keeps_valid_tags(crawler):
    page = ValidatePipeline.from_crawler(crawler).process_item(page_of("tags_alpine.json"))
    assert [tag["name"] for tag in page.tags] == ["latest", "3", "3.20", "3.20.3", "3.19"]
    assert crawler.stats.get_value("hubspider/tags/received") == 5
    assert crawler.stats.get_value("hubspider/tags/invalid") is None


def test_validate_drops_invalid_tags_and_counts_them_as_lost(crawler):
    page = ValidatePipeline.from_crawler(crawler).process_item(page_of("tags_invalid.json"))
    assert [tag["name"] for tag in page.tags] == ["3.20.3"]
    stats = crawler.stats
    assert stats.get_value("hubspider/tags/invalid") == 2
    assert stats.get_value("hubspider/lost/tag") == 2
    assert stats.get_value("jsonschema/errors/digest") == 1
    assert stats.get_value("jsonschema/errors/images") == 1


def test_validate_warning_names_the_field_and_the_page(crawler, caplog):
    with caplog.at_level(logging.WARNING):
        ValidatePipeline.from_crawler(crawler).process_item(page_of("tags_invalid.json"))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    bad_digest = next(w for w in warnings if "bad-digest" in w)
    assert "digest: 'sha256:xyz' does not match" in bad_digest
    assert PAGE_URL in bad_digest
    assert "images: 'linux/amd64' is not of type 'array'" in next(w for w in warnings if "bad-images" in w)


def test_validate_reports_a_missing_required_field(crawler, caplog):
    tag = dict(load_response("tags_alpine.json")["results"][0])
    del tag["name"]
    with caplog.at_level(logging.WARNING):
        page = ValidatePipeline.from_crawler(crawler).process_item(
            TagPage("library", "alpine", PAGE_URL, [tag])
        )
    assert page.tags == []
    assert crawler.stats.get_value("jsonschema/errors/name") == 1
    assert "name: 'name' is a required property" in caplog.text


def test_validate_checks_other_schema_items_whole(crawler):
    pipeline = ValidatePipeline.from_crawler(crawler)
    with pytest.raises(DropItem, match="schema validation failed"):
        pipeline.process_item(DigestRecordItem(digest="sha256:nothex"))


def test_explode_turns_a_page_into_its_records(crawler):
    records = explode(crawler, page_of("tags_alpine.json"))
    assert isinstance(records, DigestRecords)
    assert records.url == PAGE_URL
    # 4 aliases x (8 images + index), and 3.19: 8 images + index, its attestation skipped
    assert len(records.records) == 4 * 9 + 9
    assert crawler.stats.get_value("hubspider/records/produced") == 45
    assert crawler.stats.get_value("hubspider/skipped/not_a_platform") == 1


def test_explode_stamps_the_crawl_start(crawler):
    records = explode(crawler, page_of("tags_single_platform.json"))
    seen = {record["seen_at"] for record in records.records}
    assert seen == {crawler.spider.started_at.strftime("%Y-%m-%dT%H:%M:%SZ")}


def test_explode_counts_what_gives_no_record(crawler):
    explode(crawler, page_of("tags_rust_edge_cases.json", "rust"))
    assert crawler.stats.get_value("hubspider/skipped/tag_without_digest") == 2
    assert crawler.stats.get_value("hubspider/skipped/image_without_digest") == 1


def test_dedupe_drops_a_tag_served_on_two_pages(crawler):
    dedupe = DedupePipeline.from_crawler(crawler)
    first = dedupe.process_item(explode(crawler, page_of("tags_alpine.json")))
    drifted = explode(crawler, page_of("tags_alpine.json"))
    drifted.records = drifted.records[-9:] + explode(crawler, page_of("tags_windows.json", "python")).records
    second = dedupe.process_item(drifted)
    assert len(first.records) == 45
    assert [r["repository"] for r in second.records] == ["python"] * len(second.records)
    assert crawler.stats.get_value("hubspider/records/duplicate") == 9


def test_dedupe_keeps_the_same_digest_under_another_tag(crawler):
    dedupe = DedupePipeline.from_crawler(crawler)
    records = dedupe.process_item(explode(crawler, page_of("tags_alpine.json"))).records
    assert sum(r["digest"].startswith("sha256:beefdbd8") for r in records) == 4
    assert crawler.stats.get_value("hubspider/records/duplicate") is None


def test_explode_carries_the_page_and_its_walk_marks(crawler):
    tag_page = page_of("tags_single_platform.json")
    tag_page.completes, tag_page.unchanged_rest = True, True
    records = explode(crawler, tag_page)
    assert (records.namespace, records.repository) == ("library", "alpine")
    assert (records.completes, records.unchanged_rest) == (True, True)
    assert [tag.tag for tag in records.tags] == ["1.4.2", "1.4.1", "1.4.0"]
    assert records.tags[0].target == records.records[0]["tag_digest"]


def test_dedupe_exports_a_tag_again_once_it_points_elsewhere(crawler):
    dedupe = DedupePipeline.from_crawler(crawler)
    first = dedupe.process_item(explode(crawler, page_of("tags_alpine.json"))).records
    moved = explode(crawler, page_of("tags_alpine.json"))
    new_digest = "sha256:" + "0" * 64
    moved.records = [r | {"tag_digest": new_digest} for r in moved.records if r["tag"] == "latest"]
    again = dedupe.process_item(moved).records
    assert [r["tag"] for r in first].count("latest") == len(again) == 9
    assert crawler.stats.get_value("hubspider/records/duplicate") is None


def test_dedupe_on_resume_drops_what_earlier_runs_exported_record_by_record(crawler):
    records = explode(crawler, page_of("tags_alpine.json")).records
    dedupe = DedupePipeline.from_crawler(crawler)
    # An earlier run was stopped after the first three records of `latest`.
    dedupe.earlier = {record_key(record) for record in records[:3]}
    exported = dedupe.process_item(explode(crawler, page_of("tags_alpine.json"))).records
    assert exported == records[3:]
    assert crawler.stats.get_value("hubspider/records/duplicate") == 3
