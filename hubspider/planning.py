"""The crawl's state as plain data: what to fetch, what a finished page led to, and how
far each walk through a repository's tag listing has got. The journal persists it."""

from __future__ import annotations

from dataclasses import dataclass, field

from hubspider.hub.urls import page_key


@dataclass(frozen=True, slots=True)
class Continuation:
    """A page to fetch: a repository listing page, or page `page` of a walk through a
    repository's tags (a walk is read again, as walk 2, when tags moved under it)."""

    kind: str  # "repositories" or "tags"
    url: str
    repository: str | None = None
    walk: int = 1
    page: int = 1

    @property
    def key(self) -> tuple[str, int]:
        return (self.url, self.walk)


@dataclass(slots=True)
class PageDone:
    """Travels with a page's items: the journal writes it once the records are exported."""

    continuation: Continuation
    then: list[Continuation]
    results: int = 0
    count: int = 0
    repositories: list[str] | None = None
    # What must still confirm that it holds the page's records ("feeds", "store") before
    # the page is done: the journal writes it only then.
    waiting: set[str] = field(default_factory=lambda: {"feeds"})


@dataclass(slots=True)
class Walk:
    """The pages of one walk that are still out, and what has come so far."""

    pending: set[int] = field(default_factory=set)
    received: int = 0
    count: int = 0
    last_page: int = 1
    failed: bool = False
    # Ended with every tag read: the store may then close the history of tags it did not see.
    complete: bool = False
    # Incremental: the tags after the last page read are as the store has them.
    unchanged_rest: bool = False
    # Incremental: tags not in the store so far, and whether a deletion made it read on whole.
    new_tags: int = 0
    whole: bool = False
    # Every page asked for, by `page_key`: a `next` link back to one of them is a loop.
    asked: set[str] = field(default_factory=set)

    def plan(self, pages: list[Continuation]) -> None:
        """These pages of the walk are asked for: the walk ends once they are all in."""
        self.pending.update(page.page for page in pages)
        self.last_page = max([self.last_page, *(page.page for page in pages)])
        self.asked.update(page_key(page.url) for page in pages)


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the store knew of a repository before this crawl, for an incremental refresh."""

    since: str  # the start of the last crawl that read it whole
    tags: frozenset[str]  # the tags it had then
