"""Waits for Hub's rate limit are bounded for the whole crawl, logged when they start, and
ended by Ctrl-C; each crawl runs against the emulator and is killed, failing, if it hangs."""

from __future__ import annotations

import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import pytest

from fakehub import HubServer, make_hub
from fakehub.server import RateLimiter
from tests.helpers import CrawlResult, as_keys, crawl_process, run_crawl, stat, without_seen_at

EXIT_INCOMPLETE = 3
DAY = 86_400
# Long enough for a crawl of a few pages; a crawl still running then is waiting out Hub.
CRAWL_TIMEOUT = 90
SINGLE_PAGE_REPOSITORIES = ["alpine", "alt", "amazoncorretto"]
MULTI_PAGE_REPOSITORY = "almalinux"



def hold_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "holding every request" in line]


def loss_summary(result: CrawlResult) -> str:
    return result.stderr[result.stderr.index("The crawl lost data") :]


# The emulator's knobs for these tests.


def test_the_emulator_can_announce_a_reset_far_ahead():
    limiter = RateLimiter(1, window=1.0, reset_ahead=DAY)
    allowed, headers = limiter.check(1_000.0)
    assert allowed
    assert (headers["X-RateLimit-Remaining"], float(headers["X-RateLimit-Reset"])) == ("0", 1_000 + DAY)


def test_the_emulator_can_name_its_own_retry_after():
    limiter = RateLimiter(1, window=1.0, retry_after=DAY)
    limiter.check(1_000.0)
    allowed, headers = limiter.check(1_000.1)
    assert not allowed
    assert headers["Retry-After"] == str(DAY)
    assert "X-Retry-After" not in headers


def status_and_retry_after(url: str) -> tuple[int, str | None]:
    try:
        with urllib.request.urlopen(url) as answer:
            return answer.status, answer.headers.get("Retry-After")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Retry-After")


@pytest.mark.e2e
def test_an_overloaded_emulator_answers_its_first_requests_429():
    with HubServer(make_hub(), overload=2, retry_after=7) as server:
        url = f"{server.url}/v2/repositories/library/alpine/tags?page_size=100"
        answers = [status_and_retry_after(url) for _ in range(3)]
    assert answers == [(429, "7"), (429, "7"), (200, None)]


# The crawl.


@pytest.mark.e2e
def test_a_429_asking_for_a_day_stops_the_crawl_and_names_the_loss(tmp_path):
    hub = make_hub()
    repositories = [name for name, repository in hub.namespaces["library"].items() if repository.tags]
    with HubServer(hub, overload=10_000, retry_after=DAY) as server:
        result = run_crawl(
            server.url,
            tmp_path,
            "-a",
            f"repos={','.join(repositories)}",
            "-s",
            "CONCURRENT_REQUESTS=2",
            "-s",
            "CONCURRENT_REQUESTS_PER_DOMAIN=2",
            timeout=CRAWL_TIMEOUT,
        )
        asked = server.stats["requests"]
    assert result.returncode == EXIT_INCOMPLETE
    assert asked <= 2 < len(repositories)  # it stopped asking: every request would meet the same limit
    assert "The crawl did not finish (rate_limited)" in result.stderr
    refusal = (
        "Hub asked to wait 86400 s (429 with Retry-After), more than the 900 s left of HUB_RATELIMIT_MAX_WAIT"
    )
    stop = next(line for line in result.stderr.splitlines() if "Stopping the crawl" in line)
    assert refusal in stop
    summary = loss_summary(result)
    assert "/v2/repositories/library/" in summary
    assert refusal in summary
    assert stat(result, "hubspider/lost/page") >= 1


@pytest.mark.e2e
def test_an_empty_window_resetting_tomorrow_stops_the_crawl_and_names_the_loss(tmp_path):
    with HubServer(make_hub(), rate_limit=1, rate_window=1.0, reset_ahead=DAY) as server:
        repos = f"repos={MULTI_PAGE_REPOSITORY}"
        result = run_crawl(server.url, tmp_path, "-a", repos, timeout=CRAWL_TIMEOUT)
        asked = server.stats["requests"]
    assert result.returncode == EXIT_INCOMPLETE
    assert asked == 1  # page 1 said the window is empty until tomorrow: page 2 was not sent
    assert "The crawl did not finish (rate_limited)" in result.stderr
    summary = loss_summary(result)
    page_2 = f"library/{MULTI_PAGE_REPOSITORY}/tags?page_size=100&ordering=last_updated&page=2"
    assert page_2 in summary
    assert "Hub asked to wait 86400 s (X-RateLimit-Remaining 0 until the window resets)" in summary
    assert "HUB_RATELIMIT_MAX_WAIT (900 s for the whole crawl)" in summary


@pytest.mark.e2e
def test_a_wait_within_the_budget_is_waited_and_logged_once(tmp_path):
    hub = make_hub()
    # Latency: all three first pages are sent before the first 429 comes back.
    with HubServer(hub, latency=0.2, overload=len(SINGLE_PAGE_REPOSITORIES), retry_after=2) as server:
        result = run_crawl(
            server.url, tmp_path, "-a", f"repos={','.join(SINGLE_PAGE_REPOSITORIES)}", timeout=CRAWL_TIMEOUT
        )
        refused = server.stats["429"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert refused == len(SINGLE_PAGE_REPOSITORIES)
    assert as_keys(without_seen_at(result.records())) == as_keys(
        hub.expected_records("library", SINGLE_PAGE_REPOSITORIES)
    )
    [line] = hold_lines(result.stderr)
    assert "INFO" in line
    assert "Rate limited by Hub (429 with Retry-After): holding every request to the API for 2." in line
    assert re.search(r"until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line)


@pytest.mark.e2e
def test_a_long_wait_is_a_warning(tmp_path):
    with HubServer(make_hub(), overload=1, retry_after=DAY) as server:
        patient = ("-s", f"HUB_RATELIMIT_MAX_WAIT={2 * DAY}")
        process = crawl_process(server.url, tmp_path, "-a", "repos=alpine", *patient)
        lines = stderr_lines(process)
        try:
            line = wait_for_line(lines, "holding every request", process)
        finally:
            process.send_signal(signal.SIGINT)
            finish(process)
    assert "WARNING" in line
    assert "for 86400.0 s" in line


def stderr_lines(process: subprocess.Popen[str]) -> list[str]:
    """The process's stderr lines as they come, read by a thread so that nothing blocks."""
    lines: list[str] = []
    assert process.stderr is not None
    stream = process.stderr
    threading.Thread(target=lambda: lines.extend(iter(stream.readline, "")), daemon=True).start()
    return lines


def wait_for_line(lines: list[str], text: str, process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + CRAWL_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        if found := [line for line in list(lines) if text in line]:
            return found[0]
        time.sleep(0.05)
    pytest.fail(f"no log line with {text!r}:\n{''.join(lines)[-3000:]}")


def finish(process: subprocess.Popen[str], timeout: float = 20) -> int:
    """The exit status of a process told to stop; killed, failing, if it does not."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"the crawl had not stopped {timeout} s after Ctrl-C")


@pytest.mark.e2e
def test_ctrl_c_ends_a_long_wait_at_once_and_the_crawl_resumes(tmp_path):
    hub = make_hub()
    job = ("-s", f"JOBDIR={tmp_path / 'job'}", "-s", f"HUB_RATELIMIT_MAX_WAIT={2 * DAY}")
    repositories = ",".join(SINGLE_PAGE_REPOSITORIES)
    with HubServer(hub, overload=10_000, retry_after=DAY) as server:
        process = crawl_process(server.url, tmp_path, "-a", f"repos={repositories}", *job, append=True)
        lines = stderr_lines(process)
        wait_for_line(lines, "Rate limited by Hub", process)
        # The held requests are back in the middleware, asleep for a day.
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        returncode = finish(process)
        stderr = "".join(lines)
        assert returncode == EXIT_INCOMPLETE
        assert "The crawl did not finish (shutdown)" in stderr
        assert "run the same command again to resume it" in stderr
        assert "Lost page" not in stderr  # unfinished, not lost

        server.overload = 0
        result = run_crawl(server.url, tmp_path, "-a", f"repos={repositories}", *job, append=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert as_keys(without_seen_at(result.records())) == as_keys(
        hub.expected_records("library", SINGLE_PAGE_REPOSITORIES)
    )
