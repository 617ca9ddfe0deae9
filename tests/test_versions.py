"""Version parsing, alias ranking and version tracks, on tags shaped like the official images'."""

from __future__ import annotations

import dataclasses
import random

import pytest

from hubspider.versions import Version, newest_in_track, parse_version, specificity_key


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("3", Version((3,))),
        ("3.20", Version((3, 20))),
        ("3.20.3", Version((3, 20, 3))),
        ("1.25.4-alpine", Version((1, 25, 4), "", "-alpine")),
        ("3.20.3-alpine3.20", Version((3, 20, 3), "", "-alpine3.20")),
        ("3.12-slim-bookworm", Version((3, 12), "", "-slim-bookworm")),
        ("v2.1.0", Version((2, 1, 0), "v", "")),
        ("v1.2", Version((1, 2), "v", "")),
        ("17-jdk", Version((17,), "", "-jdk")),
        ("3.13-windowsservercore-ltsc2022", Version((3, 13), "", "-windowsservercore-ltsc2022")),
        ("8.0-nanoserver-1809", Version((8, 0), "", "-nanoserver-1809")),
        ("2024.10.1", Version((2024, 10, 1))),
        ("3.14.0rc1", Version((3, 14, 0), "", "rc1")),
        ("1.2.3.4", Version((1, 2, 3, 4))),
        ("1_2", Version((1,), "", "_2")),
        ("0", Version((0,))),
    ],
)
def test_parse_version_reads_version_tags(tag, expected):
    assert parse_version(tag) == expected


@pytest.mark.parametrize(
    "tag",
    [
        "latest",
        "alpine",
        "edge",
        "stable",
        "stable-slim",
        "nightly",
        "mainline-alpine",
        "alpine3.20",
        "sha-abc123",
        "20241001",
        "20241001-alpine",
        "20241001.1",
        "v20241001",
        "",
        "v",
        "3.",
        ".3",
        "3.x",
        "3..20",
        "-3",
        "x3.20",
        "3.20.3 ",
        "3\n",
    ],
)
def test_parse_version_rejects_non_versions(tag):
    assert parse_version(tag) is None


def test_seven_digit_number_is_still_a_version():
    assert parse_version("1234567") == Version((1234567,))


def test_date_stamp_only_counts_in_the_leading_component():
    assert parse_version("1.0.20241001") == Version((1, 0, 20241001))


def test_numbers_are_integers_so_leading_zeros_do_not_matter():
    assert parse_version("3.020").numbers == parse_version("3.20").numbers == (3, 20)


def test_non_ascii_digits_are_not_versions():
    assert parse_version("\u0663.20") is None


def test_version_is_frozen():
    version = Version((1, 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        version.numbers = (1, 3)  # type: ignore[misc]


def test_version_is_hashable_and_compares_by_value():
    assert {Version((1, 2), "v", "-x"), Version((1, 2), "v", "-x")} == {Version((1, 2), "v", "-x")}


def ranked(tags):
    return sorted(tags, key=specificity_key)


@pytest.mark.parametrize(
    "expected",
    [
        ["3.20.3", "3.20", "3", "latest"],
        ["3.20.3-alpine", "3.20-alpine", "3-alpine", "alpine"],
        ["3.12.7-alpine3.20", "3.12.7-alpine", "3.12-alpine3.20", "3.12-alpine", "alpine3.20"],
        ["1.27.2", "1.27", "1", "latest", "mainline"],
        ["21.0.5_11-jdk", "21-jdk", "jdk"],
        ["v2.1.0", "v2.1", "v2", "latest"],
        [
            "3.13.0-windowsservercore-ltsc2022",
            "3.13-windowsservercore-ltsc2022",
            "3-windowsservercore-ltsc2022",
            "windowsservercore-ltsc2022",
        ],
    ],
)
def test_specificity_ranks_aliases_most_specific_first(expected):
    shuffled = list(reversed(expected))
    assert ranked(shuffled) == expected


def test_versions_come_before_names():
    assert ranked(["latest", "edge", "3", "stable"]) == ["3", "edge", "latest", "stable"]


def test_names_without_versions_sort_by_name():
    assert ranked(["stable", "mainline", "edge"]) == ["edge", "mainline", "stable"]


def test_date_stamps_rank_with_names():
    assert ranked(["20241001", "3", "latest"]) == ["3", "20241001", "latest"]


def test_more_components_win_over_bigger_numbers():
    assert ranked(["9", "1.0.0", "10.1"]) == ["1.0.0", "10.1", "9"]


def test_a_suffix_that_pins_a_version_is_more_specific():
    assert ranked(["3.20.3-alpine", "3.20.3", "3.20.3-alpine3.20"]) == [
        "3.20.3-alpine3.20",
        "3.20.3",
        "3.20.3-alpine",
    ]


def test_equal_length_versions_tie_break_by_name():
    assert ranked(["3.20.3-slim", "3.20.3", "3.20.3-alpine"]) == ["3.20.3", "3.20.3-alpine", "3.20.3-slim"]


def test_specificity_order_does_not_depend_on_input_order():
    tags = ["3.20.3", "3.20", "3", "latest", "3.20.3-alpine", "alpine", "edge", "v3.20", "20241001"]
    expected = ranked(tags)
    for seed in range(20):
        shuffled = tags[:]
        random.Random(seed).shuffle(shuffled)
        assert ranked(shuffled) == expected


def test_specificity_key_handles_duplicates_and_empty_input():
    assert ranked(["3", "3", "latest"]) == ["3", "3", "latest"]
    assert ranked([]) == []


@pytest.mark.parametrize(
    ("tag", "candidates", "expected"),
    [
        ("3.20.3", ["3.20.4", "3.20.10", "3.21.0", "3.20.4-alpine"], "3.20.10"),
        ("3.20", ["3.21", "3.22", "4.0", "3.20.4"], "3.22"),
        ("3", ["4", "5"], "5"),
        ("3.20.3-alpine", ["3.20.4-alpine", "3.20.5"], "3.20.4-alpine"),
        ("v2.1.0", ["v2.1.1", "2.1.5", "v2.2.0"], "v2.1.1"),
        ("17-jdk", ["18-jdk", "21-jdk", "21-jre", "21"], "21-jdk"),
        (
            "3.13-windowsservercore-ltsc2022",
            ["3.14-windowsservercore-ltsc2022", "3.14-windowsservercore-1809", "3.15-nanoserver-ltsc2022"],
            "3.14-windowsservercore-ltsc2022",
        ),
        ("2024.10.1", ["2024.10.2", "2024.11.0", "2025.1.0"], "2024.10.2"),
        ("1.2.3.4", ["1.2.3.5", "1.2.4.0", "1.2.3"], "1.2.3.5"),
    ],
)
def test_newest_in_track_finds_the_newest_sibling(tag, candidates, expected):
    assert newest_in_track(tag, candidates) == expected


def test_newest_in_track_compares_numerically():
    assert newest_in_track("3.20.9", ["3.20.10", "3.20.4"]) == "3.20.10"


@pytest.mark.parametrize("tag", ["latest", "alpine", "edge", "stable-slim", "20241001", "sha-abc123"])
def test_newest_in_track_is_none_for_non_versions(tag):
    assert newest_in_track(tag, ["3.20.3", "latest", "20241002", "stable-slim"]) is None


@pytest.mark.parametrize(
    "candidates",
    [
        [],
        ["3.20.3"],
        ["3.20.2", "3.20.1"],
        ["3.21.0", "4.0.0", "3.20.4-alpine", "v3.20.4", "3.20", "3.20.3.1"],
        ["latest", "alpine", "20250101"],
    ],
)
def test_newest_in_track_is_none_without_a_newer_sibling(candidates):
    assert newest_in_track("3.20.3", candidates) is None


def test_newest_in_track_ignores_the_tag_itself():
    assert newest_in_track("3.20.3", ["3.20.3", "3.20.4", "3.20.3"]) == "3.20.4"


def test_equal_numbers_with_other_spelling_are_not_newer():
    assert newest_in_track("3.20.10", ["3.20.010"]) is None


def test_equal_numbers_pick_one_name_regardless_of_order():
    candidates = ["3.20.010", "3.20.10"]
    assert newest_in_track("3.20.3", candidates) == "3.20.10"
    assert newest_in_track("3.20.3", reversed(candidates)) == "3.20.10"


def test_one_component_track_ignores_longer_and_suffixed_tags():
    assert newest_in_track("3", ["3.21", "4.0.1", "4-alpine", "4"]) == "4"


def test_two_component_track_stays_within_the_major():
    assert newest_in_track("3.20", ["4.0", "4.1"]) is None


def test_prefix_must_match_exactly():
    assert newest_in_track("v1.2", ["1.3", "V1.4"]) is None


def test_newest_in_track_accepts_a_one_shot_iterable():
    assert newest_in_track("3.20.3", (tag for tag in ["3.20.4", "3.20.5"])) == "3.20.5"
