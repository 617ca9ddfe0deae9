"""Which official images an image a user holds was built on, as pure logic: the store's rows
are parameters, so every rule of the detect contract is tested without a store.

An official image is a base of the input when its top chain ID (its last layer and every one
below it) is the input's chain ID at some depth: the input then starts with exactly that
image's layers. Or when it is the input itself: the same image ID, or a digest of the input
that names it (its platform manifest, or the index of a build that holds it). Only images of
the input's platform count; `linux/arm64` is `linux/arm64/v8` (see `held.image.platform_key`).

An image the layer index does not hold yet (the registry's pull window ran out) may still be
announced by the Hub API with its compressed layer digests: the same chain rule over those
matches an input that carries its compressed digests (a layout, a registry reference), though
not one that carries diff_ids alone (`docker inspect`), nor one whose layers were recompressed.

For each base, the tags of its repository that ever pointed to it say whether it is still
current, and what is newer: a later release in a tag's version track, or where a moved tag
points now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hubspider.held.image import platform_key
from hubspider.records import image_name, image_reference
from hubspider.registry.content import chain_ids
from hubspider.versions import newest_in_track, parse_version, specificity_key, track

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from hubspider.held.image import HeldImage

CURRENT, MOVED_ON, GONE = "current", "moved on", "gone"


@dataclass(frozen=True, slots=True)
class Candidate:
    """An official platform image that may be a base of the input, as the store knows it."""

    digest: str
    #: None for an image the digest records name but the layer index does not hold yet.
    image_id: str | None
    platform: str
    os_version: str | None = None
    #: The chain ID of its last layer; None when unknown (not indexed, or found otherwise).
    top_chain: str | None = None
    #: Index digests of builds that hold it, among those the input carries.
    indexes: frozenset[str] = frozenset()
    #: The chain of its compressed layer digests as the Hub API announced them; set only for an
    #: image the layer index does not hold (whose `top_chain` is unknown).
    compressed_top: str | None = None


@dataclass(frozen=True, slots=True)
class TagState:
    """A tag that ever pointed to a build holding a base, and where it points now."""

    tag: str
    #: It points now to a build that holds the base (and is not gone).
    current: bool
    gone: bool
    moved_at: str | None
    first_seen: str
    #: The build it points to now (or pointed to last, when gone): the store's key for it.
    build: int
    #: When it was first seen pointing to that build: `since` when `moved_at` is unknown.
    pointed_since: str | None = None


@dataclass(frozen=True, slots=True)
class RepositoryTag:
    """A tag the repository has now."""

    tag: str
    build: int
    first_seen: str


@dataclass(frozen=True, slots=True)
class NewerPointer:
    """The tag that names something newer than a base, the build it points to, and since when."""

    tag: str
    build: int
    since: str | None


@dataclass(frozen=True, slots=True)
class PlatformImage:
    """One platform image of a build, as its digest record names it."""

    digest: str
    platform: str
    os_version: str | None = None


def chain_depths(diff_ids: Sequence[str]) -> dict[str, int]:
    """Each chain ID of the input and its depth (0: the bottom layer)."""
    return {chain: depth for depth, chain in enumerate(chain_ids(diff_ids))}


def compressed_depths(held: HeldImage) -> dict[str, int]:
    """Each chain of the input's compressed layer digests and its depth; none when the input
    carries no compressed digests, or not one per diff_id (then a depth would count no layer)."""
    if held.layer_digests is None or len(held.layer_digests) != len(held.diff_ids):
        return {}
    return chain_depths(held.layer_digests)


def merged(one: Candidate, other: Candidate) -> Candidate:
    """One image found two ways (by its top chain, by a digest): what each way knew."""
    return Candidate(
        digest=one.digest,
        image_id=one.image_id or other.image_id,
        platform=one.platform,
        os_version=one.os_version if one.os_version is not None else other.os_version,
        top_chain=one.top_chain or other.top_chain,
        indexes=one.indexes | other.indexes,
        compressed_top=one.compressed_top or other.compressed_top,
    )


def is_exact(candidate: Candidate, held: HeldImage) -> bool:
    """The candidate is the input itself: the same image ID, or a digest of the input names it."""
    if held.image_id is not None and candidate.image_id == held.image_id:
        return True
    return bool(set(held.digests) & ({candidate.digest} | candidate.indexes))


def matched_layers(
    candidate: Candidate,
    held: HeldImage,
    depths: Mapping[str, int],
    compressed: Mapping[str, int] | None = None,
) -> int | None:
    """How many of the input's layers, from the bottom, the candidate accounts for; None when
    it is no base of the input (another platform, or its top is none of the input's chains).
    `compressed` (`compressed_depths`) is asked only of a candidate the layer index lacks."""
    if platform_key(candidate.platform) != platform_key(held.platform):
        return None
    if is_exact(candidate, held):
        return len(held.diff_ids)
    if candidate.top_chain is not None and candidate.top_chain in depths:
        return depths[candidate.top_chain] + 1
    if candidate.top_chain is None and candidate.compressed_top is not None and compressed:
        depth = compressed.get(candidate.compressed_top)
        return None if depth is None else depth + 1
    return None


def tag_order(tags: Iterable[str]) -> list[str]:
    """Most specific first (`3.20.3`, `3.20`, `3`, `latest`), each once."""
    return sorted(set(tags), key=specificity_key)


def base_status(tags: Iterable[TagState]) -> str:
    """`current` if a tag points to the base now; else `moved on` if one still exists; else `gone`."""
    states = list(tags)
    if any(state.current for state in states):
        return CURRENT
    if any(not state.gone for state in states):
        return MOVED_ON
    return GONE


class CurrentTags:
    """A repository's current tags, grouped by version track, each parsed once: finding a newer
    tag for each base then reads only its track's tags rather than parse the repository's again."""

    def __init__(self, tags: Iterable[RepositoryTag]) -> None:
        self.by_name = {tag.tag: tag for tag in tags}
        self.by_track: dict[tuple[str, str, int, tuple[int, ...]], list[str]] = {}
        for name in self.by_name:
            version = parse_version(name)
            if version is not None:
                self.by_track.setdefault(track(version), []).append(name)

    def newest_in_track(self, tag: str) -> RepositoryTag | None:
        """The newest current tag that supersedes `tag` in its version track (versions.newest_in_track)."""
        version = parse_version(tag)
        if version is None:
            return None
        later = newest_in_track(tag, self.by_track.get(track(version), []))
        return None if later is None else self.by_name[later]


def newer_pointer(tags: Iterable[TagState], current: CurrentTags) -> NewerPointer | None:
    """For the base's tags, most specific first, the first that has something newer: a later
    tag of its version track among the repository's current tags (that tag's build, since it
    appeared), or else the tag itself moved (its build now, since it moved)."""
    for state in sorted(tags, key=lambda state: specificity_key(state.tag)):
        later = current.newest_in_track(state.tag)
        if later is not None:
            return NewerPointer(later.tag, later.build, later.first_seen)
        if not state.current and not state.gone:
            return NewerPointer(state.tag, state.build, state.moved_at or state.pointed_since)
    return None


def platform_image(
    images: Iterable[PlatformImage], platform: str, os_version: str | None = None
) -> str | None:
    """The digest of a build's image for `platform`, or None. Windows builds can hold one per
    OS version under one platform: the one of the same `os_version` first."""
    key = platform_key(platform)
    same = [image for image in images if platform_key(image.platform) == key]
    for image in same:
        if image.os_version == os_version:
            return image.digest
    return same[0].digest if same else None


def newer_entry(
    pointer: NewerPointer | None, digest_now: str | None, own_digest: str, namespace: str, repository: str
) -> dict[str, Any] | None:
    """The contract's `newer`: None without a pointer, when its build has no image of the base's
    platform (`digest_now` None), or when that image is the base itself."""
    if pointer is None or digest_now is None or digest_now == own_digest:
        return None
    return {
        "tag": pointer.tag,
        "image": image_reference(namespace, repository, pointer.tag),
        "digest": digest_now,
        "since": pointer.since,
    }


def base_entry(
    candidate: Candidate,
    namespace: str,
    repository: str,
    *,
    tags: Sequence[TagState],
    matched: int,
    newer: dict[str, Any] | None,
) -> dict[str, Any]:
    """One base as the JSON contract has it. A repository that holds the image by the layer
    index but whose tags the store never saw pointing to it is named by digest."""
    names = tag_order(state.tag for state in tags)
    if names:
        image = image_reference(namespace, repository, names[0])
    else:
        image = f"{image_name(namespace, repository)}@{candidate.digest}"
    return {
        "namespace": namespace,
        "repository": repository,
        "image": image,
        "tags": names,
        "digest": candidate.digest,
        "image_id": candidate.image_id,
        "platform": candidate.platform,
        "matched_layers": matched,
        "status": base_status(tags),
        "newer": newer,
    }


def base_order(entry: Mapping[str, Any]) -> tuple[int, str, str, str, str]:
    """Deepest first, then namespace, repository, first tag, digest."""
    first = entry["tags"][0] if entry["tags"] else ""
    return (-entry["matched_layers"], entry["namespace"], entry["repository"], first, entry["digest"])
