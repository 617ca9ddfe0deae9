"""Pause, resume and crash: after the rerun the export holds every record exactly once."""

from __future__ import annotations

import json
import signal
import time

import pytest

from fakehub import HubServer, make_hub
from hubspider.resume.entries import JOURNAL_FILE
from tests.helpers import as_keys, crawl_process, records_of, run_crawl, without_seen_at

pytestmark = pytest.mark.e2e

EXIT_INCOMPLETE = 3


@pytest.fixture(scope="module")
def slow_hub():
    """About 60 pages answered in 30 ms each: a crawl long enough to stop in the middle."""
    hub = make_hub(12, 5_000)
    with HubServer(hub, latency=0.03, anonymous_offset_cap=None) as server:
        yield hub, server


def job_arguments(tmp_path) -> tuple[str, ...]:
    # The emulator here has no anonymous cap, so the crawl does not keep to one either.
    return ("-s", f"JOBDIR={tmp_path / 'job'}", "-s", "HUB_ANONYMOUS_OFFSET_CAP=0")


def pages_done(jobdir) -> int:
    journal = jobdir / JOURNAL_FILE
    if not journal.exists():
        return 0
    return journal.read_text().count('"done"')


def stop_after(process, jobdir, pages: int, signum: int) -> None:
    deadline = time.monotonic() + 60
    while pages_done(jobdir) < pages:
        assert process.poll() is None, "the crawl ended before it could be stopped"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signum)


def interrupt(server, tmp_path, pages: int, signum: int = signal.SIGKILL, **options) -> tuple[int, str]:
    """Start the crawl with a JOBDIR and stop it with `signum` once `pages` pages are done."""
    process = crawl_process(server.url, tmp_path, *job_arguments(tmp_path), **options)
    stop_after(process, tmp_path / "job", pages, signum)
    _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


def resume(server, tmp_path, *arguments: str, **options):
    return run_crawl(server.url, tmp_path, *job_arguments(tmp_path), *arguments, **options)


def exported_lines(path) -> list[str]:
    return path.read_text().splitlines()


def assert_complete(path, hub) -> None:
    lines = exported_lines(path)
    records = [json.loads(line) for line in lines]  # every line whole
    assert as_keys(without_seen_at(records)) == as_keys(hub.expected_records("library"))
    assert len({record["seen_at"] for record in records}) == 1


def test_ctrl_c_stops_cleanly_and_the_same_command_finishes(slow_hub, tmp_path):
    hub, server = slow_hub
    # Stopped by what is exported: the journal follows the store, which may lag behind the export.
    process = crawl_process(server.url, tmp_path, *job_arguments(tmp_path), append=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "digests.jsonl").exists() or len(exported_lines(tmp_path / "digests.jsonl")) < 2000:
        assert process.poll() is None, "the crawl ended before it could be stopped"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    returncode = process.returncode
    assert returncode == EXIT_INCOMPLETE
    assert "The crawl did not finish (shutdown)" in stderr
    assert "run the same command again to resume it" in stderr
    first_part = len(exported_lines(tmp_path / "digests.jsonl"))
    assert 0 < first_part < len(hub.expected_records("library"))

    result = resume(server, tmp_path, append=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Resuming:" in result.stderr
    assert_complete(tmp_path / "digests.jsonl", hub)


@pytest.mark.parametrize("pages", [1, 7, 19, 33, 48])
def test_kill_9_at_any_moment_then_the_same_command_finishes(slow_hub, tmp_path, pages):
    hub, server = slow_hub
    interrupt(server, tmp_path, pages, append=True)

    result = resume(server, tmp_path, append=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_complete(tmp_path / "digests.jsonl", hub)
    # The store writes behind the export; the resume stores what the killed run exported.
    assert as_keys(records_of(tmp_path / "output" / "hubspider.sqlite3")) == as_keys(
        hub.expected_records("library")
    )


def test_kill_9_twice_then_the_same_command_finishes(slow_hub, tmp_path):
    hub, server = slow_hub
    for pages in (5, 25):
        interrupt(server, tmp_path, pages, append=True)
    result = resume(server, tmp_path, append=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_complete(tmp_path / "digests.jsonl", hub)


def test_a_broken_last_line_is_repaired_on_resume(slow_hub, tmp_path):
    hub, server = slow_hub
    interrupt(server, tmp_path, 12, append=True)
    with (tmp_path / "digests.jsonl").open("a") as export:
        export.write('{"digest": "sha256:0123')  # as if killed in the middle of a write

    result = resume(server, tmp_path, append=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Removed a broken last line" in result.stderr
    assert_complete(tmp_path / "digests.jsonl", hub)


def test_csv_resumes_without_a_second_header(slow_hub, tmp_path):
    hub, server = slow_hub
    interrupt(server, tmp_path, 15, output="digests.csv", append=True)
    result = resume(server, tmp_path, output="digests.csv", append=True)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = result.csv_rows()
    assert len(rows) == len(hub.expected_records("library"))
    assert exported_lines(tmp_path / "digests.csv")[0].startswith("digest,")
    assert sum(line.startswith("digest,") for line in exported_lines(tmp_path / "digests.csv")) == 1


def test_the_default_feed_resumes_into_a_second_file(slow_hub, tmp_path):
    hub, server = slow_hub
    interrupt(server, tmp_path, 20, output=None)
    time.sleep(1.1)  # the feed name has the time to the second
    result = resume(server, tmp_path, output=None)
    assert result.returncode == 0, result.stderr[-3000:]
    feeds = sorted((tmp_path / "output").glob("library-*.jsonl"))
    assert len(feeds) == 2
    records = [json.loads(line) for feed in feeds for line in exported_lines(feed)]
    assert as_keys(without_seen_at(records)) == as_keys(hub.expected_records("library"))


def test_resuming_with_overwrite_is_refused_in_one_line(slow_hub, tmp_path):
    _, server = slow_hub
    interrupt(server, tmp_path, 5, append=True)
    before = (tmp_path / "digests.jsonl").read_bytes()
    result = resume(server, tmp_path)  # -O
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "resume with -o digests.jsonl (append); -O would erase them" in result.stderr
    assert (tmp_path / "digests.jsonl").read_bytes() == before


def test_resuming_another_crawl_is_refused(slow_hub, tmp_path):
    _, server = slow_hub
    interrupt(server, tmp_path, 3, append=True)
    result = resume(server, tmp_path, "-a", "repos=rust", append=True)
    assert result.returncode == 2
    assert "holds another crawl" in result.stderr


def test_a_finished_crawl_resumed_does_nothing_more(slow_hub, tmp_path):
    hub, server = slow_hub
    assert resume(server, tmp_path, append=True).returncode == 0
    requests_before = sum(server.requests.values())
    result = resume(server, tmp_path, append=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sum(server.requests.values()) == requests_before
    assert_complete(tmp_path / "digests.jsonl", hub)
