"""The explode rules, on stored real-shaped tags."""

from __future__ import annotations

from collections import Counter

from hubspider.items import DigestRecordItem
from hubspider.records import image_reference, tag_key, tag_records
from tests.helpers import load_response

SEEN_AT = "2026-11-22T06:00:00Z"


def records_of(file: str, tag: str, namespace: str = "library", repository: str = "alpine"):
    page = load_response(file)
    skipped: Counter[str] = Counter()
    (entry,) = [t for t in page["results"] if t["name"] == tag]
    return tag_records(entry, namespace, repository, SEEN_AT, skipped), skipped


def test_index_tag_gives_one_record_per_platform_and_one_for_the_index():
    records, skipped = records_of("tags_alpine.json", "3.20.3")
    kinds = Counter(record["kind"] for record in records)
    assert kinds == {"image": 8, "index": 1}
    assert not skipped


def test_index_record_has_no_platform_and_points_to_itself():
    records, _ = records_of("tags_alpine.json", "latest")
    (index,) = [record for record in records if record["kind"] == "index"]
    assert index["platform"] is None
    assert index["os"] is index["architecture"] is index["variant"] is None
    assert index["size"] is None
    assert index["digest"] == index["tag_digest"]
    assert index["digest"].startswith("sha256:beefdbd8")


def test_alias_tags_share_digests_but_are_separate_records():
    by_tag = {tag: records_of("tags_alpine.json", tag)[0] for tag in ("latest", "3", "3.20", "3.20.3")}
    digests = {tag: sorted(r["digest"] for r in records) for tag, records in by_tag.items()}
    assert len({tuple(d) for d in digests.values()}) == 1
    assert {r["image"] for r in by_tag["3.20"]} == {"alpine:3.20"}


def test_platform_strings_include_variant_only_when_present():
    records, _ = records_of("tags_alpine.json", "3.20.3")
    platforms = {record["platform"] for record in records}
    assert {"linux/amd64", "linux/arm/v6", "linux/arm/v7", "linux/arm64/v8", "linux/386"} <= platforms
    amd64 = next(r for r in records if r["platform"] == "linux/amd64")
    assert amd64["variant"] is None


def test_image_record_carries_the_tag_digest_and_media_type():
    records, _ = records_of("tags_alpine.json", "3.20.3")
    arm = next(r for r in records if r["platform"] == "linux/arm/v7")
    assert arm["kind"] == "image"
    assert arm["tag_digest"].startswith("sha256:beefdbd8")
    assert arm["media_type"] == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert isinstance(arm["size"], int)
    assert arm["last_pushed"].endswith("Z")
    assert arm["seen_at"] == SEEN_AT


def test_attestation_entries_give_no_record_and_are_counted():
    records, skipped = records_of("tags_alpine.json", "3.19")
    assert all(r["os"] != "unknown" for r in records)
    assert skipped == {"not_a_platform": 1}
    assert Counter(r["kind"] for r in records) == {"image": 8, "index": 1}


def test_missing_tag_digest_key_gives_only_image_records():
    records, skipped = records_of("tags_rust_edge_cases.json", "1.44.0-slim", repository="rust")
    assert records
    assert all(r["kind"] == "image" and r["tag_digest"] is None for r in records)
    assert skipped == {"tag_without_digest": 1}


def test_image_with_null_digest_gives_no_record_and_is_counted():
    records, skipped = records_of("tags_rust_edge_cases.json", "1.43.1-stretch", repository="rust")
    assert skipped == {"image_without_digest": 1}
    assert Counter(r["kind"] for r in records) == {"image": 3, "index": 1}


def test_empty_images_with_a_digest_gives_the_tag_digest_record():
    records, skipped = records_of("tags_rust_edge_cases.json", "1.43.0-slim-stretch", repository="rust")
    (record,) = records
    assert record["kind"] == "image"  # a single manifest's media type, not an index
    assert record["platform"] is None
    assert not skipped


def test_single_platform_tag_gives_one_image_record():
    for tag in ("1.4.2", "1.4.1", "1.4.0"):
        records, _ = records_of("tags_single_platform.json", tag)
        (record,) = records
        assert record["kind"] == "image"
        assert record["digest"] == record["tag_digest"]
        assert record["platform"] is not None


def test_windows_images_keep_os_version():
    records, _ = records_of("tags_windows.json", "3.13-windowsservercore", repository="python")
    windows = [r for r in records if r["kind"] == "image"]
    assert {r["platform"] for r in windows} == {"windows/amd64"}
    assert {r["os_version"] for r in windows} == {"10.0.20348.2762", "10.0.17763.6414"}


def test_records_follow_the_contract_field_order():
    records, _ = records_of("tags_alpine.json", "3.20.3")
    assert all(list(r) == list(DigestRecordItem.fields) for r in records)


def test_image_reference_for_library_and_other_namespaces():
    assert image_reference("library", "alpine", "3.20") == "alpine:3.20"
    assert image_reference("bitnami", "redis", "7") == "bitnami/redis:7"


def test_tag_key_names_a_tag_and_what_it_points_at():
    key = tag_key("library", "alpine", "3.20", "sha256:a")
    assert key == tag_key("library", "alpine", "3.20", "sha256:a")
    assert len(key) == 16
    others = [
        tag_key("library", "alpine", "3.20", "sha256:b"),
        tag_key("library", "alpine", "3.2", "0sha256:a"),  # fields cannot run into each other
        tag_key("library", "alpine3", ".20", "sha256:a"),
        tag_key("bitnami", "alpine", "3.20", "sha256:a"),
    ]
    assert key not in others
    assert len(set(others)) == len(others)
