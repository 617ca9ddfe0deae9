"""Digests as the store keys them: a `sha256:` digest as its 32 bytes rather than 71 characters,
which halves the digest index and makes a build's key a few bytes in every row that names it.

Anything else that takes a digest's place (a tag's image digests joined by commas when Hub
gives no tag digest, or a test's made-up target) is kept as text. SQLite orders every text
before every blob, so the two kinds never meet in a range of keys.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

SHA256_PREFIX = "sha256:"
SHA256 = re.compile(r"sha256:[0-9a-f]{64}")
HEX = re.compile(r"[0-9a-f]{1,64}")

# Above every 32-byte key: blobs compare byte by byte, then the shorter first.
ABOVE_EVERY_DIGEST = b"\xff" * 33


def digest_key(digest: str) -> bytes | str:
    """How the store keys `digest`: the 32 bytes of a sha256 digest, anything else as it is."""
    if SHA256.fullmatch(digest):
        return bytes.fromhex(digest[len(SHA256_PREFIX) :])
    return digest


def digest_text(key: bytes | str) -> str:
    """The digest (or target) a key stands for: `digest_key` undone."""
    if isinstance(key, bytes):
        return SHA256_PREFIX + key.hex()
    return key


def key_range(prefix: str) -> tuple[bytes | str, bytes | str]:
    """The keys of the digests that start with `prefix`, as (lowest, above the highest).

    A `sha256:` prefix with an odd number of hex characters ends in half a byte: its range
    runs from that nibble's first byte to the next nibble's."""
    hex_digits = prefix.removeprefix(SHA256_PREFIX)
    if not (prefix.startswith(SHA256_PREFIX) and HEX.fullmatch(hex_digits)):
        return prefix, text_successor(prefix)
    padding = "0" * (len(hex_digits) % 2)
    following = int(hex_digits, 16) + 1
    if following == 16 ** len(hex_digits):
        return bytes.fromhex(hex_digits + padding), ABOVE_EVERY_DIGEST
    following_digits = f"{following:0{len(hex_digits)}x}"
    return bytes.fromhex(hex_digits + padding), bytes.fromhex(following_digits + padding)


def text_successor(prefix: str) -> str:
    """The first text above every text that starts with `prefix` (not empty)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


# SQLite's default limit of bound parameters is 999 on older builds.
IN_CHUNK = 500


def chunks(keys: Sequence[bytes | str]) -> Iterator[tuple[str, Sequence[bytes | str]]]:
    """`keys` in slices that fit SQLite's parameter limit, each with its `?` marks."""
    for start in range(0, len(keys), IN_CHUNK):
        part = keys[start : start + IN_CHUNK]
        yield ",".join("?" * len(part)), part
