"""No request and no secret leaves HUB_API_URL's origin: not through a redirect of the sign-in,
not through a redirect of a page. A second emulator on another port is the other host; it
records whatever reaches it."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
from scrapy import Request
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.utils.test import get_crawler

from fakehub import HubServer, Redirect, make_hub
from fakehub.__main__ import make_server, parse_arguments
from hubspider.downloadermiddlewares.auth import HubAuthMiddleware, SignInError, token_from
from hubspider.downloadermiddlewares.origin import OriginMiddleware, redirect_problem, redirect_target
from tests.helpers import PROJECT_SETTINGS, as_keys, run_crawl, stat, without_seen_at

if TYPE_CHECKING:
    from scrapy.crawler import Crawler

    from tests.helpers import CrawlResult

EXIT_BAD_ARGUMENT = 2
EXIT_INCOMPLETE = 3
USER, PAT = "hubspider-ci", "dckr_pat_Origin8vN3xY7kLm2Pw9Rt5Bc"
SIGNED_IN = {"DOCKERHUB_USERNAME": USER, "DOCKERHUB_TOKEN": PAT}
API = "https://hub.docker.com"
RUST_PAGE = "/v2/repositories/library/rust/tags?page_size=100&ordering=last_updated"
BASH_PAGE = "/v2/repositories/library/bash/tags?page_size=100&ordering=last_updated"
RUST_TAGS = r"^/v2/repositories/library/rust/tags.*$"



def sign_in_errors(result: CrawlResult) -> list[str]:
    return [line for line in result.stderr.splitlines() if "Sign-in" in line]


def losses(result: CrawlResult) -> list[str]:
    """The lines of the closing summary that name a loss."""
    if "The crawl lost data" not in result.stderr:
        return []
    summary = result.stderr[result.stderr.index("The crawl lost data") :].splitlines()[1:]
    return [line.strip() for line in summary if line.startswith("  ")]


def received_nothing(server: HubServer) -> bool:
    return server.stats["requests"] == 0 and not server.posted


# End to end: the sign-in


@pytest.mark.e2e
@pytest.mark.parametrize("status", [307, 308, 302])
def test_a_redirected_sign_in_sends_the_other_host_nothing_and_stops(status, tmp_path):
    with HubServer(make_hub()) as other:
        redirect = Redirect(r"^/v2/auth/token$", rf"{other.url}\g<0>", status)
        with HubServer(make_hub(), users={USER: PAT}, redirect=redirect) as api:
            result = run_crawl(api.url, tmp_path, env=SIGNED_IN)
            asked = set(api.requests)
        assert received_nothing(other), (other.requests, other.posted)
    assert result.returncode == EXIT_BAD_ARGUMENT, result.stderr[-3000:]
    assert asked == {"/v2/auth/token"}
    [error] = sign_in_errors(result)
    assert f"HTTP {status} redirect to {other.url}/v2/auth/token: refused" in error
    assert "Traceback" not in result.stderr
    assert PAT not in result.stderr


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("answer", "said"),
    [("html", "HTTP 200 text/html"), ("no-token", "HTTP 200 JSON without an access_token")],
)
def test_a_sign_in_answered_without_a_token_stops_the_crawl(answer, said, tmp_path):
    with HubServer(make_hub(), users={USER: PAT}, token_answer=answer) as api:
        result = run_crawl(api.url, tmp_path, env=SIGNED_IN)
        asked = set(api.requests)
    assert result.returncode == EXIT_BAD_ARGUMENT, result.stderr[-3000:]
    assert asked == {"/v2/auth/token"}
    [error] = sign_in_errors(result)
    assert "ERROR" in error
    assert said in error
    assert "Traceback" not in result.stderr


# End to end: pages


@pytest.mark.e2e
def test_a_page_redirected_to_another_host_is_lost_and_named(tmp_path):
    hub = make_hub()
    with HubServer(make_hub()) as other:
        redirect = Redirect(RUST_TAGS, rf"{other.url}\g<0>")
        with HubServer(hub, redirect=redirect) as api:
            result = run_crawl(api.url, tmp_path, "-a", "repos=rust,bash")
        assert received_nothing(other), other.requests
    assert result.returncode == EXIT_INCOMPLETE, result.stderr[-3000:]
    [loss] = losses(result)
    assert loss.startswith(f"page {api.url}{RUST_PAGE}: ")
    assert f"redirected off the API origin to {other.url}{RUST_PAGE}: refused" in loss
    assert stat(result, "hubspider/offsite/refused") == 1
    exported = without_seen_at(result.records())
    assert {record["repository"] for record in exported} == {"bash"}
    assert as_keys(exported) == as_keys(hub.expected_records("library", ["bash"]))


@pytest.mark.e2e
def test_a_redirect_within_the_origin_is_followed(tmp_path):
    hub = make_hub()
    # Hub answers some listings on another path of the same origin (hub-api.md, "Next links").
    redirect = Redirect(
        r"^/v2/repositories/library/([^/?]+)/tags(.*)$", r"/v2/namespaces/library/repositories/\1/tags\2", 301
    )
    with HubServer(hub, redirect=redirect) as api:
        result = run_crawl(api.url, tmp_path)
        redirected = api.stats["redirected"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert redirected == len(hub.namespaces["library"])
    assert as_keys(without_seen_at(result.records())) == as_keys(hub.expected_records("library"))


@pytest.mark.e2e
def test_a_signed_in_crawl_never_sends_its_token_off_the_origin(tmp_path):
    with HubServer(make_hub()) as other:
        redirect = Redirect(RUST_TAGS, rf"{other.url}\g<0>", 307)
        with HubServer(make_hub(), users={USER: PAT}, redirect=redirect) as api:
            result = run_crawl(api.url, tmp_path, "-a", "repos=rust,bash", env=SIGNED_IN)
            tokens = api.tokens.issued
        assert other.stats["received/authorization"] == 0
        assert received_nothing(other), other.requests
    assert tokens
    assert result.returncode == EXIT_INCOMPLETE, result.stderr[-3000:]
    assert "Signed in" in result.stderr
    assert not any(secret in result.stderr for secret in [PAT, *tokens])


@pytest.mark.e2e
def test_a_page_that_redirects_to_itself_is_lost_as_a_loop(tmp_path):
    with HubServer(make_hub(), redirect=Redirect(RUST_TAGS, r"\g<0>")) as api:
        result = run_crawl(api.url, tmp_path, "-a", "repos=rust,bash")
    assert result.returncode == EXIT_INCOMPLETE, result.stderr[-3000:]
    [loss] = losses(result)
    assert loss.startswith(f"page {api.url}{RUST_PAGE}: ")
    assert "redirect loop" in loss
    assert stat(result, "hubspider/redirect/refused") == 1


@pytest.mark.e2e
def test_a_page_that_redirects_without_end_is_lost_naming_the_page_asked_for(tmp_path):
    endless = Redirect(r"^(/v2/repositories/library/rust/tags.*)$", r"\1&again=1")
    with HubServer(make_hub(), redirect=endless) as api:
        result = run_crawl(api.url, tmp_path, "-a", "repos=rust,bash", "-s", "REDIRECT_MAX_TIMES=3")
        redirected = api.stats["redirected"]
    assert result.returncode == EXIT_INCOMPLETE, result.stderr[-3000:]
    assert redirected == 4  # the fourth is not followed
    [loss] = losses(result)
    assert f"more than 3 redirects from {api.url}{RUST_PAGE}: refused" in loss


@pytest.mark.e2e
def test_a_page_redirected_to_a_page_already_asked_for_is_lost_not_dropped(tmp_path):
    # The dupe filter drops a request for a URL it has seen: without a word, the page would be missing.
    back_to_page_1 = Redirect(r"^(/v2/repositories/library/bash/tags\?[^&]+&[^&]+)&page=2$", r"\1")
    with HubServer(make_hub(), redirect=back_to_page_1) as api:
        result = run_crawl(api.url, tmp_path, "-a", "repos=bash")
        redirected = api.stats["redirected"]
    assert redirected == 1
    assert result.returncode == EXIT_INCOMPLETE, result.stderr[-3000:]
    [loss] = losses(result)
    assert loss.startswith(f"page {api.url}{BASH_PAGE}&page=2: ")
    assert f"redirected to {api.url}{BASH_PAGE}, a page already asked for: dropped" in loss


# Units: where a redirect goes, and whether it may be followed


def redirect_response(url: str, location: str | None, status: int = 302, **meta: object) -> Response:
    headers = {"Location": location} if location is not None else {}
    return Response(url, status=status, headers=headers, request=Request(url, meta=meta))


def test_redirect_target_resolves_a_relative_location():
    response = redirect_response(f"{API}/v2/a/tags?page=2", "/v2/b/tags?page=2")
    assert redirect_target(response) == f"{API}/v2/b/tags?page=2"


def test_redirect_target_resolves_a_scheme_relative_location():
    assert redirect_target(redirect_response(f"{API}/v2/a", "//elsewhere.example/v2/a")) == (
        "https://elsewhere.example/v2/a"
    )


@pytest.mark.parametrize(("status", "location"), [(200, "/v2/b"), (304, "/v2/b"), (302, None)])
def test_redirect_target_is_none_for_what_is_not_followed(status, location):
    assert redirect_target(redirect_response(f"{API}/v2/a", location, status)) is None


def test_a_redirect_within_the_origin_has_no_problem():
    assert redirect_problem(f"{API}/v2/b", f"{API}/v2/a", [], API, 20) is None


@pytest.mark.parametrize(
    "target",
    ["https://elsewhere.example/v2/a", "http://hub.docker.com/v2/a", "https://hub.docker.com:8443/v2/a"],
)
def test_a_redirect_to_another_scheme_host_or_port_is_refused(target):
    assert redirect_problem(target, f"{API}/v2/a", [], API, 20) == (
        f"redirected off the API origin to {target}: refused"
    )


def test_a_redirect_off_the_origin_names_the_page_asked_for():
    problem = redirect_problem("https://elsewhere.example/x", f"{API}/v2/b", [f"{API}/v2/a"], API, 20)
    assert (
        problem
        == f"redirected off the API origin to https://elsewhere.example/x (asked for {API}/v2/a): refused"
    )


def test_a_redirect_back_to_a_page_of_the_chain_is_a_loop():
    problem = redirect_problem(f"{API}/v2/a", f"{API}/v2/b", [f"{API}/v2/a"], API, 20)
    assert problem == f"redirect loop {API}/v2/a -> {API}/v2/b -> {API}/v2/a: refused"


def test_a_redirect_to_itself_is_a_loop():
    assert "redirect loop" in (redirect_problem(f"{API}/v2/a", f"{API}/v2/a", [], API, 20) or "")


def test_a_redirect_past_the_limit_is_refused():
    chain = [f"{API}/v2/{n}" for n in range(3)]
    problem = redirect_problem(f"{API}/v2/9", f"{API}/v2/3", chain, API, 3)
    assert problem == f"more than 3 redirects from {API}/v2/0: refused"


# Units: the middleware


def origin_middleware(**settings: object) -> tuple[OriginMiddleware, Crawler]:
    crawler = get_crawler(settings_dict=PROJECT_SETTINGS | {"HUB_API_URL": API} | settings)
    crawler.stats.open_spider()
    return OriginMiddleware.from_crawler(crawler), crawler


def test_a_request_off_the_origin_is_refused_and_counted():
    middleware, crawler = origin_middleware()
    with pytest.raises(IgnoreRequest, match="off the API origin"):
        middleware.process_request(Request("https://elsewhere.example/v2/a"))
    assert crawler.stats.get_value("hubspider/offsite/refused") == 1


def test_a_request_on_the_origin_passes():
    middleware, _ = origin_middleware()
    assert middleware.process_request(Request(f"{API}/v2/a")) is None


def test_a_redirect_off_the_origin_is_refused_before_it_is_followed():
    middleware, crawler = origin_middleware()
    response = redirect_response(f"{API}/v2/a", "https://elsewhere.example/v2/a")
    with pytest.raises(IgnoreRequest, match="redirected off the API origin"):
        middleware.process_response(response.request, response)
    assert crawler.stats.get_value("hubspider/offsite/refused") == 1


def test_a_redirect_that_will_not_be_followed_is_left_to_its_requester():
    middleware, _ = origin_middleware()
    response = redirect_response(f"{API}/v2/a", "https://elsewhere.example/v2/a", dont_redirect=True)
    assert middleware.process_response(response.request, response) is response


def test_an_ordinary_answer_passes():
    middleware, _ = origin_middleware()
    response = redirect_response(f"{API}/v2/a", None, 200)
    assert middleware.process_response(response.request, response) is response


def test_with_redirects_off_a_redirect_is_left_to_the_spider():
    middleware, _ = origin_middleware(REDIRECT_ENABLED=False)
    response = redirect_response(f"{API}/v2/a", "https://elsewhere.example/v2/a")
    assert middleware.process_response(response.request, response) is response


def test_a_dropped_redirect_loses_the_page_asked_for():
    middleware, crawler = origin_middleware()
    redirected = Request(f"{API}/v2/a", meta={"redirect_urls": [f"{API}/v2/b"]})
    middleware.request_dropped(redirected)
    assert crawler.stats.get_value("hubspider/lost/page") == 1


def test_a_dropped_request_that_was_not_redirected_is_not_its_business():
    middleware, crawler = origin_middleware()
    middleware.request_dropped(Request(f"{API}/v2/a"))
    assert crawler.stats.get_value("hubspider/lost") is None


def test_the_bearer_token_is_never_added_off_the_origin():
    crawler = get_crawler(
        settings_dict=PROJECT_SETTINGS | {"HUB_API_URL": API, "HUB_USERNAME": USER, "HUB_TOKEN": PAT}
    )
    middleware = HubAuthMiddleware.from_crawler(crawler)
    middleware.token = "a-token"
    request = Request("https://elsewhere.example/v2/a", headers={"Authorization": "Bearer a-token"})
    asyncio.run(middleware.process_request(request))
    assert "Authorization" not in request.headers


# Units: what a token answer must be


def token_answer(
    body: bytes, status: int = 200, content_type: str = "application/json", **headers: str
) -> Response:
    url = f"{API}/v2/auth/token"
    return TextResponse(
        url, status=status, body=body, headers={"Content-Type": content_type, **headers}, request=Request(url)
    )


def test_a_token_answer_gives_its_token():
    assert token_from(token_answer(b'{"access_token": "abc.def"}')) == "abc.def"


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        (
            token_answer(b"", 307, Location="https://elsewhere.example/t"),
            "HTTP 307 redirect to https://elsewhere.example/t: refused",
        ),
        (
            token_answer(b'{"detail": "Incorrect authentication credentials"}', 401),
            "HTTP 401: Incorrect authentication credentials",
        ),
        (
            token_answer(b"<html>", content_type="text/html"),
            "HTTP 200 text/html (6 bytes), not a token: refused",
        ),
        (token_answer(b'{"token": "abc"}'), "HTTP 200 JSON without an access_token: refused"),
        (token_answer(b'{"access_token": ""}'), "HTTP 200 JSON without an access_token: refused"),
        (token_answer(b'{"access_token": 12}'), "HTTP 200 JSON without an access_token: refused"),
        (token_answer(b'["access_token"]'), "HTTP 200 JSON without an access_token: refused"),
    ],
)
def test_anything_but_a_token_is_a_failed_sign_in(answer, said):
    with pytest.raises(SignInError) as raised:
        token_from(answer)
    assert str(raised.value) == said


# Units: the emulator's knobs


def test_an_emulator_redirect_expands_its_location_with_the_match():
    redirect = Redirect(
        r"^/v2/repositories/library/(\w+)/tags(.*)$", r"/v2/namespaces/library/repositories/\1/tags\2"
    )
    location = redirect.location_for("/v2/repositories/library/rust/tags?page=2")
    assert location == "/v2/namespaces/library/repositories/rust/tags?page=2"
    assert redirect.location_for("/v2/repositories/library/") is None


def test_an_emulator_redirect_needs_a_redirect_status():
    with pytest.raises(ValueError, match="redirect status"):
        Redirect("^/", "/elsewhere", 200)


def test_an_emulator_token_answer_must_be_known():
    with pytest.raises(ValueError, match="token answer"):
        HubServer(make_hub(1, 10), token_answer="maybe")


@pytest.mark.e2e
def test_the_emulator_command_line_sets_a_redirect():
    argv = ["--port", "0", "--redirect-pattern", "^/v2/auth", "--redirect-to", r"http://x\g<0>"]
    server = make_server(parse_arguments([*argv, "--redirect-status", "307"]), make_hub(1, 10))
    try:
        assert server.redirect == Redirect("^/v2/auth", r"http://x\g<0>", 307)
    finally:
        server.server_close()


def test_the_emulator_command_line_sets_the_token_answer():
    assert parse_arguments(["--token-answer", "html"]).token_answer == "html"


def test_the_emulator_command_line_wants_a_pattern_and_a_location_together():
    with pytest.raises(SystemExit):
        parse_arguments(["--redirect-pattern", "^/v2/auth"])
