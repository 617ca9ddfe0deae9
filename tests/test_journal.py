"""The JOBDIR journal on its own: its file, the state a resume rebuilds from it, the repair of
earlier feeds, and the check that refuses a resume that would mix or erase crawls."""

from __future__ import annotations

import json

import pytest

from hubspider.hub.urls import page_key
from hubspider.planning import Continuation, Loss, PageDone, Walk
from hubspider.records import record_key
from hubspider.resume.check import JournalMismatchError, check_resumable
from hubspider.resume.entries import (
    JOURNAL_FILE,
    FeedFile,
    Journal,
    Run,
    cut_partial_line,
    encode_loss,
    encode_page,
    encode_run,
    journal_path,
    read_journal,
)
from hubspider.resume.repair import JSON_LINES_FORMATS, earlier_feeds, record_keys, repair_feeds
from hubspider.resume.replay import replay

API = "https://hub.docker.com"
LISTING = f"{API}/v2/repositories/library/?page_size=100"
ARGUMENTS = {"namespace": "library", "repositories": None, "since": None, "api_url": API}


def tags(repository: str, page: int = 1, walk: int = 1) -> Continuation:
    url = f"{API}/v2/repositories/library/{repository}/tags?page_size=100&ordering=last_updated"
    return Continuation("tags", url if page == 1 else f"{url}&page={page}", repository, walk, page)


def first_page(repository: str, pages: int, count: int) -> PageDone:
    """The first page of a repository that planned its pages 2..pages."""
    then = [tags(repository, page) for page in range(2, pages + 1)]
    return PageDone(tags(repository), then, min(count, 100), count)


def later_page(repository: str, page: int, results: int, count: int) -> PageDone:
    return PageDone(tags(repository, page), [], results, count)


def run(*feeds: FeedFile, arguments: dict | None = None) -> Run:
    return Run("2026-11-22T06:00:00Z", arguments or ARGUMENTS, list(feeds))


def write_journal(jobdir, *lines: bytes) -> None:
    jobdir.mkdir(exist_ok=True)
    journal_path(jobdir).write_bytes(b"".join(lines))


def record(tag: str) -> dict:
    digest = "sha256:" + tag.encode().hex().ljust(64, "0")
    return {"digest": digest, "namespace": "library", "repository": "alpine", "tag": tag, "platform": None}


# The file


def test_the_journal_is_a_file_in_the_jobdir(tmp_path):
    assert journal_path(tmp_path) == tmp_path / JOURNAL_FILE == tmp_path / "hubspider-journal.jsonl"


def test_no_journal_file_is_an_empty_journal(tmp_path):
    assert read_journal(tmp_path / JOURNAL_FILE) == Journal()
    assert not (tmp_path / JOURNAL_FILE).exists()


def test_entries_read_back_as_they_were_written(tmp_path):
    listing = PageDone(Continuation("repositories", LISTING), [], 2, 2, ["alpine", "rust"])
    loss = Loss("page", tags("rust", 3).url, "HTTP 502", tags("rust").url)
    feed = FeedFile(str(tmp_path / "digests.jsonl"), "jsonlines")
    write_journal(
        tmp_path,
        encode_run(run(feed)),
        encode_page(listing),
        encode_page(first_page("alpine", 5, 437)),
        encode_loss(loss),
    )
    journal = read_journal(journal_path(tmp_path))
    assert journal.runs == [run(feed)]
    assert [(page.continuation, page.then, page.results, page.count) for page in journal.pages] == [
        (listing.continuation, [], 2, 2),
        (tags("alpine"), [tags("alpine", n) for n in range(2, 6)], 100, 437),
    ]
    assert [page.repositories for page in journal.pages] == [["alpine", "rust"], None]
    assert journal.losses == [loss]


def test_a_page_line_has_the_fields_earlier_versions_wrote(tmp_path):
    line = json.loads(encode_page(first_page("alpine", 2, 150)))
    alpine = {"kind": "tags", "repository": "alpine", "walk": 1}
    assert line == {
        "done": alpine | {"url": tags("alpine").url, "page": 1},
        "then": [alpine | {"url": tags("alpine", 2).url, "page": 2}],
        "results": 100,
        "count": 150,
    }


def test_a_line_cut_by_a_kill_is_dropped_from_the_file(tmp_path):
    whole = encode_run(run()) + encode_page(first_page("alpine", 1, 5))
    write_journal(tmp_path, whole, b'{"done": {"kind": "tags", "url": "htt')
    journal = read_journal(journal_path(tmp_path))
    assert len(journal.pages) == 1
    assert journal_path(tmp_path).read_bytes() == whole


def test_a_line_of_a_kind_this_version_does_not_know_is_skipped(tmp_path):
    write_journal(tmp_path, b'{"checkpoint": {}}\n', encode_page(first_page("alpine", 1, 5)))
    assert len(read_journal(journal_path(tmp_path)).pages) == 1


@pytest.mark.parametrize(
    ("content", "cut", "left"),
    [(b"a\nb\n", 0, b"a\nb\n"), (b"a\nbro", 3, b"a\n"), (b"broken", 6, b""), (b"", 0, b"")],
)
def test_cut_partial_line_keeps_whole_lines_only(tmp_path, content, cut, left):
    path = tmp_path / "file"
    path.write_bytes(content)
    assert cut_partial_line(path) == cut
    assert path.read_bytes() == left


def test_cut_partial_line_finds_a_newline_far_before_the_end(tmp_path):
    path = tmp_path / "file"
    path.write_bytes(b"line\n" + b"x" * 200_000)
    assert cut_partial_line(path) == 200_000
    assert path.read_bytes() == b"line\n"


# The state a resume rebuilds


def test_nothing_done_leaves_nothing_to_resume():
    state = replay([])
    assert (state.done, state.pending, state.walks, state.finished_repositories) == (set(), [], {}, 0)


def test_the_pages_planned_and_not_done_are_asked_for_again():
    state = replay([first_page("alpine", 4, 350), later_page("alpine", 2, 100, 350)])
    assert state.pending == [tags("alpine", 3), tags("alpine", 4)]
    assert state.is_done(tags("alpine", 2))
    assert not state.is_done(tags("alpine", 3))


def test_a_walk_under_way_is_rebuilt_with_what_came_and_what_is_out():
    state = replay([first_page("alpine", 4, 350), later_page("alpine", 3, 100, 351)])
    walk = state.walks[("alpine", 1)]
    assert (walk.pending, walk.received, walk.count, walk.last_page) == ({2, 4}, 200, 351, 4)
    assert page_key(tags("alpine", 4).url) in walk.asked
    assert page_key(tags("alpine").url) in walk.asked


def test_pages_done_before_the_page_that_planned_them_are_not_pending():
    # Pages are journaled as their records are confirmed, not in the order they were planned.
    state = replay([later_page("alpine", 2, 100, 250), first_page("alpine", 3, 250)])
    assert state.pending == [tags("alpine", 3)]
    assert state.walks[("alpine", 1)].pending == {3}


def test_a_walk_with_every_page_done_has_ended_and_its_repository_is_finished():
    pages = [first_page("alpine", 2, 150), later_page("alpine", 2, 50, 150), first_page("rust", 2, 200)]
    state = replay(pages)
    assert set(state.walks) == {("rust", 1)}
    assert state.finished_repositories == 1


def test_a_repository_read_again_is_not_finished_until_its_second_walk_ends():
    short = later_page("alpine", 2, 40, 150)
    short.then = [tags("alpine", walk=2)]
    state = replay([first_page("alpine", 2, 150), short])
    assert state.walks == {}
    assert state.pending == [tags("alpine", walk=2)]
    assert state.finished_repositories == 0


def test_the_repository_listing_gives_its_repositories_count_and_next_page():
    page_2 = Continuation("repositories", f"{API}/v2/repositories/library/?page=2&page_size=100", page=2)
    listing = PageDone(Continuation("repositories", LISTING), [page_2], 100, 178, ["alpine", "rust"])
    state = replay([listing])
    assert state.repositories == ["alpine", "rust"]
    assert state.pending == [page_2]
    assert (state.listing.count, state.listing.received) == (178, 100)
    assert state.listing.asked == {page_key(LISTING), page_key(page_2.url)}
    assert state.walks == {}


def test_a_replayed_walk_plans_as_the_planning_does():
    pages = [first_page("alpine", 4, 350), later_page("alpine", 2, 100, 350)]
    walk = Walk()
    walk.plan(pages[0].then)
    walk.pending.discard(2)
    replayed = replay(pages).walks[("alpine", 1)]
    assert (replayed.pending, replayed.last_page) == (walk.pending, walk.last_page)
    assert walk.asked <= replayed.asked


# The feeds of earlier runs


def test_a_broken_last_record_is_cut_and_the_whole_ones_are_known(tmp_path):
    feed = tmp_path / "digests.jsonl"
    lines = [json.dumps(record("3.20")), json.dumps(record("3.19"))]
    feed.write_text("\n".join(lines) + '\n{"digest": "sha256:01')
    repair = repair_feeds([run(FeedFile(str(feed), "jsonlines"))])
    assert repair.cut == [(str(feed), len('{"digest": "sha256:01'))]
    assert repair.keys == {record_key(record("3.20")), record_key(record("3.19"))}
    assert feed.read_text() == "\n".join(lines) + "\n"


def test_csv_feeds_are_read_by_their_header(tmp_path):
    feed = tmp_path / "digests.csv"
    one = record("3.20")
    row = ",".join(str(value or "") for value in one.values())
    feed.write_text(f"digest,namespace,repository,tag,platform\n{row}\n")
    assert list(record_keys(feed, "csv")) == [record_key(one)]


def test_json_and_xml_feeds_are_left_alone(tmp_path):
    feed = tmp_path / "digests.json"
    feed.write_text('[{"digest": "sha256:01')
    repair = repair_feeds([run(FeedFile(str(feed), "json"))])
    assert (repair.cut, repair.keys) == ([], set())
    assert feed.read_text() == '[{"digest": "sha256:01'


def test_earlier_feeds_are_the_existing_files_of_a_format_each_once(tmp_path):
    kept, gone, csv_feed = tmp_path / "a.jsonl", tmp_path / "gone.jsonl", tmp_path / "b.csv"
    kept.touch()
    csv_feed.touch()
    runs = [
        run(FeedFile(str(kept), "jsonlines"), FeedFile(str(csv_feed), "csv")),
        run(FeedFile(str(kept), "jsonlines"), FeedFile(str(gone), "jsonlines")),
    ]
    assert earlier_feeds(runs, JSON_LINES_FORMATS) == [str(kept)]


# The check before a resume


def journal_of_a_crawl(jobdir, feed: FeedFile) -> None:
    write_journal(jobdir, encode_run(run(feed)), encode_page(first_page("alpine", 3, 250)))


def test_a_jobdir_without_a_journal_can_be_used(tmp_path):
    check_resumable(tmp_path / "job", ARGUMENTS, {"digests.jsonl": {"format": "jsonlines"}})


def test_the_same_crawl_appending_to_its_feed_resumes(tmp_path):
    feed = tmp_path / "digests.jsonl"
    journal_of_a_crawl(tmp_path / "job", FeedFile(str(feed), "jsonlines"))
    check_resumable(tmp_path / "job", dict(ARGUMENTS), {str(feed): {"format": "jsonlines"}})


def test_another_crawl_in_the_jobdir_is_refused(tmp_path):
    journal_of_a_crawl(tmp_path / "job", FeedFile(str(tmp_path / "digests.jsonl"), "jsonlines"))
    other = ARGUMENTS | {"repositories": ["rust"]}
    with pytest.raises(JournalMismatchError, match=r"holds another crawl .*repositories=\['rust'\]"):
        check_resumable(tmp_path / "job", other, {})


def test_overwriting_a_feed_of_the_crawl_in_progress_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    journal_of_a_crawl(tmp_path / "job", FeedFile(str(tmp_path / "digests.jsonl"), "jsonlines"))
    with pytest.raises(JournalMismatchError, match=r"resume with -o digests.jsonl \(append\); -O would"):
        check_resumable(tmp_path / "job", ARGUMENTS, {"digests.jsonl": {"overwrite": True}})


def test_a_feed_named_by_a_file_uri_is_the_same_file(tmp_path):
    feed = tmp_path / "digests.jsonl"
    journal_of_a_crawl(tmp_path / "job", FeedFile(str(feed), "jsonlines"))
    with pytest.raises(JournalMismatchError, match="-O would erase them"):
        check_resumable(tmp_path / "job", ARGUMENTS, {feed.as_uri(): {"overwrite": True}})


@pytest.mark.parametrize("feed_format", ["json", "xml"])
def test_appending_to_a_json_or_xml_feed_is_refused(tmp_path, feed_format):
    feed = tmp_path / f"digests.{feed_format}"
    journal_of_a_crawl(tmp_path / "job", FeedFile(str(feed), feed_format))
    with pytest.raises(JournalMismatchError, match=f"a {feed_format.upper()} file cannot be appended to"):
        check_resumable(tmp_path / "job", ARGUMENTS, {str(feed): {"format": feed_format}})


def test_feeds_the_earlier_runs_did_not_write_are_not_checked(tmp_path):
    journal_of_a_crawl(tmp_path / "job", FeedFile(str(tmp_path / "digests.json"), "json"))
    check_resumable(tmp_path / "job", ARGUMENTS, {str(tmp_path / "more.jsonl"): {"overwrite": True}})
    check_resumable(tmp_path / "job", ARGUMENTS, {"s3://bucket/digests.json": {"format": "json"}})
