"""One repository's tags, put together from the registry's answers: a tags page names the tags,
a HEAD of each names its digest, and one GET of each distinct digest (plus a config for a
single-platform manifest) says what it is. Alias tags wait for the first fetch of their digest,
on whichever page they are. A page is whole once each of its tags is resolved, gone or lost.

No Scrapy here: the spider tells a `RepositoryRead` what came, and it answers which digests to
fetch and which pages are whole; `tag_entry` gives each tag the Hub API's shape, so that the
digest records come from the same rules (`records.tag_records`) as the library crawl's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hubspider.planning import Continuation
    from hubspider.registry.content import IndexEntry, PlatformFields


@dataclass(frozen=True, slots=True)
class Target:
    """What a digest is: an index with its entries (attestations too), or one platform image."""

    digest: str
    media_type: str | None
    images: tuple[dict[str, Any], ...]


def index_target(digest: str, media_type: str | None, entries: tuple[IndexEntry, ...]) -> Target:
    """An index's platform images, as the Hub API lists a tag's images; an attestation keeps its
    `unknown` platform, so that the records leave it out and count it as the library crawl does."""
    return Target(
        digest, media_type, tuple(image_entry(entry.digest, entry.size, entry.stated) for entry in entries)
    )


def image_target(digest: str, media_type: str | None, size: int, platform: PlatformFields) -> Target:
    """A single-platform manifest: the tag's one image is itself, its platform its config's."""
    return Target(digest, media_type, (image_entry(digest, size, platform),))


def image_entry(digest: str, size: int | None, platform: PlatformFields) -> dict[str, Any]:
    return {
        "digest": digest,
        "os": platform.os,
        "architecture": platform.architecture,
        "variant": platform.variant,
        "os_version": platform.os_version,
        "size": size,
    }


def tag_entry(name: str, target: Target) -> dict[str, Any]:
    """A tag in the Hub API's shape, which `tag.json` validates and `records.tag_records` reads."""
    return {
        "name": name,
        "digest": target.digest,
        "media_type": target.media_type,
        "images": list(target.images),
    }


@dataclass(slots=True, eq=False)
class TagsPage:
    """One page of a repository's tag list, while its tags are resolved."""

    continuation: Continuation
    names: list[str]
    #: The next page of the tag list, if any: what the journal plans after this one.
    then: list[Continuation]
    resolved: dict[str, Target] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    lost: dict[str, str] = field(default_factory=dict)
    reported: bool = False

    @property
    def repository(self) -> str:
        assert self.continuation.repository is not None
        return self.continuation.repository

    @property
    def whole(self) -> bool:
        return len(self.resolved) + len(self.gone) + len(self.lost) >= len(self.names)

    def tags(self) -> list[dict[str, Any]]:
        """The resolved tags, in the listing's order."""
        return [tag_entry(name, self.resolved[name]) for name in self.names if name in self.resolved]


@dataclass(slots=True)
class RepositoryRead:
    """A repository's tags pages under way, the digests fetched or being fetched, and whether the
    read is whole: every page of the list read, none lost, no tag lost."""

    #: Tags pages asked for and not yet whole.
    open_pages: int = 0
    #: A page without a next link was read: the list has no more.
    listed: bool = False
    #: A page or a tag was lost: what this crawl did not see is not known to be gone.
    lost: bool = False
    #: Next-page links asked for, and tags listed so far: a link back or a tag twice is a repeat.
    asked: set[str] = field(default_factory=set)
    listed_tags: set[str] = field(default_factory=set)
    targets: dict[str, Target] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    waiting: dict[str, list[tuple[TagsPage, str]]] = field(default_factory=dict)
    #: Platforms of the configs fetched, and the single-platform manifests waiting for a config
    #: (manifest digest, media type, size), by config digest.
    platforms: dict[str, PlatformFields] = field(default_factory=dict)
    awaiting_config: dict[str, list[tuple[str, str | None, int]]] = field(default_factory=dict)

    def pointed(self, page: TagsPage, tag: str, digest: str) -> bool:
        """A tag's HEAD named `digest`: True if the digest must be fetched now (its first tag)."""
        if (target := self.targets.get(digest)) is not None:
            page.resolved[tag] = target
            return False
        if (reason := self.failed.get(digest)) is not None:
            self.lose(page, tag, reason)
            return False
        waiting = self.waiting.setdefault(digest, [])
        waiting.append((page, tag))
        return len(waiting) == 1

    def fetched(self, target: Target) -> list[tuple[TagsPage, str]]:
        """The digest's content came: the tags that waited for it, now resolved."""
        self.targets[target.digest] = target
        waited = self.waiting.pop(target.digest, [])
        for page, tag in waited:
            page.resolved[tag] = target
        return waited

    def fetch_failed(self, digest: str, reason: str) -> list[tuple[TagsPage, str]]:
        """The digest could not be fetched: the tags that waited for it are lost."""
        self.failed[digest] = reason
        waited = self.waiting.pop(digest, [])
        for page, tag in waited:
            self.lose(page, tag, reason)
        return waited

    def lose(self, page: TagsPage, tag: str, reason: str) -> None:
        page.lost[tag] = reason
        self.lost = True

    def newly_whole(self, pages: list[TagsPage]) -> list[TagsPage]:
        """The pages among `pages` that are whole and not yet reported, each once."""
        whole = []
        for page in pages:
            if page.whole and not page.reported:
                page.reported = True
                whole.append(page)
        return whole

    def page_done(self) -> bool:
        """A page became whole (or was lost): True if it was the last, and the read is complete."""
        self.open_pages -= 1
        return self.finished and not self.lost

    @property
    def finished(self) -> bool:
        return self.listed and self.open_pages == 0
