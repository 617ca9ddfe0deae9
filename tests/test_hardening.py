"""Smaller hardening cases: feeds that cannot resume, pages of the wrong shape, a store that
is garbage, progress after a resume."""

from __future__ import annotations

import signal
import socket

import pytest

from fakehub import HubServer, make_hub
from hubspider.extensions.report import summarize_losses
from tests.helpers import CrawlResult, as_keys, crawl_process, records_of, run_crawl, stat, without_seen_at
from tests.test_resume import interrupt, job_arguments, resume, slow_hub  # noqa: F401

EXIT_BAD_ARGUMENT = 2
EXIT_INCOMPLETE = 3



@pytest.mark.e2e
def test_resuming_into_a_json_feed_is_refused_in_one_line(slow_hub, tmp_path):  # noqa: F811
    _, server = slow_hub
    returncode, _ = interrupt(server, tmp_path, 10, output="digests.json")
    assert returncode != 0
    before = (tmp_path / "digests.json").read_bytes()
    result = resume(server, tmp_path, output="digests.json", append=True)
    assert result.returncode == EXIT_BAD_ARGUMENT
    assert result.stderr.strip().splitlines() == [
        f"Error: JOBDIR {tmp_path / 'job'} holds a crawl in progress whose records are in digests.json: "
        "a JSON file cannot be appended to; start again with a new JOBDIR (JSON Lines and CSV feeds resume)"
    ]
    assert (tmp_path / "digests.json").read_bytes() == before


@pytest.mark.e2e
def test_a_json_feed_of_another_name_resumes(slow_hub, tmp_path):  # noqa: F811
    _, server = slow_hub
    returncode, _ = interrupt(server, tmp_path, 10, output="first.json")
    assert returncode != 0
    result = resume(server, tmp_path, output="second.jsonl", append=True)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.e2e
def test_progress_after_a_resume_counts_the_repositories_of_the_listing(slow_hub, tmp_path):  # noqa: F811
    _, server = slow_hub
    returncode, _ = interrupt(server, tmp_path, 10)
    assert returncode != 0
    result = resume(server, tmp_path, append=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Crawl finished in" in result.stderr
    assert ": 12/12 repositories" in result.stderr


@pytest.mark.e2e
def test_a_page_of_the_wrong_shape_is_refused_at_once_not_retried(tmp_path):
    with HubServer(make_hub(), fault_rate=1.0, faults=("shape",)) as server:
        result = run_crawl(server.url, tmp_path, "-a", "repos=rust")
        assert server.stats["requests"] == 1
    assert result.returncode == EXIT_INCOMPLETE
    assert "'results' is missing or not a list" in result.stderr
    assert stat(result, "retry/count") == 0


@pytest.mark.e2e
def test_a_store_that_is_garbage_stops_the_crawl_before_it_starts(tmp_path):
    store = tmp_path / "output" / "hubspider.sqlite3"
    store.parent.mkdir()
    store.write_bytes(b"not a database, but a file that someone put here\n" * 100)
    with HubServer(make_hub()) as server:
        result = run_crawl(server.url, tmp_path, "-a", "repos=alpine")
        assert server.stats["requests"] == 0
    assert result.returncode == EXIT_BAD_ARGUMENT
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: ")
    assert "hubspider.sqlite3" in line
    assert not result.output.exists()


@pytest.mark.e2e
def test_a_host_that_does_not_answer_ends_in_one_closing_line(tmp_path):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    api_url = f"http://127.0.0.1:{port}"
    result = run_crawl(api_url, tmp_path, "-a", "repos=alpine,nginx", "-s", "RETRY_TIMES=1")
    assert result.returncode == EXIT_INCOMPLETE
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: no answer from http://127.0.0.1:{port}: ")
    assert "Connection was refused" in last


def test_losses_of_one_cause_are_summed_up_in_one_line_that_names_each():
    losses = [("page", "a", "refused"), ("page", "b", "refused"), ("tag", "c", "invalid")]
    assert summarize_losses(losses) == ["  page (x2) a, b: refused", "  tag c: invalid"]


@pytest.mark.e2e
def test_ctrl_c_while_the_crawl_closes_still_closes_it_whole(hub, hub_server, tmp_path):
    """Scrapy stops the reactor as soon as a second close sees the engine's slot closed: the
    store's writer must still commit everything, and the report and stats must still be logged."""
    process = crawl_process(hub_server.url, tmp_path, "-s", f"JOBDIR={tmp_path / 'job'}")
    assert process.stderr is not None
    for line in process.stderr:
        if "Closing spider (finished)" in line:
            process.send_signal(signal.SIGINT)
            break
    rest = process.stderr.read()
    assert process.wait(timeout=60) == 0, rest[-3000:]
    assert "Spider closed (finished)" in rest
    assert "Exported" in rest
    assert "Traceback" not in rest
    exported = as_keys(without_seen_at(CrawlResult(0, rest, tmp_path / "digests.jsonl").records()))
    assert exported == as_keys(hub.expected_records("library"))
    assert as_keys(records_of(tmp_path / "output" / "hubspider.sqlite3")) == exported
