"""`scrapy crawl layers` end to end: a `library` crawl fills the store, then the layers spider reads
the emulator's Hub API and registry, and its export must equal the emulator's truth exactly."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from typing import TYPE_CHECKING

import pytest

from fakehub import HubServer, make_hub
from fakehub.data import evolve
from fakehub.registry import FakeRegistry
from tests.helpers import as_keys, run_command, run_crawl, run_layers, stat, without_seen_at

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from fakehub import Hub

pytestmark = pytest.mark.e2e

STORE = "output/hubspider.sqlite3"
USER, PAT = "indexer", "dckr_pat_layers-secret"


@pytest.fixture(scope="module")
def small_hub() -> Hub:
    """Small, but with every kind of image the index meets: Windows, attestations, a 2020-era tag
    without a digest whose platform images have one, an image without a digest."""
    hub = make_hub(repositories=4, tags=200, seed=3)
    library = hub.namespaces["library"]
    # One build in two repositories (as when an image is re-tagged elsewhere): its images are
    # fetched once, and checked in the other repository by HEAD.
    base = library["alpine"].unique_tags[0]
    python = library["python"]
    python.tags.append(
        replace(
            base,
            repository="python",
            repository_id=python.repository_id,
            name="from-alpine",
            tag_id=max(tag.tag_id for r in library.values() for tag in r.tags) + 1,
            last_updated=python.tags[-1].last_updated,
        )
    )
    repositories = library.values()
    builds = [tag.build for repository in repositories for tag in repository.unique_tags]
    images = [image for build in builds for image in build.images]
    assert any(build.digest is None and any(image.digest for image in build.images) for build in builds)
    assert any(image.digest is None for image in images)
    assert {"windows", "unknown"} <= {image.os for image in images}
    return hub


@pytest.fixture(scope="module")
def api(small_hub: Hub) -> Iterator[HubServer]:
    with HubServer(small_hub, users={USER: PAT}) as server:
        yield server


@pytest.fixture(scope="module")
def library_store(api: HubServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store of one complete `library` crawl of the small hub."""
    workdir = tmp_path_factory.mktemp("library")
    result = run_crawl(api.url, workdir)
    assert result.returncode == 0, result.stderr[-2000:]
    return workdir / STORE


@pytest.fixture
def workdir(tmp_path: Path, library_store: Path) -> Path:
    (tmp_path / "output").mkdir()
    shutil.copy(library_store, tmp_path / STORE)
    return tmp_path


@pytest.fixture
def registry(small_hub: Hub) -> Iterator[FakeRegistry]:
    with FakeRegistry(small_hub, users={USER: PAT}) as server:
        yield server


def truth(hub: Hub) -> list[str]:
    return as_keys(hub.expected_image_records())


def distinct_digests(hub: Hub) -> int:
    return len({record["digest"] for record in hub.expected_image_records()})


def test_the_index_equals_the_truth(
    small_hub: Hub, api: HubServer, registry: FakeRegistry, workdir: Path
) -> None:
    result = run_layers(api.url, registry, workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert as_keys(without_seen_at(result.records())) == truth(small_hub)
    assert stat(result, "hubspider/lost") == 0


def test_one_pull_per_platform_digest_and_never_an_index(
    small_hub: Hub, api: HubServer, registry: FakeRegistry, workdir: Path
) -> None:
    result = run_layers(api.url, registry, workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    assert registry.counts["manifest_get"] == distinct_digests(small_hub)
    assert registry.counts["index_get"] == 0
    # The build both repositories hold: each of its images one GET, and one HEAD in the other.
    shared = len(small_hub.expected_image_records()) - distinct_digests(small_hub)
    assert registry.counts["manifest_head"] == shared > 0


def test_a_second_run_with_nothing_new_pulls_nothing(
    api: HubServer, registry: FakeRegistry, workdir: Path
) -> None:
    assert run_layers(api.url, registry, workdir).returncode == 0
    pulled = registry.counts["manifest_get"]
    again = run_layers(api.url, registry, workdir, output="again.jsonl")
    assert again.returncode == 0, again.stderr[-3000:]
    assert registry.counts["manifest_get"] == pulled
    assert again.records() == []


def test_a_used_up_pull_window_defers_and_the_next_runs_carry_on(
    small_hub: Hub, api: HubServer, workdir: Path
) -> None:
    digests = distinct_digests(small_hub)
    # Two windows hold every pull, with room for what the budget leaves unspent: it counts a pull
    # served but not yet answered both as made and in flight, so a busy machine stops a window
    # up to CONCURRENT_REQUESTS - 1 pulls early (on the safe side).
    limit = digests // 2 + 8
    with FakeRegistry(small_hub, pull_limit=limit) as registry:
        first = run_layers(api.url, registry, workdir, output="first.jsonl")
        assert first.returncode == 0, first.stderr[-3000:]
        assert "wait for the next run" in first.stderr
        assert stat(first, "hubspider/layers/deferred") > 0
        assert stat(first, "hubspider/lost") == 0
        pulled_first = registry.counts["manifest_get"] - registry.counts["pull_429"]
        assert pulled_first <= limit

        registry.reset_pulls()
        second = run_layers(api.url, registry, workdir, output="second.jsonl")
        assert second.returncode == 0, second.stderr[-3000:]
        assert "wait for the next run" not in second.stderr
        pulled_second = registry.counts["manifest_get"] - registry.counts["pull_429"] - pulled_first
        assert pulled_first + pulled_second == digests

        registry.reset_pulls()
        before = registry.counts["manifest_get"]
        third = run_layers(api.url, registry, workdir, output="third.jsonl")
        assert third.returncode == 0
        assert registry.counts["manifest_get"] == before
        assert third.records() == []

    exported = without_seen_at(first.records() + second.records())
    assert as_keys(exported) == truth(small_hub)


def test_a_tampered_config_is_refused_and_named(small_hub: Hub, api: HubServer, workdir: Path) -> None:
    victim = small_hub.expected_image_records()[0]
    with FakeRegistry(small_hub, tampered=frozenset({victim["image_id"]})) as registry:
        result = run_layers(api.url, registry, workdir)
    assert result.returncode == 3
    assert victim["image_id"] in result.stderr
    exported = {record["image_id"] for record in result.records()}
    assert victim["image_id"] not in exported
    # Refused, not stored: the next run (from a sound registry) fetches it.
    with FakeRegistry(small_hub) as registry:
        again = run_layers(api.url, registry, workdir, output="again.jsonl")
    assert again.returncode == 0, again.stderr[-3000:]
    assert victim["image_id"] in {record["image_id"] for record in again.records()}


def test_a_tampered_manifest_is_refused_and_named(small_hub: Hub, api: HubServer, workdir: Path) -> None:
    victim = small_hub.expected_image_records()[-1]
    with FakeRegistry(small_hub, tampered=frozenset({victim["digest"]})) as registry:
        result = run_layers(api.url, registry, workdir)
    assert result.returncode == 3
    assert victim["digest"] in result.stderr
    assert victim["digest"] not in {record["digest"] for record in result.records()}


def test_signed_in_no_token_reaches_the_cdn_a_log_the_store_or_the_export(
    small_hub: Hub, api: HubServer, registry: FakeRegistry, workdir: Path
) -> None:
    environment = {"DOCKERHUB_USERNAME": USER, "DOCKERHUB_TOKEN": PAT}
    result = run_layers(api.url, registry, workdir, "-s", "LOG_LEVEL=DEBUG", env=environment)
    assert result.returncode == 0, result.stderr[-3000:]
    assert registry.counts["blob_get"] > 0
    assert registry.cdn_authorizations == []
    secrets = [PAT, *registry.issued_tokens]
    assert len(secrets) > 1
    store_bytes = (workdir / STORE).read_bytes()
    export = result.output.read_text()
    for secret in secrets:
        assert secret not in result.stderr
        assert secret not in export
        assert secret.encode() not in store_bytes


def test_credentials_go_only_to_the_token_service_named_for_them(
    small_hub: Hub, api: HubServer, registry: FakeRegistry, workdir: Path
) -> None:
    environment = {"DOCKERHUB_USERNAME": USER, "DOCKERHUB_TOKEN": PAT}
    result = run_crawl(
        api.url,
        workdir,
        "-s",
        f"HUB_REGISTRY_URL={registry.url}",
        output="layers.jsonl",
        spider="layers",
        env=environment,
    )
    # The realm is not HUB_REGISTRY_AUTH_URL (auth.docker.io): asked anonymously, it still serves.
    assert result.returncode == 0, result.stderr[-3000:]
    assert registry.basic_authorizations == []
    assert as_keys(without_seen_at(result.records())) == truth(small_hub)


def test_a_registry_path_prefix_reads_a_mirror(small_hub: Hub, api: HubServer, workdir: Path) -> None:
    with FakeRegistry(small_hub, prefix="docker") as registry:
        result = run_crawl(
            api.url,
            workdir,
            "-s",
            f"HUB_REGISTRY_URL={registry.url}/docker",
            "-s",
            f"HUB_REGISTRY_AUTH_URL={registry.auth_url}",
            output="layers.jsonl",
            spider="layers",
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert as_keys(without_seen_at(result.records())) == truth(small_hub)


def test_repos_narrows_the_index(
    small_hub: Hub, api: HubServer, registry: FakeRegistry, workdir: Path
) -> None:
    result = run_layers(api.url, registry, workdir, "-a", "repos=alpine")
    assert result.returncode == 0, result.stderr[-3000:]
    expected = [record for record in small_hub.expected_image_records() if record["repository"] == "alpine"]
    assert as_keys(without_seen_at(result.records())) == as_keys(expected)


def test_an_image_the_store_knows_from_another_repository_costs_a_head(
    small_hub: Hub, api: HubServer, registry: FakeRegistry, workdir: Path
) -> None:
    first = run_layers(api.url, registry, workdir, "-a", "repos=alpine", output="alpine.jsonl")
    assert first.returncode == 0, first.stderr[-3000:]
    pulled = registry.counts["manifest_get"]
    rest = run_layers(api.url, registry, workdir, output="rest.jsonl")
    assert rest.returncode == 0, rest.stderr[-3000:]
    assert registry.counts["manifest_get"] - pulled == distinct_digests(small_hub) - len(first.records())
    assert stat(rest, "hubspider/layers/heads") > 0
    assert as_keys(without_seen_at(first.records() + rest.records())) == truth(small_hub)


def test_lookup_answers_a_layer_and_an_image_id(
    small_hub: Hub, api: HubServer, registry: FakeRegistry, workdir: Path
) -> None:
    assert run_layers(api.url, registry, workdir).returncode == 0
    record = next(
        r for r in small_hub.expected_image_records() if r["repository"] == "python" and len(r["layers"]) > 1
    )
    by_id = run_command(workdir, "lookup", record["image_id"], "--json")
    assert by_id.returncode == 0, by_id.stderr
    assert record["digest"] in by_id.stdout
    base = record["layers"][0]["diff_id"]
    holders = {
        (r["repository"], r["digest"])
        for r in small_hub.expected_image_records()
        if any(layer["diff_id"] == base for layer in r["layers"])
    }
    assert len({repository for repository, _ in holders}) > 1, "the base layer is shared across repositories"
    by_layer = run_command(workdir, "lookup", base, "--json")
    assert by_layer.returncode == 0, by_layer.stderr
    for _, digest in holders:
        assert digest in by_layer.stdout
    assert json.loads(by_layer.stdout) is not None


def test_a_store_without_library_data_has_nothing_to_index(
    api: HubServer, registry: FakeRegistry, tmp_path: Path
) -> None:
    result = run_layers(api.url, registry, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.records() == []
    assert registry.counts["manifest_get"] == 0


def test_without_the_store_it_refuses_in_one_line(
    api: HubServer, registry: FakeRegistry, tmp_path: Path
) -> None:
    result = run_layers(api.url, registry, tmp_path, "-s", "HUB_STORE_ENABLED=False")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: the layers spider indexes the images the store knows: it needs HUB_STORE_ENABLED"
    ]


def test_a_bad_registry_url_is_refused_in_one_line(api: HubServer, tmp_path: Path) -> None:
    result = run_crawl(api.url, tmp_path, "-s", "HUB_REGISTRY_URL=ftp://mirror.example", spider="layers")
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "HUB_REGISTRY_URL" in result.stderr


def test_a_registry_that_does_not_answer_loses_every_image_by_name(api: HubServer, workdir: Path) -> None:
    result = run_crawl(
        api.url,
        workdir,
        "-s",
        "HUB_REGISTRY_URL=http://127.0.0.1:9",
        "-s",
        "RETRY_TIMES=0",
        output="layers.jsonl",
        spider="layers",
    )
    assert result.returncode == 3
    assert stat(result, "hubspider/lost") == stat(result, "hubspider/layers/pending") > 0
    assert result.stderr.strip().splitlines()[-1].startswith("Error: the crawl lost data")
    assert result.records() == []


def test_a_csv_export_holds_layers_and_history_as_json(
    small_hub: Hub, api: HubServer, registry: FakeRegistry, workdir: Path
) -> None:
    result = run_layers(api.url, registry, workdir, "-a", "repos=python", output="layers.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = result.csv_rows()
    expected = {r["digest"]: r for r in small_hub.expected_image_records() if r["repository"] == "python"}
    assert {row["digest"] for row in rows} == set(expected)
    for row in rows:
        assert json.loads(row["layers"]) == expected[row["digest"]]["layers"]
        assert json.loads(row["history"]) == expected[row["digest"]]["history"]


def test_images_only_past_tags_held_cost_a_head_and_no_pull_when_gone(tmp_path: Path) -> None:
    hub = make_hub(repositories=3, tags=40, seed=5)
    with HubServer(hub) as server:
        assert run_crawl(server.url, tmp_path).returncode == 0
        evolve(hub, moved=10, added=0, deleted=0)
        assert run_crawl(server.url, tmp_path).returncode == 0
        # The registry serves what the tags point to now: the moved tags' old builds are deleted.
        with FakeRegistry(hub) as registry:
            result = run_layers(server.url, registry, tmp_path)
            assert result.returncode == 0, result.stderr[-3000:]
            assert as_keys(without_seen_at(result.records())) == truth(hub)
            assert registry.counts["manifest_get"] == distinct_digests(hub)
            gone = stat(result, "hubspider/layers/gone")
            assert gone > 0
            assert registry.counts["manifest_head"] == gone
    assert stat(result, "hubspider/lost") == 0


def test_an_export_of_image_records_imports_into_another_store(
    small_hub: Hub, api: HubServer, registry: FakeRegistry, workdir: Path
) -> None:
    result = run_layers(api.url, registry, workdir, "-a", "repos=python")
    assert result.returncode == 0, result.stderr[-3000:]
    records = result.records()
    broken = json.dumps(records[0] | {"image_id": "sha256:nothex"})
    with result.output.open("a") as export:
        export.write(broken + "\n")
    imported = run_command(workdir, "import", "--store", "other.sqlite3", str(result.output))
    assert imported.returncode == 1
    assert f"imported {len(records)} records" in imported.stdout
    (reported, _) = imported.stderr.strip().splitlines()
    assert reported.startswith(f"{result.output}:{len(records) + 1}: not an image record: data.image_id")
    wanted = records[-1]
    by_id = run_command(workdir, "lookup", "--store", "other.sqlite3", wanted["image_id"], "--json")
    assert by_id.returncode == 0, by_id.stderr
    assert {entry["image_digest"] for entry in json.loads(by_id.stdout)} == {wanted["digest"]}
