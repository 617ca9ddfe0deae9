"""Reading version numbers out of image tags, to rank the aliases of one digest and to spot newer tags.

A digest is usually pushed under several alias tags (``3.20.3``, ``3.20``, ``3``, ``latest``); the
most specific one names it best, and a tag's version track says which later tags supersede it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

# Docker tags are [A-Za-z0-9_][A-Za-z0-9_.-]*; a suffix must start with a separator or a letter so
# that "3.20" cannot also be read as "3" followed by ".20".
VERSION_TAG = re.compile(
    r"(?P<prefix>[vV]?)(?P<numbers>[0-9]+(?:\.[0-9]+)*)(?P<suffix>(?:[-_A-Za-z][A-Za-z0-9_.-]*)?)",
    re.ASCII,
)
SUFFIX_NUMBERS = re.compile(r"[0-9]+")
# A leading component this long is a build stamp such as 20241001, not a release number.
STAMP_DIGITS = 8


@dataclass(frozen=True, slots=True)
class Version:
    """The parts of a version-like tag that decide its rank and its track."""

    numbers: tuple[int, ...]
    prefix: str = ""
    suffix: str = ""


def parse_version(tag: str) -> Version | None:
    """The version a tag spells, or None for names and build stamps that carry no release order."""
    match = VERSION_TAG.fullmatch(tag)
    if match is None:
        return None
    parts = match["numbers"].split(".")
    if len(parts[0]) >= STAMP_DIGITS:
        return None
    return Version(tuple(int(part) for part in parts), match["prefix"], match["suffix"])


def specificity_key(tag: str) -> tuple[int, int, int, str]:
    """Sort key putting the most specific alias first, so the tag that best names a digest leads.

    Version-like tags come before the rest, more numeric components first, then those whose suffix
    pins more (`3.12-alpine3.20` before `3.12-alpine`); the tag name breaks ties and orders the
    tags with no version, so the result never depends on input order.
    """
    version = parse_version(tag)
    if version is None:
        return (1, 0, 0, tag)
    return (0, -len(version.numbers), -len(SUFFIX_NUMBERS.findall(version.suffix)), tag)


def track(version: Version) -> tuple[str, str, int, tuple[int, ...]]:
    """What two versions must share to be successive releases of one line, e.g. 3.20.x-alpine."""
    return (version.prefix, version.suffix, len(version.numbers), version.numbers[:-1])


def newest_in_track(tag: str, candidates: Iterable[str]) -> str | None:
    """The newest candidate that supersedes ``tag`` in its track, or None when ``tag`` is current.

    Numbers compare as integers so 3.20.10 beats 3.20.4; of tags with equal numbers (3.20.010 and
    3.20.10) the greatest name wins so the answer does not depend on candidate order.
    """
    version = parse_version(tag)
    if version is None:
        return None
    line = track(version)
    best: tuple[tuple[int, ...], str] | None = None
    for candidate in candidates:
        other = parse_version(candidate)
        if other is None or track(other) != line or other.numbers <= version.numbers:
            continue
        if best is None or (other.numbers, candidate) > best:
            best = (other.numbers, candidate)
    return None if best is None else best[1]
