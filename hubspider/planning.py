"""The crawl's planning: after each page, which pages to ask for and what to report.

A repository's tag listing is read in walks: its first page gives `count` and the `next`
link, and the other pages are then asked for all at once, by page number in that link
(following `next` one page after another would make the biggest repository, 130 pages, the
floor of the whole crawl). The last page's `next`, if tags were pushed meanwhile, is
followed. When a walk ends with fewer tags than `count` (tags were deleted under the offset
paging), the listing is walked once more; a shortfall after that is a loss.

No Scrapy here: each function takes the page's facts, the page it answered, the walks and
the crawl's scope, updates the walk it is given, and returns a Plan, plain data that the
spider performs (requests, losses, stats). The journal replays the same `Walk.plan`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from hubspider.hub.urls import PAGE_SIZE, numbered_pages, page_key, tags_url
from hubspider.origins import same_origin

if TYPE_CHECKING:
    from hubspider.hub.pages import ListingPage

# A listing that changed while it was paged is walked once more before a shortfall is a loss.
MAX_WALKS = 2

#: (repository, walk number): a walk through one repository's tag listing.
WalkKey = tuple[str, int]


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


@dataclass(frozen=True, slots=True)
class Scope:
    """What every decision of one crawl is made within."""

    api_url: str  # the API origin: a `next` link must stay on it
    namespace: str
    signed_in: bool
    # Anonymous tag listings answer 403 from this offset on; 0: no cap.
    anonymous_cap: int = 0

    @property
    def last_reachable_page(self) -> int | None:
        """The last tags page an anonymous crawl can get (page 10 at offset 1000); None: no limit."""
        return None if self.signed_in or not self.anonymous_cap else self.anonymous_cap // PAGE_SIZE


@dataclass(frozen=True, slots=True)
class Loss:
    """Data the crawl could not get: what `report_loss` names, and the page it was found on."""

    kind: str
    what: str
    reason: str
    page: str | None = None


class Incremental(Enum):
    """What an incremental refresh decided for a walk."""

    # Only older tags follow: the rest is as the store has it.
    STOPPED_EARLY = "stopped early"
    # `count` says tags were deleted, which only a whole walk can find.
    WHOLE_WALK = "whole walk"


@dataclass(frozen=True, slots=True)
class Shortfall:
    """A walk ended with fewer tags than it should have: the listing is read again."""

    repository: str
    received: int
    expected: int


@dataclass(slots=True)
class Plan:
    """What to do after a page: the pages to ask for, and what to report."""

    then: list[Continuation] = field(default_factory=list)
    losses: list[Loss] = field(default_factory=list)
    # A repository listing page: the repositories it names.
    repositories: list[str] = field(default_factory=list)
    # The page that was asked for is itself lost (the spider names it with the failure).
    page_lost: bool = False
    # Tags of the repository that the anonymous cap keeps out of reach (first walk only).
    capped: int = 0
    incremental: Incremental | None = None
    # Incremental: the tags after this page are as the store has them.
    unchanged_rest: bool = False
    # The repository is done with: read to the end, lost, or still short after MAX_WALKS walks.
    repository_done: bool = False
    # The walk ended having read every tag: the store may close the history of the others.
    completes: bool = False
    rewalk: Shortfall | None = None


def pages_shown(count: int, page: int) -> int:
    """How many pages a page with a `next` link says there are: its `count` may say fewer, but
    the link shows at least one more page, and what the pages show wins."""
    return max(-(-count // PAGE_SIZE), page + 1)


def first_tags_page(scope: Scope, repository: str, walk: int = 1) -> Continuation:
    return Continuation("tags", tags_url(scope.api_url, scope.namespace, repository), repository, walk=walk)


def plan_listing_page(
    page: ListingPage, continuation: Continuation, listing: Walk, listed: set[str], scope: Scope
) -> Plan:
    """A page of the repository listing: its next page, and the repositories it names.

    `listing` is the walk through the listing, `listed` the repositories named so far; both
    are updated. A listing whose pages end before its `count` is a loss."""
    plan = Plan()
    for repository in page.results:
        name = repository.get("name") if isinstance(repository, dict) else None
        if isinstance(name, str) and name:
            plan.repositories.append(name)
        else:
            what = f"{repository!r:.80} of {page.url}"
            plan.losses.append(Loss("repository", what, "it has no name", page.url))
    listed.update(plan.repositories)
    if page.count is not None:
        listing.count = page.count
    if page.next and not same_origin(page.next, scope.api_url):
        _refuse_next(page, listing, plan, f"it leaves {scope.api_url}")
    else:
        _follow_next(page, continuation, listing, plan)
    if not plan.then and not listing.failed and len(listed) < listing.count:
        # The pages ended before the count: trust neither, and say so.
        reason = f"its pages ended after {len(listed)} of the {listing.count} repositories it counts"
        plan.losses.append(Loss("listing", page.url, reason, page.url))
    return plan


def plan_tags_page(
    page: ListingPage,
    continuation: Continuation,
    walks: dict[WalkKey, Walk],
    scope: Scope,
    baseline: Baseline | None = None,
) -> Plan:
    """A page of a repository's tags: the pages that come after it, and, if it was the last
    one out, how its walk ended. `baseline` (first walks only): read only what changed."""
    assert continuation.repository is not None
    key = (continuation.repository, continuation.walk)
    if continuation.page == 1:
        walks[key] = Walk(asked={page_key(continuation.url), page_key(page.url)})
    walk = walks[key]
    walk.received += len(page.results)
    walk.count = max(walk.count, page.count or 0)
    plan = Plan()
    if page.next and not same_origin(page.next, scope.api_url):
        _refuse_next(page, walk, plan, f"it leaves {scope.api_url}")
    elif baseline is not None and continuation.walk == 1 and not walk.whole:
        _changed_pages(page, continuation, walk, baseline, plan)
    else:
        _pages_after(page, continuation, walk, scope, plan)
    plan.unchanged_rest = walk.unchanged_rest
    _end_page(continuation, walks, scope, plan)
    return plan


def plan_failed_page(
    status: int | None, continuation: Continuation, walks: dict[WalkKey, Walk], scope: Scope
) -> Plan:
    """A page that did not come: `status` is Hub's HTTP answer, None when no usable answer
    came (no answer at all, or a body that is not a page of the API's shape)."""
    plan = Plan()
    later_tags_page = continuation.kind == "tags" and continuation.page > 1
    if later_tags_page and status == 404:
        pass  # Tags were deleted since the first page: fewer pages now. The count check decides.
    elif later_tags_page and status == 403 and not scope.signed_in:
        # Hub's anonymous cap came sooner than expected: not a loss, but the summary says so.
        assert continuation.repository is not None
        walk = walks.get((continuation.repository, continuation.walk))
        if walk is not None and continuation.walk == 1:
            plan.capped = max(walk.count - (continuation.page - 1) * PAGE_SIZE, 0)
    else:
        plan.page_lost = True
    _end_page(continuation, walks, scope, plan)
    return plan


def _pages_after(page: ListingPage, continuation: Continuation, walk: Walk, scope: Scope, plan: Plan) -> None:
    """From a first page, every other page at once; from the last, its `next` if tags came."""
    last_reachable = scope.last_reachable_page
    if continuation.page == 1 and page.next:
        last = pages_shown(walk.count, continuation.page)
        if last_reachable is not None and last > last_reachable:
            if continuation.walk == 1:
                plan.capped = max(walk.count - last_reachable * PAGE_SIZE, 1)
            last = last_reachable
        numbered = numbered_pages(page.next, last)
        if numbered is not None:
            plan.then = [
                Continuation("tags", url, continuation.repository, continuation.walk, number)
                for number, url in numbered
            ]
            walk.plan(plan.then)
            return
    if continuation.page < walk.last_page or continuation.page == last_reachable:
        return
    _follow_next(page, continuation, walk, plan)


def _changed_pages(
    page: ListingPage, continuation: Continuation, walk: Walk, baseline: Baseline, plan: Plan
) -> None:
    """Incremental: tags come newest first, so read on only while every tag is newer than
    the last complete crawl; stop at the first page with an older one, unless `count`
    says tags were deleted, which only a whole walk can find."""
    tags = [tag for tag in page.results if isinstance(tag, dict)]
    walk.new_tags += sum(tag.get("name") not in baseline.tags for tag in tags)
    older = any(str(tag.get("last_updated") or "") < baseline.since for tag in tags)
    if not older and page.next:
        _follow_next(page, continuation, walk, plan)
        return
    if len(baseline.tags) + walk.new_tags <= walk.count or not page.next:
        plan.incremental = Incremental.STOPPED_EARLY
        walk.unchanged_rest = True
        return
    plan.incremental = Incremental.WHOLE_WALK
    walk.whole = True
    numbered = numbered_pages(page.next, pages_shown(walk.count, continuation.page)) or []
    plan.then = [
        Continuation("tags", url, continuation.repository, continuation.walk, number)
        for number, url in numbered
        if number > continuation.page
    ]
    walk.plan(plan.then)


def _follow_next(page: ListingPage, continuation: Continuation, walk: Walk, plan: Plan) -> None:
    """The page after this one, planned in its walk; a link back to a page already asked for
    (a listing that goes round) is refused. The link's origin was checked already."""
    if not page.next:
        return
    if page_key(page.next) in walk.asked:
        _refuse_next(page, walk, plan, "it leads back to a page already read (a loop)")
        return
    kind, repository, number = continuation.kind, continuation.repository, continuation.walk
    after = Continuation(kind, page.next, repository, number, continuation.page + 1)
    walk.plan([after])
    plan.then.append(after)


def _refuse_next(page: ListingPage, walk: Walk, plan: Plan, why: str) -> None:
    """Nothing after this page is asked for: the walk is incomplete, and the page named."""
    walk.failed = True
    plan.losses.append(Loss("page", page.url, f"refused its 'next' link {page.next!r}: {why}", page.url))


def _end_page(
    continuation: Continuation, walks: dict[WalkKey, Walk], scope: Scope, plan: Plan
) -> None:
    """A page of a walk is in (or lost, or past the end); after the last one, check the count."""
    if continuation.kind != "tags":
        return
    assert continuation.repository is not None
    key = (continuation.repository, continuation.walk)
    walk = walks.get(key)
    if walk is None:  # the first page itself is lost: there is no walk to finish
        plan.repository_done = True
        return
    walk.pending.discard(continuation.page)
    walk.failed |= plan.page_lost
    if walk.pending:
        return
    del walks[key]
    _end_walk(continuation.repository, continuation.walk, walk, scope, plan)


def _end_walk(repository: str, number: int, walk: Walk, scope: Scope, plan: Plan) -> None:
    """A walk has ended: read the listing again if tags moved under it."""
    if walk.unchanged_rest:
        plan.repository_done = plan.completes = True
        return
    expected = walk.count
    if (last_reachable := scope.last_reachable_page) is not None:
        expected = min(expected, last_reachable * PAGE_SIZE)
    if walk.failed or walk.received >= expected:
        plan.repository_done = True
        plan.completes = not walk.failed and expected == walk.count
        return
    if number < MAX_WALKS:
        plan.rewalk = Shortfall(repository, walk.received, expected)
        plan.then.append(first_tags_page(scope, repository, number + 1))
        return
    plan.repository_done = True
    reason = f"{walk.received} of {expected} tags came, after reading the listing {number} times"
    first_page = first_tags_page(scope, repository).url
    plan.losses.append(Loss("repository", f"{scope.namespace}/{repository}", reason, first_page))
