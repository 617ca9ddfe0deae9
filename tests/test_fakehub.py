"""The emulator serves what hub-api.md says the real Hub serves."""

from __future__ import annotations

import json
from collections import Counter
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest

from fakehub import make_hub
from fakehub.data import INDEX_MEDIA_TYPES, MANIFEST_MEDIA_TYPES


def get(server, path: str, host: str | None = None) -> tuple[int, dict]:
    request = Request(server.url + path)
    if host:
        request.add_header("Host", host)
    try:
        with urlopen(request) as response:
            return response.status, json.load(response)
    except HTTPError as error:
        return error.code, json.load(error)


def all_tags(hub):
    return [tag for repos in hub.namespaces.values() for r in repos.values() for tag in r.unique_tags]


@pytest.mark.e2e
def test_page_size_defaults_to_10_and_is_capped_at_100(hub_server):
    status, page = get(hub_server, "/v2/repositories/library/almalinux/tags")
    assert status == 200
    assert len(page["results"]) == 10
    _, page = get(hub_server, "/v2/repositories/library/almalinux/tags?page_size=1000")
    assert len(page["results"]) == 100
    assert "page_size=100" in page["next"]


@pytest.mark.e2e
def test_next_is_absolute_and_built_from_the_host_header(hub_server):
    _, page = get(hub_server, "/v2/repositories/library/almalinux/tags?page_size=100", host="hub.example:81")
    assert page["next"].startswith("http://hub.example:81/v2/repositories/library/almalinux/tags?")
    assert "page=2" in page["next"]
    assert page["previous"] is None


@pytest.mark.e2e
def test_following_next_reaches_every_tag_once_but_the_drifted_one(hub, hub_server):
    repository = hub.namespaces["library"]["almalinux"]
    url = "/v2/repositories/library/almalinux/tags?page_size=100&ordering=last_updated"
    names = []
    while url:
        _, page = get(hub_server, url)
        names += [tag["name"] for tag in page["results"]]
        url = page["next"] and page["next"].removeprefix(hub_server.url)
    assert page["count"] == len(names) == len(repository.tags)
    duplicated = [name for name, count in Counter(names).items() if count > 1]
    assert len(duplicated) == 1
    assert names[99] == names[100] == duplicated[0]


@pytest.mark.e2e
def test_tags_are_listed_newest_first(hub_server):
    _, page = get(hub_server, "/v2/repositories/library/bash/tags?page_size=100&ordering=last_updated")
    updated = [tag["last_updated"] for tag in page["results"]]
    assert updated == sorted(updated, reverse=True)


@pytest.mark.e2e
def test_a_page_past_the_last_is_404(hub_server):
    status, body = get(hub_server, "/v2/repositories/library/alpine/tags?page_size=100&page=2")
    assert status == 404
    assert set(body) == {"message", "errinfo"}


@pytest.mark.e2e
def test_unknown_ordering_is_400(hub_server):
    status, _ = get(hub_server, "/v2/repositories/library/?ordering=stars")
    assert status == 400


@pytest.mark.e2e
def test_empty_repository_has_count_0(hub_server):
    status, page = get(hub_server, "/v2/repositories/library/archlinux/tags?page_size=100")
    assert (status, page) == (200, {"count": 0, "next": None, "previous": None, "results": []})


@pytest.mark.e2e
def test_unknown_repository_is_404(hub_server):
    status, _ = get(hub_server, "/v2/repositories/library/nope/tags")
    assert status == 404


@pytest.mark.e2e
def test_documented_twin_endpoints_serve_the_same(hub_server):
    _, first = get(hub_server, "/v2/repositories/library/alpine/tags?page_size=5")
    _, twin = get(hub_server, "/v2/namespaces/library/repositories/alpine/tags?page_size=5")
    assert first["results"] == twin["results"]
    _, repos = get(hub_server, "/v2/namespaces/bitnami/repositories")
    assert [r["name"] for r in repos["results"]] == ["nginx", "postgresql", "redis"]


@pytest.mark.e2e
def test_repository_results_have_every_documented_field(hub_server):
    _, page = get(hub_server, "/v2/repositories/library/?page_size=100")
    fields = (
        "name namespace repository_type status status_description description is_private star_count "
        "pull_count last_updated last_modified date_registered affiliation media_types content_types "
        "categories storage_size"
    ).split()
    assert list(page["results"][0]) == fields
    assert page["count"] == 12


@pytest.mark.e2e
def test_tag_results_have_every_documented_field(hub_server):
    _, page = get(hub_server, "/v2/repositories/library/bash/tags?page_size=1")
    tag = page["results"][0]
    assert (
        list(tag)
        == (
            "creator id images last_updated last_updater last_updater_username name repository full_size v2 "
            "tag_status tag_last_pulled tag_last_pushed media_type content_type digest"
        ).split()
    )
    image_fields = "architecture features variant digest os os_features os_version size status"
    assert list(tag["images"][0]) == [*image_fields.split(), "last_pulled", "last_pushed"]


@pytest.mark.parametrize(
    ("case", "holds"),
    [
        ("alias tags sharing an index", lambda t, shared: t.build.digest in shared),
        ("a missing tag digest", lambda t, _: "digest" not in t.api()),
        ("empty images", lambda t, _: t.build.images == ()),
        ("an image without digest", lambda t, _: any(i.digest is None for i in t.build.images)),
        ("a null variant", lambda t, _: any(i.variant is None for i in t.build.images)),
        ("arm variants", lambda t, _: {"v6", "v7", "v8"} <= {i.variant for i in t.build.images}),
        ("windows os_version", lambda t, _: any(i.os == "windows" and i.os_version for i in t.build.images)),
        ("unknown attestations", lambda t, _: any(i.os == "unknown" for i in t.build.images)),
        ("single-platform tags", lambda t, _: t.build.media_type in MANIFEST_MEDIA_TYPES),
        ("index tags", lambda t, _: t.build.media_type in INDEX_MEDIA_TYPES),
    ],
)
def test_every_edge_case_is_in_the_test_hub(hub, case, holds):
    tags = all_tags(hub)
    counts = Counter(t.build.digest for t in tags if t.build.digest)
    shared = {digest for digest, count in counts.items() if count > 1}
    assert any(holds(tag, shared) for tag in tags), case


def test_data_is_deterministic():
    assert make_hub(5, 300, seed=3).expected_records() == make_hub(5, 300, seed=3).expected_records()
    assert make_hub(5, 300, seed=3).expected_records() != make_hub(5, 300, seed=4).expected_records()


def test_full_size_matches_the_benchmark_shape():
    hub = make_hub(180, 60_000)
    library = hub.namespaces["library"].values()
    assert len(library) == 180
    assert sum(len(r.unique_tags) for r in library) == 60_000
    assert max(len(r.tags) for r in library) > 10_000
