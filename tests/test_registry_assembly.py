"""One repository's tags put together from a registry's answers (registry/assembly.py), from real
index and config bytes (fakehub.content): the tags and their records, and when a page is whole."""

from __future__ import annotations

import json
from collections import Counter
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest

from fakehub.content import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    ImageContent,
    Recipe,
    Step,
    index_bytes,
    make_attestation,
    make_image,
    make_layer,
    sha256_digest,
)
from hubspider.items import TagItem
from hubspider.planning import Continuation
from hubspider.records import tag_records
from hubspider.registry.assembly import (
    RepositoryRead,
    TagsPage,
    Target,
    image_target,
    index_target,
    tag_entry,
)
from hubspider.registry.content import (
    IndexEntry,
    ManifestProblem,
    PlatformFields,
    config_platform,
    parse_index,
    platform_fields,
)

if TYPE_CHECKING:
    from hubspider.records import DigestRecord

HOST = "mcr.microsoft.com"
REPOSITORY = "dotnet/runtime"
SEEN_AT = "2026-11-22T10:00:00Z"
RECIPE = Recipe.of(
    (Step("2026-11-01T00:00:00Z", "ADD rootfs.tar /"), Step("2026-11-01T00:00:00Z", "RUN make")), ()
)


def image(
    os: str,
    architecture: str,
    variant: str | None = None,
    os_version: str | None = None,
    media_type: str = OCI_MANIFEST,
) -> ImageContent:
    key = "/".join(part for part in (os, architecture, variant, os_version) if part)
    layers = (make_layer(f"assembly/base/{key}"), make_layer(f"assembly/own/{key}"))
    return make_image(
        media_type=media_type,
        os=os,
        architecture=architecture,
        variant=variant,
        os_version=os_version,
        recipe=RECIPE,
        layers=layers,
    )


AMD64 = image("linux", "amd64")
ARM64 = image("linux", "arm64", "v8")
WINDOWS = image("windows", "amd64", os_version="10.0.20348.2849")
IMAGES = (AMD64, ARM64, WINDOWS)
ATTESTATIONS = tuple(make_attestation(member.digest, f"assembly/{member.digest}") for member in IMAGES)
INDEX = index_bytes(OCI_INDEX, IMAGES, ATTESTATIONS, "8.0")
INDEX_DIGEST = sha256_digest(INDEX)


def index_entries(body: bytes = INDEX) -> tuple[IndexEntry, ...]:
    return parse_index(body)


def an_index(body: bytes = INDEX, media_type: str = OCI_INDEX) -> Target:
    return index_target(sha256_digest(body), media_type, index_entries(body))


def a_single_image(member: ImageContent = AMD64) -> Target:
    return image_target(member.digest, member.media_type, member.size, config_platform(member.config()))


def records_of(tag: dict[str, Any]) -> tuple[list[DigestRecord], Counter[str]]:
    skipped: Counter[str] = Counter()
    return tag_records(tag, HOST, REPOSITORY, SEEN_AT, skipped), skipped


def expected_image(member: ImageContent) -> dict[str, Any]:
    return {
        "digest": member.digest,
        "os": member.os,
        "architecture": member.architecture,
        "variant": member.variant,
        "os_version": member.os_version,
        "size": member.size,
    }


def continuation(page: int = 1) -> Continuation:
    url = f"https://{HOST}/v2/{REPOSITORY}/tags/list?n=2&page={page}"
    return Continuation("tags", url, REPOSITORY, page=page)


def tags_page(*names: str, page: int = 1) -> TagsPage:
    return TagsPage(continuation(page), list(names), [])


def target(digest: str) -> Target:
    return Target(digest, OCI_MANIFEST, ())


D1, D2 = "sha256:" + "1" * 64, "sha256:" + "2" * 64


# The content helpers the targets are built from (not covered by test_registry_content.py).


def test_an_index_entry_states_its_platform_field_by_field() -> None:
    entries = {entry.digest: entry for entry in index_entries()}
    assert entries[ARM64.digest].stated == PlatformFields("linux", "arm64", "v8", None)
    assert entries[WINDOWS.digest].stated == PlatformFields("windows", "amd64", None, "10.0.20348.2849")


def test_an_attestation_entry_states_unknown_and_has_no_platform() -> None:
    entries = {entry.digest: entry for entry in index_entries()}
    for attestation in ATTESTATIONS:
        assert entries[attestation.digest].platform is None
        assert entries[attestation.digest].stated == PlatformFields("unknown", "unknown", None, None)


def test_an_index_entry_size_is_its_descriptor_s() -> None:
    entries = {entry.digest: entry for entry in index_entries()}
    for member in IMAGES:
        assert entries[member.digest].size == member.size == len(member.manifest())


def entry_with_size(size: object) -> IndexEntry:
    descriptor = {"mediaType": OCI_MANIFEST, "digest": D1, "size": size, "platform": {"os": "linux"}}
    (entry,) = parse_index(json.dumps({"schemaVersion": 2, "manifests": [descriptor]}).encode())
    return entry


@pytest.mark.parametrize("size", [True, False, -1, 1.5, "12", None, [3]])
def test_an_index_entry_size_that_is_not_a_count_of_bytes_is_none(size: object) -> None:
    assert entry_with_size(size).size is None


def test_an_index_entry_size_of_zero_is_kept() -> None:
    assert entry_with_size(0).size == 0


def test_an_entry_without_a_size_has_none() -> None:
    (entry,) = parse_index(json.dumps({"manifests": [{"digest": D1, "platform": {}}]}).encode())
    assert entry.size is None
    assert entry.stated == PlatformFields()


def test_platform_fields_reads_os_version_with_its_dot() -> None:
    document = {"os": "windows", "architecture": "amd64", "os.version": "10.0.17763.6532"}
    assert platform_fields(document) == PlatformFields("windows", "amd64", None, "10.0.17763.6532")


@pytest.mark.parametrize("value", [None, "", 3, True, ["linux"], {"name": "linux"}])
def test_platform_fields_that_are_not_text_are_none(value: object) -> None:
    document = {"os": value, "architecture": value, "variant": value, "os.version": value}
    assert platform_fields(document) == PlatformFields()


def test_platform_fields_ignore_the_rest() -> None:
    document = {
        "os": "linux",
        "architecture": "arm",
        "variant": "v7",
        "features": ["sse4"],
        "os_version": "x",
    }
    assert platform_fields(document) == PlatformFields("linux", "arm", "v7", None)


@pytest.mark.parametrize("member", IMAGES, ids=lambda member: member.platform_json())
def test_config_platform_of_a_real_config(member: ImageContent) -> None:
    assert config_platform(member.config()) == PlatformFields(
        member.os, member.architecture, member.variant, member.os_version
    )


def test_config_platform_of_a_config_naming_none() -> None:
    assert config_platform(b'{"rootfs": {"diff_ids": []}}') == PlatformFields()


def test_config_platform_needs_no_layers() -> None:
    # Unlike parse_config: only the platform is read, whatever else the config holds.
    assert config_platform(b'{"os": "linux", "architecture": "s390x"}') == PlatformFields("linux", "s390x")


@pytest.mark.parametrize(
    ("body", "said"),
    [(b"<html>", "config is not JSON"), (b"[]", "config is a JSON list, not an object")],
)
def test_config_platform_of_what_is_no_config_is_refused_in_one_line(body: bytes, said: str) -> None:
    with pytest.raises(ManifestProblem, match=said) as raised:
        config_platform(body)
    assert "\n" not in str(raised.value)


# index_target, image_target, tag_entry.


def test_an_index_target_lists_every_entry_attestations_included() -> None:
    assert [entry["digest"] for entry in an_index().images] == [
        *(member.digest for member in IMAGES),
        *(attestation.digest for attestation in ATTESTATIONS),
    ]


def test_an_index_target_keeps_the_index_s_digest_and_media_type() -> None:
    assert an_index().digest == INDEX_DIGEST
    assert an_index().media_type == OCI_INDEX


def test_an_index_target_s_images_have_the_stated_platforms_and_sizes() -> None:
    assert list(an_index().images[: len(IMAGES)]) == [expected_image(member) for member in IMAGES]


def test_an_attestation_keeps_its_unknown_platform() -> None:
    for entry, attestation in zip(an_index().images[len(IMAGES) :], ATTESTATIONS, strict=True):
        assert entry == {
            "digest": attestation.digest,
            "os": "unknown",
            "architecture": "unknown",
            "variant": None,
            "os_version": None,
            "size": attestation.size,
        }


def test_an_image_target_is_its_own_one_image() -> None:
    single = a_single_image(ARM64)
    assert single.digest == ARM64.digest
    assert single.media_type == OCI_MANIFEST
    assert single.images == (expected_image(ARM64),)


def test_a_tag_entry_has_the_hub_api_s_shape() -> None:
    tag = tag_entry("8.0", an_index())
    assert tag == {
        "name": "8.0",
        "digest": INDEX_DIGEST,
        "media_type": OCI_INDEX,
        "images": list(an_index().images),
    }


@pytest.mark.parametrize("made", [an_index, a_single_image], ids=["index", "single"])
def test_a_tag_entry_passes_the_tag_schema(made: Any) -> None:
    jsonschema.validate(tag_entry("8.0", made()), TagItem.jsonschema)


def test_a_tag_entry_without_a_media_type_passes_the_tag_schema() -> None:
    jsonschema.validate(tag_entry("8.0", Target(D1, None, ())), TagItem.jsonschema)


# Their records, by the library crawl's rules.


def test_an_index_tag_gives_a_record_per_platform_image_and_one_for_the_index() -> None:
    records, _ = records_of(tag_entry("8.0", an_index()))
    assert [(record["digest"], record["kind"]) for record in records] == [
        *((member.digest, "image") for member in IMAGES),
        (INDEX_DIGEST, "index"),
    ]


def test_attestations_give_no_record_and_are_counted_as_not_a_platform() -> None:
    records, skipped = records_of(tag_entry("8.0", an_index()))
    digests = {record["digest"] for record in records}
    assert not digests & {attestation.digest for attestation in ATTESTATIONS}
    assert skipped == Counter({"not_a_platform": len(ATTESTATIONS)})


def test_an_index_tag_s_image_records_name_the_host_path_and_platform() -> None:
    records, _ = records_of(tag_entry("8.0", an_index()))
    windows = next(record for record in records if record["digest"] == WINDOWS.digest)
    assert windows == {
        "digest": WINDOWS.digest,
        "namespace": HOST,
        "repository": REPOSITORY,
        "tag": "8.0",
        "image": f"{HOST}/{REPOSITORY}:8.0",
        "platform": "windows/amd64",
        "kind": "image",
        "os": "windows",
        "architecture": "amd64",
        "variant": None,
        "os_version": "10.0.20348.2849",
        "tag_digest": INDEX_DIGEST,
        "media_type": OCI_INDEX,
        "size": WINDOWS.size,
        "last_pushed": None,
        "seen_at": SEEN_AT,
    }


def test_a_variant_is_part_of_the_record_s_platform() -> None:
    records, _ = records_of(tag_entry("8.0", an_index()))
    assert (
        next(record for record in records if record["digest"] == ARM64.digest)["platform"] == "linux/arm64/v8"
    )


def test_a_manifest_list_tag_is_an_index_record_too() -> None:
    members = tuple(
        image(member.os, member.architecture, member.variant, member.os_version, DOCKER_MANIFEST)
        for member in IMAGES[:2]
    )
    body = index_bytes(DOCKER_LIST, members, ())
    records, skipped = records_of(tag_entry("8", an_index(body, DOCKER_LIST)))
    assert [record["kind"] for record in records] == ["image", "image", "index"]
    assert records[-1]["media_type"] == DOCKER_LIST
    assert not skipped


def test_a_single_image_tag_gives_one_image_record_and_no_index_record() -> None:
    records, skipped = records_of(tag_entry("latest", a_single_image(AMD64)))
    assert len(records) == 1
    assert records[0]["digest"] == records[0]["tag_digest"] == AMD64.digest
    assert records[0]["kind"] == "image"
    assert records[0]["platform"] == "linux/amd64"
    assert records[0]["size"] == AMD64.size
    assert not skipped


def test_an_index_of_attestations_only_gives_just_the_index_record() -> None:
    body = index_bytes(OCI_INDEX, (), ATTESTATIONS[:1], "orphan")
    records, skipped = records_of(tag_entry("orphan", an_index(body)))
    assert [(record["digest"], record["kind"]) for record in records] == [(sha256_digest(body), "index")]
    assert skipped == Counter({"not_a_platform": 1})


# TagsPage.


def test_a_tags_page_names_its_repository() -> None:
    assert tags_page("8.0").repository == REPOSITORY


def test_a_page_with_nothing_resolved_is_not_whole() -> None:
    assert not tags_page("8.0", "9.0").whole


def test_an_empty_page_is_whole() -> None:
    assert tags_page().whole


def test_a_page_is_not_whole_while_a_tag_waits() -> None:
    page = tags_page("8.0", "9.0")
    page.resolved["8.0"] = target(D1)
    assert not page.whole


def test_a_page_is_whole_once_each_tag_is_resolved_gone_or_lost() -> None:
    page = tags_page("8.0", "9.0", "10.0")
    page.resolved["8.0"] = target(D1)
    page.gone.add("9.0")
    assert not page.whole
    page.lost["10.0"] = "HEAD failed"
    assert page.whole


def test_a_page_s_tags_are_the_resolved_ones_in_the_listing_s_order() -> None:
    page = tags_page("9.0", "8.0", "gone", "lost", "latest")
    page.resolved["latest"] = target(D2)
    page.resolved["8.0"] = target(D1)
    page.resolved["9.0"] = target(D2)
    page.gone.add("gone")
    page.lost["lost"] = "failed"
    assert [tag["name"] for tag in page.tags()] == ["9.0", "8.0", "latest"]
    assert [tag["digest"] for tag in page.tags()] == [D2, D1, D2]


def test_a_page_without_resolved_tags_has_none() -> None:
    assert tags_page("8.0").tags() == []


# RepositoryRead: digests pointed to, fetched, failed.


def test_the_first_tag_of_a_digest_asks_for_its_fetch() -> None:
    read, page = RepositoryRead(), tags_page("8.0")
    assert read.pointed(page, "8.0", D1)
    assert read.waiting == {D1: [(page, "8.0")]}
    assert not page.resolved


def test_an_alias_tag_waits_for_the_same_fetch() -> None:
    read, page = RepositoryRead(), tags_page("8.0", "8")
    assert read.pointed(page, "8.0", D1)
    assert not read.pointed(page, "8", D1)
    assert read.waiting == {D1: [(page, "8.0"), (page, "8")]}


def test_an_alias_on_another_page_waits_too() -> None:
    read, first, second = RepositoryRead(), tags_page("8.0"), tags_page("latest", page=2)
    assert read.pointed(first, "8.0", D1)
    assert not read.pointed(second, "latest", D1)
    assert read.fetched(target(D1)) == [(first, "8.0"), (second, "latest")]
    assert first.whole
    assert second.whole


def test_another_digest_asks_for_its_own_fetch() -> None:
    read, page = RepositoryRead(), tags_page("8.0", "9.0")
    assert read.pointed(page, "8.0", D1)
    assert read.pointed(page, "9.0", D2)


def test_a_fetch_resolves_the_tags_that_waited() -> None:
    read, page = RepositoryRead(), tags_page("8.0", "8", "9.0")
    read.pointed(page, "8.0", D1)
    read.pointed(page, "8", D1)
    read.pointed(page, "9.0", D2)
    assert read.fetched(target(D1)) == [(page, "8.0"), (page, "8")]
    assert page.resolved == {"8.0": target(D1), "8": target(D1)}
    assert D1 not in read.waiting
    assert D2 in read.waiting
    assert not page.whole


def test_a_digest_already_fetched_resolves_at_once_without_a_fetch() -> None:
    read, first, second = RepositoryRead(), tags_page("8.0"), tags_page("latest", page=2)
    read.pointed(first, "8.0", D1)
    read.fetched(target(D1))
    assert not read.pointed(second, "latest", D1)
    assert second.resolved == {"latest": target(D1)}
    assert read.waiting == {}


def test_a_fetch_nobody_waited_for_is_kept_for_later_tags() -> None:
    read = RepositoryRead()
    assert read.fetched(target(D1)) == []
    assert read.targets == {D1: target(D1)}


def test_a_failed_fetch_loses_the_tags_that_waited() -> None:
    read, page = RepositoryRead(), tags_page("8.0", "8")
    read.pointed(page, "8.0", D1)
    read.pointed(page, "8", D1)
    assert read.fetch_failed(D1, "digest mismatch") == [(page, "8.0"), (page, "8")]
    assert page.lost == {"8.0": "digest mismatch", "8": "digest mismatch"}
    assert read.lost
    assert page.whole
    assert page.tags() == []


def test_a_digest_that_failed_loses_a_later_tag_at_once_without_a_fetch() -> None:
    read, first, second = RepositoryRead(), tags_page("8.0"), tags_page("latest", page=2)
    read.pointed(first, "8.0", D1)
    read.fetch_failed(D1, "HTTP 500")
    assert not read.pointed(second, "latest", D1)
    assert second.lost == {"latest": "HTTP 500"}
    assert read.waiting == {}


def test_a_failed_fetch_nobody_waited_for_loses_nothing() -> None:
    read = RepositoryRead()
    assert read.fetch_failed(D1, "HTTP 500") == []
    assert not read.lost


def test_losing_a_tag_marks_the_page_and_the_read() -> None:
    read, page = RepositoryRead(), tags_page("8.0", "9.0")
    read.lose(page, "9.0", "HEAD answered 500")
    assert page.lost == {"9.0": "HEAD answered 500"}
    assert read.lost


# RepositoryRead: pages whole, and the read complete.


def test_newly_whole_reports_a_whole_page_once() -> None:
    read, page = RepositoryRead(), tags_page()
    assert read.newly_whole([page]) == [page]
    assert read.newly_whole([page]) == []


def test_newly_whole_leaves_out_a_page_still_waiting() -> None:
    read, waiting, whole = RepositoryRead(), tags_page("8.0"), tags_page()
    read.pointed(waiting, "8.0", D1)
    assert read.newly_whole([waiting, whole]) == [whole]
    assert not waiting.reported
    read.fetched(target(D1))
    assert read.newly_whole([waiting, whole]) == [waiting]


def test_a_page_with_a_lost_tag_is_reported_whole() -> None:
    read, page = RepositoryRead(), tags_page("8.0")
    read.lose(page, "8.0", "failed")
    assert read.newly_whole([page]) == [page]


def test_a_read_is_not_finished_before_its_list_is_read() -> None:
    read = RepositoryRead()
    assert not read.finished


def test_a_read_is_finished_once_listed_with_no_page_open() -> None:
    read = RepositoryRead(open_pages=1, listed=True)
    assert not read.finished
    read.page_done()
    assert read.finished


def test_the_last_page_done_completes_a_read_that_lost_nothing() -> None:
    read = RepositoryRead(open_pages=2)
    assert not read.page_done()  # another page is open, and the list is not read to its end
    read.listed = True
    assert read.page_done()
    assert read.open_pages == 0


def test_a_page_done_before_the_list_is_read_completes_nothing() -> None:
    read = RepositoryRead(open_pages=1)
    assert not read.page_done()
    assert not read.finished


def test_a_read_that_lost_something_finishes_but_is_not_complete() -> None:
    read, page = RepositoryRead(open_pages=1, listed=True), tags_page("8.0")
    read.lose(page, "8.0", "failed")
    assert not read.page_done()
    assert read.finished


def test_a_whole_repository_read_from_real_content() -> None:
    """Two pages whose tags share digests: one fetch a digest, each page whole once, then complete."""
    single = a_single_image(ARM64)
    read = RepositoryRead(open_pages=2, listed=True)
    first, second = tags_page("8.0.1", "8.0"), tags_page("8", "latest", page=2)
    fetches = [
        read.pointed(first, "8.0.1", INDEX_DIGEST),
        read.pointed(first, "8.0", INDEX_DIGEST),
        read.pointed(second, "8", INDEX_DIGEST),
        read.pointed(second, "latest", single.digest),
    ]
    assert fetches == [True, False, False, True]
    assert read.newly_whole([first, second]) == []
    read.fetched(an_index())
    assert read.newly_whole([first, second]) == [first]
    assert not read.page_done()
    read.fetched(single)
    assert read.newly_whole([first, second]) == [second]
    assert read.page_done()
    records = [record for page in (first, second) for tag in page.tags() for record in records_of(tag)[0]]
    assert {(record["tag"], record["kind"]) for record in records} == {
        *((tag, kind) for tag in ("8.0.1", "8.0", "8") for kind in ("image", "index")),
        ("latest", "image"),
    }
    assert len(records) == 3 * (len(IMAGES) + 1) + 1
