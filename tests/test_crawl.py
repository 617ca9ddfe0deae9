"""`scrapy crawl library` end to end against the emulator: the export equals its ground truth."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import fastjsonschema
import pytest

from hubspider.items import DigestRecordItem
from tests.helpers import as_keys, run_crawl, without_seen_at

pytestmark = pytest.mark.e2e

EXIT_INCOMPLETE = 3


@pytest.fixture(scope="module")
def full_crawl(hub_server, tmp_path_factory):
    started = datetime.now(UTC).replace(microsecond=0)
    result = run_crawl(hub_server.url, tmp_path_factory.mktemp("full"))
    return result, started, datetime.now(UTC)


def test_full_crawl_exports_exactly_the_ground_truth(full_crawl, hub):
    result, _, _ = full_crawl
    assert result.returncode == 0, result.stderr[-3000:]
    assert as_keys(without_seen_at(result.records())) == as_keys(hub.expected_records("library"))


def test_full_crawl_exports_no_record_twice(full_crawl):
    result, _, _ = full_crawl
    records = without_seen_at(result.records())
    assert len(as_keys(records)) == len(set(as_keys(records)))


def test_every_exported_record_matches_the_record_schema(full_crawl):
    validate = fastjsonschema.compile(DigestRecordItem.jsonschema)
    for record in full_crawl[0].records():
        validate(record)


def test_seen_at_is_the_crawl_start(full_crawl):
    result, started, finished = full_crawl
    (seen_at,) = {record["seen_at"] for record in result.records()}
    assert started <= datetime.fromisoformat(seen_at) <= finished


def test_crawl_log_summarises_and_warns_of_nothing(full_crawl, hub):
    stderr = full_crawl[0].stderr
    expected = len(hub.expected_records("library"))
    assert re.search(rf"Exported {expected} digest records from \d+ tags", stderr)
    assert "duplicate records dropped" in stderr
    assert not re.search(r"\b(WARNING|ERROR|Traceback|DeprecationWarning)\b", stderr)


def test_csv_export_equals_the_ground_truth(hub_server, hub, tmp_path):
    result = run_crawl(hub_server.url, tmp_path, output="digests.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = result.csv_rows()
    assert list(rows[0]) == list(DigestRecordItem.fields)

    def as_csv(record):
        return {key: "" if value is None else str(value) for key, value in record.items()}

    assert as_keys(without_seen_at(rows)) == as_keys([as_csv(r) for r in hub.expected_records("library")])


def test_repos_argument_exports_only_those_repositories(hub_server, hub, tmp_path):
    result = run_crawl(hub_server.url, tmp_path, "-a", "repos=almalinux,rust")
    assert result.returncode == 0, result.stderr[-3000:]
    expected = hub.expected_records("library", ["almalinux", "rust"])
    assert as_keys(without_seen_at(result.records())) == as_keys(expected)


def test_another_namespace_exports_its_records(hub_server, hub, tmp_path):
    result = run_crawl(hub_server.url, tmp_path, "-a", "namespace=bitnami")
    assert result.returncode == 0, result.stderr[-3000:]
    records = result.records()
    assert as_keys(without_seen_at(records)) == as_keys(hub.expected_records("bitnami"))
    assert all(record["image"].startswith("bitnami/") for record in records)


def test_unknown_repository_is_named_and_fails_the_crawl(hub_server, hub, tmp_path):
    result = run_crawl(hub_server.url, tmp_path, "-a", "repos=alpine,nope")
    assert result.returncode == EXIT_INCOMPLETE
    assert as_keys(without_seen_at(result.records())) == as_keys(hub.expected_records("library", ["alpine"]))
    summary = result.stderr[result.stderr.index("The crawl lost data") :]
    assert "/v2/repositories/library/nope/tags?page_size=100&ordering=last_updated: HTTP 404" in summary
    assert "'hubspider/lost': 1" in result.stderr


def test_bad_argument_is_one_line_and_crawls_nothing(hub_server, tmp_path):
    result = run_crawl(hub_server.url, tmp_path, "-a", "repos=Alpine")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: invalid repository 'Alpine': use lowercase letters, digits and single separators (. _ -), "
        "starting and ending with a letter or digit, at most 255 characters"
    ]
    assert not result.output.exists()


def test_without_an_output_option_the_feed_goes_to_output(hub_server, hub, tmp_path):
    result = run_crawl(hub_server.url, tmp_path, "-a", "repos=rust", output=None)
    assert result.returncode == 0, result.stderr[-3000:]
    (feed,) = (tmp_path / "output").glob("library-*.jsonl")
    result.output = feed
    assert as_keys(without_seen_at(result.records())) == as_keys(hub.expected_records("library", ["rust"]))


def test_an_output_option_replaces_the_default_feed(hub_server, tmp_path):
    result = run_crawl(hub_server.url, tmp_path, "-a", "repos=rust")
    assert result.returncode == 0, result.stderr[-3000:]
    assert not list((tmp_path / "output").glob("*.jsonl"))
