"""Where the earlier runs of a crawl got to, rebuilt from the pages their journal holds.

The walks are replayed with the planning's own `Walk.plan`, so that a resumed walk ends,
and is checked against its `count`, exactly as it would have in one run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hubspider.hub.urls import page_key
from hubspider.planning import Walk

if TYPE_CHECKING:
    from hubspider.planning import Continuation, PageDone, WalkKey


@dataclass(slots=True)
class ResumeState:
    """The pages done, the pages to ask for again, and the walks still under way."""

    done: set[tuple[str, int]] = field(default_factory=set)  # by `Continuation.key`
    done_urls: set[str] = field(default_factory=set)
    # Planned after a page that was done, and not done themselves.
    pending: list[Continuation] = field(default_factory=list)
    walks: dict[WalkKey, Walk] = field(default_factory=dict)
    listing: Walk = field(default_factory=Walk)
    # Named by the repository listing pages that were done.
    repositories: list[str] = field(default_factory=list)
    # Repositories whose walks all ended, with nothing of them left to ask for.
    finished_repositories: int = 0

    def is_done(self, continuation: Continuation) -> bool:
        return continuation.key in self.done

    def walk_of(self, continuation: Continuation) -> Walk:
        """The walk a page belongs to: its repository's, or the repository listing."""
        if continuation.kind != "tags":
            return self.listing
        assert continuation.repository is not None
        return self.walks.setdefault((continuation.repository, continuation.walk), Walk())


def replay(pages: list[PageDone]) -> ResumeState:
    """The state after `pages`, in the order they were journaled (done, not planned)."""
    state = ResumeState()
    planned: dict[tuple[str, int], Continuation] = {}
    for page in pages:
        done = page.continuation
        state.done.add(done.key)
        state.done_urls.add(done.url)
        state.repositories += page.repositories or []
        planned.update((then.key, then) for then in page.then)
        walk = state.walk_of(done)
        walk.received += page.results
        walk.count = max(walk.count, page.count)
        walk.asked.add(page_key(done.url))
        same_walk = (done.kind, done.repository, done.walk)
        walk.plan([then for then in page.then if (then.kind, then.repository, then.walk) == same_walk])
    state.pending = [continuation for key, continuation in planned.items() if key not in state.done]
    # Pages are journaled as they are done, not in the order they were planned: a walk's
    # pending pages are the ones planned less the ones done, whatever came first.
    for continuation in planned.values():
        if continuation.key in state.done:
            state.walk_of(continuation).pending.discard(continuation.page)
    ended = {repository for (repository, _), walk in state.walks.items() if not walk.pending}
    state.walks = {key: walk for key, walk in state.walks.items() if walk.pending}
    still_read = {repository for repository, _ in state.walks}
    still_read.update(c.repository for c in state.pending if c.repository is not None)
    state.finished_repositories = len(ended - still_read)
    return state
