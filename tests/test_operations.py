"""Tuning and watching a crawl: the development cache, profiles, progress."""

from __future__ import annotations

import json
import pickle
import re

import pytest

from fakehub import HubServer, make_hub
from tests.helpers import as_keys, run_crawl, without_seen_at

pytestmark = pytest.mark.e2e

USER, PAT = "hubspider-ci", "dckr_pat_Cache7vN3xY7kLm2Pw9Rt5Bc1"


def cache(workdir) -> tuple[str, ...]:
    # An absolute directory: relative ones live in the project's .scrapy/, and tests run elsewhere.
    return (
        "-s",
        "HTTPCACHE_ENABLED=True",
        "-s",
        f"HTTPCACHE_DIR={workdir / 'httpcache'}",
        "-s",
        "HUB_BACKOFF_BASE=0.05",
    )


REPOS = ("-a", "repos=almalinux,rust,python")


def cached_responses(workdir):
    for meta in (workdir / "httpcache").rglob("pickled_meta"):
        yield pickle.loads(meta.read_bytes()), meta.parent


def test_cache_keeps_only_good_pages_and_answers_the_next_crawl(tmp_path):
    hub = make_hub()
    expected = as_keys(hub.expected_records("library", ["almalinux", "rust", "python"]))
    with HubServer(hub, fault_rate=0.4, faults=("500", "html", "truncated"), fault_seed=3) as server:
        first = run_crawl(server.url, tmp_path, *REPOS, *cache(tmp_path))
        assert sum(count for key, count in server.stats.items() if key.startswith("faults/")) > 0
        asked = server.stats["requests"]
        second = run_crawl(server.url, tmp_path, *REPOS, *cache(tmp_path))
        assert server.stats["requests"] == asked  # every page came from the cache
    assert first.returncode == second.returncode == 0, first.stderr[-2000:]
    assert as_keys(without_seen_at(first.records())) == expected
    assert as_keys(without_seen_at(second.records())) == expected
    stored = list(cached_responses(tmp_path))
    assert stored
    assert {meta["status"] for meta, _ in stored} == {200}
    for _, folder in stored:
        assert "results" in json.loads((folder / "response_body").read_bytes())


def test_cache_never_holds_a_token(tmp_path):
    hub = make_hub()
    env = {"DOCKERHUB_USERNAME": USER, "DOCKERHUB_TOKEN": PAT}
    with HubServer(hub, users={USER: PAT}) as server:
        result = run_crawl(server.url, tmp_path, *REPOS, *cache(tmp_path), env=env)
        tokens = server.tokens.issued
    assert result.returncode == 0, result.stderr[-2000:]
    files = [path for path in (tmp_path / "httpcache").rglob("*") if path.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        assert not any(secret.encode() in data for secret in [PAT, *tokens]), path
        assert b"Authorization" not in data


def test_signed_in_profile_raises_concurrency(hub_server, tmp_path):
    result = run_crawl(hub_server.url, tmp_path, "-a", "repos=rust", "-s", "HUB_PROFILE=signed-in")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'CONCURRENT_REQUESTS': 32" in result.stderr
    assert "'CONCURRENT_REQUESTS_PER_DOMAIN': 32" in result.stderr


def test_a_setting_given_on_the_command_line_beats_the_profile(hub_server, tmp_path):
    arguments = ("-a", "repos=rust", "-s", "HUB_PROFILE=signed-in", "-s", "CONCURRENT_REQUESTS=4")
    result = run_crawl(hub_server.url, tmp_path, *arguments)
    assert "'CONCURRENT_REQUESTS': '4'" in result.stderr


def test_unknown_profile_is_a_one_line_error(hub_server, tmp_path):
    result = run_crawl(hub_server.url, tmp_path, "-s", "HUB_PROFILE=turbo")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "Error: unknown HUB_PROFILE 'turbo': expected one of polite, signed-in"
    ]


def test_progress_is_logged_while_crawling_and_summed_up_at_the_end(tmp_path):
    hub = make_hub()
    with HubServer(hub, latency=0.05) as server:
        result = run_crawl(
            server.url, tmp_path, "-s", "HUB_PROGRESS_INTERVAL=0.3", "-s", "CONCURRENT_REQUESTS=2"
        )
    assert result.returncode == 0, result.stderr[-2000:]
    progress = re.findall(r"Progress: (\d+)/(\d+) repositories, (\d+)/(\d+) tags, (\d+) records exported, "
                          r"[\d.]+ requests/s, (\d+) 429s, (ETA .*)", result.stderr)  # fmt: skip
    assert len(progress) >= 2
    assert any(eta.startswith("ETA ") and "s" in eta for *_, eta in progress)
    tags = sum(len(r.tags) for r in hub.namespaces["library"].values())
    records = len(hub.expected_records("library"))
    summary = re.search(
        r"Crawl finished in .*: (\d+)/(\d+) repositories, (\d+)/(\d+) tags, (\d+) records", result.stderr
    )
    assert summary is not None
    assert summary.groups() == ("12", "12", str(tags), str(tags), str(records))


def test_progress_can_be_turned_off(hub_server, tmp_path):
    result = run_crawl(hub_server.url, tmp_path, "-a", "repos=rust", "-s", "HUB_PROGRESS_INTERVAL=0")
    assert result.returncode == 0
    assert "Crawl finished in" not in result.stderr
