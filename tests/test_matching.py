"""The detect rules on their own: which official images are bases of an image a user holds,
in what order, with which tags, whether they are current, and what is newer."""

from __future__ import annotations

import hashlib

import pytest

from hubspider.held.image import HeldImage
from hubspider.matching import (
    CURRENT,
    GONE,
    MOVED_ON,
    Candidate,
    CurrentTags,
    NewerPointer,
    PlatformImage,
    RepositoryTag,
    TagState,
    base_entry,
    base_order,
    base_status,
    chain_depths,
    compressed_depths,
    is_exact,
    matched_layers,
    merged,
    newer_entry,
    newer_pointer,
    platform_image,
    tag_order,
)
from hubspider.versions import newest_in_track

T1, T2, T3 = "2026-11-01T00:00:00Z", "2026-11-08T00:00:00Z", "2026-11-15T00:00:00Z"


def sha(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def chains_of(diff_ids: list[str]) -> list[str]:
    """The OCI image spec's chain IDs, written out here rather than imported."""
    chains = [diff_ids[0]]
    for diff_id in diff_ids[1:]:
        chains.append(sha(f"{chains[-1]} {diff_id}"))
    return chains


# The user's image: alpine's layer, python's two, then two of its own.
DIFF_IDS = [sha(f"layer {name}") for name in ("alpine", "python", "pip", "app", "config")]
CHAINS = chains_of(DIFF_IDS)
DEPTHS = chain_depths(DIFF_IDS)


def held(platform: str = "linux/amd64", image_id: str | None = sha("my config"), digests=()) -> HeldImage:
    return HeldImage(platform, image_id, tuple(DIFF_IDS), digests=tuple(digests))


def candidate(name: str, top: str | None = None, platform: str = "linux/amd64", **fields) -> Candidate:
    return Candidate(sha(f"manifest {name}"), sha(f"config {name}"), platform, top_chain=top, **fields)


def state(tag: str, *, current=False, gone=False, moved_at=None, build=1, since=None) -> TagState:
    return TagState(tag, current, gone, moved_at, T1, build, since)


# Chains and depths.


def test_each_chain_id_has_its_depth_from_the_bottom():
    assert {chain: depth for depth, chain in enumerate(CHAINS)} == DEPTHS
    assert DEPTHS[DIFF_IDS[0]] == 0  # the bottom layer's chain ID is its diff_id


def test_an_image_without_layers_has_no_chains():
    assert chain_depths([]) == {}


# Which candidates are bases, and how many layers each accounts for.


@pytest.mark.parametrize("depth", [0, 1, 2, 4])
def test_a_candidate_whose_top_chain_is_at_depth_d_matches_d_plus_1_layers(depth):
    assert matched_layers(candidate("base", CHAINS[depth]), held(), DEPTHS) == depth + 1


def test_a_candidate_whose_top_is_none_of_the_inputs_chains_is_no_base():
    # Its top is the input's diff_id at depth 1, but not the chain there: another base below it.
    assert matched_layers(candidate("other", DIFF_IDS[1]), held(), DEPTHS) is None
    assert matched_layers(candidate("unknown"), held(), DEPTHS) is None


def test_a_candidate_of_another_platform_is_no_base():
    assert matched_layers(candidate("base", CHAINS[0], "linux/arm64/v8"), held(), DEPTHS) is None
    assert matched_layers(candidate("base", CHAINS[0], "windows/amd64"), held(), DEPTHS) is None


@pytest.mark.parametrize(
    ("mine", "theirs", "expected"),
    [
        ("linux/arm64", "linux/arm64/v8", 1),
        ("linux/arm64/v8", "linux/arm64", 1),
        ("linux/arm", "linux/arm/v7", 1),
        ("linux/amd64/v1", "linux/amd64", 1),
        ("linux/arm64", "linux/arm/v7", None),
        ("linux/arm/v6", "linux/arm/v7", None),
        ("linux/arm", "linux/arm/v6", None),
    ],
)
def test_platforms_match_by_their_key_with_the_default_variant(mine, theirs, expected):
    assert matched_layers(candidate("base", CHAINS[0], theirs), held(mine), DEPTHS) == expected


def test_the_same_image_id_is_an_exact_match_of_every_layer():
    me = held()
    same = Candidate(sha("its manifest"), me.image_id, "linux/amd64")
    assert is_exact(same, me)
    assert matched_layers(same, me, DEPTHS) == len(DIFF_IDS)


def test_a_digest_of_the_input_naming_the_platform_manifest_is_exact():
    official = candidate("python")
    assert not is_exact(official, held())
    assert matched_layers(official, held(digests=[official.digest]), DEPTHS) == len(DIFF_IDS)


def test_an_index_digest_of_a_build_holding_the_image_is_exact():
    index = sha("python index")
    official = candidate("python", indexes=frozenset({index}))
    assert matched_layers(official, held(digests=[sha("elsewhere"), index]), DEPTHS) == len(DIFF_IDS)
    assert matched_layers(official, held(digests=[sha("another index")]), DEPTHS) is None


def test_an_unknown_image_id_on_either_side_matches_nothing():
    unindexed = Candidate(sha("manifest"), None, "linux/amd64")
    assert not is_exact(unindexed, held(image_id=None))
    assert matched_layers(unindexed, held(image_id=None), DEPTHS) is None


def test_an_exact_match_of_another_platform_is_no_base():
    me = held("linux/arm64")
    official = Candidate(sha("manifest"), me.image_id, "linux/amd64")
    assert matched_layers(official, me, DEPTHS) is None


def test_an_exact_match_of_an_input_without_layers_matches_zero_layers():
    me = HeldImage("linux/amd64", None, (), digests=(sha("index"),))
    official = candidate("python", indexes=frozenset({sha("index")}))
    assert matched_layers(official, me, chain_depths(me.diff_ids)) == 0


def test_an_image_found_two_ways_keeps_what_each_knew():
    by_chain = candidate("python", CHAINS[2])
    by_index = Candidate(by_chain.digest, None, "linux/amd64", "10.0", indexes=frozenset({sha("i")}))
    both = merged(by_chain, by_index)
    assert both == Candidate(by_chain.digest, by_chain.image_id, "linux/amd64", "10.0", CHAINS[2],
                             frozenset({sha("i")}))  # fmt: skip
    assert merged(by_index, by_chain) == both


# Order: bases deepest first, tags most specific first.


def entry(repository: str, matched: int, tags: list[str], name: str = "x", namespace: str = "library"):
    official = candidate(name)
    states = [state(tag, current=True) for tag in tags]
    return base_entry(official, namespace, repository, tags=states, matched=matched, newer=None)


def test_bases_come_deepest_first_then_by_namespace_repository_first_tag_digest():
    entries = [
        entry("alpine", 1, ["3.20.3"]),
        entry("python", 3, ["3.12.7-alpine3.20"], "b"),
        entry("python", 3, ["3.12.7-alpine3.20"], "a"),
        entry("pypy", 3, ["3.10"]),
        entry("python", 3, ["3.11.9-alpine3.20"]),
        entry("python", 3, ["3.13"], namespace="bitnami"),
    ]
    order = [
        (e["namespace"], e["repository"], e["tags"][0], e["digest"]) for e in sorted(entries, key=base_order)
    ]
    assert order == [
        ("bitnami", "python", "3.13", candidate("x").digest),
        ("library", "pypy", "3.10", candidate("x").digest),
        ("library", "python", "3.11.9-alpine3.20", candidate("x").digest),
        *sorted([("library", "python", "3.12.7-alpine3.20", candidate(n).digest) for n in "ab"]),
        ("library", "alpine", "3.20.3", candidate("x").digest),
    ]


def test_tags_are_most_specific_first_each_once():
    # More version numbers first; equal counts by name (versions.specificity_key).
    tags = ["3.12-alpine3.20", "latest", "3.12.7-alpine3.20", "3.12-alpine", "3.12-alpine3.20"]
    assert tag_order(tags) == ["3.12.7-alpine3.20", "3.12-alpine3.20", "3.12-alpine", "latest"]
    assert tag_order(["3", "3.20", "latest", "3.20.3", "alpine"]) == [
        "3.20.3",
        "3.20",
        "3",
        "alpine",
        "latest",
    ]


def test_a_base_entry_names_the_image_by_its_most_specific_tag():
    official = candidate("python", platform="linux/arm64/v8")
    states = [state("3.12-alpine", current=True), state("3.12.7-alpine3.20", current=True)]
    assert base_entry(official, "library", "python", tags=states, matched=3, newer=None) == {
        "namespace": "library",
        "repository": "python",
        "image": "python:3.12.7-alpine3.20",
        "tags": ["3.12.7-alpine3.20", "3.12-alpine"],
        "digest": official.digest,
        "image_id": official.image_id,
        "platform": "linux/arm64/v8",
        "matched_layers": 3,
        "status": CURRENT,
        "newer": None,
    }


def test_another_namespace_is_named_with_it():
    assert entry("redis", 2, ["7.4"], namespace="bitnami")["image"] == "bitnami/redis:7.4"


def test_a_repository_holding_the_image_without_known_tags_names_it_by_digest():
    official = candidate("python")
    found = base_entry(official, "library", "python", tags=[], matched=2, newer=None)
    assert (found["image"], found["tags"], found["status"]) == (f"python@{official.digest}", [], GONE)


# Status.


def test_a_base_a_tag_points_to_now_is_current():
    assert base_status([state("3.20", gone=True), state("3.20.3", current=True)]) == CURRENT


def test_a_base_whose_tags_all_point_elsewhere_has_moved_on():
    assert base_status([state("3.20", moved_at=T2), state("3.20.3", gone=True)]) == MOVED_ON


def test_a_base_whose_tags_are_all_deleted_is_gone():
    assert base_status([state("3.20", gone=True), state("3.20.3", gone=True)]) == GONE


# Newer.

REPOSITORY = CurrentTags(
    [RepositoryTag("3.20.3", 1, T1), RepositoryTag("3.20.4", 7, T3), RepositoryTag("3.21", 8, T2),
     RepositoryTag("3.20", 9, T2), RepositoryTag("latest", 8, T2)]
)  # fmt: skip


def test_a_newer_tag_in_the_track_points_to_its_build_since_it_appeared():
    tags = [state("3.20.3", current=True), state("3.20", moved_at=T2, build=9)]
    assert newer_pointer(tags, REPOSITORY) == NewerPointer("3.20.4", 7, T3)


TAGS = [
    "3.20.3",
    "3.20.4",
    "3.20.10",
    "3.020.11",
    "3.21",
    "3.9",
    "4.0",
    "v3.21",
    "v3.22",
    "3.20-alpine",
    "3.21-alpine",
    "3.21-alpine3.20",
    "3.20.4-alpine",
    "20241001",
    "latest",
    "3",
    "4",
    "edge",
    "1.2.3.4",
]


@pytest.mark.parametrize("tag", [*TAGS, "3.19", "v3.1", "2", "3.20.2-alpine", "nightly"])
def test_current_tags_find_the_same_newer_tag_as_versions_does(tag):
    current = CurrentTags(RepositoryTag(name, number, T1) for number, name in enumerate(TAGS))
    found = current.newest_in_track(tag)
    assert (found.tag if found else None) == newest_in_track(tag, TAGS)


def test_a_moved_tag_points_to_where_it_is_now_since_it_moved():
    tags = [state("latest", moved_at=T2, build=8)]
    assert newer_pointer(tags, REPOSITORY) == NewerPointer("latest", 8, T2)


def test_the_most_specific_tag_with_something_newer_decides():
    # 3.20.4 is current with nothing newer in its track; latest moved on: latest decides.
    tags = [state("latest", moved_at=T2, build=8), state("3.20.4", current=True, build=7)]
    assert newer_pointer(tags, REPOSITORY) == NewerPointer("latest", 8, T2)
    # 3.20 has 3.21 in its track, and comes before latest.
    tags = [state("latest", moved_at=T2, build=8), state("3.20", current=True, build=9)]
    assert newer_pointer(tags, REPOSITORY) == NewerPointer("3.21", 8, T2)


def test_a_track_newer_wins_over_the_same_tag_having_moved():
    tags = [state("3.20.3", moved_at=T2, build=5)]
    assert newer_pointer(tags, REPOSITORY) == NewerPointer("3.20.4", 7, T3)


def test_a_deleted_tag_still_has_a_newer_tag_in_its_track():
    tags = [state("3.20.3", gone=True, build=1)]
    current = CurrentTags(tag for tag in REPOSITORY.by_name.values() if tag.tag != "3.20.3")
    assert newer_pointer(tags, current) == NewerPointer("3.20.4", 7, T3)


def test_a_moved_tag_without_moved_at_is_newer_since_it_was_seen_pointing_there():
    tags = [state("latest", build=8, since=T2)]
    assert newer_pointer(tags, REPOSITORY) == NewerPointer("latest", 8, T2)


def test_current_tags_with_nothing_newer_and_deleted_tags_give_no_newer():
    assert newer_pointer([state("3.20.4", current=True), state("3.20.5-rc", gone=True)], REPOSITORY) is None
    assert newer_pointer([state("latest", current=True, build=8)], REPOSITORY) is None
    assert newer_pointer([], REPOSITORY) is None


def test_newer_names_the_builds_image_for_the_bases_platform():
    pointer = NewerPointer("3.20.4", 7, T3)
    assert newer_entry(pointer, sha("new"), sha("old"), "library", "alpine") == {
        "tag": "3.20.4",
        "image": "alpine:3.20.4",
        "digest": sha("new"),
        "since": T3,
    }


def test_no_newer_without_an_image_for_the_platform_or_when_it_is_the_base_itself():
    pointer = NewerPointer("latest", 8, T2)
    assert newer_entry(pointer, None, sha("old"), "library", "alpine") is None
    assert newer_entry(pointer, sha("old"), sha("old"), "library", "alpine") is None
    assert newer_entry(None, sha("new"), sha("old"), "library", "alpine") is None


BUILD = [
    PlatformImage(sha("amd64"), "linux/amd64"),
    PlatformImage(sha("arm64"), "linux/arm64/v8"),
    PlatformImage(sha("armv6"), "linux/arm/v6"),
    PlatformImage(sha("ltsc2019"), "windows/amd64", "10.0.17763"),
    PlatformImage(sha("ltsc2022"), "windows/amd64", "10.0.20348"),
]


@pytest.mark.parametrize(
    ("platform", "os_version", "expected"),
    [
        ("linux/arm64", None, sha("arm64")),
        ("linux/arm64/v8", None, sha("arm64")),
        ("linux/amd64", None, sha("amd64")),
        ("linux/arm/v7", None, None),
        ("linux/s390x", None, None),
        ("windows/amd64", "10.0.20348", sha("ltsc2022")),
        ("windows/amd64", "10.0.17763", sha("ltsc2019")),
    ],
)
def test_a_builds_image_for_a_platform_is_found_by_its_key_and_os_version(platform, os_version, expected):
    assert platform_image(BUILD, platform, os_version) == expected


# Images the layer index lacks: matched by the chain of their announced compressed digests.

GZIPPED = [sha(f"gzip {name}") for name in ("alpine", "python", "pip", "app", "config")]
GZIP_CHAINS = chains_of(GZIPPED)


def pulled(platform: str = "linux/amd64", layer_digests=tuple(GZIPPED)) -> HeldImage:
    return HeldImage(platform, sha("my config"), tuple(DIFF_IDS), layer_digests)


def announced(top: str, platform: str = "linux/amd64") -> Candidate:
    return Candidate(sha("manifest announced"), None, platform, compressed_top=top)


def test_compressed_depths_are_the_chains_of_the_compressed_digests():
    assert compressed_depths(pulled()) == {chain: depth for depth, chain in enumerate(GZIP_CHAINS)}


@pytest.mark.parametrize("layer_digests", [None, (), tuple(GZIPPED[:3])])
def test_without_one_compressed_digest_per_diff_id_there_are_no_compressed_depths(layer_digests):
    assert compressed_depths(pulled(layer_digests=layer_digests)) == {}


@pytest.mark.parametrize("depth", [0, 2, 4])
def test_an_announced_image_whose_compressed_top_is_at_depth_d_matches_d_plus_1_layers(depth):
    me = pulled()
    assert matched_layers(announced(GZIP_CHAINS[depth]), me, DEPTHS, compressed_depths(me)) == depth + 1


def test_an_announced_image_needs_the_inputs_compressed_digests_and_platform():
    me = pulled()
    found = announced(GZIP_CHAINS[1])
    assert matched_layers(found, me, DEPTHS) is None
    assert matched_layers(found, me, DEPTHS, {}) is None
    assert matched_layers(found, me, DEPTHS, compressed_depths(pulled(layer_digests=None))) is None
    assert matched_layers(announced(GZIP_CHAINS[1], "linux/arm64"), me, DEPTHS, compressed_depths(me)) is None
    # A compressed digest alone, not its chain, is no match above the bottom layer.
    assert matched_layers(announced(GZIPPED[1]), me, DEPTHS, compressed_depths(me)) is None


def test_an_indexed_image_is_matched_by_its_diff_id_chain_alone():
    me = pulled()
    indexed = Candidate(sha("m"), sha("c"), "linux/amd64", top_chain=CHAINS[1], compressed_top=GZIP_CHAINS[3])
    assert matched_layers(indexed, me, DEPTHS, compressed_depths(me)) == 2
    unmatched = Candidate(
        sha("m"), sha("c"), "linux/amd64", top_chain=sha("x"), compressed_top=GZIP_CHAINS[3]
    )
    assert matched_layers(unmatched, me, DEPTHS, compressed_depths(me)) is None


def test_an_announced_image_named_by_a_digest_too_is_exact_and_keeps_its_compressed_top():
    by_digest = Candidate(sha("manifest announced"), None, "linux/amd64", indexes=frozenset({sha("index")}))
    both = merged(by_digest, announced(GZIP_CHAINS[1]))
    assert both.compressed_top == GZIP_CHAINS[1]
    me = HeldImage("linux/amd64", None, tuple(DIFF_IDS), tuple(GZIPPED), digests=(sha("index"),))
    assert matched_layers(both, me, DEPTHS, compressed_depths(me)) == len(DIFF_IDS)
