"""The spider's callbacks on stored pages: what it requests, yields and reports."""

from __future__ import annotations

import asyncio

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from hubspider.arguments import ArgumentError
from hubspider.hub.urls import page_key
from hubspider.items import TagPage
from hubspider.planning import Continuation, Walk
from tests.helpers import API, make_spider, stored_response

REPOS_URL = f"{API}/v2/repositories/library/?page_size=100"
ALPINE_URL = f"{API}/v2/repositories/library/alpine/tags?page_size=100&ordering=last_updated"


LISTING = Continuation("repositories", REPOS_URL)


def first_page(repository: str, url: str = ALPINE_URL) -> Continuation:
    return Continuation("tags", url, repository)


def later_page(spider, repository: str, page: int, count: int, received: int = 0) -> Continuation:
    """Page `page` of a walk whose first page said `count`, with the other pages still out."""
    last = -(-count // 100)
    pending = set(range(2, last + 1))
    spider.walks[(repository, 1)] = Walk(pending=pending, received=received, count=count, last_page=last)
    return Continuation("tags", f"{ALPINE_URL}&page={page}", repository, 1, page)


def failure_of(response) -> Failure:
    failure = Failure(HttpError(response, "Ignoring non-200 response"))
    failure.request = response.request
    return failure


@pytest.fixture
def signed_in(monkeypatch):
    """Credentials in the environment: the spiders made in the test crawl signed in."""
    monkeypatch.setenv("DOCKERHUB_USERNAME", "someone")
    monkeypatch.setenv("DOCKERHUB_TOKEN", "dckr_pat_not_a_real_one")


def start_requests(spider) -> list[Request]:
    async def collect():
        return [request async for request in spider.start()]

    return asyncio.run(collect())


def test_starts_at_the_namespace_listing():
    spider, _ = make_spider()
    (request,) = start_requests(spider)
    assert request.url == REPOS_URL
    assert request.callback == spider.parse_repositories


def test_repos_argument_starts_at_those_tag_listings():
    spider, _ = make_spider(repos="alpine,nginx")
    assert [r.url for r in start_requests(spider)] == [
        ALPINE_URL,
        f"{API}/v2/repositories/library/nginx/tags?page_size=100&ordering=last_updated",
    ]


def test_namespace_argument_changes_every_url():
    spider, _ = make_spider(namespace="bitnami", repos="redis")
    (request,) = start_requests(spider)
    assert request.url == f"{API}/v2/repositories/bitnami/redis/tags?page_size=100&ordering=last_updated"


def test_bad_argument_stops_spider_creation():
    with pytest.raises(ArgumentError):
        make_spider(repos="NGINX")


def test_repository_page_requests_each_repository_and_the_next_page():
    spider, crawler = make_spider()
    response = stored_response("repositories_library.json", REPOS_URL)
    requests = list(spider.parse_repositories(response, continuation=LISTING))
    assert requests[0].url == f"{API}/v2/repositories/library/?page=2&page_size=100"
    assert requests[0].callback == spider.parse_repositories
    tag_requests = requests[1:]
    assert [r.cb_kwargs["continuation"].repository for r in tag_requests] == [
        "alpine", "nginx", "ubuntu", "rust", "python", "hello-seattle",
    ]  # fmt: skip
    assert all(r.callback == spider.parse_tags and r.errback == spider.page_failed for r in tag_requests)
    assert crawler.stats.get_value("hubspider/repositories") == 6
    assert crawler.stats.get_value("hubspider/repositories/total") == 178


def test_listing_pages_go_before_first_pages_and_those_before_the_rest():
    spider, _ = make_spider()
    listing, *first_pages = spider.parse_repositories(
        stored_response("repositories_library.json", REPOS_URL), continuation=LISTING
    )
    later = spider.request_for(Continuation("tags", ALPINE_URL + "&page=2", "alpine", 1, 2))
    assert listing.priority > first_pages[0].priority > later.priority


def test_first_tags_page_asks_for_every_other_page_at_once(signed_in):
    spider, _ = make_spider()
    response = stored_response("tags_alpine.json", ALPINE_URL)
    *requests, page = spider.parse_tags(response, continuation=first_page("alpine"))
    assert [r.cb_kwargs["continuation"].page for r in requests] == [2, 3, 4, 5]  # count 437
    assert (
        requests[2].url
        == f"{API}/v2/repositories/library/alpine/tags?ordering=last_updated&page=4&page_size=100"
    )
    assert all(r.cb_kwargs["continuation"].repository == "alpine" for r in requests)
    assert isinstance(page, TagPage)
    assert (page.namespace, page.repository, page.url) == ("library", "alpine", ALPINE_URL)
    assert len(page.tags) == 5
    assert page.page.then == [r.cb_kwargs["continuation"] for r in requests]


def test_anonymous_crawl_does_not_ask_past_offset_1000():
    spider, _ = make_spider()
    body = b'{"count": 2345, "next": "%s&page=2", "previous": null, "results": []}' % ALPINE_URL.encode()
    response = TextResponse(ALPINE_URL, body=body, request=Request(ALPINE_URL))
    *requests, _ = spider.parse_tags(response, continuation=first_page("ubuntu"))
    assert [r.cb_kwargs["continuation"].page for r in requests] == list(range(2, 11))
    assert spider.capped == {"ubuntu": 1345}


def test_a_walk_ends_when_its_last_page_is_in():
    spider, crawler = make_spider()
    response = stored_response("tags_rust_edge_cases.json", ALPINE_URL)
    page_8 = later_page(spider, "rust", 8, count=705, received=700)
    spider.walks[("rust", 1)].pending = {8}
    outputs = list(spider.parse_tags(response, continuation=page_8))
    assert [type(o) for o in outputs] == [TagPage]
    assert outputs[0].page.then == []
    assert spider.walks == {}
    assert crawler.stats.get_value("hubspider/repositories/done") == 1
    assert crawler.stats.get_value("hubspider/lost") is None


def test_a_page_that_is_not_the_last_ends_nothing():
    spider, _ = make_spider()
    response = stored_response("tags_rust_edge_cases.json", ALPINE_URL)
    outputs = list(spider.parse_tags(response, continuation=later_page(spider, "rust", 3, count=705)))
    assert [type(o) for o in outputs] == [TagPage]
    assert spider.walks[("rust", 1)].pending == {2, 4, 5, 6, 7, 8}


def test_a_walk_that_came_short_is_read_again():
    spider, crawler = make_spider()
    response = stored_response("tags_rust_edge_cases.json", ALPINE_URL)
    page_8 = later_page(spider, "rust", 8, count=705, received=690)
    spider.walks[("rust", 1)].pending = {8}
    again, page = spider.parse_tags(response, continuation=page_8)
    assert again.url == f"{API}/v2/repositories/library/rust/tags?page_size=100&ordering=last_updated"
    assert again.cb_kwargs["continuation"].walk == 2
    assert again.dont_filter
    assert page.page.then == [again.cb_kwargs["continuation"]]
    assert crawler.stats.get_value("hubspider/rewalks") == 1
    assert crawler.stats.get_value("hubspider/lost") is None


def test_a_walk_still_short_when_read_again_is_lost(caplog):
    spider, crawler = make_spider()
    response = stored_response("tags_rust_edge_cases.json", ALPINE_URL)
    spider.walks[("rust", 2)] = Walk(pending={8}, received=690, count=705, last_page=8)
    page_8 = Continuation("tags", ALPINE_URL + "&page=8", "rust", 2, 8)
    outputs = list(spider.parse_tags(response, continuation=page_8))
    assert [type(o) for o in outputs] == [TagPage]
    assert crawler.stats.get_value("hubspider/lost/repository") == 1
    assert "library/rust: 695 of 705 tags came, after reading the listing 2 times" in caplog.text


def test_the_last_page_follows_next_when_tags_were_pushed(signed_in):
    spider, _ = make_spider()
    body = b'{"count": 401, "next": "%s&page=6", "previous": null, "results": []}' % ALPINE_URL.encode()
    page_5 = later_page(spider, "alpine", 5, count=400)
    request, _ = spider.parse_tags(TextResponse(ALPINE_URL, body=body, request=Request(ALPINE_URL)), page_5)
    assert request.cb_kwargs["continuation"].page == 6
    assert spider.walks[("alpine", 1)].pending == {2, 3, 4, 6}


def test_empty_repository_yields_an_empty_page():
    spider, crawler = make_spider()
    response = stored_response("tags_empty.json", ALPINE_URL)
    (page,) = spider.parse_tags(response, continuation=first_page("alpine"))
    assert page.tags == []
    assert crawler.stats.get_value("hubspider/lost") is None
    assert crawler.stats.get_value("hubspider/repositories/done") == 1


def test_next_link_to_another_host_is_refused_and_reported():
    spider, crawler = make_spider()
    body = b'{"count": 200, "next": "https://evil.example/v2/x?page=2", "previous": null, "results": []}'
    response = TextResponse(ALPINE_URL, body=body, request=Request(ALPINE_URL))
    outputs = list(spider.parse_tags(response, continuation=first_page("alpine")))
    assert [type(o) for o in outputs] == [TagPage]
    assert crawler.stats.get_value("hubspider/lost/page") == 1


def test_next_link_downgraded_to_http_is_refused():
    spider, crawler = make_spider()
    body = b'{"count": 3, "next": "http://hub.docker.com/v2/repositories/library/?page=2", "results": []}'
    response = TextResponse(REPOS_URL, body=body, request=Request(REPOS_URL))
    assert list(spider.parse_repositories(response, continuation=LISTING)) == []
    assert crawler.stats.get_value("hubspider/lost/page") == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html><body>Service Unavailable</body></html>", "body is not JSON"),
        (b'{"count": 3, "next": null, "results": [', "body is not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"count": 3, "next": null}', "'results' is missing"),
        (b'{"count": 3, "next": 7, "results": []}', "'next' is neither"),
        (b'{"count": "3", "next": null, "results": []}', "'count' is not a number"),
    ],
)
def test_malformed_pages_are_lost_and_named(body, reason, caplog):
    spider, crawler = make_spider()
    response = HtmlResponse(ALPINE_URL, body=body, request=Request(ALPINE_URL))
    assert list(spider.parse_tags(response, continuation=first_page("alpine"))) == []
    assert crawler.stats.get_value("hubspider/lost/page") == 1
    assert reason in caplog.text
    assert ALPINE_URL in caplog.text


def test_repository_without_a_name_is_lost():
    spider, crawler = make_spider()
    body = b'{"count": 2, "next": null, "results": [{"name": "alpine"}, {"namespace": "library"}]}'
    response = TextResponse(REPOS_URL, body=body, request=Request(REPOS_URL))
    requests = list(spider.parse_repositories(response, continuation=LISTING))
    assert [r.cb_kwargs["continuation"].repository for r in requests] == ["alpine"]
    assert crawler.stats.get_value("hubspider/lost/repository") == 1


def test_failed_page_is_lost_with_the_api_message(caplog):
    spider, crawler = make_spider()
    response = stored_response(
        "not_found.json", ALPINE_URL, status=404, cb_kwargs={"continuation": first_page("a")}
    )
    assert list(spider.page_failed(failure_of(response))) == []
    assert crawler.stats.get_value("hubspider/lost/page") == 1
    assert f"Lost page {ALPINE_URL}: HTTP 404 (httperror 404: tag 'x' not found)" in caplog.text


def test_a_page_past_the_end_is_not_lost_but_ends_the_walk():
    spider, crawler = make_spider()
    page_5 = later_page(spider, "alpine", 5, count=437, received=437)
    spider.walks[("alpine", 1)].pending = {5}
    response = stored_response("not_found.json", page_5.url, status=404, cb_kwargs={"continuation": page_5})
    (completion,) = spider.page_failed(failure_of(response))
    assert (completion.repository, completion.records, completion.completes) == ("alpine", [], True)
    assert crawler.stats.get_value("hubspider/lost") is None
    assert spider.walks == {}


def test_the_page_that_ends_a_whole_walk_says_so():
    spider, _ = make_spider()
    response = stored_response("tags_rust_edge_cases.json", ALPINE_URL)
    page_8 = later_page(spider, "rust", 8, count=705, received=700)
    spider.walks[("rust", 1)].pending = {8}
    (page,) = spider.parse_tags(response, continuation=page_8)
    assert page.completes


def test_a_capped_walk_does_not_count_as_whole():
    spider, _ = make_spider()
    body = b'{"count": 2345, "next": null, "previous": null, "results": []}'
    spider.walks[("ubuntu", 1)] = Walk(pending={10}, received=1000, count=2345, last_page=10)
    page_10 = Continuation("tags", ALPINE_URL + "&page=10", "ubuntu", 1, 10)
    (page,) = spider.parse_tags(TextResponse(ALPINE_URL, body=body, request=Request(ALPINE_URL)), page_10)
    assert not page.completes


def test_a_lost_page_ends_its_walk_without_reading_it_again():
    spider, crawler = make_spider()
    page_5 = later_page(spider, "alpine", 5, count=437, received=337)
    spider.walks[("alpine", 1)].pending = {5}
    response = stored_response("not_found.json", page_5.url, status=502, cb_kwargs={"continuation": page_5})
    assert list(spider.page_failed(failure_of(response))) == []
    assert crawler.stats.get_value("hubspider/lost/page") == 1
    assert crawler.stats.get_value("hubspider/rewalks") is None


def test_anonymous_403_deeper_than_expected_is_noted_not_lost():
    spider, crawler = make_spider()
    page_9 = later_page(spider, "ubuntu", 9, count=1437)
    response = stored_response(
        "anonymous_offset_cap.json", page_9.url, status=403, cb_kwargs={"continuation": page_9}
    )
    assert list(spider.page_failed(failure_of(response))) == []
    assert spider.capped == {"ubuntu": 637}
    assert crawler.stats.get_value("hubspider/lost") is None


def test_403_when_signed_in_is_lost(signed_in):
    spider, crawler = make_spider()
    page_11 = later_page(spider, "ubuntu", 11, count=1437)
    response = stored_response(
        "anonymous_offset_cap.json", page_11.url, status=403, cb_kwargs={"continuation": page_11}
    )
    list(spider.page_failed(failure_of(response)))
    assert crawler.stats.get_value("hubspider/lost/page") == 1


def test_a_first_page_counting_one_page_but_linking_on_asks_for_the_next():
    spider, _ = make_spider()
    body = b'{"count": 40, "next": "%s&page=2", "previous": null, "results": []}' % ALPINE_URL.encode()
    response = TextResponse(ALPINE_URL, body=body, request=Request(ALPINE_URL))
    request, _ = spider.parse_tags(response, continuation=first_page("alpine"))
    assert request.cb_kwargs["continuation"].page == 2
    assert spider.walks[("alpine", 1)].pending == {2}


def test_a_next_link_back_to_a_page_already_asked_for_is_a_loop(signed_in):
    spider, crawler = make_spider()
    body = b'{"count": 400, "next": "%s&page=2", "previous": null, "results": []}' % ALPINE_URL.encode()
    page_4 = later_page(spider, "alpine", 4, count=400)
    spider.walks[("alpine", 1)].asked.add(page_key(f"{ALPINE_URL}&page=2"))
    response = TextResponse(ALPINE_URL, body=body, request=Request(ALPINE_URL))
    outputs = list(spider.parse_tags(response, page_4))
    assert [type(o) for o in outputs] == [TagPage]
    assert crawler.stats.get_value("hubspider/lost/page") == 1
    assert spider.walks[("alpine", 1)].failed


def test_a_listing_whose_pages_end_before_its_count_is_a_loss():
    spider, crawler = make_spider()
    body = b'{"count": 5, "next": null, "previous": null, "results": [{"name": "alpine"}]}'
    response = TextResponse(REPOS_URL, body=body, request=Request(REPOS_URL))
    list(spider.parse_repositories(response, continuation=LISTING))
    assert crawler.stats.get_value("hubspider/lost/listing") == 1


def test_a_listing_that_shows_more_than_its_count_is_no_loss():
    spider, crawler = make_spider()
    body = b'{"count": 1, "next": null, "results": [{"name": "alpine"}, {"name": "nginx"}]}'
    response = TextResponse(REPOS_URL, body=body, request=Request(REPOS_URL))
    assert len(list(spider.parse_repositories(response, continuation=LISTING))) == 2
    assert crawler.stats.get_value("hubspider/lost") is None


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (ALPINE_URL, f"{ALPINE_URL}&page=1"),
        (
            f"{ALPINE_URL}&page=3",
            f"{API}/v2/repositories/library/alpine/tags?page=3&ordering=last_updated&page_size=100",
        ),
    ],
)
def test_page_key_names_the_same_page_whatever_the_url_says(one, other):
    assert page_key(one) == page_key(other)


def test_page_key_tells_pages_apart():
    assert page_key(ALPINE_URL) != page_key(f"{ALPINE_URL}&page=2")
