"""A page is done only when every feed and the store hold it: a disk that fills, or a kill
right after the journal's last line, loses nothing that a resume does not bring back."""

from __future__ import annotations

import math
import sqlite3

import pytest

from fakehub import HubServer, make_hub
from hubspider.resume.entries import JOURNAL_FILE
from tests.helpers import as_keys, records_of, run_crawl
from tests.test_resume import assert_complete, interrupt, job_arguments, resume

pytestmark = pytest.mark.e2e

EXIT_INCOMPLETE = 3
NO_STORE = ("-s", "HUB_STORE_ENABLED=False")


@pytest.fixture(scope="module")
def hub_and_server():
    hub = make_hub(12, 5_000)
    with HubServer(hub, latency=0.01, anonymous_offset_cap=None) as server:
        yield hub, server


def full_disk_crawl(server, tmp_path, *arguments: str):
    # The export is about 2.5 MB: the disk fills at a fraction of it.
    return run_crawl(server.url, tmp_path, *arguments, max_file_size=400_000)


def test_a_full_disk_is_a_named_loss_in_one_line_and_fails_the_crawl(hub_and_server, tmp_path):
    _, server = hub_and_server
    result = full_disk_crawl(server, tmp_path, *NO_STORE)
    assert result.returncode == EXIT_INCOMPLETE
    assert "Traceback" not in result.stderr
    assert "Lost feed" in result.stderr
    assert "could not be written: File too large" in result.stderr
    assert "The crawl did not finish (feed_failed)" in result.stderr


def test_after_a_full_disk_the_same_command_finishes_the_export(hub_and_server, tmp_path):
    hub, server = hub_and_server
    arguments = (*job_arguments(tmp_path), *NO_STORE)
    first = full_disk_crawl(server, tmp_path, *arguments)
    assert first.returncode == EXIT_INCOMPLETE
    assert len(first.output.read_text().splitlines()) < len(hub.expected_records("library"))
    journal = (tmp_path / "job" / JOURNAL_FILE).read_text()
    assert journal.count('"done"') > 0
    second = resume(server, tmp_path, *NO_STORE, append=True)
    assert second.returncode == 0, second.stderr[-3000:]
    assert_complete(second.output, hub)


def test_a_full_disk_under_the_store_stops_the_crawl_and_a_resume_completes_it(hub_and_server, tmp_path):
    hub, server = hub_and_server
    # The export goes to a file outside the limit's reach only in size: the store fills first.
    first = run_crawl(server.url, tmp_path, *job_arguments(tmp_path), max_file_size=300_000)
    assert first.returncode == EXIT_INCOMPLETE
    assert "Lost store" in first.stderr or "Lost feed" in first.stderr
    assert "Traceback" not in first.stderr
    second = resume(server, tmp_path, append=True)
    assert second.returncode == 0, second.stderr[-3000:]
    assert_complete(second.output, hub)
    store = tmp_path / "output" / "hubspider.sqlite3"
    assert as_keys(records_of(store)) == as_keys(hub.expected_records("library"))


def pages_of(hub) -> int:
    """The pages a whole crawl reads: the listing, and each repository's tag pages."""
    repositories = hub.namespaces["library"].values()
    return 1 + sum(max(1, math.ceil(len(repository.tags) / 100)) for repository in repositories)


def test_a_kill_right_after_the_last_journaled_page_keeps_every_repository_complete(
    hub_and_server, tmp_path
):
    hub, server = hub_and_server
    returncode, _ = interrupt(server, tmp_path, pages_of(hub))
    assert returncode != 0
    result = resume(server, tmp_path, append=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert_complete(result.output, hub)
    db = sqlite3.connect(tmp_path / "output" / "hubspider.sqlite3")
    complete = {name for (name,) in db.execute("SELECT repository FROM repositories")}
    db.close()
    assert complete == set(hub.namespaces["library"])

