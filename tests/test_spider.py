"""The spider's callbacks on stored pages: what it requests, yields and reports."""

from __future__ import annotations

import asyncio

import pytest
from scrapy import Request
from scrapy.http import HtmlResponse, TextResponse
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from hubspider.arguments import ArgumentError
from hubspider.items import TagPage
from hubspider.journal import Continuation
from tests.conftest import API, make_spider, stored_response

REPOS_URL = f"{API}/v2/repositories/library/?page_size=100"
ALPINE_URL = f"{API}/v2/repositories/library/alpine/tags?page_size=100&ordering=last_updated"


def chain(repository: str, url: str = ALPINE_URL) -> Continuation:
    return Continuation("tags", url, repository)


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
    requests = list(spider.parse_repositories(stored_response("repositories_library.json", REPOS_URL)))
    assert requests[0].url == f"{API}/v2/repositories/library/?page=2&page_size=100"
    assert requests[0].callback == spider.parse_repositories
    tag_requests = requests[1:]
    assert [r.cb_kwargs["continuation"].repository for r in tag_requests] == [
        "alpine", "nginx", "ubuntu", "rust", "python", "hello-seattle",
    ]  # fmt: skip
    assert all(r.callback == spider.parse_tags and r.errback == spider.page_failed for r in tag_requests)
    assert crawler.stats.get_value("hubspider/repositories") == 6


def test_tags_page_yields_the_next_page_and_its_tags():
    spider, _ = make_spider()
    response = stored_response("tags_alpine.json", ALPINE_URL)
    next_request, page = spider.parse_tags(response, continuation=chain("alpine"))
    assert (
        next_request.url
        == f"{API}/v2/repositories/library/alpine/tags?ordering=last_updated&page=2&page_size=100"
    )
    assert next_request.cb_kwargs["continuation"] == Continuation(
        "tags", next_request.url, "alpine", received=5, count=437
    )
    assert isinstance(page, TagPage)
    assert (page.namespace, page.repository, page.url) == ("library", "alpine", ALPINE_URL)
    assert len(page.tags) == 5


def test_last_page_yields_no_request():
    spider, _ = make_spider()
    response = stored_response("tags_rust_edge_cases.json", ALPINE_URL)
    earlier_pages = Continuation("tags", ALPINE_URL, "rust", received=700, count=705)
    outputs = list(spider.parse_tags(response, continuation=earlier_pages))
    assert [type(o) for o in outputs] == [TagPage]
    assert outputs[0].page.then is None


def test_a_listing_that_came_short_is_read_again():
    spider, crawler = make_spider()
    response = stored_response("tags_rust_edge_cases.json", ALPINE_URL)
    short = Continuation("tags", ALPINE_URL, "rust", received=690, count=705)
    again, page = spider.parse_tags(response, continuation=short)
    assert again.url == f"{API}/v2/repositories/library/rust/tags?page_size=100&ordering=last_updated"
    assert again.cb_kwargs["continuation"].walk == 2
    assert again.dont_filter
    assert page.page.then == again.cb_kwargs["continuation"]
    assert crawler.stats.get_value("hubspider/lost") is None


def test_a_listing_still_short_when_read_again_is_lost(caplog):
    spider, crawler = make_spider()
    response = stored_response("tags_rust_edge_cases.json", ALPINE_URL)
    short = Continuation("tags", ALPINE_URL, "rust", received=690, count=705, walk=2)
    outputs = list(spider.parse_tags(response, continuation=short))
    assert [type(o) for o in outputs] == [TagPage]
    assert crawler.stats.get_value("hubspider/lost/repository") == 1
    assert "library/rust: 695 of 705 tags came, after reading the listing 2 times" in caplog.text


def capped_failure(url: str) -> Failure:
    response = stored_response("anonymous_offset_cap.json", url, status=403)
    response.request.cb_kwargs["continuation"] = Continuation(
        "tags", url, "ubuntu", received=1000, count=1437
    )
    failure = Failure(HttpError(response, "Ignoring non-200 response"))
    failure.request = response.request
    return failure


def test_anonymous_offset_cap_is_noted_not_lost():
    spider, crawler = make_spider()
    spider.page_failed(capped_failure(f"{API}/v2/repositories/library/ubuntu/tags?page=11&page_size=100"))
    assert spider.capped == {"ubuntu": 437}
    assert crawler.stats.get_value("hubspider/anonymous_cap/tags") == 437
    assert crawler.stats.get_value("hubspider/lost") is None


def test_403_before_the_cap_offset_is_lost():
    spider, crawler = make_spider()
    spider.page_failed(capped_failure(f"{API}/v2/repositories/library/ubuntu/tags?page=3&page_size=100"))
    assert spider.capped == {}
    assert crawler.stats.get_value("hubspider/lost/page") == 1


def test_403_when_signed_in_is_lost():
    spider, crawler = make_spider()
    spider.signed_in = True
    spider.page_failed(capped_failure(f"{API}/v2/repositories/library/ubuntu/tags?page=11&page_size=100"))
    assert crawler.stats.get_value("hubspider/lost/page") == 1


def test_empty_repository_yields_an_empty_page():
    spider, crawler = make_spider()
    (page,) = spider.parse_tags(stored_response("tags_empty.json", ALPINE_URL), continuation=chain("alpine"))
    assert page.tags == []
    assert crawler.stats.get_value("hubspider/lost") is None


def test_next_link_to_another_host_is_refused_and_reported():
    spider, crawler = make_spider()
    body = b'{"count": 200, "next": "https://evil.example/v2/x?page=2", "previous": null, "results": []}'
    response = TextResponse(ALPINE_URL, body=body, request=Request(ALPINE_URL))
    outputs = list(spider.parse_tags(response, continuation=chain("alpine")))
    assert [type(o) for o in outputs] == [TagPage]
    assert crawler.stats.get_value("hubspider/lost/page") == 1


def test_next_link_downgraded_to_http_is_refused():
    spider, crawler = make_spider()
    body = b'{"count": 200, "next": "http://hub.docker.com/v2/x?page=2", "previous": null, "results": []}'
    list(
        spider.parse_tags(
            TextResponse(ALPINE_URL, body=body, request=Request(ALPINE_URL)), continuation=chain("a")
        )
    )
    assert crawler.stats.get_value("hubspider/lost/page") == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html><body>Service Unavailable</body></html>", "body is not JSON"),
        (b'{"count": 3, "next": null, "results": [', "body is not JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (b'{"count": 3, "next": null}', "'results' is missing"),
        (b'{"count": 3, "next": 7, "results": []}', "'next' is neither"),
    ],
)
def test_malformed_pages_are_lost_and_named(body, reason, caplog):
    spider, crawler = make_spider()
    response = HtmlResponse(ALPINE_URL, body=body, request=Request(ALPINE_URL))
    assert list(spider.parse_tags(response, continuation=chain("alpine"))) == []
    assert crawler.stats.get_value("hubspider/lost/page") == 1
    assert reason in caplog.text
    assert ALPINE_URL in caplog.text


def test_repository_without_a_name_is_lost():
    spider, crawler = make_spider()
    body = b'{"count": 2, "next": null, "results": [{"name": "alpine"}, {"namespace": "library"}]}'
    response = TextResponse(REPOS_URL, body=body, request=Request(REPOS_URL))
    requests = list(spider.parse_repositories(response))
    assert [r.cb_kwargs["continuation"].repository for r in requests] == ["alpine"]
    assert crawler.stats.get_value("hubspider/lost/repository") == 1


def test_failed_page_is_lost_with_the_api_message(caplog):
    spider, crawler = make_spider()
    response = stored_response("not_found.json", ALPINE_URL, status=404)
    failure = Failure(HttpError(response, "Ignoring non-200 response"))
    failure.request = response.request
    spider.page_failed(failure)
    assert crawler.stats.get_value("hubspider/lost/page") == 1
    assert f"Lost page {ALPINE_URL}: HTTP 404 (httperror 404: tag 'x' not found)" in caplog.text
