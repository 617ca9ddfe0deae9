"""The development cache (GoodPagesPolicy) on registry answers: what it keeps and what never,
then `registry` crawls answered from it, whose cache holds no token."""

from __future__ import annotations

import json
import pickle
from typing import TYPE_CHECKING, Any

import pytest
from scrapy import Request
from scrapy.http import Response, TextResponse
from scrapy.settings import Settings
from scrapy.utils.conf import build_component_list

from fakehub import DistributionRegistry, make_distribution
from fakehub.distribution import NOT_FOUND
from hubspider.downloadermiddlewares.auth import AUTH_META
from hubspider.extensions.httpcache import GoodPagesPolicy
from hubspider.registry.meta import CONTENT_ADDRESSED_META, REGISTRY_SCOPE_META, TOKEN_REQUEST_META
from tests.helpers import PROJECT_SETTINGS, as_keys, run_crawl, without_seen_at

if TYPE_CHECKING:
    from pathlib import Path

    from fakehub.distribution import Distribution
    from tests.helpers import CrawlResult

REGISTRY = "https://mcr.microsoft.com"
SCOPE = "repository:dotnet/runtime:pull"
DIGEST = "sha256:" + "a" * 64
CATALOG = f"{REGISTRY}/v2/_catalog?n=100"
TAGS = f"{REGISTRY}/v2/dotnet/runtime/tags/list?n=100"
MANIFEST = f"{REGISTRY}/v2/dotnet/runtime/manifests/{DIGEST}"
TAG_MANIFEST = f"{REGISTRY}/v2/dotnet/runtime/manifests/8.0"
BLOB = f"{REGISTRY}/v2/dotnet/runtime/blobs/{DIGEST}"
WITH_DIGEST = {"Docker-Content-Digest": DIGEST}
CONTENT_ADDRESSED = {CONTENT_ADDRESSED_META: True}
HUB_PAGE = {"count": 1, "next": None, "previous": None, "results": [{"name": "alpine"}]}


@pytest.fixture
def policy() -> GoodPagesPolicy:
    return GoodPagesPolicy(Settings(PROJECT_SETTINGS))


def registry_request(url: str, method: str = "GET", meta: dict[str, Any] | None = None) -> Request:
    return Request(url, method=method, meta={REGISTRY_SCOPE_META: SCOPE, **(meta or {})})


def answer(
    request: Request, body: bytes = b"", status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return TextResponse(request.url, status=status, body=body, headers=headers, request=request)


def listing(key: str = "tags") -> bytes:
    return json.dumps({"name": "dotnet/runtime", key: ["8.0", "9.0"]}).encode()


def keeps(policy: GoodPagesPolicy, request: Request, response: Response) -> bool:
    """What the cache middleware asks: may it look the request up, then store the answer."""
    return policy.should_cache_request(request) and policy.should_cache_response(response, request)


# What the cache keeps of a registry.


def test_a_tags_page_is_kept(policy: GoodPagesPolicy) -> None:
    request = registry_request(TAGS)
    assert keeps(policy, request, answer(request, listing()))


def test_a_catalog_page_is_kept(policy: GoodPagesPolicy) -> None:
    request = registry_request(CATALOG, meta={REGISTRY_SCOPE_META: "registry:catalog:*"})
    assert keeps(policy, request, answer(request, listing("repositories")))


def test_a_tags_page_with_null_tags_is_kept(policy: GoodPagesPolicy) -> None:
    request = registry_request(TAGS)
    assert keeps(policy, request, answer(request, b'{"name":"dotnet/runtime","tags":null}'))


@pytest.mark.parametrize("body", [b"<html>busy</html>", b"[]", b"", b'"tags"', b"\xff\xfe"])
def test_a_listing_that_is_not_a_json_object_is_not_kept(policy: GoodPagesPolicy, body: bytes) -> None:
    request = registry_request(TAGS)
    assert not keeps(policy, request, answer(request, body))


def test_a_manifest_get_is_kept_whatever_its_body(policy: GoodPagesPolicy) -> None:
    # The spider checks it against its digest: the cache need not understand it.
    request = registry_request(MANIFEST, meta=CONTENT_ADDRESSED)
    assert keeps(policy, request, answer(request, b"not json at all"))


def test_a_manifest_get_by_tag_is_kept(policy: GoodPagesPolicy) -> None:
    request = registry_request(TAG_MANIFEST)
    assert keeps(policy, request, answer(request, b'{"schemaVersion":2}'))


def test_a_blob_get_is_kept_whatever_its_body(policy: GoodPagesPolicy) -> None:
    request = registry_request(BLOB, meta=CONTENT_ADDRESSED)
    assert keeps(policy, request, answer(request, bytes(range(256))))


def test_a_manifest_head_with_its_digest_is_kept(policy: GoodPagesPolicy) -> None:
    request = registry_request(TAG_MANIFEST, "HEAD")
    assert keeps(policy, request, answer(request, headers=WITH_DIGEST))


def test_a_manifest_head_without_a_digest_is_not_kept(policy: GoodPagesPolicy) -> None:
    # The spider would GET the manifest by tag after it: nothing to save by keeping it.
    request = registry_request(TAG_MANIFEST, "HEAD")
    assert not keeps(policy, request, answer(request))


def test_a_head_of_anything_but_a_manifest_is_not_kept(policy: GoodPagesPolicy) -> None:
    request = registry_request(BLOB, "HEAD")
    assert not keeps(policy, request, answer(request, headers=WITH_DIGEST))


def test_a_registry_request_of_another_method_is_not_looked_up(policy: GoodPagesPolicy) -> None:
    assert not policy.should_cache_request(registry_request(TAGS, "POST"))


# What it never keeps.


@pytest.mark.parametrize("status", [401, 403, 404, 429, 500, 502, 503, 307])
def test_a_registry_answer_that_is_not_a_200_is_not_kept(policy: GoodPagesPolicy, status: int) -> None:
    for request, body in (
        (registry_request(TAGS), listing()),
        (registry_request(MANIFEST), b"{}"),
        (registry_request(BLOB), b"{}"),
    ):
        assert not keeps(policy, request, answer(request, body, status))
    head = registry_request(TAG_MANIFEST, "HEAD")
    assert not keeps(policy, head, answer(head, b"", status, headers=WITH_DIGEST))


def test_a_token_request_is_never_looked_up(policy: GoodPagesPolicy) -> None:
    request = Request("https://auth.example/token?scope=x", meta={TOKEN_REQUEST_META: True})
    assert not policy.should_cache_request(request)


def test_a_token_request_with_a_scope_is_never_looked_up(policy: GoodPagesPolicy) -> None:
    request = registry_request(TAGS, meta={TOKEN_REQUEST_META: True})
    assert not policy.should_cache_request(request)


def test_an_answer_to_a_request_holding_authorization_is_not_kept(policy: GoodPagesPolicy) -> None:
    request = registry_request(MANIFEST)
    request.headers[b"Authorization"] = b"Bearer s3cr3t"
    assert not keeps(policy, request, answer(request, b"{}"))


def test_an_answer_from_the_cdn_a_blob_redirected_to_is_not_kept(policy: GoodPagesPolicy) -> None:
    cdn = "https://cdn.example/blobs/x?sig=abc&expires=1"
    request = registry_request(cdn, meta={"redirect_urls": [BLOB], CONTENT_ADDRESSED_META: True})
    assert not keeps(policy, request, answer(request, b"{}"))


def test_an_answer_redirected_within_the_registry_is_kept(policy: GoodPagesPolicy) -> None:
    request = registry_request(MANIFEST, meta={"redirect_urls": [TAG_MANIFEST]})
    assert keeps(policy, request, answer(request, b"{}"))


def test_a_registry_challenge_is_not_kept(policy: GoodPagesPolicy) -> None:
    # `GET /v2/` carries no scope: judged as the Hub API's, it is not a page.
    request = Request(f"{REGISTRY}/v2/")
    assert not keeps(policy, request, answer(request, b"{}"))


# The Hub API, as it was.


def test_a_hub_page_is_kept(policy: GoodPagesPolicy) -> None:
    request = Request("https://hub.docker.com/v2/namespaces/library/repositories")
    assert keeps(policy, request, answer(request, json.dumps(HUB_PAGE).encode()))


def test_a_hub_answer_that_is_not_a_page_is_not_kept(policy: GoodPagesPolicy) -> None:
    request = Request("https://hub.docker.com/v2/namespaces/library/repositories")
    assert not keeps(policy, request, answer(request, b"<html>maintenance</html>"))
    assert not keeps(policy, request, answer(request, listing()))


@pytest.mark.parametrize("status", [401, 404, 429, 500])
def test_a_hub_page_that_is_not_a_200_is_not_kept(policy: GoodPagesPolicy, status: int) -> None:
    request = Request("https://hub.docker.com/v2/namespaces/library/repositories")
    assert not keeps(policy, request, answer(request, json.dumps(HUB_PAGE).encode(), status))


def test_a_hub_head_is_not_looked_up(policy: GoodPagesPolicy) -> None:
    assert not policy.should_cache_request(Request("https://hub.docker.com/v2/", method="HEAD"))


def test_the_hub_sign_in_is_not_looked_up(policy: GoodPagesPolicy) -> None:
    request = Request("https://hub.docker.com/v2/auth/token", method="POST", meta={AUTH_META: True})
    assert not policy.should_cache_request(request)
    assert not policy.should_cache_request(request.replace(method="GET"))


def test_the_cache_sits_before_both_middlewares_that_add_a_bearer() -> None:
    """Its lookup comes before they add the token, and it stores after they took it off."""
    order = build_component_list(Settings(PROJECT_SETTINGS).getwithbase("DOWNLOADER_MIDDLEWARES"))
    cache = order.index("scrapy.downloadermiddlewares.httpcache.HttpCacheMiddleware")
    assert cache < order.index("hubspider.downloadermiddlewares.auth.HubAuthMiddleware")
    assert cache < order.index("hubspider.downloadermiddlewares.registryauth.RegistryAuthMiddleware")


# Registry crawls answered from the cache.


def crawl(registry: DistributionRegistry, workdir: Path, *arguments: str) -> CrawlResult:
    host = registry.url.removeprefix("http://")
    return run_crawl(
        registry.url,
        workdir,
        "-a",
        f"registry={host}",
        *arguments,
        "-s",
        "HTTPCACHE_ENABLED=True",
        # Absolute: a relative one lives in the project's .scrapy/, and tests run elsewhere.
        "-s",
        f"HTTPCACHE_DIR={workdir / 'httpcache'}",
        "-s",
        f"HUB_STORE_PATH={workdir / 'store.sqlite3'}",
        "-s",
        "HUB_REGISTRY_PAGE_SIZE=7",
        spider="registry",
    )


def cached(workdir: Path) -> list[tuple[dict[str, Any], Path]]:
    return [
        (pickle.loads(meta.read_bytes()), meta.parent)
        for meta in (workdir / "httpcache").rglob("pickled_meta")
    ]


@pytest.fixture(scope="module")
def crawls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One registry crawled twice in the same workdir with the cache on, then a third time with
    `-a repos=` its repositories that answer, and what it answered after each."""
    workdir = tmp_path_factory.mktemp("registry-cache")
    distribution = make_distribution(repositories=6, tags=60, seed=4)
    answering = [
        name for name, repository in distribution.repositories.items() if repository.status != NOT_FOUND
    ]
    with DistributionRegistry(distribution) as registry:
        first = crawl(registry, workdir)
        after_first = registry.counts_snapshot()
        second = crawl(registry, workdir)
        after_second = registry.counts_snapshot()
        third = crawl(registry, workdir, "-a", f"repos={','.join(answering)}")
        after_third = registry.counts_snapshot()
        # The emulator keeps the tokens it issued only there: what the cache must not hold.
        tokens = set(registry._tokens)
    return {
        "distribution": distribution,
        "workdir": workdir,
        "host": registry.url.removeprefix("http://"),
        "first": first,
        "second": second,
        "third": third,
        "after_first": after_first,
        "after_second": after_second,
        "after_third": after_third,
        "tokens": tokens,
    }


def not_found(distribution: Distribution) -> list[str]:
    return [name for name, repository in distribution.repositories.items() if repository.status == NOT_FOUND]


def difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {kind: after[kind] - before[kind] for kind in after if after[kind] != before[kind]}


@pytest.mark.e2e
def test_every_crawl_succeeds(crawls: dict[str, Any]) -> None:
    for result in (crawls["first"], crawls["second"], crawls["third"]):
        assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.e2e
def test_the_first_crawl_asked_the_registry_for_everything(crawls: dict[str, Any]) -> None:
    distribution = crawls["distribution"]
    counts = crawls["after_first"]
    assert counts["manifest_head"] == distribution.tag_count
    assert counts["catalog_page"] > 0
    assert counts["tags_page"] > 0
    assert counts["token"] > 0


@pytest.mark.e2e
def test_the_second_crawl_asks_again_only_what_answered_404(crawls: dict[str, Any]) -> None:
    """Only 200s are stored: a repository the catalog lists and the registry does not know is
    asked again (its first tags page, with the challenge and the token that costs)."""
    missing = not_found(crawls["distribution"])
    assert missing
    asked = difference(crawls["after_second"], crawls["after_first"])
    assert asked == {"tags_page": len(missing), "token": len(missing), "unauthorized": 1}


@pytest.mark.e2e
def test_the_second_crawl_asks_for_no_manifest_blob_or_catalog(crawls: dict[str, Any]) -> None:
    asked = difference(crawls["after_second"], crawls["after_first"])
    for kind in ("catalog_page", "manifest_head", "manifest_get", "index_get", "blob_get"):
        assert kind not in asked


@pytest.mark.e2e
def test_a_crawl_answered_wholly_from_the_cache_asks_nothing(crawls: dict[str, Any]) -> None:
    """Not even a token: the cache answers before the registry auth middleware is reached."""
    assert crawls["after_third"] == crawls["after_second"]


@pytest.mark.e2e
def test_the_second_crawl_exports_the_same_records(crawls: dict[str, Any]) -> None:
    first = as_keys(without_seen_at(crawls["first"].records()))
    second = as_keys(without_seen_at(crawls["second"].records()))
    assert first
    assert second == first


@pytest.mark.e2e
def test_the_crawl_from_the_cache_exports_the_same_records(crawls: dict[str, Any]) -> None:
    first = as_keys(without_seen_at(crawls["first"].records()))
    assert as_keys(without_seen_at(crawls["third"].records())) == first


@pytest.mark.e2e
def test_the_crawls_from_the_cache_export_exactly_the_registry_s_records(crawls: dict[str, Any]) -> None:
    """What the cache answered is the registry's content: every tag and digest it serves."""
    host = crawls["host"]
    expected = as_keys(crawls["distribution"].expected_records(host))
    for result in (crawls["second"], crawls["third"]):
        assert as_keys(without_seen_at(result.records())) == expected


@pytest.mark.e2e
def test_the_cache_holds_only_200s(crawls: dict[str, Any]) -> None:
    stored = cached(crawls["workdir"])
    assert stored
    assert {meta["status"] for meta, _ in stored} == {200}


@pytest.mark.e2e
def test_the_cache_holds_every_kind_of_registry_answer(crawls: dict[str, Any]) -> None:
    stored = cached(crawls["workdir"])
    methods_and_kinds = {
        (meta["method"], kind)
        for meta, _ in stored
        for kind in ("/_catalog", "/tags/list", "/manifests/", "/blobs/")
        if kind in meta["url"]
    }
    assert methods_and_kinds == {
        ("GET", "/_catalog"),
        ("GET", "/tags/list"),
        ("HEAD", "/manifests/"),
        ("GET", "/manifests/"),
        ("GET", "/blobs/"),
    }


@pytest.mark.e2e
def test_the_cache_holds_no_token_answer_and_no_challenge(crawls: dict[str, Any]) -> None:
    urls = [meta["url"] for meta, _ in cached(crawls["workdir"])]
    assert not [url for url in urls if "/token" in url or url.endswith("/v2/")]


@pytest.mark.e2e
def test_the_cache_holds_no_bearer_token(crawls: dict[str, Any]) -> None:
    tokens = crawls["tokens"]
    assert tokens
    files = [path for path in (crawls["workdir"] / "httpcache").rglob("*") if path.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        assert not [token for token in tokens if token.encode() in data], path
        assert b"Authorization" not in data, path
        assert b"Bearer" not in data, path
