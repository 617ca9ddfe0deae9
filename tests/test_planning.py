"""The crawl's planning on its own: which pages come after a page, and what is reported."""

from __future__ import annotations

import pytest

from hubspider import planning
from hubspider.hub.pages import ListingPage
from hubspider.hub.urls import page_key
from hubspider.planning import (
    MAX_WALKS,
    Baseline,
    Continuation,
    Incremental,
    Loss,
    Scope,
    Shortfall,
    Walk,
    first_tags_page,
    pages_shown,
    plan_failed_page,
    plan_listing_page,
    plan_tags_page,
)

API = "https://hub.docker.com"
SIGNED_IN = Scope(API, "library", signed_in=True)
ANONYMOUS = Scope(API, "library", signed_in=False, anonymous_cap=1000)
TAGS = f"{API}/v2/repositories/library/alpine/tags?page_size=100&ordering=last_updated"
LISTING = f"{API}/v2/repositories/library/?page_size=100"
SINCE = "2026-11-01T00:00:00Z"


def tags_page(count: int, next_page: int | None = None, results: int = 0, url: str = TAGS) -> ListingPage:
    next_url = f"{TAGS}&page={next_page}" if next_page is not None else None
    return ListingPage(url, count, next_url, [{"name": f"t{n}"} for n in range(results)])


def linking_to(next_url: str, count: int = 200) -> ListingPage:
    return ListingPage(TAGS, count, next_url, [])


def first(walk: int = 1) -> Continuation:
    return first_tags_page(SIGNED_IN, "alpine", walk)


def nth(page: int, walk: int = 1) -> Continuation:
    return Continuation("tags", f"{TAGS}&page={page}", "alpine", walk, page)


def walk_of(count: int, received: int, pending: set[int], number: int = 1) -> dict:
    """The walks with one walk of alpine under way: `pending` pages still out."""
    last = max(pending | {1})
    return {("alpine", number): Walk(pending=set(pending), received=received, count=count, last_page=last)}


def pages_of(plan) -> list[int]:
    return [continuation.page for continuation in plan.then]


# Pages a page shows


@pytest.mark.parametrize(("count", "page", "shown"), [(437, 1, 5), (400, 1, 4), (40, 1, 2), (0, 3, 4)])
def test_pages_shown_is_the_count_but_at_least_one_more_than_a_page_with_a_next_link(count, page, shown):
    assert pages_shown(count, page) == shown


def test_an_anonymous_crawl_reaches_page_10_at_the_offset_cap_of_1000():
    assert ANONYMOUS.last_reachable_page == 10


@pytest.mark.parametrize("scope", [SIGNED_IN, Scope(API, "library", signed_in=False, anonymous_cap=0)])
def test_signed_in_or_without_a_cap_every_page_is_reachable(scope):
    assert scope.last_reachable_page is None


def test_first_tags_page_is_newest_first_and_names_its_walk():
    continuation = first_tags_page(SIGNED_IN, "alpine", 2)
    assert (continuation.url, continuation.repository, continuation.walk, continuation.page) == (
        TAGS,
        "alpine",
        2,
        1,
    )


def test_walk_plan_keeps_the_pages_out_the_last_page_and_what_was_asked():
    walk = Walk()
    walk.plan([nth(2), nth(5)])
    assert (walk.pending, walk.last_page) == ({2, 5}, 5)
    assert walk.asked == {page_key(nth(2).url), page_key(nth(5).url)}


# A walk through a repository's tags


def test_a_first_page_asks_for_every_other_page_at_once():
    walks: dict = {}
    plan = plan_tags_page(tags_page(437, next_page=2, results=100), first(), walks, SIGNED_IN)
    assert pages_of(plan) == [2, 3, 4, 5]
    assert plan.then[2].url == f"{TAGS}&page=4"
    assert walks[("alpine", 1)].pending == {2, 3, 4, 5}
    assert (plan.losses, plan.repository_done, plan.completes) == ([], False, False)


def test_a_first_page_that_is_the_only_one_ends_the_walk_complete():
    walks: dict = {}
    plan = plan_tags_page(tags_page(5, results=5), first(), walks, SIGNED_IN)
    assert (plan.then, plan.repository_done, plan.completes) == ([], True, True)
    assert walks == {}


def test_an_empty_repository_is_done_and_complete():
    plan = plan_tags_page(tags_page(0), first(), {}, SIGNED_IN)
    assert (plan.repository_done, plan.completes, plan.losses) == (True, True, [])


def test_a_first_page_counting_one_page_but_linking_on_asks_for_the_next():
    walks: dict = {}
    plan = plan_tags_page(tags_page(40, next_page=2, results=40), first(), walks, SIGNED_IN)
    assert pages_of(plan) == [2]
    assert walks[("alpine", 1)].pending == {2}


def test_a_next_link_without_a_page_number_is_followed_one_page_at_a_time():
    cursor = f"{API}/v2/repositories/library/alpine/tags?cursor=abc"
    plan = plan_tags_page(linking_to(cursor, count=437), first(), {}, SIGNED_IN)
    assert [(c.url, c.page) for c in plan.then] == [(cursor, 2)]


def test_the_first_page_asked_for_and_where_it_was_read_from_both_count_as_asked():
    walks: dict = {}
    moved = f"{API}/v2/repositories/alpine/tags?page_size=100&ordering=last_updated"
    plan_tags_page(tags_page(437, next_page=2, url=moved), first(), walks, SIGNED_IN)
    assert {page_key(TAGS), page_key(moved)} <= walks[("alpine", 1)].asked


def test_an_anonymous_crawl_does_not_ask_past_offset_1000_and_says_what_it_left():
    plan = plan_tags_page(tags_page(2345, next_page=2), first(), {}, ANONYMOUS)
    assert pages_of(plan) == list(range(2, 11))
    assert plan.capped == 1345


def test_the_cap_is_counted_on_the_first_walk_only():
    plan = plan_tags_page(tags_page(2345, next_page=2), first(walk=2), {}, ANONYMOUS)
    assert pages_of(plan) == list(range(2, 11))
    assert plan.capped == 0


def test_a_count_that_fits_under_the_cap_leaves_nothing_out():
    plan = plan_tags_page(tags_page(437, next_page=2), first(), {}, ANONYMOUS)
    assert (pages_of(plan), plan.capped) == ([2, 3, 4, 5], 0)


def test_the_last_reachable_page_does_not_follow_its_next_link():
    walks = walk_of(2345, 900, {10})
    plan = plan_tags_page(tags_page(2345, next_page=11, results=100), nth(10), walks, ANONYMOUS)
    assert plan.then == []
    assert (plan.repository_done, plan.completes, plan.rewalk) == (True, False, None)


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example/v2/repositories/library/alpine/tags?page=2", f"http://hub.docker.com{TAGS[23:]}&page=2"],
)
def test_a_next_link_that_leaves_the_api_origin_is_refused_and_named(next_url):
    walks: dict = {}
    plan = plan_tags_page(linking_to(next_url), first(), walks, SIGNED_IN)
    assert plan.then == []
    (loss,) = plan.losses
    assert (loss.kind, loss.what, loss.page) == ("page", TAGS, TAGS)
    assert loss.reason == f"refused its 'next' link {next_url!r}: it leaves {API}"
    assert (plan.repository_done, plan.completes) == (True, False)


def test_the_next_links_origin_is_checked_once_a_page(monkeypatch):
    checked = []

    def same_origin(url: str, other: str) -> bool:
        checked.append(url)
        return True

    monkeypatch.setattr(planning, "same_origin", same_origin)
    plan_tags_page(tags_page(437, next_page=2), first(), {}, SIGNED_IN)
    assert checked == [f"{TAGS}&page=2"]


def test_a_page_in_the_middle_of_a_walk_ends_nothing():
    walks = walk_of(705, 200, {2, 3, 4, 5, 6, 7, 8})
    plan = plan_tags_page(tags_page(705, next_page=4, results=100), nth(3), walks, SIGNED_IN)
    assert plan.then == []
    assert walks[("alpine", 1)].pending == {2, 4, 5, 6, 7, 8}
    assert not plan.repository_done


def test_the_last_page_follows_next_when_tags_were_pushed():
    walks = walk_of(400, 300, {2, 3, 4, 5})
    plan = plan_tags_page(tags_page(401, next_page=6), nth(5), walks, SIGNED_IN)
    assert pages_of(plan) == [6]
    assert walks[("alpine", 1)].pending == {2, 3, 4, 6}
    assert walks[("alpine", 1)].count == 401


def test_a_next_link_back_to_a_page_already_asked_for_is_a_loop():
    walks = walk_of(400, 300, {4})
    walks[("alpine", 1)].asked.add(page_key(f"{TAGS}&page=2"))
    plan = plan_tags_page(tags_page(400, next_page=2), nth(4), walks, SIGNED_IN)
    assert plan.then == []
    (loss,) = plan.losses
    assert loss.reason.endswith("it leads back to a page already read (a loop)")
    assert (plan.repository_done, plan.completes, plan.rewalk) == (True, False, None)


def test_the_page_that_ends_a_walk_with_every_tag_completes_it():
    walks = walk_of(705, 700, {8})
    plan = plan_tags_page(tags_page(705, results=5), nth(8), walks, SIGNED_IN)
    assert (plan.then, plan.repository_done, plan.completes, plan.losses) == ([], True, True, [])
    assert walks == {}


def test_a_walk_that_came_short_is_read_again():
    walks = walk_of(705, 690, {8})
    plan = plan_tags_page(tags_page(705, results=5), nth(8), walks, SIGNED_IN)
    assert plan.rewalk == Shortfall("alpine", 695, 705)
    assert plan.then == [first(walk=2)]
    assert (plan.repository_done, plan.completes, plan.losses) == (False, False, [])


def test_a_walk_still_short_when_read_again_is_lost():
    walks = walk_of(705, 690, {8}, number=MAX_WALKS)
    plan = plan_tags_page(tags_page(705, results=5), nth(8, walk=MAX_WALKS), walks, SIGNED_IN)
    reason = "695 of 705 tags came, after reading the listing 2 times"
    assert plan.losses == [Loss("repository", "library/alpine", reason, TAGS)]
    assert (plan.then, plan.rewalk, plan.repository_done) == ([], None, True)


def test_a_capped_walk_is_done_but_not_complete():
    walks = walk_of(2345, 900, {10})
    plan = plan_tags_page(tags_page(2345, results=100), nth(10), walks, ANONYMOUS)
    assert (plan.repository_done, plan.completes, plan.rewalk, plan.losses) == (True, False, None, [])


def test_a_capped_walk_short_of_the_cap_is_read_again():
    walks = walk_of(2345, 890, {10})
    plan = plan_tags_page(tags_page(2345, results=100), nth(10), walks, ANONYMOUS)
    assert plan.rewalk == Shortfall("alpine", 990, 1000)


# Incremental: only what changed since the store's last complete crawl


def newer_and_older(newer: int, older: int) -> list[dict]:
    return [{"name": f"new{n}", "last_updated": "2026-11-20T00:00:00Z"} for n in range(newer)] + [
        {"name": f"t{n}", "last_updated": "2026-10-01T00:00:00Z"} for n in range(older)
    ]


def baseline(tags: int) -> Baseline:
    return Baseline(SINCE, frozenset(f"t{n}" for n in range(tags)))


def page_of(results: list[dict], count: int, next_page: int | None = 2) -> ListingPage:
    return ListingPage(TAGS, count, f"{TAGS}&page={next_page}" if next_page else None, results)


def test_incremental_reads_on_one_page_at_a_time_while_every_tag_is_newer():
    plan = plan_tags_page(page_of(newer_and_older(100, 0), 500), first(), {}, SIGNED_IN, baseline(400))
    assert pages_of(plan) == [2]
    assert plan.incremental is None


def test_incremental_stops_at_the_first_page_with_an_older_tag():
    walks: dict = {}
    plan = plan_tags_page(page_of(newer_and_older(3, 97), 403), first(), walks, SIGNED_IN, baseline(400))
    assert plan.incremental is Incremental.STOPPED_EARLY
    assert (plan.then, plan.unchanged_rest, plan.completes, plan.repository_done) == ([], True, True, True)


def test_incremental_reads_the_whole_walk_when_the_count_says_tags_were_deleted():
    walks: dict = {}
    plan = plan_tags_page(page_of(newer_and_older(3, 97), 390), first(), walks, SIGNED_IN, baseline(400))
    assert plan.incremental is Incremental.WHOLE_WALK
    assert pages_of(plan) == [2, 3, 4]
    assert walks[("alpine", 1)].whole
    assert not plan.unchanged_rest


def test_a_whole_walk_reads_its_later_pages_as_a_full_crawl_would():
    walks = walk_of(390, 100, {2, 3, 4})
    walks[("alpine", 1)].whole = True
    plan = plan_tags_page(page_of(newer_and_older(0, 100), 390, 3), nth(2), walks, SIGNED_IN, baseline(400))
    assert (plan.incremental, plan.then, plan.unchanged_rest) == (None, [], False)


def test_incremental_ends_at_a_last_page_of_newer_tags():
    plan = plan_tags_page(page_of(newer_and_older(5, 0), 405, None), first(), {}, SIGNED_IN, baseline(400))
    assert plan.incremental is Incremental.STOPPED_EARLY
    assert plan.completes


def test_a_second_walk_is_read_whole_whatever_the_baseline():
    plan = plan_tags_page(page_of(newer_and_older(3, 97), 403), first(walk=2), {}, SIGNED_IN, baseline(400))
    assert (plan.incremental, pages_of(plan)) == (None, [2, 3, 4, 5])


# Pages that did not come


def test_a_page_past_the_end_is_not_lost_and_ends_its_walk_complete():
    walks = walk_of(437, 437, {5})
    plan = plan_failed_page(404, nth(5), walks, SIGNED_IN)
    assert (plan.page_lost, plan.repository_done, plan.completes, plan.losses) == (False, True, True, [])
    assert walks == {}


def test_a_page_past_the_end_that_leaves_the_walk_short_reads_it_again():
    walks = walk_of(437, 337, {5})
    plan = plan_failed_page(404, nth(5), walks, SIGNED_IN)
    assert plan.rewalk == Shortfall("alpine", 337, 437)


def test_a_first_page_that_is_not_found_is_lost():
    plan = plan_failed_page(404, first(), {}, SIGNED_IN)
    assert (plan.page_lost, plan.repository_done) == (True, True)


@pytest.mark.parametrize("status", [502, None])
def test_a_lost_page_ends_its_walk_without_reading_it_again(status):
    walks = walk_of(437, 337, {5})
    plan = plan_failed_page(status, nth(5), walks, SIGNED_IN)
    assert (plan.page_lost, plan.repository_done, plan.completes, plan.rewalk) == (True, True, False, None)


def test_an_anonymous_403_deeper_than_expected_is_capped_not_lost():
    walks = walk_of(1437, 800, {9})
    plan = plan_failed_page(403, nth(9), walks, ANONYMOUS)
    assert (plan.page_lost, plan.capped) == (False, 637)


def test_a_403_when_signed_in_is_lost():
    walks = walk_of(1437, 1000, {11})
    plan = plan_failed_page(403, nth(11), walks, SIGNED_IN)
    assert (plan.page_lost, plan.capped) == (True, 0)


def test_a_lost_listing_page_is_lost_and_ends_nothing():
    plan = plan_failed_page(500, Continuation("repositories", LISTING), {}, SIGNED_IN)
    assert (plan.page_lost, plan.repository_done, plan.then) == (True, False, [])


# The repository listing


def listing_page(names: list, count: int, next_url: str | None = None) -> ListingPage:
    results = [{"name": name} if isinstance(name, str) else name for name in names]
    return ListingPage(LISTING, count, next_url, results)


LISTING_PAGE = Continuation("repositories", LISTING)
PAGE_2 = f"{API}/v2/repositories/library/?page=2&page_size=100"


def test_a_listing_page_names_its_repositories_and_plans_the_next_page():
    listing, listed = Walk(asked={page_key(LISTING)}), set()
    page = listing_page(["alpine", "nginx"], 178, PAGE_2)
    plan = plan_listing_page(page, LISTING_PAGE, listing, listed, SIGNED_IN)
    assert plan.repositories == ["alpine", "nginx"]
    assert plan.then == [Continuation("repositories", PAGE_2, None, 1, 2)]
    assert (listed, listing.count, plan.losses) == ({"alpine", "nginx"}, 178, [])


def test_a_repository_without_a_name_is_lost():
    page = listing_page(["alpine", {"namespace": "library"}], 1)
    plan = plan_listing_page(page, LISTING_PAGE, Walk(), set(), SIGNED_IN)
    assert plan.repositories == ["alpine"]
    (loss,) = plan.losses
    assert (loss.kind, loss.reason, loss.page) == ("repository", "it has no name", LISTING)


def test_a_listing_whose_pages_end_before_its_count_is_a_loss():
    plan = plan_listing_page(listing_page(["alpine"], 5), LISTING_PAGE, Walk(), set(), SIGNED_IN)
    reason = "its pages ended after 1 of the 5 repositories it counts"
    assert plan.losses == [Loss("listing", LISTING, reason, LISTING)]


def test_a_listing_that_shows_more_than_its_count_is_no_loss():
    plan = plan_listing_page(listing_page(["alpine", "nginx"], 1), LISTING_PAGE, Walk(), set(), SIGNED_IN)
    assert plan.losses == []


def test_a_listing_that_goes_round_is_refused_and_not_also_a_shortfall():
    listing = Walk(asked={page_key(LISTING)})
    plan = plan_listing_page(listing_page(["alpine"], 300, LISTING), LISTING_PAGE, listing, set(), SIGNED_IN)
    (loss,) = plan.losses
    assert loss.reason.endswith("it leads back to a page already read (a loop)")
    assert listing.failed


def test_a_listing_next_link_downgraded_to_http_is_refused():
    downgraded = "http://hub.docker.com/v2/repositories/library/?page=2"
    plan = plan_listing_page(listing_page([], 3, downgraded), LISTING_PAGE, Walk(), set(), SIGNED_IN)
    assert plan.then == []
    (loss,) = plan.losses
    assert loss.reason == f"refused its 'next' link {downgraded!r}: it leaves {API}"
