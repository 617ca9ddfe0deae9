"""Which platform images a layers crawl still has to index, and in what order: pure, from
what the store's digest records say (the queries in `image_queries` gather it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Set


@dataclass(frozen=True, slots=True)
class PendingImage:
    """A platform image a repository holds and the store has no image record of for it."""

    digest: str
    namespace: str
    repository: str
    platform: str
    os: str | None
    architecture: str | None
    variant: str | None
    os_version: str | None
    #: A current tag of the repository holding the image (the most recently updated), or None.
    tag: str | None
    #: The store holds the image's layer data from another repository: nothing to fetch.
    known: bool


@dataclass(frozen=True, slots=True)
class ImageSeen:
    """A platform image record of a build that one of the repository's tags was seen pointing to."""

    digest: str
    repository: str
    platform: str
    os: str | None
    architecture: str | None
    variant: str | None
    os_version: str | None
    last_pushed: str | None
    build: int


@dataclass(frozen=True, slots=True)
class CurrentTag:
    """A tag and the build it points to now."""

    repository: str
    build: int
    tag: str
    last_updated: str | None


def pending_images(
    namespace: str,
    seen: Iterable[ImageSeen],
    current: Iterable[CurrentTag],
    held: Set[tuple[str, str]],
    known: Set[str],
) -> list[PendingImage]:
    """Every (digest, repository) of `seen` not `held`: those a current tag points to first,
    newest first (the tag's last_updated, then the image's last_pushed), then the rest newest
    pushed first; ties by repository and digest, so that two runs ask in the same order.

    `held`: the (digest, repository) pairs with an image record; `known`: the digests with
    layer data."""
    tags_of_build: dict[tuple[str, int], list[CurrentTag]] = {}
    for tag in current:
        tags_of_build.setdefault((tag.repository, tag.build), []).append(tag)
    images: dict[tuple[str, str], ImageSeen] = {}
    pushed: dict[tuple[str, str], str] = {}
    tags: dict[tuple[str, str], list[CurrentTag]] = {}
    for image in seen:
        key = (image.digest, image.repository)
        if key in held:
            continue
        images.setdefault(key, image)
        pushed[key] = max(pushed.get(key, ""), image.last_pushed or "")
        tags.setdefault(key, []).extend(tags_of_build.get((image.repository, image.build), ()))
    newest = {key: newest_tag(found) for key, found in tags.items()}
    order = sorted(images, key=lambda key: (key[1], key[0]))
    order.sort(key=lambda key: pushed[key], reverse=True)
    order.sort(key=lambda key: updated(newest[key]), reverse=True)
    order.sort(key=lambda key: newest[key] is None)
    return [pending(namespace, images[key], newest[key], known) for key in order]


def pending(namespace: str, image: ImageSeen, tag: CurrentTag | None, known: Set[str]) -> PendingImage:
    return PendingImage(
        digest=image.digest,
        namespace=namespace,
        repository=image.repository,
        platform=image.platform,
        os=image.os,
        architecture=image.architecture,
        variant=image.variant,
        os_version=image.os_version,
        tag=tag.tag if tag else None,
        known=image.digest in known,
    )


def updated(tag: CurrentTag | None) -> str:
    return (tag.last_updated or "") if tag else ""


def newest_tag(tags: Iterable[CurrentTag]) -> CurrentTag | None:
    """The most recently updated tag; of equals, the first by name."""
    ordered = sorted(tags, key=lambda tag: tag.tag)
    return max(ordered, key=lambda tag: tag.last_updated or "", default=None)
