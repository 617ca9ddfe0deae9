"""A Hub whose listings lie: `count` too low or too high, `next` links that go round.

What the pages show wins over `count`; a loop or a shortfall is named and fails the crawl."""

from __future__ import annotations

import pytest

from fakehub import HubServer, make_hub
from tests.helpers import as_keys, run_crawl, without_seen_at

pytestmark = pytest.mark.e2e

EXIT_INCOMPLETE = 3


def exported(result) -> list[str]:
    return as_keys(without_seen_at(result.records()))


def losses(result) -> str:
    return result.stderr[result.stderr.index("The crawl lost data") :]


@pytest.fixture(scope="module")
def many_repositories():
    """Two pages of repositories, and repositories of one to four pages of tags."""
    return make_hub(150, 6_000)


def test_a_count_of_one_page_does_not_hide_the_pages_its_next_link_shows(many_repositories, tmp_path):
    with HubServer(many_repositories, lies=("count-low",), anonymous_offset_cap=None) as server:
        result = run_crawl(server.url, tmp_path, "-s", "HUB_ANONYMOUS_OFFSET_CAP=0")
    assert result.returncode == 0, result.stderr[-3000:]
    assert exported(result) == as_keys(many_repositories.expected_records("library"))


def test_a_repository_listing_that_goes_round_is_named_and_fails_the_crawl(many_repositories, tmp_path):
    with HubServer(many_repositories, lies=("loop",), anonymous_offset_cap=None) as server:
        result = run_crawl(server.url, tmp_path, "-s", "HUB_ANONYMOUS_OFFSET_CAP=0")
    assert result.returncode == EXIT_INCOMPLETE
    assert "/v2/repositories/library/?page_size=100: refused its 'next' link" in losses(result)
    assert "leads back to a page already read" in losses(result)
    # The repositories of the first page are all there, nothing else.
    first_page = sorted(many_repositories.namespaces["library"])[:100]
    assert exported(result) == as_keys(many_repositories.expected_records("library", first_page))


def test_a_tag_listing_that_goes_round_before_its_end_is_named(many_repositories, tmp_path):
    # Each first page says one page; its next link leads on, and the page before the last
    # links back to the first: the last page cannot be reached.
    repositories = [r.name for r in many_repositories.namespaces["library"].values() if len(r.tags) > 200][:2]
    assert repositories
    with HubServer(many_repositories, lies=("count-low", "loop"), anonymous_offset_cap=None) as server:
        result = run_crawl(
            server.url, tmp_path, "-a", f"repos={','.join(repositories)}", "-s", "HUB_ANONYMOUS_OFFSET_CAP=0"
        )
    assert result.returncode == EXIT_INCOMPLETE
    for name in repositories:
        assert f"/v2/repositories/library/{name}/tags?" in losses(result)
    assert "leads back to a page already read" in losses(result)
    assert set(exported(result)) < set(as_keys(many_repositories.expected_records("library", repositories)))


def test_counts_higher_than_the_pages_show_are_named_as_shortfalls(tmp_path):
    hub = make_hub()
    with HubServer(hub, lies=("count-high",)) as server:
        result = run_crawl(server.url, tmp_path)
    assert result.returncode == EXIT_INCOMPLETE
    assert "its pages ended after 12 of the 162 repositories it counts" in losses(result)
    assert "after reading the listing 2 times" in losses(result)
    # Nothing the pages show is missing.
    assert exported(result) == as_keys(hub.expected_records("library"))
