"""Docker Hub as it really is: limits, faults, the anonymous cap, sign-in; each crawl is
compared with the emulator's ground truth."""

from __future__ import annotations

import pytest

from fakehub import HubServer, make_hub
from tests.helpers import as_keys, run_crawl, stat, without_seen_at

pytestmark = pytest.mark.e2e

EXIT_INCOMPLETE = 3
FAST_BACKOFF = ("-s", "HUB_BACKOFF_BASE=0.05")
USER, PAT = "hubspider-ci", "dckr_pat_Zq8vN3xY7kLm2Pw9Rt5Bc1Df"


def exported(result):
    return as_keys(without_seen_at(result.records()))



@pytest.mark.parametrize("style", ["x-retry-after", "retry-after-seconds", "retry-after-date", "bare"])
def test_rate_limited_crawl_waits_and_loses_nothing(style, tmp_path):
    hub = make_hub()
    # 4 a second, and the crawl starts with 8 requests at once: the first burst meets 429s.
    repositories = list(hub.namespaces["library"])[:8]
    with HubServer(hub, rate_limit=4, rate_window=1.0, rate_limit_style=style) as server:
        result = run_crawl(server.url, tmp_path, "-a", f"repos={','.join(repositories)}", *FAST_BACKOFF)
        assert server.stats["429"] > 0
    assert result.returncode == 0, result.stderr[-3000:]
    assert exported(result) == as_keys(hub.expected_records("library", repositories))
    assert stat(result, "hubspider/ratelimit/429") == server.stats["429"]
    assert stat(result, "retry/count") == 0  # 429s do not use up the retry budget


def test_paced_crawl_meets_no_429(tmp_path):
    hub = make_hub()
    with HubServer(hub, rate_limit=12, rate_window=1.0) as server:
        result = run_crawl(
            server.url, tmp_path, "-a", "repos=almalinux,bash", "-s", "CONCURRENT_REQUESTS_PER_DOMAIN=1"
        )
        assert server.stats["429"] == 0
    assert result.returncode == 0, result.stderr[-3000:]
    assert exported(result) == as_keys(hub.expected_records("library", ["almalinux", "bash"]))


def test_crawl_under_20_percent_faults_equals_a_clean_one(tmp_path):
    hub = make_hub()
    with HubServer(hub, fault_rate=0.2, fault_seed=7, slow_seconds=2.0) as server:
        result = run_crawl(server.url, tmp_path, "-s", "DOWNLOAD_TIMEOUT=1", *FAST_BACKOFF)
        faults = {key: value for key, value in server.stats.items() if key.startswith("faults/")}
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(faults) >= 4, faults
    assert exported(result) == as_keys(hub.expected_records("library"))
    # Twisted itself resends a GET whose reused connection was reset, so not every fault is a retry.
    assert stat(result, "retry/count") >= sum(faults.values()) - faults.get("faults/reset", 0)


def test_pages_that_keep_failing_are_named_and_fail_the_crawl(tmp_path):
    hub = make_hub()
    with HubServer(hub, fault_rate=1.0, faults=("502",)) as server:
        result = run_crawl(server.url, tmp_path, "-a", "repos=rust", "-s", "RETRY_TIMES=2", *FAST_BACKOFF)
    assert result.returncode == EXIT_INCOMPLETE
    summary = result.stderr[result.stderr.index("The crawl lost data") :]
    assert "/v2/repositories/library/rust/tags?page_size=100&ordering=last_updated: HTTP 502" in summary


def test_html_bodies_that_persist_are_lost_with_their_reason(tmp_path):
    with HubServer(make_hub(), fault_rate=1.0, faults=("html",)) as server:
        result = run_crawl(server.url, tmp_path, "-a", "repos=rust", "-s", "RETRY_TIMES=1", *FAST_BACKOFF)
    assert result.returncode == EXIT_INCOMPLETE
    assert "body is not JSON (text/html" in result.stderr
    assert stat(result, "retry/reason_count/malformed page: body is not JSON") == 1


def test_responses_over_the_size_bound_are_refused(hub_server, tmp_path):
    result = run_crawl(hub_server.url, tmp_path, "-a", "repos=rust", "-s", "DOWNLOAD_MAXSIZE=10000")
    assert result.returncode == EXIT_INCOMPLETE
    assert stat(result, "hubspider/lost/page") == 1
    assert "Lost page" in result.stderr


@pytest.mark.parametrize("churn", ["add", "remove"])
def test_tags_moving_between_pages_lose_nothing(churn, tmp_path):
    hub = make_hub()
    before = as_keys(hub.expected_records("library"))
    with HubServer(hub, churn=churn) as server:
        result = run_crawl(server.url, tmp_path)
    after = as_keys(hub.expected_records("library"))
    assert result.returncode == 0, result.stderr[-3000:]
    records = exported(result)
    assert len(records) == len(set(records))
    # Everything that was there throughout is exported; nothing that never was.
    assert set(before) & set(after) <= set(records) <= set(before) | set(after)
    if churn == "remove":
        assert stat(result, "hubspider/rewalks") > 0


def capped_hub():
    hub = make_hub(3, 3_000)
    assert max(len(r.tags) for r in hub.namespaces["library"].values()) > 1_000
    return hub


def newest_1000(hub, name: str):
    repository = hub.namespaces["library"][name]
    seen, records = set(), []
    for tag in repository.tags[:1000]:
        if tag.tag_id not in seen:
            seen.add(tag.tag_id)
            records += tag.expected_records()
    return records


def test_anonymous_crawl_keeps_the_newest_1000_tags_and_says_what_is_missing(tmp_path):
    hub = capped_hub()
    with HubServer(hub) as server:
        result = run_crawl(server.url, tmp_path)
        assert server.stats["anonymous_capped"] == 0  # the spider does not ask for what it cannot get
    assert result.returncode == 0, result.stderr[-3000:]
    expected = [r for name in hub.namespaces["library"] for r in newest_1000(hub, name)]
    assert exported(result) == as_keys(expected)
    capped = {name: len(r.tags) - 1000 for name, r in hub.namespaces["library"].items() if len(r.tags) > 1000}
    warning = next(line for line in result.stderr.splitlines() if "newest 1000 tags" in line)
    assert "WARNING" in warning
    assert f"{sum(capped.values())} older tags of {len(capped)} repositories were not reached" in warning
    assert all(f"{name} ({count})" in warning for name, count in capped.items())
    assert "DOCKERHUB_TOKEN" in warning


def test_signed_in_crawl_gets_everything_and_keeps_the_token_secret(tmp_path):
    hub = capped_hub()
    env = {"DOCKERHUB_USERNAME": USER, "DOCKERHUB_TOKEN": PAT}
    jobdir = tmp_path / "job"
    with HubServer(hub, users={USER: PAT}) as server:
        result = run_crawl(server.url, tmp_path, "-s", f"JOBDIR={jobdir}", env=env)
        tokens = server.tokens.issued
        assert server.stats["anonymous_capped"] == 0
    assert result.returncode == 0, result.stderr[-3000:]
    assert exported(result) == as_keys(hub.expected_records("library"))
    assert tokens
    secrets = [PAT, *tokens]
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.parent == jobdir for path in files)
    for text in [result.stderr, *(path.read_text(errors="replace") for path in files)]:
        assert not any(secret in text for secret in secrets)


def test_a_token_given_as_a_setting_is_not_logged(tmp_path):
    with HubServer(make_hub(), users={USER: PAT}) as server:
        result = run_crawl(
            server.url, tmp_path, "-a", "repos=rust", "-s", f"HUB_USERNAME={USER}", "-s", f"HUB_TOKEN={PAT}"
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Signed in" in result.stderr
    assert PAT not in result.stderr


def test_an_expired_token_is_renewed(tmp_path):
    hub = make_hub()
    # One request at a time, 0.1 s each, tokens that last 0.5 s: several expire mid-crawl.
    with HubServer(hub, users={USER: PAT}, token_ttl=0.5, latency=0.1) as server:
        result = run_crawl(
            server.url,
            tmp_path,
            "-s",
            "HUB_TOKEN_RENEW_AFTER=3600",  # so only the 401 makes it renew
            "-s",
            "CONCURRENT_REQUESTS=1",
            "-s",
            "CONCURRENT_REQUESTS_PER_DOMAIN=1",
            env={"DOCKERHUB_USERNAME": USER, "DOCKERHUB_TOKEN": PAT},
        )
        issued = server.stats["auth/tokens_issued"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert issued > 1
    assert stat(result, "hubspider/auth/401") > 0
    assert exported(result) == as_keys(hub.expected_records("library"))


def test_wrong_credentials_stop_before_any_crawling(tmp_path):
    with HubServer(make_hub(), users={USER: PAT}) as server:
        result = run_crawl(
            server.url, tmp_path, env={"DOCKERHUB_USERNAME": USER, "DOCKERHUB_TOKEN": "wrong-token"}
        )
        paths = set(server.requests)
    assert result.returncode == 2
    assert paths == {"/v2/auth/token"}
    errors = [line for line in result.stderr.splitlines() if "Sign-in" in line]
    assert len(errors) == 1
    assert "HTTP 401" in errors[0]
    assert "Traceback" not in result.stderr


def test_a_username_without_a_token_is_a_one_line_error(hub_server, tmp_path):
    result = run_crawl(hub_server.url, tmp_path, env={"DOCKERHUB_USERNAME": USER})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "DOCKERHUB_TOKEN" in result.stderr
