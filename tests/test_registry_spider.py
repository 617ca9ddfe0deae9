"""`scrapy crawl registry`: an OCI distribution registry (the emulator's, as mcr.microsoft.com
serves) crawled end to end; the export is exactly the emulator's truth, for the fewest requests."""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

import pytest

from fakehub import DistributionRegistry, make_distribution
from fakehub.distribution import EMPTY_REPOSITORY, MISSING_REPOSITORY, Index
from hubspider.resume.entries import JOURNAL_FILE
from tests.helpers import (
    CrawlResult,
    as_keys,
    crawl_process,
    records_of,
    run_crawl,
    stat,
    without_seen_at,
)

if TYPE_CHECKING:
    from pathlib import Path

    from fakehub.distribution import Distribution

pytestmark = pytest.mark.e2e

UNUSED_API = "http://127.0.0.1:9"
EXIT_INCOMPLETE = 3
EXIT_BAD_ARGUMENT = 2
PAGE_SIZE = 7


@pytest.fixture(scope="module")
def distribution() -> Distribution:
    return make_distribution(repositories=12, tags=300, seed=3)


def host_of(registry: DistributionRegistry) -> str:
    return registry.url.removeprefix("http://")


def crawl(registry: DistributionRegistry, workdir: Path, *arguments: str, **options: object) -> CrawlResult:
    return run_crawl(
        UNUSED_API,
        workdir,
        "-a",
        f"registry={host_of(registry)}",
        "-s",
        f"HUB_REGISTRY_PAGE_SIZE={PAGE_SIZE}",
        *arguments,
        spider="registry",
        **options,  # type: ignore[arg-type]
    )


def expected(distribution: Distribution, registry: DistributionRegistry, repositories=None) -> list[str]:
    return as_keys(distribution.expected_records(host_of(registry), repositories))


def exported(result: CrawlResult) -> list[str]:
    return as_keys(without_seen_at(result.records()))


# A whole crawl, paged.


@pytest.fixture(scope="module")
def paged_crawl(distribution, tmp_path_factory) -> tuple[DistributionRegistry, CrawlResult, dict[str, int]]:
    workdir = tmp_path_factory.mktemp("paged")
    with DistributionRegistry(distribution, page_size_cap=PAGE_SIZE) as registry:
        result = crawl(registry, workdir)
        yield registry, result, registry.counts_snapshot()


def test_a_paged_crawl_exports_exactly_the_registrys_tags(paged_crawl, distribution) -> None:
    registry, result, _ = paged_crawl
    assert result.returncode == 0, result.stderr[-3000:]
    assert exported(result) == expected(distribution, registry)


def test_records_name_the_registry_host_and_the_full_repository_path(paged_crawl) -> None:
    registry, result, _ = paged_crawl
    host = host_of(registry)
    records = result.records()
    assert {record["namespace"] for record in records} == {host}
    assert any(record["repository"] == "dotnet/runtime" for record in records)
    for record in records:
        assert record["image"] == f"{host}/{record['repository']}:{record['tag']}"


def test_the_index_is_a_record_of_kind_index_and_attestations_are_left_out(paged_crawl, distribution) -> None:
    _, result, _ = paged_crawl
    indexes = {
        target.digest
        for repository in distribution.repositories.values()
        for target in repository.tags.values()
        if isinstance(target, Index)
    }
    attestations = {
        attestation.digest
        for repository in distribution.repositories.values()
        for target in repository.tags.values()
        if isinstance(target, Index)
        for attestation in target.attestations
    }
    records = result.records()
    assert {record["digest"] for record in records if record["kind"] == "index"} == indexes
    assert attestations  # the emulator has some, or this test proves nothing
    assert not attestations & {record["digest"] for record in records}
    assert stat(result, "hubspider/skipped/not_a_platform") > 0


def test_the_catalog_costs_a_request_a_page(paged_crawl, distribution) -> None:
    _, _, counts = paged_crawl
    assert counts["catalog_page"] == distribution.fewest_requests(PAGE_SIZE)["catalog_page"]


def test_each_tags_page_is_asked_once(paged_crawl, distribution) -> None:
    _, _, counts = paged_crawl
    # The missing repository's one 404 is counted as a tags page too.
    assert counts["tags_page"] == distribution.fewest_requests(PAGE_SIZE)["tags_page"]


def test_a_tag_costs_one_head_and_a_distinct_digest_one_get(paged_crawl, distribution) -> None:
    _, _, counts = paged_crawl
    assert counts["manifest_head"] == distribution.tag_count
    assert counts["manifest_get"] + counts["index_get"] == len(distribution.distinct_digests())
    assert counts["blob_get"] == distribution.fewest_requests(PAGE_SIZE)["blob_get"]


def test_alias_tags_share_one_get(paged_crawl, distribution) -> None:
    assert len(distribution.distinct_digests()) < distribution.tag_count  # there are aliases
    _, _, counts = paged_crawl
    assert counts["manifest_get"] + counts["index_get"] < counts["manifest_head"]


def test_a_token_a_scope(paged_crawl, distribution) -> None:
    _, _, counts = paged_crawl
    # The catalog's scope and one per repository, each asked once.
    assert counts["token"] == 1 + len(distribution.repositories)


def test_the_repository_listed_but_missing_is_named_not_lost(paged_crawl) -> None:
    _, result, _ = paged_crawl
    assert stat(result, "hubspider/registry/repositories_unknown") == 1
    assert stat(result, "hubspider/lost") == 0
    assert f"answer 404 (nothing to read, nothing lost): {MISSING_REPOSITORY}" in result.stderr


def test_every_repository_read_whole_is_complete_in_the_store(paged_crawl, distribution) -> None:
    _, result, _ = paged_crawl
    complete = [
        repository for repository in distribution.repositories.values() if repository.status != "not_found"
    ]
    assert stat(result, "hubspider/store/repositories_complete") == len(complete)


def test_the_store_holds_what_was_exported(paged_crawl) -> None:
    _, result, _ = paged_crawl
    stored = records_of(result.output.parent / "output" / "hubspider.sqlite3")
    assert as_keys(stored) == exported(result)


# The catalog as MCR serves it, and narrower crawls.


def test_a_catalog_served_whole_is_one_request(distribution, tmp_path) -> None:
    with DistributionRegistry(distribution, catalog_all_at_once=True) as registry:
        result = crawl(registry, tmp_path)
        counts = registry.counts_snapshot()
    assert result.returncode == 0, result.stderr[-3000:]
    assert exported(result) == expected(distribution, registry)
    assert counts["catalog_page"] == 1


def test_repos_reads_those_repositories_without_the_catalog(distribution, tmp_path) -> None:
    chosen = ["dotnet/runtime", "windows/servercore", EMPTY_REPOSITORY]
    with DistributionRegistry(distribution) as registry:
        result = crawl(registry, tmp_path, "-a", f"repos={','.join(chosen)}")
        counts = registry.counts_snapshot()
    assert result.returncode == 0, result.stderr[-3000:]
    assert exported(result) == expected(distribution, registry, chosen)
    assert counts["catalog_page"] == 0
    assert counts["manifest_head"] == sum(len(distribution.repositories[name].tags) for name in chosen)


def test_prefix_reads_the_catalogs_repositories_under_it(distribution, tmp_path) -> None:
    with DistributionRegistry(distribution) as registry:
        result = crawl(registry, tmp_path, "-a", "prefix=dotnet/")
    assert result.returncode == 0, result.stderr[-3000:]
    chosen = [name for name in distribution.catalog if name.startswith("dotnet/")]
    assert len(chosen) > 2
    assert exported(result) == expected(distribution, registry, chosen)


def test_a_repository_named_that_the_registry_lacks_is_a_loss(distribution, tmp_path) -> None:
    with DistributionRegistry(distribution) as registry:
        result = crawl(registry, tmp_path, "-a", "repos=dotnet/runtime,acme/nothing")
    assert result.returncode == EXIT_INCOMPLETE
    assert f"repository {host_of(registry)}/acme/nothing" in result.stderr.splitlines()[-1]
    assert exported(result) == expected(distribution, registry, ["dotnet/runtime"])


# Politeness and faults.


def test_429s_past_a_burst_are_waited_out_and_nothing_is_lost(distribution, tmp_path) -> None:
    small = make_distribution(repositories=5, tags=60, seed=4)
    with DistributionRegistry(small, burst_limit=25, burst_window=1.0) as registry:
        result = crawl(registry, tmp_path, "-s", "HUB_BACKOFF_BASE=0.2")
        counts = registry.counts_snapshot()
    assert result.returncode == 0, result.stderr[-3000:]
    assert exported(result) == expected(small, registry)
    assert counts["429"] > 0
    assert stat(result, "hubspider/ratelimit/429") == counts["429"]


def test_tokens_that_expire_are_renewed(tmp_path) -> None:
    small = make_distribution(repositories=4, tags=40, seed=5)
    with DistributionRegistry(small, token_ttl=1.0, latency=0.02) as registry:
        result = crawl(registry, tmp_path, "-s", "CONCURRENT_REQUESTS=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert exported(result) == expected(small, registry)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("-a", "registry=docker.io"), "docker.io is Docker Hub: crawl it with the library spider"),
        (("-a", "registry=not a host"), "invalid registry 'not a host'"),
        (("-a", "repos=Dotnet/Runtime"), "invalid repository 'Dotnet/Runtime'"),
        (("-a", "prefix=/"), "invalid prefix '/'"),
        (("-s", "HUB_REGISTRY_PAGE_SIZE=-5"), "invalid HUB_REGISTRY_PAGE_SIZE '-5'"),
        (("-s", "HUB_REGISTRY_PAGE_SIZE=abc"), "invalid HUB_REGISTRY_PAGE_SIZE 'abc'"),
    ],
)
def test_a_bad_argument_is_one_line(distribution, tmp_path, arguments, message) -> None:
    with DistributionRegistry(distribution) as registry:
        result = crawl(registry, tmp_path, *arguments)
        counts = registry.counts_snapshot()
    assert result.returncode == EXIT_BAD_ARGUMENT
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sum(counts.values()) == 0


def test_without_a_registry_argument_it_says_what_to_give(tmp_path) -> None:
    result = run_crawl(UNUSED_API, tmp_path, spider="registry")
    assert result.returncode == EXIT_BAD_ARGUMENT
    assert result.stderr.strip() == "Error: give the registry to crawl: -a registry=mcr.microsoft.com"


# JOBDIR.


def pages_done(jobdir: Path) -> int:
    journal = jobdir / JOURNAL_FILE
    return journal.read_text().count('"done"') if journal.exists() else 0


@pytest.mark.parametrize("pages_before_kill", [2, 9, 20])
def test_killed_then_the_same_command_finishes_exactly(distribution, tmp_path, pages_before_kill) -> None:
    job = ("-s", f"JOBDIR={tmp_path / 'job'}", "-s", f"HUB_REGISTRY_PAGE_SIZE={PAGE_SIZE}")
    with DistributionRegistry(distribution, page_size_cap=PAGE_SIZE, latency=0.005) as registry:
        registry_argument = ("-a", f"registry={host_of(registry)}")
        process = crawl_process(
            UNUSED_API, tmp_path, *registry_argument, *job, append=True, spider="registry"
        )
        deadline = time.monotonic() + 60
        while pages_done(tmp_path / "job") < pages_before_kill:
            assert process.poll() is None, "the crawl ended before it could be stopped"
            assert time.monotonic() < deadline
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        result = crawl(registry, tmp_path, *job, append=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming:" in result.stderr
    lines = result.output.read_text().splitlines()
    assert len(lines) == len(set(lines))  # no record exported twice
    assert exported(result) == expected(distribution, registry)
    assert len({record["seen_at"] for record in result.records()}) == 1
    assert as_keys(records_of(tmp_path / "output" / "hubspider.sqlite3")) == expected(distribution, registry)
