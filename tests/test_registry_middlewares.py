"""The downloader middlewares that talk to a registry, one at a time on Request and Response
objects: registry tokens (fetched once a scope, added at download time only, never off the
registry's origin), the pull limit (deferred, never lost), and the origins a registry crawl may
reach. The token service and registry answers come from a small in-process engine stand-in that
runs each request through the middleware, as the real downloader would; the crawls against the
emulator are in tests/test_layers.py."""

from __future__ import annotations

import asyncio
import json
import logging
from base64 import b64decode
from typing import TYPE_CHECKING, Any

import pytest
from scrapy import Request
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from hubspider.arguments import ArgumentError
from hubspider.config import HubConfig, parse_registry_auth_url, parse_registry_url
from hubspider.downloadermiddlewares.origin import OriginMiddleware, redirect_problem
from hubspider.downloadermiddlewares.pulls import PullLimitMiddleware
from hubspider.downloadermiddlewares.ratelimit import RateLimitMiddleware
from hubspider.downloadermiddlewares.registryauth import (
    RegistryAuthError,
    RegistryAuthMiddleware,
    renew_at,
    token_request_url,
)
from hubspider.redaction import REDACTED
from hubspider.registry.challenge import Challenge
from hubspider.registry.meta import CONTENT_ADDRESSED_META, PULL_META, REGISTRY_SCOPE_META, TOKEN_REQUEST_META
from hubspider.registry.pulls import PullWindowUsed, pull_budget
from hubspider.registry.urls import blob_url, manifest_url, registry_scope
from tests.helpers import PROJECT_SETTINGS

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy.crawler import Crawler

API = "https://hub.docker.com"
REGISTRY = "https://registry-1.docker.io"
AUTH = "https://auth.docker.io"
REALM = f"{AUTH}/token"
CDN = "https://production.cloudflare.docker.com"
USER, PAT = "hubspider-ci", "dckr_pat_Registry4kQ9wZ2xLp7Vn3Tb"
ALPINE = registry_scope(REGISTRY, "library", "alpine")
PYTHON = registry_scope(REGISTRY, "library", "python")
DIGEST = "sha256:" + "a" * 64
CHALLENGE = f'Bearer realm="{REALM}",service="registry.docker.io"'
TOO_MANY = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}'


def crawler_for(**settings: Any) -> Crawler:
    crawler = get_crawler(
        settings_dict=PROJECT_SETTINGS
        | {"HUB_API_URL": API, "HUB_REGISTRY_URL": REGISTRY, "HUB_REGISTRY_AUTH_URL": AUTH}
        | settings
    )
    crawler.stats.open_spider()
    return crawler


def answer(request: Request, status: int = 200, body: bytes = b"", **headers: str) -> Response:
    return Response(request.url, status=status, body=body, headers=headers, request=request)


def token_body(token: str, expires_in: int | None = 300) -> bytes:
    return json.dumps({"token": token, "access_token": token, "expires_in": expires_in}).encode()


class Engine:
    """Stands in for crawler.engine.download_async: the request goes through the middleware
    (as through the downloader), then `serve` answers it; every request is kept as sent."""

    def __init__(self, middleware: RegistryAuthMiddleware, serve: Callable[[Request], Response]) -> None:
        self.middleware = middleware
        self.serve = serve
        self.sent: list[Request] = []

    async def download_async(self, request: Request) -> Response:
        await self.middleware.process_request(request)
        self.sent.append(request.copy())
        await asyncio.sleep(0)
        response = self.serve(request)
        self.middleware.process_response(request, response)
        return response

    def urls(self) -> list[str]:
        return [request.url for request in self.sent]


def docker_hub(request: Request) -> Response:
    """Docker Hub's registry and token service: a challenge, then one token per asking."""
    if request.url == f"{REGISTRY}/v2/":
        return answer(request, 401, b"{}", **{"WWW-Authenticate": CHALLENGE})
    if request.url.startswith(REALM):
        scope = request.url.split("scope=")[1]
        return answer(request, body=token_body(f"token-for-{scope}-{len(request.url)}-xxxxxxxx"))
    raise AssertionError(f"unexpected {request.url}")


def auth_middleware(
    serve: Callable[[Request], Response] = docker_hub, **settings: Any
) -> tuple[RegistryAuthMiddleware, Engine, Crawler]:
    crawler = crawler_for(**settings)
    middleware = RegistryAuthMiddleware.from_crawler(crawler)
    engine = Engine(middleware, serve)
    crawler.engine = engine
    return middleware, engine, crawler


def manifest_request(scope: str = ALPINE, registry: str = REGISTRY) -> Request:
    repository = scope.split("/")[1].split(":", maxsplit=1)[0]
    return Request(
        manifest_url(registry, "library", repository, DIGEST),
        meta={REGISTRY_SCOPE_META: scope, PULL_META: True},
    )


def authorization(request: Request) -> str | None:
    value = request.headers.get("Authorization")
    return value.decode() if value else None


# Settings


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("https://registry-1.docker.io", "https://registry-1.docker.io"),
        ("https://registry-1.docker.io/", "https://registry-1.docker.io"),
        ("https://public.ecr.aws/docker/", "https://public.ecr.aws/docker"),
        (" http://127.0.0.1:5000/mirror/x ", "http://127.0.0.1:5000/mirror/x"),
    ],
)
def test_a_registry_url_is_an_origin_and_a_prefix(value, parsed):
    assert parse_registry_url(value) == parsed


@pytest.mark.parametrize(
    "value",
    ["ftp://registry.example", "registry-1.docker.io", "https://", "https://r.example/?a=1", "https://r#x"],
)
def test_bad_registry_urls_fail_in_one_line(value):
    with pytest.raises(ArgumentError, match="invalid HUB_REGISTRY_URL") as refusal:
        parse_registry_url(value)
    assert "\n" not in str(refusal.value)


def test_the_registry_auth_url_is_an_origin():
    assert parse_registry_auth_url("https://auth.docker.io/") == "https://auth.docker.io"


@pytest.mark.parametrize("value", ["https://auth.docker.io/token", "auth.docker.io", "https://a.example?x=1"])
def test_a_registry_auth_url_with_a_path_fails(value):
    with pytest.raises(ArgumentError, match="invalid HUB_REGISTRY_AUTH_URL"):
        parse_registry_auth_url(value)


def test_the_registry_defaults_to_docker_hubs():
    settings = {
        name: value for name, value in PROJECT_SETTINGS.items() if not name.startswith("HUB_REGISTRY")
    }
    config = HubConfig.from_settings(get_crawler(settings_dict=settings).settings)
    assert (config.registry_url, config.registry_auth_url) == (REGISTRY, AUTH)


# URLs


def test_registry_urls():
    assert (
        manifest_url(REGISTRY, "library", "alpine", "3.20") == f"{REGISTRY}/v2/library/alpine/manifests/3.20"
    )
    assert blob_url(REGISTRY, "library", "alpine", DIGEST) == f"{REGISTRY}/v2/library/alpine/blobs/{DIGEST}"


def test_a_registry_prefix_goes_after_v2():
    assert (
        manifest_url("https://public.ecr.aws/docker", "library", "alpine", DIGEST)
        == f"https://public.ecr.aws/v2/docker/library/alpine/manifests/{DIGEST}"
    )


def test_a_token_request_keeps_the_realms_query():
    challenge = Challenge("https://auth.example/token?account=x", "svc")
    assert token_request_url(challenge, ALPINE) == (
        "https://auth.example/token?account=x&service=svc&scope=repository%3Alibrary%2Falpine%3Apull"
    )


def test_a_token_request_without_a_service():
    assert (
        token_request_url(Challenge(REALM, None), ALPINE)
        == f"{REALM}?scope=repository%3Alibrary%2Falpine%3Apull"
    )


def test_a_token_is_renewed_at_three_quarters_of_its_life():
    assert renew_at(1000.0, 300) == 1225.0


# Registry tokens


def test_a_library_crawl_request_is_left_alone():
    middleware, engine, _ = auth_middleware()
    request = Request(f"{API}/v2/repositories/library/", headers={"Authorization": "Bearer hub-token"})
    asyncio.run(middleware.process_request(request))
    response = answer(request)
    assert middleware.process_response(request, response) is response
    assert authorization(request) == "Bearer hub-token"
    assert engine.sent == []


def test_a_registry_request_gets_the_token_of_its_scope_at_download_time_only():
    middleware, engine, crawler = auth_middleware()
    request = manifest_request()
    asyncio.run(middleware.process_request(request))
    token = authorization(request)
    assert token is not None
    assert token.startswith("Bearer token-for-repository%3Alibrary%2Falpine%3Apull")
    assert engine.urls() == [
        f"{REGISTRY}/v2/",
        f"{REALM}?service=registry.docker.io&scope=repository%3Alibrary%2Falpine%3Apull",
    ]
    middleware.process_response(request, answer(request))
    assert authorization(request) is None
    assert crawler.stats.get_value("hubspider/registry/tokens") == 1


def test_the_registry_is_asked_once_and_each_scope_once_under_concurrency():
    middleware, engine, crawler = auth_middleware()
    requests = [manifest_request(scope) for scope in [ALPINE, PYTHON] * 10]

    async def all_at_once() -> None:
        await asyncio.gather(*(middleware.process_request(request) for request in requests))

    asyncio.run(all_at_once())
    assert engine.urls().count(f"{REGISTRY}/v2/") == 1
    assert len(engine.sent) == 3
    assert {authorization(request) for request in requests[::2]} == {authorization(requests[0])}
    assert authorization(requests[0]) != authorization(requests[1])
    assert crawler.stats.get_value("hubspider/registry/tokens") == 2


def test_a_registry_that_needs_no_token_gets_none():
    middleware, engine, _ = auth_middleware(lambda request: answer(request, 200, b"{}"))
    first, second = manifest_request(), manifest_request(PYTHON)
    asyncio.run(middleware.process_request(first))
    asyncio.run(middleware.process_request(second))
    assert authorization(first) is None
    assert engine.urls() == [f"{REGISTRY}/v2/"]


def test_a_token_is_renewed_before_it_expires():
    middleware, engine, _ = auth_middleware()
    now = [1000.0]
    middleware.clock = lambda: now[0]
    asyncio.run(middleware.process_request(manifest_request()))
    now[0] += 224
    asyncio.run(middleware.process_request(manifest_request()))
    assert len(engine.sent) == 2
    now[0] += 2
    asyncio.run(middleware.process_request(manifest_request()))
    assert len(engine.sent) == 3


def test_a_token_answer_without_expires_in_lasts_a_minute():
    def short_lived(request: Request) -> Response:
        if request.url.startswith(REALM):
            return answer(request, body=token_body("a-short-lived-token", None))
        return docker_hub(request)

    middleware, engine, _ = auth_middleware(short_lived)
    now = [1000.0]
    middleware.clock = lambda: now[0]
    asyncio.run(middleware.process_request(manifest_request()))
    now[0] += 46
    asyncio.run(middleware.process_request(manifest_request()))
    assert len(engine.sent) == 3


def test_a_401_renews_the_token_and_tries_once_more():
    middleware, engine, crawler = auth_middleware()
    request = manifest_request()
    asyncio.run(middleware.process_request(request))
    retry = middleware.process_response(request, answer(request, 401))
    assert isinstance(retry, Request)
    assert authorization(retry) is None
    asyncio.run(middleware.process_request(retry))
    assert len(engine.sent) == 3, "a new token for the scope"
    again = answer(retry, 401)
    assert middleware.process_response(retry, again) is again
    assert crawler.stats.get_value("hubspider/registry/401") == 1


def test_a_401_without_a_token_sent_is_the_spiders():
    middleware, _, _ = auth_middleware(lambda request: answer(request, 200))
    request = manifest_request()
    asyncio.run(middleware.process_request(request))
    response = answer(request, 401)
    assert middleware.process_response(request, response) is response


def test_credentials_go_to_the_token_service_on_the_auth_origin_only():
    middleware, engine, crawler = auth_middleware(HUB_USERNAME=USER, HUB_TOKEN=PAT)
    asyncio.run(middleware.process_request(manifest_request()))
    discovery, token_request = engine.sent
    assert authorization(discovery) is None
    basic = authorization(token_request)
    assert basic is not None
    assert b64decode(basic.removeprefix("Basic ")).decode() == f"{USER}:{PAT}"
    assert crawler.stats.get_value("hubspider/registry/tokens_signed_in") == 1


@pytest.mark.parametrize(
    "realm",
    ["https://auth.mirror.example/token", "http://auth.docker.io/token", "https://auth.docker.io:444/t"],
)
def test_a_token_service_elsewhere_is_asked_anonymously(realm):
    def elsewhere(request: Request) -> Response:
        if request.url == f"{REGISTRY}/v2/":
            return answer(request, 401, **{"WWW-Authenticate": f'Bearer realm="{realm}",service="m"'})
        return answer(request, body=token_body("a-mirror-token-0000"))

    middleware, engine, crawler = auth_middleware(elsewhere, HUB_USERNAME=USER, HUB_TOKEN=PAT)
    request = manifest_request()
    asyncio.run(middleware.process_request(request))
    assert engine.urls()[1].startswith(realm)
    assert authorization(engine.sent[1]) is None
    assert authorization(request) == "Bearer a-mirror-token-0000"
    assert crawler.stats.get_value("hubspider/registry/tokens_signed_in") is None


def test_a_token_request_is_never_signed_for_another_origin_whatever_it_carries():
    middleware, _, _ = auth_middleware(HUB_USERNAME=USER, HUB_TOKEN=PAT)
    request = Request(
        "https://elsewhere.example/token",
        headers={"Authorization": "Basic x"},
        meta={TOKEN_REQUEST_META: True},
    )
    asyncio.run(middleware.process_request(request))
    assert authorization(request) is None


def test_no_token_goes_off_the_registry_origin():
    middleware, engine, _ = auth_middleware()
    request = Request(
        f"{CDN}/blob", headers={"Authorization": "Bearer stale"}, meta={REGISTRY_SCOPE_META: ALPINE}
    )
    asyncio.run(middleware.process_request(request))
    assert authorization(request) is None
    assert engine.sent == []


def test_a_failed_request_loses_its_token_before_a_retry():
    middleware, _, _ = auth_middleware()
    request = manifest_request()
    asyncio.run(middleware.process_request(request))
    middleware.process_exception(request, TimeoutError())
    assert authorization(request) is None


def test_tokens_never_reach_a_log(caplog):
    middleware, _, _ = auth_middleware()
    request = manifest_request()
    asyncio.run(middleware.process_request(request))
    token = (authorization(request) or "").removeprefix("Bearer ")
    with caplog.at_level(logging.INFO):
        logging.getLogger("tests").info("sent %s", request.headers)
    assert token not in caplog.text
    assert REDACTED in caplog.text


def refused(serve: Callable[[Request], Response]) -> tuple[str, Crawler, Engine]:
    middleware, engine, crawler = auth_middleware(serve)
    with pytest.raises(RegistryAuthError) as refusal:
        asyncio.run(middleware.process_request(manifest_request()))
    return str(refusal.value), crawler, engine


def on_token(token_answer: Callable[[Request], Response]) -> Callable[[Request], Response]:
    def serve(request: Request) -> Response:
        return token_answer(request) if request.url.startswith(REALM) else docker_hub(request)

    return serve


@pytest.mark.parametrize(
    ("serve", "said"),
    [
        (lambda request: answer(request, 503), f"registry {REGISTRY}/v2/ answered HTTP 503, not a challenge"),
        (lambda request: answer(request, 401), "answered 401 without WWW-Authenticate"),
        (
            lambda request: answer(request, 401, **{"WWW-Authenticate": 'Basic realm="x"'}),
            "not a Bearer challenge",
        ),
        (on_token(lambda request: answer(request, body=b'{"expires_in": 300}')), "answered without a token"),
        (on_token(lambda request: answer(request, body=b"<html>")), "answered HTTP 200 without JSON"),
        (on_token(lambda request: answer(request, body=b"[]")), "JSON that is not an object"),
        (
            on_token(lambda request: answer(request, 401, b'{"details":"incorrect username or password"}')),
            f"token service {REALM} answered HTTP 401: incorrect username or password",
        ),
        (
            on_token(lambda request: answer(request, 307, Location="https://evil.example/t")),
            f"token service {REALM} redirected to https://evil.example/t: refused",
        ),
    ],
)
def test_no_token_fails_the_request_in_one_line(serve, said):
    message, crawler, _ = refused(serve)
    assert said in message
    assert message.startswith("no registry token: ")
    assert "\n" not in message
    assert crawler.stats.get_value("hubspider/registry/auth_failed") == 1


def test_an_unreachable_token_service_fails_the_request_and_is_not_asked_again():
    def unreachable(request: Request) -> Response:
        if request.url.startswith(REALM):
            raise ConnectionRefusedError("Connection was refused by other side: 111: Connection refused.")
        return docker_hub(request)

    middleware, engine, crawler = auth_middleware(unreachable)
    for _ in range(3):
        with pytest.raises(RegistryAuthError, match="ConnectionRefusedError"):
            asyncio.run(middleware.process_request(manifest_request()))
    assert len(engine.sent) == 2
    assert crawler.stats.get_value("hubspider/registry/auth_failed") == 3


# The pull limit


def pulls_middleware() -> tuple[PullLimitMiddleware, Crawler]:
    crawler = crawler_for()
    middleware = PullLimitMiddleware.from_crawler(crawler)
    middleware.clock = lambda: 1_800_000_000.0
    return middleware, crawler


def pull_answer(request: Request, remaining: int, status: int = 200) -> Response:
    headers = {"ratelimit-limit": "100;w=21600", "ratelimit-remaining": f"{remaining};w=21600"}
    return answer(request, status, b"{}", **headers)


def test_a_request_that_is_no_pull_is_not_counted():
    middleware, crawler = pulls_middleware()
    request = Request(blob_url(REGISTRY, "library", "alpine", DIGEST), meta={REGISTRY_SCOPE_META: ALPINE})
    middleware.process_request(request)
    middleware.process_response(request, pull_answer(request, 0))
    assert middleware.in_flight == 0
    assert crawler.stats.get_value("hubspider/pulls/made") is None
    assert not pull_budget(crawler).exhausted


def test_pulls_are_counted_and_the_window_read():
    middleware, crawler = pulls_middleware()
    request = manifest_request()
    middleware.process_request(request)
    assert middleware.in_flight == 1
    middleware.process_response(request, pull_answer(request, 37))
    assert middleware.in_flight == 0
    values = crawler.stats.get_stats()
    assert values["hubspider/pulls/made"] == 1
    assert values["hubspider/pulls/limit"] == 100
    assert values["hubspider/pulls/remaining"] == 37
    assert values["hubspider/pulls/resets_by"] == "2027-01-15T14:00:00Z"


def test_pulls_in_flight_count_against_the_window():
    middleware, crawler = pulls_middleware()
    first = manifest_request()
    middleware.process_request(first)
    middleware.process_response(first, pull_answer(first, 2))
    going = [manifest_request(), manifest_request()]
    for request in going:
        middleware.process_request(request)
    with pytest.raises(PullWindowUsed, match="pull window is used up"):
        middleware.process_request(manifest_request())
    assert crawler.stats.get_value("hubspider/pulls/refused") == 1
    middleware.process_exception(going[0], TimeoutError())
    assert middleware.in_flight == 1
    middleware.process_request(manifest_request())


def test_a_used_up_window_refuses_every_further_pull_before_it_goes(caplog):
    middleware, crawler = pulls_middleware()
    request = manifest_request()
    middleware.process_request(request)
    with caplog.at_level(logging.INFO):
        middleware.process_response(request, pull_answer(request, 0))
        for _ in range(3):
            with pytest.raises(PullWindowUsed):
                middleware.process_request(manifest_request())
    assert pull_budget(crawler).refused == 3
    used_up = [record.getMessage() for record in caplog.records if "used up" in record.getMessage()]
    assert used_up == [
        "The registry's pull window is used up (100 pulls per 6 h, 0 left; 1 pulls made, 0 refused): "
        "further pulls wait for the next run; it is whole again by 2027-01-15T14:00:00Z"
    ]


def test_a_429_toomanyrequests_defers_the_pull_and_every_later_one():
    middleware, crawler = pulls_middleware()
    request = manifest_request()
    middleware.process_request(request)
    with pytest.raises(PullWindowUsed, match="429 TOOMANYREQUESTS"):
        middleware.process_response(request, answer(request, 429, TOO_MANY))
    assert middleware.in_flight == 0
    assert pull_budget(crawler).exhausted
    with pytest.raises(PullWindowUsed):
        middleware.process_request(manifest_request())
    assert crawler.stats.get_value("hubspider/pulls/429") == 1
    assert crawler.stats.get_value("hubspider/pulls/made") is None


def test_a_429_toomanyrequests_on_a_blob_is_deferred_too():
    middleware, _ = pulls_middleware()
    request = Request(blob_url(REGISTRY, "library", "alpine", DIGEST), meta={REGISTRY_SCOPE_META: ALPINE})
    with pytest.raises(PullWindowUsed):
        middleware.process_response(request, answer(request, 429, TOO_MANY))


def test_a_hub_api_429_is_not_the_pull_limit():
    middleware, _ = pulls_middleware()
    request = Request(f"{API}/v2/repositories/library/")
    response = answer(request, 429, TOO_MANY)
    assert middleware.process_response(request, response) is response


def test_a_registry_without_pull_headers_is_unlimited():
    middleware, crawler = pulls_middleware()
    for _ in range(3):
        request = manifest_request()
        middleware.process_request(request)
        middleware.process_response(request, answer(request, 200, b"{}"))
    assert pull_budget(crawler).may_pull(in_flight=10_000)
    assert crawler.stats.get_value("hubspider/pulls/limit") is None


def test_garbage_pull_headers_are_counted_and_ignored():
    middleware, crawler = pulls_middleware()
    request = manifest_request()
    middleware.process_request(request)
    middleware.process_response(
        request, answer(request, **{"ratelimit-limit": "lots", "ratelimit-remaining": "0"})
    )
    assert crawler.stats.get_value("hubspider/pulls/bad_headers") == 1
    assert not pull_budget(crawler).exhausted


def test_a_retry_that_no_answer_settled_is_the_same_pull_in_flight():
    middleware, _ = pulls_middleware()
    request = manifest_request()
    middleware.process_request(request)
    retry = request.replace(dont_filter=True)
    middleware.process_request(retry)
    assert middleware.in_flight == 1


def rate_limit_middleware() -> tuple[RateLimitMiddleware, Crawler]:
    crawler = crawler_for()
    return RateLimitMiddleware.from_crawler(crawler), crawler


def test_the_rate_limit_middleware_leaves_the_pull_limit_alone():
    middleware, crawler = rate_limit_middleware()
    request = manifest_request()
    asyncio.run(middleware.process_request(request))
    response = answer(request, 429, TOO_MANY)
    assert middleware.process_response(request, response) is response
    assert middleware.pacer_for(request).in_flight == 0
    assert middleware.pacer_for(request).blocked_until == 0
    assert crawler.stats.get_value("hubspider/ratelimit/429") is None


def test_the_rate_limit_middleware_still_waits_out_a_registrys_other_429():
    middleware, crawler = rate_limit_middleware()
    request = manifest_request()
    request.headers["Authorization"] = "Bearer registry-token"
    asyncio.run(middleware.process_request(request))
    retry = middleware.process_response(request, answer(request, 429, b"Too Many Requests (HAP429)"))
    assert isinstance(retry, Request)
    assert authorization(retry) is None, "a request going back to the scheduler holds no token"
    assert crawler.stats.get_value("hubspider/ratelimit/429") == 1


# Origins


def origin_middleware(**settings: Any) -> tuple[OriginMiddleware, Crawler]:
    crawler = crawler_for(**settings)
    return OriginMiddleware.from_crawler(crawler), crawler


def redirect(request: Request, location: str, status: int = 307) -> Response:
    return answer(request, status, Location=location)


def test_requests_to_the_registry_pass():
    middleware, _ = origin_middleware()
    assert middleware.process_request(manifest_request()) is None
    assert middleware.process_request(Request(f"{REGISTRY}/v2/")) is None


def test_a_registry_prefix_is_the_registrys_origin():
    middleware, _ = origin_middleware(HUB_REGISTRY_URL="https://public.ecr.aws/docker")
    assert middleware.process_request(manifest_request(registry="https://public.ecr.aws/docker")) is None


def test_a_token_request_goes_to_the_realm_the_registry_named():
    middleware, _ = origin_middleware()
    request = Request("https://auth.mirror.example/token?scope=x", meta={TOKEN_REQUEST_META: True})
    assert middleware.process_request(request) is None


def test_a_token_request_that_is_not_http_is_refused():
    middleware, crawler = origin_middleware()
    with pytest.raises(IgnoreRequest, match="off the API origin"):
        middleware.process_request(Request("ftp://auth.example/token", meta={TOKEN_REQUEST_META: True}))
    assert crawler.stats.get_value("hubspider/offsite/refused") == 1


def test_a_blob_asked_off_the_registry_is_refused():
    middleware, _ = origin_middleware()
    request = Request(f"{CDN}/blob", meta={CONTENT_ADDRESSED_META: True, REGISTRY_SCOPE_META: ALPINE})
    with pytest.raises(IgnoreRequest, match="off the API origin"):
        middleware.process_request(request)


def test_a_blob_follows_its_redirect_to_the_cdn():
    middleware, crawler = origin_middleware()
    request = Request(blob_url(REGISTRY, "library", "alpine", DIGEST), meta={CONTENT_ADDRESSED_META: True})
    response = redirect(request, f"{CDN}/registry-v2/docker/registry/v2/blobs/sha256/aa/data?sig=x")
    assert middleware.process_response(request, response) is response
    assert crawler.stats.get_value("hubspider/registry/content_redirects") == 1
    followed = Request(
        f"{CDN}/registry-v2/data", meta={CONTENT_ADDRESSED_META: True, "redirect_urls": [request.url]}
    )
    assert middleware.process_request(followed) is None


def test_a_blob_redirect_to_what_is_not_http_is_refused():
    middleware, crawler = origin_middleware()
    request = Request(blob_url(REGISTRY, "library", "alpine", DIGEST), meta={CONTENT_ADDRESSED_META: True})
    with pytest.raises(IgnoreRequest, match="not an http"):
        middleware.process_response(request, redirect(request, "file:///etc/passwd"))
    assert crawler.stats.get_value("hubspider/offsite/refused") == 1


def test_a_blob_redirect_loop_is_still_refused():
    problem = redirect_problem(f"{CDN}/a", f"{CDN}/b", [f"{CDN}/a"], REGISTRY, 20, any_origin=True)
    assert problem == f"redirect loop {CDN}/a -> {CDN}/b -> {CDN}/a: refused"


def test_a_manifest_redirected_off_the_registry_is_refused():
    middleware, crawler = origin_middleware()
    request = manifest_request()
    with pytest.raises(IgnoreRequest, match=f"redirected off the registry origin to {CDN}/m: refused"):
        middleware.process_response(request, redirect(request, f"{CDN}/m"))
    assert crawler.stats.get_value("hubspider/offsite/refused") == 1


def test_an_api_page_redirected_to_the_registry_is_refused():
    middleware, _ = origin_middleware()
    request = Request(f"{API}/v2/repositories/library/")
    with pytest.raises(IgnoreRequest, match="redirected off the API origin"):
        middleware.process_response(request, redirect(request, f"{REGISTRY}/v2/"))


def test_no_authorization_follows_a_blob_to_the_cdn():
    """The whole way: our token is added, taken off with the answer, Scrapy's RedirectMiddleware
    follows the 307, and nothing of ours adds a token to the request for the CDN."""
    auth, _, crawler = auth_middleware()
    origin = OriginMiddleware.from_crawler(crawler)
    redirects = RedirectMiddleware.from_crawler(crawler)
    request = Request(
        blob_url(REGISTRY, "library", "alpine", DIGEST),
        meta={CONTENT_ADDRESSED_META: True, REGISTRY_SCOPE_META: ALPINE},
    )
    asyncio.run(auth.process_request(request))
    assert (authorization(request) or "").startswith("Bearer ")
    response = redirect(request, f"{CDN}/blob?sig=x")
    # Answers go up the chain: the auth middleware (957), the origin's (650), then redirects (600).
    assert auth.process_response(request, response) is response
    assert origin.process_response(request, response) is response
    followed = redirects.process_response(request, response)
    assert isinstance(followed, Request)
    assert followed.url == f"{CDN}/blob?sig=x"
    assert origin.process_request(followed) is None
    asyncio.run(auth.process_request(followed))
    assert authorization(followed) is None


def test_scrapys_redirect_drops_authorization_off_the_domain():
    """What the CDN guard rests on besides our own middleware: Scrapy 2.19's RedirectMiddleware
    takes the Authorization header off a redirect to another scheme or domain."""
    redirects = RedirectMiddleware.from_crawler(crawler_for())
    request = Request(f"{REGISTRY}/v2/library/alpine/blobs/{DIGEST}", headers={"Authorization": "Bearer t"})
    followed = redirects.process_response(request, redirect(request, f"{CDN}/blob"))
    assert isinstance(followed, Request)
    assert "Authorization" not in followed.headers
