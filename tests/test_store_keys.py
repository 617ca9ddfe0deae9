"""Digests as the store keys them, and the key ranges that a lookup by prefix scans."""

from __future__ import annotations

import pytest

from hubspider.store.keys import ABOVE_EVERY_DIGEST, digest_key, digest_text, key_range, text_successor

DIGEST = "sha256:9cee2b382fe2412cd77d5d437d15a93da8de373813621f2e4d406e3df0cf0e7c"


def test_a_sha256_digest_is_keyed_by_its_32_bytes():
    key = digest_key(DIGEST)
    assert key == bytes.fromhex(DIGEST[7:])
    assert len(key) == 32
    assert digest_text(key) == DIGEST


@pytest.mark.parametrize(
    "target",
    [
        f"{DIGEST},{DIGEST}",  # a tag's image digests, joined
        DIGEST.upper(),
        DIGEST[:-1],
        DIGEST + "0",
        "sha512:" + "0" * 64,
        "sha256:" + "g" * 64,
        "x",
        "",
    ],
)
def test_anything_else_is_kept_as_text(target):
    assert digest_key(target) == target
    assert digest_text(target) == target


def in_range(key: bytes | str, prefix: str) -> bool:
    low, high = key_range(prefix)
    return type(key) is type(low) and low <= key < high


@pytest.mark.parametrize("length", [1, 12, 13, 63, 64])
def test_the_key_range_of_a_prefix_holds_exactly_the_digests_that_start_with_it(length):
    prefix = DIGEST[: 7 + length]
    assert in_range(digest_key(DIGEST), prefix)
    for neighbour in ("0" * 64, "f" * 64, DIGEST[7 : 7 + length - 1] + "f" * (65 - length)):
        assert in_range(digest_key(f"sha256:{neighbour}"), prefix) == neighbour.startswith(prefix[7:])


def test_an_odd_prefix_ends_in_half_a_byte():
    assert key_range("sha256:abc") == (bytes.fromhex("abc0"), bytes.fromhex("abd0"))


def test_a_prefix_of_all_f_has_no_next_prefix():
    low, high = key_range("sha256:fff")
    assert (low, high) == (bytes.fromhex("fff0"), ABOVE_EVERY_DIGEST)
    assert in_range(digest_key("sha256:" + "f" * 64), "sha256:fff")


def test_a_prefix_that_is_not_sha256_hex_is_a_text_range():
    assert key_range("x,y") == ("x,y", "x,z")
    assert key_range("sha256:ABC") == ("sha256:ABC", "sha256:ABD")
    assert text_successor("sha256:9") == "sha256::"
