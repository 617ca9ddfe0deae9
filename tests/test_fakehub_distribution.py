"""The OCI distribution registry emulator: paged listings, scoped tokens, real digests, its truth."""

from __future__ import annotations

import hashlib
import json
import random
import re
from typing import TYPE_CHECKING, Any
from urllib.error import HTTPError
from urllib.parse import quote, urljoin
from urllib.request import Request, urlopen

import pytest

from fakehub import DistributionRegistry, make_distribution
from fakehub.__main__ import make_distribution_registry, parse_arguments
from fakehub.content import DOCKER_MANIFEST, INDEX_TYPES, OCI_MANIFEST
from fakehub.distribution import (
    CATALOG_SCOPE,
    EMPTY,
    NAMED_REPOSITORIES,
    NOT_FOUND,
    BurstLimiter,
    Distribution,
    granted_scopes,
    listing_page,
    next_link,
    split_tags,
    tag_names,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from email.message import Message

pytestmark = pytest.mark.e2e

ALL_MANIFESTS = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        OCI_MANIFEST,
        DOCKER_MANIFEST,
    ]
)
LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')
CHALLENGE = re.compile(r'^Bearer realm="(?P<realm>[^"]+)",service="(?P<service>[^"]+)"')


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def call(
    url: str, *, token: str | None = None, method: str = "GET", accept: str | None = ALL_MANIFESTS
) -> tuple[int, Message, bytes]:
    request = Request(url, method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if accept:
        request.add_header("Accept", accept)
    try:
        with urlopen(request) as response:
            return response.status, response.headers, response.read()
    except HTTPError as error:
        return error.code, error.headers, error.read()


def token_for(registry: DistributionRegistry, *scopes: str) -> str:
    query = "&".join(f"scope={quote(scope)}" for scope in scopes)
    status, _, body = call(f"{registry.auth_url}/token?service={registry.service}&{query}")
    assert status == 200
    token: str = json.loads(body)["token"]
    return token


def walk(registry: DistributionRegistry, path: str, token: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every page of a listing, following `Link`; and the URLs asked, to show none is asked twice."""
    pages: list[dict[str, Any]] = []
    asked: list[str] = []
    url: str | None = f"{registry.url}{path}"
    while url is not None:
        asked.append(url)
        status, headers, body = call(url, token=token)
        assert status == 200, body
        pages.append(json.loads(body))
        link = headers.get("Link")
        match = LINK.match(link) if link else None
        assert link is None or match is not None, link
        url = urljoin(registry.url, match["url"]) if match else None
    return pages, asked


@pytest.fixture(scope="module")
def distribution() -> Distribution:
    return make_distribution()


@pytest.fixture
def registry(distribution: Distribution) -> Iterator[DistributionRegistry]:
    with DistributionRegistry(distribution) as server:
        yield server


def tagged(distribution: Distribution) -> list[str]:
    return [name for name, repository in distribution.repositories.items() if repository.tags]


# Pure logic.


def test_listing_page_gives_what_follows_last_and_whether_more_remain() -> None:
    names = ["a", "b", "c", "d", "e"]
    assert listing_page(names, None, 2) == (["a", "b"], True)
    assert listing_page(names, "b", 2) == (["c", "d"], True)
    assert listing_page(names, "d", 2) == (["e"], False)
    assert listing_page(names, "c", 2) == (["d", "e"], False)
    assert listing_page(names, "bb", None) == (["c", "d", "e"], False)
    assert listing_page(names, None, 0) == ([], False)
    assert listing_page(names, "e", 3) == ([], False)


def test_next_link_is_relative_and_encodes_last() -> None:
    assert next_link("/v2/_catalog", "dotnet/sdk", 5) == '</v2/_catalog?last=dotnet%2Fsdk&n=5>; rel="next"'


def test_anonymous_clients_are_granted_pull_and_catalog_only() -> None:
    granted = granted_scopes(
        ["repository:dotnet/runtime:pull,push", "repository:a/b:push", CATALOG_SCOPE, "registry:other:*"]
    )
    assert granted == {"repository:dotnet/runtime:pull", CATALOG_SCOPE}


def test_aliases_go_to_the_newest_version_that_has_them() -> None:
    newest_first = [(8, 0, 11), (8, 0, 10), (7, 0, 3)]
    assert tag_names(newest_first[0], []) == ["8.0.11", "8.0", "8", "latest"]
    assert tag_names(newest_first[1], newest_first[:1]) == ["8.0.10"]
    assert tag_names(newest_first[2], newest_first[:2]) == ["7.0.3", "7.0", "7"]


def test_split_tags_gives_every_tag_and_each_repository_one() -> None:
    shares = split_tags(300, 10, random.Random(1))
    assert sum(shares) == 300
    assert min(shares) >= 1
    assert len(set(shares)) > 1
    with pytest.raises(ValueError, match="cannot give"):
        split_tags(3, 10, random.Random(1))


def test_burst_limiter_is_a_sliding_window() -> None:
    limiter = BurstLimiter(2, 10.0)
    assert limiter.check(100.0) is None
    assert limiter.check(105.0) is None
    assert limiter.check(106.0) == pytest.approx(4.0)
    # The refused request took no place: at 110 the first has left the window.
    assert limiter.check(110.0) is None
    assert limiter.check(111.0) == pytest.approx(4.0)
    assert limiter.check(115.0) is None
    with pytest.raises(ValueError, match="positive"):
        BurstLimiter(0, 1.0)


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        make_distribution(repositories=2)
    with pytest.raises(ValueError, match="cannot give"):
        make_distribution(repositories=12, tags=5)


# The data model and its truth.


def test_the_same_seed_makes_the_same_registry() -> None:
    first = make_distribution(repositories=6, tags=60, seed=4)
    assert first.expected() == make_distribution(repositories=6, tags=60, seed=4).expected()
    assert first.expected() != make_distribution(repositories=6, tags=60, seed=5).expected()


def test_the_catalog_has_mcr_paths_an_empty_and_a_missing_repository(distribution: Distribution) -> None:
    expected = distribution.expected()
    assert list(expected) == sorted(expected) == distribution.catalog
    assert len(expected) == 12
    assert {"dotnet/runtime", "dotnet/aspnet", "mssql/server", "windows/servercore"} <= set(expected)
    statuses = [entry["status"] for entry in expected.values()]
    assert statuses.count(EMPTY) == 1
    assert statuses.count(NOT_FOUND) == 1
    assert distribution.tag_count == 300
    assert any(name.count("/") == 2 for name in tagged(distribution))
    big = make_distribution(repositories=20, tags=400)
    vendors = [name for name in big.repositories if re.fullmatch(r"vendor-\d{3}/app", name)]
    assert len(vendors) == 20 - 2 - len(NAMED_REPOSITORIES)
    assert "vendor-001/app" in vendors


def test_every_served_manifest_and_blob_hashes_to_its_digest(distribution: Distribution) -> None:
    checked = 0
    for repository in distribution.repositories.values():
        for digest, (_, make) in repository.manifests.items():
            assert sha(make()) == digest
            checked += 1
        for digest, make in repository.blobs.items():
            assert sha(make()) == digest
    assert checked > distribution.tag_count


def test_expected_lists_platform_images_without_attestations(distribution: Distribution) -> None:
    kinds: set[tuple[str, str | None]] = set()
    for name, entry in distribution.expected().items():
        for target in entry["tags"].values():
            repository = distribution.repositories[name]
            body = json.loads(repository.manifests[target["digest"]][1]())
            if target["media_type"] not in INDEX_TYPES:
                assert [image["digest"] for image in target["images"]] == [target["digest"]]
                config = json.loads(repository.blobs[body["config"]["digest"]]())
                assert config["os"] == target["images"][0]["os"]
                kinds.add(("single", None))
                continue
            listed = body["manifests"]
            attestations = [
                item
                for item in listed
                if item.get("annotations", {}).get("vnd.docker.reference.type") == "attestation-manifest"
            ]
            platforms = [item for item in listed if item not in attestations]
            assert all(
                item["platform"] == {"architecture": "unknown", "os": "unknown"} for item in attestations
            )
            assert [image["digest"] for image in target["images"]] == [item["digest"] for item in platforms]
            for image, item in zip(target["images"], platforms, strict=True):
                assert image["os"] == item["platform"]["os"]
                assert image["architecture"] == item["platform"]["architecture"]
                assert image["variant"] == item["platform"].get("variant")
                assert image["os_version"] == item["platform"].get("os.version")
                assert (image["size"], image["media_type"]) == (item["size"], item["mediaType"])
                kinds.add((image["os"], image["variant"]))
            if attestations:
                kinds.add(("attested", None))
    # Linux amd64, arm64/v8, arm/v7, Windows, attestations and single manifests all occur.
    assert {
        ("linux", None),
        ("linux", "v8"),
        ("linux", "v7"),
        ("windows", None),
        ("attested", None),
        ("single", None),
    } <= kinds


def test_alias_tags_share_the_digest_of_the_newest_version(distribution: Distribution) -> None:
    for name in tagged(distribution):
        tags = distribution.expected()[name]["tags"]
        full = {
            tuple(map(int, tag.split("."))): value["digest"]
            for tag, value in tags.items()
            if re.fullmatch(r"\d+\.\d+\.\d+", tag)
        }
        for tag, value in tags.items():
            if tag == "latest":
                assert value["digest"] == full[max(full)]
            elif re.fullmatch(r"\d+\.\d+", tag):
                major, minor = map(int, tag.split("."))
                newest = max(version for version in full if version[:2] == (major, minor))
                assert value["digest"] == full[newest], (name, tag)
            elif re.fullmatch(r"\d+", tag):
                newest = max(version for version in full if version[0] == int(tag))
                assert value["digest"] == full[newest], (name, tag)
    assert len(distribution.distinct_digests()) < distribution.tag_count


# Over HTTP.


def test_v2_challenges_then_answers_with_a_token(registry: DistributionRegistry) -> None:
    status, headers, _ = call(f"{registry.url}/v2/")
    assert status == 401
    match = CHALLENGE.match(headers["WWW-Authenticate"])
    assert match is not None
    assert match["realm"] == f"{registry.auth_url}/token"
    assert match["service"] == registry.service
    assert call(f"{registry.url}/v2/", token=token_for(registry, CATALOG_SCOPE))[0] == 200
    assert call(f"{registry.url}/v2/", token="not-a-token")[0] == 401


def test_tokens_are_scoped(registry: DistributionRegistry) -> None:
    runtime = token_for(registry, "repository:dotnet/runtime:pull")
    status, headers, body = call(f"{registry.url}/v2/_catalog", token=runtime)
    assert status == 401
    assert json.loads(body)["errors"][0]["code"] == "UNAUTHORIZED"
    assert f'scope="{CATALOG_SCOPE}"' in headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]
    status, headers, _ = call(f"{registry.url}/v2/dotnet/aspnet/tags/list", token=runtime)
    assert status == 401
    assert 'scope="repository:dotnet/aspnet:pull"' in headers["WWW-Authenticate"]
    assert call(f"{registry.url}/v2/dotnet/runtime/tags/list", token=runtime)[0] == 200
    assert call(f"{registry.url}/v2/dotnet/runtime/tags/list")[0] == 401
    both = token_for(registry, "repository:dotnet/aspnet:pull", CATALOG_SCOPE)
    assert call(f"{registry.url}/v2/_catalog", token=both)[0] == 200
    assert call(f"{registry.url}/v2/dotnet/aspnet/tags/list", token=both)[0] == 200
    assert registry.counts["token"] == 2
    assert registry.counts["unauthorized"] == 3


@pytest.mark.parametrize(("cap", "n"), [(None, 5), (3, 100), (4, None)])
def test_catalog_pages_by_link_once_each(distribution: Distribution, cap: int | None, n: int | None) -> None:
    with DistributionRegistry(distribution, page_size_cap=cap) as registry:
        query = "" if n is None else f"?n={n}"
        pages, asked = walk(registry, f"/v2/_catalog{query}", token_for(registry, CATALOG_SCOPE))
        size = min(x for x in (cap, n) if x is not None)
        names = [name for page in pages for name in page["repositories"]]
        assert names == distribution.catalog
        assert len(asked) == len(set(asked)) == -(-len(names) // size)
        assert all(len(page["repositories"]) <= size for page in pages)
        assert registry.counts["catalog_page"] == len(pages)


def test_catalog_all_at_once_ignores_n(distribution: Distribution) -> None:
    with DistributionRegistry(distribution, catalog_all_at_once=True) as registry:
        pages, _ = walk(registry, "/v2/_catalog?n=2", token_for(registry, CATALOG_SCOPE))
        assert [page["repositories"] for page in pages] == [distribution.catalog]


@pytest.mark.parametrize("cap", [None, 6])
def test_every_tags_list_pages_by_link_once_each(distribution: Distribution, cap: int | None) -> None:
    expected = distribution.expected()
    with DistributionRegistry(distribution, page_size_cap=cap) as registry:
        pages_asked = 0
        for name in tagged(distribution):
            token = token_for(registry, f"repository:{name}:pull")
            pages, asked = walk(registry, f"/v2/{name}/tags/list?n=10", token)
            assert {page["name"] for page in pages} == {name}
            tags = [tag for page in pages for tag in page["tags"]]
            assert tags == sorted(expected[name]["tags"])
            assert len(asked) == len(set(asked)) == -(-len(tags) // (cap or 10))
            pages_asked += len(pages)
        assert registry.counts["tags_page"] == pages_asked


def test_the_empty_and_the_missing_repository(
    registry: DistributionRegistry, distribution: Distribution
) -> None:
    statuses = {name: entry["status"] for name, entry in distribution.expected().items()}
    empty = next(name for name, status in statuses.items() if status == EMPTY)
    missing = next(name for name, status in statuses.items() if status == NOT_FOUND)
    status, _, body = call(
        f"{registry.url}/v2/{empty}/tags/list", token=token_for(registry, f"repository:{empty}:pull")
    )
    assert (status, json.loads(body)) == (200, {"name": empty, "tags": []})
    token = token_for(registry, f"repository:{missing}:pull")
    status, _, body = call(f"{registry.url}/v2/{missing}/tags/list", token=token)
    assert status == 404
    assert json.loads(body)["errors"][0]["code"] == "NAME_UNKNOWN"
    assert call(f"{registry.url}/v2/{missing}/manifests/latest", token=token)[0] == 404


def test_bad_page_size_is_a_400(registry: DistributionRegistry) -> None:
    status, _, body = call(f"{registry.url}/v2/_catalog?n=many", token=token_for(registry, CATALOG_SCOPE))
    assert status == 400
    assert json.loads(body)["errors"][0]["code"] == "PAGINATION_NUMBER_INVALID"


def test_head_gives_the_digest_get_gives_without_a_body(
    registry: DistributionRegistry, distribution: Distribution
) -> None:
    expected = distribution.expected()
    heads = gets = 0
    for name in tagged(distribution)[:4]:
        token = token_for(registry, f"repository:{name}:pull")
        for tag, target in expected[name]["tags"].items():
            url = f"{registry.url}/v2/{name}/manifests/{tag}"
            status, head, head_body = call(url, token=token, method="HEAD")
            assert (status, head_body) == (200, b"")
            status, get, body = call(url, token=token)
            assert status == 200
            assert (
                head["Docker-Content-Digest"] == get["Docker-Content-Digest"] == target["digest"] == sha(body)
            )
            assert head["Content-Type"] == get["Content-Type"] == target["media_type"]
            assert int(head["Content-Length"]) == int(get["Content-Length"]) == len(body)
            heads, gets = heads + 1, gets + 1
    counts = registry.counts
    assert counts["manifest_head"] == heads
    assert counts["index_get"] + counts["manifest_get"] == gets


def test_served_indexes_list_attestations_and_their_children_hash(
    registry: DistributionRegistry, distribution: Distribution
) -> None:
    expected = distribution.expected()
    attested = 0
    for name in tagged(distribution):
        token = token_for(registry, f"repository:{name}:pull")
        index_digest = next(
            target["digest"]
            for target in expected[name]["tags"].values()
            if target["media_type"] in INDEX_TYPES
        )
        _, _, body = call(f"{registry.url}/v2/{name}/manifests/{index_digest}", token=token)
        assert sha(body) == index_digest
        for entry in json.loads(body)["manifests"]:
            status, headers, manifest = call(
                f"{registry.url}/v2/{name}/manifests/{entry['digest']}", token=token
            )
            assert status == 200
            assert sha(manifest) == entry["digest"] == headers["Docker-Content-Digest"]
            assert (len(manifest), headers["Content-Type"]) == (entry["size"], entry["mediaType"])
            config = json.loads(manifest)["config"]
            status, _, blob = call(f"{registry.url}/v2/{name}/blobs/{config['digest']}", token=token)
            assert (status, sha(blob), len(blob)) == (200, config["digest"], config["size"])
            if entry["platform"]["os"] == "unknown":
                attested += 1
                subject = entry["annotations"]["vnd.docker.reference.digest"]
                assert entry["annotations"]["vnd.docker.reference.type"] == "attestation-manifest"
                assert subject in {
                    image["digest"] for t in expected[name]["tags"].values() for image in t["images"]
                }
    assert attested > 0
    assert registry.counts["blob_get"] > 0


def test_a_client_that_reads_no_index_gets_linux_amd64_or_404(
    registry: DistributionRegistry, distribution: Distribution
) -> None:
    expected = distribution.expected()
    for name in ("dotnet/runtime", "windows/servercore"):
        token = token_for(registry, f"repository:{name}:pull")
        tag, target = next(
            (tag, target)
            for tag, target in expected[name]["tags"].items()
            if target["media_type"] in INDEX_TYPES
        )
        amd64 = [
            image for image in target["images"] if (image["os"], image["architecture"]) == ("linux", "amd64")
        ]
        for method in ("HEAD", "GET"):
            status, headers, body = call(
                f"{registry.url}/v2/{name}/manifests/{tag}",
                token=token,
                method=method,
                accept=f"{OCI_MANIFEST}, {DOCKER_MANIFEST}",
            )
            if amd64:
                assert status == 200
                assert headers["Docker-Content-Digest"] == amd64[0]["digest"] != target["digest"]
                assert headers["Content-Type"] == amd64[0]["media_type"]
                assert method == "HEAD" or sha(body) == amd64[0]["digest"]
            else:
                assert status == 404
    # One of each: the fallback is not what a registry without Windows-only repositories shows.
    assert registry.counts["manifest_get"] == 2


def test_a_blob_of_another_repository_is_unknown(
    registry: DistributionRegistry, distribution: Distribution
) -> None:
    first, second = tagged(distribution)[:2]
    digest = next(iter(distribution.repositories[second].blobs))
    status, _, body = call(
        f"{registry.url}/v2/{first}/blobs/{digest}", token=token_for(registry, f"repository:{first}:pull")
    )
    assert status == 404
    assert json.loads(body)["errors"][0]["code"] == "BLOB_UNKNOWN"


def test_a_burst_past_the_limit_is_429_with_retry_after(distribution: Distribution) -> None:
    with DistributionRegistry(distribution, burst_limit=3, burst_window=30.0) as registry:
        statuses = [call(f"{registry.url}/v2/")[0] for _ in range(5)]
        assert statuses == [401, 401, 401, 429, 429]
        status, headers, body = call(f"{registry.url}/v2/")
        assert status == 429
        assert 1 <= int(headers["Retry-After"]) <= 30
        assert json.loads(body)["errors"][0]["code"] == "TOOMANYREQUESTS"
        assert registry.counts["429"] == 3
        assert registry.counts["unauthorized"] == 3


def test_the_command_line_serves_a_distribution() -> None:
    args = parse_arguments(
        [
            "--distribution",
            "--port",
            "0",
            "--repositories",
            "5",
            "--catalog-page-cap",
            "2",
            "--burst-limit",
            "50",
        ]
    )
    assert args.tags == 300
    with make_distribution_registry(args) as registry:
        pages, _ = walk(registry, "/v2/_catalog", token_for(registry, CATALOG_SCOPE))
        assert [len(page["repositories"]) for page in pages] == [2, 2, 1]
    assert parse_arguments([]).tags == 1_500
    with pytest.raises(SystemExit):
        parse_arguments(["--distribution", "--catalog-page-cap", "0"])
